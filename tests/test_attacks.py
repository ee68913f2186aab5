"""The attacks of a careless or hostile engineer on change control, each through the user's own commands.

The engineer edits a copy of the repository (`repo`) as they please. What must stop them:

* **the trusted checker**: envctl of this checkout (standing for CI's, run from the protected
  branch) checking the copy with ``--dir``; its signers, pack and envctl are not the copy's;
* **the copy's own tools** (``python -m envctl.cli`` with the copy first on the import path) only
  to show where an attack does work: tools that check themselves are not the anchor;
* **the program as the engine runs it** (``pulumi up`` without the pack): it refuses an unapproved
  state before registering anything.

The numbers are those of the attacks in the issue "Change control that holds".
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from changecontrol.digest import digest_of
from changecontrol.records import RECORD_HEADER
from changecontrol.strictyaml import dumps
from envctl.cli import main
from envctl.offline import RunOptions, StackRunError, run_stack
from tests.conftest import (
    APPROVER_KEY,
    EXAMPLE,
    NOW,
    NS,
    PROJECT,
    REQUESTER_KEY,
    set_config,
    without_pins,
    write_stack,
)
from tests.helpers import envctl

IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info", "bench")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The hostile engineer's checkout: everything of the repository but its virtualenv and history."""
    copy = tmp_path / "repo"
    shutil.copytree(PROJECT, copy, ignore=IGNORE)
    return copy


trusted = envctl  # the trusted checker (this checkout's envctl) on the copy, in example mode


def own_tools(repo: Path, *argv: str) -> subprocess.CompletedProcess:
    """The copy's own envctl, as the engineer runs it in their checkout."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.run([sys.executable, "-m", "envctl.cli", "--example", *argv], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=600)


def not_planned(result: tuple[int, str, str]) -> str:
    """The trusted checker refused to run the checked tree's program: it is neither its own nor approved."""
    code, out, _ = result
    assert code == 2, out
    assert "was not planned: the checked tree's program differs from the trust root's and the stack's latest " \
           "approved record does not approve it" in out
    return out


def untracked(result: tuple[int, str, str], stack: str = "preprod") -> str:
    code, out, _ = result
    assert code == 1, out
    assert "[mandatory] change-approved-state" in out
    return out


def test_the_unedited_copy_is_clean_so_every_refusal_below_is_the_attack(capsys, repo):
    code, out, _ = trusted(capsys, repo, "check", "preprod")
    assert code == 0, out


# --------------------------------------------------------------------------------------------
# 1. A phase declared away
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack, phase", [("prod", "community-dev"), ("val", "demo"), ("preprod", "sandbox")])
def test_1_a_controlled_stack_cannot_be_declared_another_phase(capsys, repo, stack, phase):
    for key in ("customer", "change_record", "clone_from"):
        set_config(repo, stack, f"{NS}:{key}", None)
    set_config(repo, stack, f"{NS}:phase", phase)
    code, out, err = trusted(capsys, repo, "check", stack)
    assert code == 2 and f"the stack name '{stack}' makes it a {stack} stack" in out + err
    with pytest.raises(StackRunError, match="the phase comes from the stack name alone"):
        run_stack(repo, stack, options=RunOptions(now=NOW, example=EXAMPLE))


def test_1_a_customer_slug_containing_a_phase_name_is_refused(capsys, repo):
    set_config(repo, "sandbox", f"{NS}:customer", "acme-prod")
    code, out, err = trusted(capsys, repo, "check", "sandbox")
    assert code == 2 and "contains the phase name prod" in out + err


# --------------------------------------------------------------------------------------------
# 2. Approvals by typing a name
# --------------------------------------------------------------------------------------------
def test_2_nobody_approves_by_typing_a_name(capsys, repo):
    set_config(repo, "preprod", f"{NS}:release", "2026.4.1")
    code, _, err = trusted(capsys, repo, "ecr", "new", "preprod", "--title", "T", "--reason", "Needed", "--by", "alice")
    assert code == 2 and "--by" in err  # there is no --by any more: identity is a key
    assert trusted(capsys, repo, "ecr", "new", "preprod", "--title", "Release", "--reason", "Needed", "--key",
                   str(REQUESTER_KEY))[0] == 0
    code, _, err = trusted(capsys, repo, "ecr", "approve", "ECR-preprod-0002", "--key", str(REQUESTER_KEY))
    assert code == 2 and "may not approve records" in err


def test_2_the_example_keys_approve_nothing_but_the_example(capsys, repo):
    """The regeneration script signs with the published example keys; outside example mode, or for
    another customer's stack, those signatures count for nothing."""
    code = main(["--dir", str(repo), "check", "preprod"])
    out = capsys.readouterr().out
    assert code == 1 and "no signers" in out and "EXAMPLE MODE" not in out
    write_stack(repo, "globex-preprod", without_pins(yaml.safe_load((repo / "Pulumi.preprod.yaml").read_text())["config"]))
    set_config(repo, "globex-preprod", f"{NS}:customer", "globex")
    set_config(repo, "globex-preprod", f"{NS}:change_record", "ECR-globex-preprod-0001")
    shutil.copytree(repo / "change-records" / "preprod", repo / "change-records" / "globex-preprod")
    out = untracked(trusted(capsys, repo, "check", "globex-preprod"))
    assert "trusts the example keys only for the shipped example stacks of customer 'acme'" in out


# --------------------------------------------------------------------------------------------
# 3. A digest that vouches for itself; tooling outside the digest
# --------------------------------------------------------------------------------------------
def approved_digest(repo: Path, stack: str = "preprod") -> str:
    return yaml.safe_load((repo / "change-records" / stack / f"ECR-{stack}-0001.yaml").read_text())["digest"]


def test_3_a_program_that_exports_the_approved_digest_instead_of_computing_it_is_refused(capsys, repo):
    program = repo / "components" / "program.py"
    program.write_text(program.read_text().replace("desired_state_digest=verdict.digest",
                                                   f"desired_state_digest={approved_digest(repo)!r}"))
    instance = repo / "components" / "instance.py"
    instance.write_text(instance.read_text().replace('TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"',
                                                     'TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"'))
    not_planned(trusted(capsys, repo, "check", "preprod"))


def test_3_a_digest_function_rigged_to_return_the_approved_digest_is_refused(capsys, repo):
    digest = repo / "changecontrol" / "digest.py"
    digest.write_text(digest.read_text().replace(
        "def digest_of(document: Mapping[str, Any]) -> str:\n",
        f"def digest_of(document: Mapping[str, Any]) -> str:\n    return {approved_digest(repo)!r}\n"))
    not_planned(trusted(capsys, repo, "check", "preprod"))


def test_3_an_edited_change_control_rule_is_unapproved_tooling(capsys, repo):
    """Gutted, the rule no longer reports anything when the copy's own tools run it: tools that check
    themselves can be edited into silence. The trusted checker (CI's, from the protected branch) runs
    its own rules and refuses the candidate's changed tooling, so the change cannot land unapproved."""
    rule = repo / "policies" / "rules" / "change_control.py"
    gutted = "    for problem in verdict.problems:\n        yield Finding(urn, problem, name)\n"
    assert gutted in rule.read_text()
    rule.write_text(rule.read_text().replace(gutted, "    return\n"))
    set_config(repo, "preprod", f"{NS}:release", "2026.4.1")
    assert own_tools(repo, "check", "preprod").returncode == 1  # envctl still judges the state itself ...
    check = repo / "envctl" / "check.py"
    check.write_text(check.read_text().replace("if controlled and facts.verdict is not None:", "if False:"))
    assert own_tools(repo, "check", "preprod").returncode == 0  # ... until it is gutted too: own tools are no anchor
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "unapproved tooling: the policy pack and envctl of the checked tree" in out
    assert "untracked change: stack 'preprod' would apply desired state" in out


# --------------------------------------------------------------------------------------------
# 4. A policy config that approves, waives or disables
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", [
    {"change-approved-state": {"approvedDigests": ["<digest>"], "stack": "preprod",
                               "approvals": {"ECR-preprod-0001": "<digest>"}}},
    {"change-approved-state": {"waivers": [{"resource": "*", "reason": "r" * 30, "expires": "2026-12-01"}]}},
])
def test_4_a_hand_written_policy_config_approves_nothing(capsys, repo, tmp_path, config):
    set_config(repo, "preprod", f"{NS}:release", "2026.4.1")
    digest = trusted(capsys, repo, "digest", "preprod")[1].strip()
    path = tmp_path / "config.json"
    path.write_text(__import__("json").dumps(config).replace("<digest>", digest))
    untracked(trusted(capsys, repo, "check", "--policy-config", str(path), "preprod"))


def test_4_a_config_that_disables_the_rule_is_refused_and_the_program_refuses_anyway(capsys, repo, tmp_path):
    set_config(repo, "preprod", f"{NS}:release", "2026.4.1")
    path = tmp_path / "config.json"
    path.write_text('{"change-approved-state": "disabled"}')
    code, out, _ = trusted(capsys, repo, "check", "--policy-config", str(path), "preprod")
    assert code == 2 and "may not lower change-approved-state" in out
    # The engine skips a disabled policy before the pack runs; `pulumi up` still runs the program:
    code, out, _ = trusted(capsys, repo, "plan", "preprod")
    assert code == 1 and "REFUSED by the program" in out and "untracked change" in out
    with pytest.raises(StackRunError) as refused:
        run_stack(repo, "preprod", options=RunOptions(now=NOW, example=EXAMPLE))
    assert refused.value.kind == "unapproved" and refused.value.registered == 0


# --------------------------------------------------------------------------------------------
# 5. Provider settings and imported environments
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key, value", [
    ("aws:assumeRoles", [{"roleArn": "arn:aws:iam::999999999999:role/elsewhere"}]),
    ("aws:endpoints", [{"s3": "https://proxy.example"}]),
    ("aws:insecure", True),
    ("aws:ignoreTags", {"keys": ["controlled"]}),
    ("aws:defaultTags", {"tags": {"controlled": "false"}}),
    ("aws:skipCredentialsValidation", True),
])
def test_5_a_provider_setting_is_part_of_the_desired_state(capsys, repo, key, value):
    set_config(repo, "preprod", key, value)
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "approves another desired state" in out


def test_5_a_secret_setting_is_refused_for_a_controlled_stack(capsys, repo):
    """Found by the hostile review: a secret's value cannot be in the digest, so it could change unapproved."""
    set_config(repo, "preprod", "aws:secretKey", {"secure": "v1:Zm9v:YmFy"})
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "keeps secret setting(s) aws:secretKey" in out


def test_5_an_imported_esc_environment_is_refused_for_a_controlled_stack(capsys, repo):
    path = repo / "Pulumi.preprod.yaml"
    path.write_text(path.read_text() + "environment:\n  - acme/prod-overrides\n")
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "imports Pulumi ESC environment(s) acme/prod-overrides" in out


# --------------------------------------------------------------------------------------------
# 6, 7. Records: a look-alike file name, a rewritten history
# --------------------------------------------------------------------------------------------
def test_6_a_second_record_with_fullwidth_digits_approves_nothing(capsys, repo):
    records = repo / "change-records" / "preprod"
    for f in records.glob("ECR-preprod-0001.*"):
        shutil.copy(f, records / f.name.replace("0001", "\uff10\uff10\uff10\uff12"))
    set_config(repo, "preprod", f"{NS}:release", "2026.4.1")
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "unexpected entry in the records of 'preprod'" in out


def test_7_a_rewritten_history_does_not_verify(capsys, repo):
    """The record rewritten consistently (its state and digest recomputed) to approve another release."""
    record = repo / "change-records" / "preprod" / "ECR-preprod-0001.yaml"
    doc = yaml.safe_load(record.read_text())
    doc["state"]["config"][f"{NS}:release"] = {"value": "2026.4.1"}
    doc["digest"] = digest_of(doc["state"])
    record.write_text(RECORD_HEADER + dumps(doc))
    set_config(repo, "preprod", f"{NS}:release", "2026.4.1")
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "the requester's signature does not verify" in out


# --------------------------------------------------------------------------------------------
# 8. What runs besides the digested files
# --------------------------------------------------------------------------------------------
def forged_bytecode(repo: Path, module: str, code_source: str, flags: int) -> None:
    """A .pyc of `module` (a path under repo) holding other code, valid for Python to load."""
    source = repo / module
    pyc = Path(importlib.util.cache_from_source(str(source)))
    pyc.parent.mkdir(exist_ok=True)
    code = compile(code_source, str(source), "exec")
    stat = source.stat()
    if flags == 0:
        header = (importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little")
                  + (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little"))
    else:
        header = importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little") + b"\0" * 8
    pyc.write_bytes(header + marshal.dumps(code))


@pytest.mark.parametrize("flags, refusal", [(0b01, "unchecked-hash bytecode"), (0, "not that file's code")])
def test_8_forged_bytecode_beside_an_approved_source_is_refused(capsys, repo, flags, refusal):
    evil = (repo / "components" / "phases.py").read_text().replace('backup_retention_days=35', 'backup_retention_days=1')
    forged_bytecode(repo, "components/phases.py", evil, flags)
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert refusal in out


def test_8_a_symlinked_pycache_holding_forged_bytecode_is_refused(capsys, repo):
    """Found by the hostile review: a `__pycache__` that is a link to a directory outside the walk."""
    cache = repo / "bench" / "cache"
    cache.mkdir(parents=True)
    (repo / "components" / "__pycache__").symlink_to("../bench/cache")
    evil = (repo / "components" / "phases.py").read_text().replace('backup_retention_days=35', 'backup_retention_days=1')
    forged_bytecode(repo, "components/phases.py", evil, 0b01)
    assert (cache / Path(importlib.util.cache_from_source("phases.py")).name).exists()
    code, out, _ = trusted(capsys, repo, "check", "preprod")
    assert code == 2 and "components/__pycache__: a symbolic link" in out


@pytest.mark.parametrize("name, text", [
    ("Pulumi.json", '{"name": "clinspark-environments", "runtime": "python", "main": "bench/evil/"}'),
    ("Pulumi.preprod.json", '{"config": {"clinspark-environments:release": "2099.9.9"}}'),
    ("Pulumi.preprod.yml", "config:\n  clinspark-environments:release: 2099.9.9\n"),
])
def test_8_a_project_or_stack_file_the_cli_reads_first_is_refused(capsys, repo, name, text):
    """Found by the hostile review: the Pulumi CLI reads Pulumi.json before Pulumi.yaml."""
    (repo / name).write_text(text)
    code, out, err = trusted(capsys, repo, "check", "preprod")
    assert code == 2 and f"{name}: a " in out + err and "the Pulumi CLI would read" in out + err


def test_8_a_directory_of_code_at_the_root_joining_an_installed_namespace_package_is_refused(capsys, repo):
    """Found by the hostile review: `google/` without __init__.py becomes a portion of the installed
    namespace package `google`."""
    (repo / "google" / "_upb").mkdir(parents=True)
    (repo / "google" / "_upb" / "_evil.py").write_text("X = 1\n")
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "google: a module at the project root that is not one of the declared packages" in out


def test_8_a_module_outside_the_programs_packages_is_refused(capsys, repo):
    (repo / "helpers.py").write_text("TLS = 'ELBSecurityPolicy-2016-08'\n")
    instance = repo / "components" / "instance.py"
    instance.write_text(instance.read_text().replace("from __future__ import annotations\n",
                                                     "from __future__ import annotations\nimport helpers  # noqa\n"))
    not_planned(trusted(capsys, repo, "check", "preprod"))  # the changed component is not run ...
    mine = own_tools(repo, "check", "preprod")  # ... nor, in the engineer's own checkout, let through
    assert mine.returncode == 1 and "components/instance.py imports helpers, which is not part of the program" in mine.stdout
    (repo / "helpers.py").unlink()  # not imported, only present: still refused, as a shadowing risk
    instance.write_text(instance.read_text().replace("import helpers  # noqa\n", ""))
    (repo / "helpers.py").write_text("X = 1\n")
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "helpers.py: a module at the project root that is not one of the declared packages" in out


def test_8_a_local_package_shadowing_a_pinned_dependency_is_refused(capsys, repo):
    (repo / "yaml").mkdir()
    (repo / "yaml" / "__init__.py").write_text("raise SystemExit('shadowed')\n")
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "yaml: a module at the project root that is not one of the declared packages" in out


def test_8_a_pth_file_in_the_virtualenv_is_refused(capsys, repo):
    venv = repo / ".venv"
    subprocess.run(["cp", "-al", str(PROJECT / ".venv"), str(venv)], check=True)  # hard links: instant, real
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "zz-evil.pth").write_text("import os; os.environ['AWS_ENDPOINT_URL'] = 'https://proxy.example'\n")
    code, out, _ = trusted(capsys, repo, "check", "preprod")  # a candidate brings no virtualenv at all ...
    assert code == 2 and "the checked tree brings a virtualenv (.venv/)" in out
    mine = own_tools(repo, "check", "preprod")  # ... and in the engineer's own checkout the .pth is caught
    assert mine.returncode == 1 and "zz-evil.pth: a .pth file that no pinned distribution lists" in mine.stdout


def test_8_an_installed_version_other_than_the_pin_is_refused(capsys, repo):
    reqs = repo / "requirements.txt"
    reqs.write_text(reqs.read_text().replace("PyYAML==6.0.4", "PyYAML==6.0.3"))
    not_planned(trusted(capsys, repo, "check", "preprod"))  # the pins are part of the program
    mine = own_tools(repo, "check", "preprod")
    assert mine.returncode == 1 and "pyyaml is pinned to 6.0.3 in requirements.txt but 6.0.4 is installed" in mine.stdout


@pytest.mark.parametrize("line, key", [("main: evil/\n", "main"), ("stackConfigDir: elsewhere/\n", "stackConfigDir")])
def test_8_a_project_file_pointing_the_cli_elsewhere_is_refused(capsys, repo, line, key):
    (repo / "Pulumi.yaml").write_text((repo / "Pulumi.yaml").read_text() + line)
    code, out, err = trusted(capsys, repo, "check", "preprod")
    assert code == 2 and f"Pulumi.yaml: key `{key}` is refused" in out + err


# --------------------------------------------------------------------------------------------
# 9. Decoys
# --------------------------------------------------------------------------------------------
def test_9_a_directory_named_like_a_stack_is_refused(capsys, repo):
    decoy = repo / "preprod"
    decoy.mkdir()
    shutil.copy(repo / "Pulumi.sandbox.yaml", decoy / "Pulumi.preprod.yaml")
    set_config(repo, "preprod", f"{NS}:release", "2026.4.1")
    code, _, err = trusted(capsys, repo, "check", "preprod")
    assert code == 2 and "a directory in" in err and "is named like the stack" in err


def test_9_verifying_a_directory_without_a_chain_fails(capsys, tmp_path):
    shutil.copy(PROJECT / "Pulumi.prod.yaml", tmp_path)
    code, out, _ = trusted(capsys, tmp_path, "ecr", "verify")
    assert code == 1 and "NO CHAINS" in out


# --------------------------------------------------------------------------------------------
# 10. Waivers as a second approval path
# --------------------------------------------------------------------------------------------
def test_10_a_waiver_of_change_control_approves_nothing(capsys, repo):
    set_config(repo, "preprod", f"{NS}:release", "2026.4.1")
    (repo / "waivers" / "preprod.yaml").write_text(yaml.safe_dump([{
        "rule": "change-approved-state", "resource": "*", "reason": "Released in the maintenance window.",
        "expires": "9999-12-31"}]))
    code, out, _ = trusted(capsys, repo, "check", "preprod")
    assert code == 1 and "waiver REFUSED" in out and "never waived" in out


# --------------------------------------------------------------------------------------------
# Found by the second hostile review
# --------------------------------------------------------------------------------------------
def test_a_project_file_renamed_to_another_extension_is_refused_not_taken_for_a_fleet(capsys, repo):
    (repo / "Pulumi.yaml").rename(repo / "Pulumi.yml")  # the CLI still runs this tree's program
    code, out, err = trusted(capsys, repo, "check", "preprod")
    assert code == 2 and "Pulumi.yml: a project file the Pulumi CLI would read" in out + err


def forge_plan_of(repo: Path, run, target: Path) -> None:
    """The checked tree's __main__.py writes a canned plan into envctl's plan host result, and exits."""
    from dataclasses import asdict

    forged = {"stacks": {"preprod": json.loads(json.dumps({
        "stack": run.stack, "project": run.project, "path": str(run.path),
        "registrations": [asdict(r) for r in run.registrations], "outputs": run.outputs,
        "secret_outputs": sorted(run.secret_outputs), "warnings": []}, default=str))}, "foreign_modules": []}
    target.write_text(json.dumps(forged))
    main = repo / "__main__.py"
    main.write_text(
        "import json, os, sys\n"
        "if len(sys.argv) == 3 and sys.argv[2].endswith('result.json'):  # inside envctl's plan host\n"
        f"    open(sys.argv[2], 'w').write(open({str(target)!r}).read())\n"
        "    os._exit(0)\n" + main.read_text())


def test_an_unreviewed_program_is_never_run_by_the_checker(capsys, repo, tmp_path):
    marker = tmp_path / "ran"
    main = repo / "__main__.py"
    main.write_text(f"open({str(marker)!r}, 'w').write('ran')\n" + main.read_text())
    out = not_planned(trusted(capsys, repo, "check", "preprod", "sandbox"))
    assert not marker.exists(), "the checker ran code nobody approved"
    assert "untracked change: stack 'preprod' would apply desired state" in out  # judged from the files


def touch_program(repo: Path) -> None:
    """A reviewed change of the program: its files differ from the trust root's."""
    init = repo / "components" / "__init__.py"
    init.write_text(init.read_text() + "# reviewed change\n")


def test_an_approval_of_another_stack_does_not_unlock_running_a_program(capsys, repo):
    touch_program(repo)
    approve_with_example_keys(capsys, repo, "prod")  # approved for prod only
    code, out, _ = trusted(capsys, repo, "check", "preprod")
    assert code == 2 and "was not planned" in out and "does not approve it" in out


def test_an_approved_program_runs_without_anything_else_of_the_checked_tree(capsys, repo, tmp_path):
    touch_program(repo)
    approve_with_example_keys(capsys, repo, "preprod")
    assert trusted(capsys, repo, "check", "preprod")[0] == 0  # planned in the child, from its reviewed files
    marker = tmp_path / "shadow-ran"
    (repo / "pulumi_aws").mkdir()  # not a program file: never part of what runs
    (repo / "pulumi_aws" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert not marker.exists(), "the checker imported a file of the checked tree no record approves"
    assert "pulumi_aws: a module at the project root" in out  # and pulumi up would import it: refused


def test_a_program_package_that_is_a_namespace_package_is_refused(capsys, repo):
    (repo / "components" / "__init__.py").unlink()  # would merge with any other `components` on the path
    approve_with_example_keys(capsys, repo, "preprod")
    code, out, _ = trusted(capsys, repo, "check", "preprod")
    assert code == 2 and "were not loaded from its reviewed files" in out


def test_policy_config_never_writes_through_a_link(capsys, repo, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (repo / "policy-config.prod.json").symlink_to(victim)
    code, _, err = trusted(capsys, repo, "policy-config", "prod", "--output", str(repo / "policy-config.prod.json"))
    assert code == 2 and "a link is never followed" in err and victim.read_text() == "precious"


def approve_with_example_keys(capsys, repo: Path, stack: str) -> None:
    """The legitimate path: the requester drafts, the approver approves, the stack file names the record."""
    assert trusted(capsys, repo, "ecr", "new", stack, "--title", "Reviewed", "--reason", "Reviewed change", "--key",
                   str(REQUESTER_KEY))[0] == 0
    assert trusted(capsys, repo, "ecr", "approve", f"ECR-{stack}-0002", "--key", str(APPROVER_KEY))[0] == 0
    set_config(repo, stack, f"{NS}:change_record", f"ECR-{stack}-0002")


def test_even_an_approved_program_cannot_pass_off_the_plan_of_another_stack(capsys, repo, shipped, tmp_path):
    forge_plan_of(repo, shipped["demo"], tmp_path / "forged.json")  # an uncontrolled stack's plan
    approve_with_example_keys(capsys, repo, "preprod")  # reviewed and approved: now the checker runs it
    code, out, _ = trusted(capsys, repo, "check", "preprod")
    assert code == 2 and "registered resources of urn:pulumi:demo::" in out


def test_the_plan_host_gives_a_program_neither_credentials_nor_the_callers_path(capsys, repo, tmp_path, monkeypatch):
    seen = tmp_path / "environ.json"
    main = repo / "__main__.py"
    main.write_text(f"import json, os; open({str(seen)!r}, 'w').write(json.dumps(dict(os.environ)))\n"
                    + main.read_text())
    approve_with_example_keys(capsys, repo, "preprod")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-the-program")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert trusted(capsys, repo, "check", "preprod")[0] == 0
    environ = json.loads(seen.read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in environ and environ["PATH"] == "/usr/bin:/bin"
    assert environ["PYTHONPYCACHEPREFIX"].startswith(os.path.realpath(tempfile.gettempdir()))


def test_a_fake_ssh_keygen_on_path_verifies_nothing(tmp_path, monkeypatch):
    from changecontrol import sshsig

    fake = tmp_path / "ssh-keygen"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(sshsig, "_RESOLVED", [])
    monkeypatch.setattr(sshsig, "_VERIFIED", {})
    signers = (PROJECT / "tests" / "example" / "allowed_signers").read_text()
    assert sshsig._tool() != str(fake)
    assert not sshsig.verify(signers, "m.keller@clinspark.example", "clinspark-ecr-approved", b"x", b"forged")


def test_deleting_the_checked_trees_pack_does_not_skip_its_tooling_check(capsys, repo):
    (repo / "Makefile").write_text((repo / "Makefile").read_text() + "\n# changed\n")
    shutil.rmtree(repo / "policies")
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "the checked project's tooling: policies/: missing" in out


def test_bytecode_of_another_python_is_refused(capsys, repo):
    cache = repo / "components" / "__pycache__"
    cache.mkdir()
    (cache / "settings.cpython-312.pyc").write_bytes(b"\xcb\x0d\x0d\x0a" + b"\x01\x00\x00\x00" + b"\0" * 8 + b"forged")
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "settings.cpython-312.pyc is bytecode of another Python" in out


def test_a_link_inside_a_directory_at_the_root_is_refused(capsys, repo):
    (repo / "google").mkdir()
    (repo / "google" / "newmod").symlink_to("../tests")
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "google: a module at the project root" in out


def test_a_key_given_with_and_without_its_namespace_is_refused(capsys, repo):
    path = repo / "Pulumi.preprod.yaml"
    path.write_text(path.read_text().replace("config:\n", "config:\n  release: 6.6.6\n", 1))
    code, out, err = trusted(capsys, repo, "check", "preprod")
    assert code == 2 and "clinspark-environments:release is given twice" in out + err


# --------------------------------------------------------------------------------------------
# Found by the fifth review
# --------------------------------------------------------------------------------------------
def test_a_module_planted_in_the_working_directory_never_runs_in_envctl_or_its_workers(repo, tmp_path):
    """envctl's worker processes are spawned as `python -c`, which would import from the working directory
    (in CI, the checkout under check) first."""
    marker = tmp_path / "planted"
    (repo / "multiprocessing.py").write_text(f"open({str(marker)!r}, 'a').write('ran\\\\n')\\n"
                                             "raise ImportError('planted')\\n")
    (repo / "Pulumi.yaml").unlink()  # taken for a fleet directory: planned with envctl's own program, in workers
    shutil.copy(repo / "Pulumi.sandbox.yaml", repo / "Pulumi.globex-sandbox.yaml")  # 8 stacks: a worker pool
    set_config(repo, "globex-sandbox", f"{NS}:customer", "globex")  # another environment (envctl.fleet)
    set_config(repo, "globex-sandbox", f"{NS}:network", {"cidr": "10.99.0.0/16"})  # and its own range
    set_config(repo, "prod", f"{NS}:release", "2099.1.1")
    done = subprocess.run([str(PROJECT / ".venv" / "bin" / "envctl"), "--example", "--dir", ".", "check"],
                          cwd=repo, capture_output=True, text=True, timeout=900)
    assert not marker.exists(), "code planted in the working directory ran"
    assert done.returncode == 1 and "untracked change: stack 'prod'" in done.stdout


def crashing_bytecode(source: Path) -> bytes:
    """A checked-hash .pyc of `source`, valid for Python to use, whose marshal data crashes a reader."""
    src = source.read_bytes()
    code = compile(src, str(source), "exec", dont_inherit=True)
    data = marshal.dumps(code.replace(co_consts=code.co_consts + ((None, 987654321),)))
    at = data.find(b"N" + bytes([0x69 | 0x80]) + (987654321).to_bytes(4, "little"))
    at = at if at >= 0 else data.find(b"Ni" + (987654321).to_bytes(4, "little"))
    header = importlib.util.MAGIC_NUMBER + (3).to_bytes(4, "little") + importlib.util.source_hash(src)
    for index in range(400):  # a back-reference to the tuple that holds it: marshal.loads recurses for ever
        forged = data[:at] + b"r" + index.to_bytes(4, "little") + data[at + 1:]
        probe = subprocess.run([sys.executable, "-c", "import marshal, sys; marshal.loads(sys.stdin.buffer.read())"],
                               input=forged, capture_output=True)
        if probe.returncode < 0:
            return header + forged
    pytest.skip("no crashing variant of the bytecode found on this Python")


def test_bytecode_that_crashes_its_reader_is_refused_without_crashing_the_checker(capsys, repo):
    cache = repo / "components" / "__pycache__"
    cache.mkdir()
    (cache / f"program.{sys.implementation.cache_tag}.pyc").write_bytes(crashing_bytecode(repo / "components" / "program.py"))
    out = untracked(trusted(capsys, repo, "check", "preprod"))
    assert "program.cpython-311.pyc is bytecode that Python would run instead of components/program.py" in out


@pytest.mark.parametrize("edit, codes", [
    (lambda repo: set_config(repo, "preprod", f"{NS}:clone_from", "[" * 100_000), {2}),
    (lambda repo: set_config(repo, "preprod", "aws:endpoints", "[" * 100_000), {1}),
    (lambda repo: (repo / "components" / "evil.py").mkdir(), {0}),  # never importable: harmless
    (lambda repo: (repo / "requirements-dev.txt").write_text("-r /etc\n"), {1}),  # tooling changed
    (lambda repo: (repo / "pyproject.toml").write_text('[project]\nname = 5\n'), {1}),
    (lambda repo: (repo / "pyproject.toml").write_text("a = " + "[" * 3000 + "]" * 3000 + "\n"), {1}),
], ids=["deep clone_from", "deep provider setting", "directory named like a module", "-r outside the project",
        "project name not text", "deep pyproject"])
def test_malformed_files_of_the_checked_tree_end_in_a_message_not_a_traceback(capsys, repo, edit, codes):
    edit(repo)
    code, out, err = trusted(capsys, repo, "check", "preprod")
    assert code in codes and "Traceback" not in out + err, out + err
