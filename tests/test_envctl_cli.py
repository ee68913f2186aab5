"""envctl plan and check as an engineer and CI call them: output, JSON shapes and exit codes."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import pytest

import envctl
from changecontrol import runcontext
from components import settings as settings_module
from envctl import stackfile, status_codes
from envctl.cli import build_parser, main
from envctl.commands import COMMANDS
from tests.conftest import NOW, PROJECT, SHIPPED, environment


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--example", "--dir", str(PROJECT), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_of_every_shipped_stack(capsys):
    code, out, err = run(capsys, "plan")
    assert code == 0, err
    for stack in SHIPPED:
        assert f"Plan of stack '{stack}'" in out
    assert len(re.findall(r"pulumi:pulumi:Stack\s", out)) == len(SHIPPED)
    assert "clinspark:environment:Instance" in out and "protect" in out


def test_plan_shows_val_restored_from_preprod_through_the_reference(capsys):
    code, out, _ = run(capsys, "plan", "val")
    assert code == 0
    (reference,) = [l for l in out.splitlines() if "pulumi:pulumi:StackReference" in l]
    assert " read " in reference and "outputs of clinspark/clinspark-environments/preprod" in reference
    copies = [l for l in out.splitlines() if "aws:rds:SnapshotCopy" in l]
    assert len(copies) == 2 and all("snapshot:acme-preprod-val-2026-11" in l for l in copies)


def test_plan_json_lists_every_registered_resource_without_secrets(capsys, shipped):
    code, out, _ = run(capsys, "plan", "--json", "prod")
    assert code == 0
    (stack,) = json.loads(out)["stacks"]
    assert stack["stack"] == "prod" and stack["phase"] == "prod" and stack["error"] is None
    resources = stack["resources"]
    assert len(resources) == len(shipped["prod"].registrations)
    assert all({"urn", "type", "name", "parent", "protect", "inputs"} <= set(r) for r in resources)
    db = next(r for r in resources if r["name"] == "acme-prod-main-db")
    assert db["protect"] is True and db["inputs"]["password"] == "[secret]"
    passwords = [r.state["result"] for r in shipped["prod"].by_type("random:index/randomPassword:RandomPassword")]
    assert passwords and not any(p in out for p in passwords)


def test_check_json_has_the_documented_shape(capsys):
    code, out, _ = run(capsys, "check", "--json", "sandbox", "prod")
    assert code == 0
    doc = json.loads(out)
    assert doc["mode"]["example"] is True and doc["mode"]["trust"].startswith("EXAMPLE MODE")
    stacks = doc["stacks"]
    assert [s["stack"] for s in stacks] == ["sandbox", "prod"]
    shape = {"stack", "phase", "resources", "violations", "notApplicable", "waivers", "error", "data"}
    assert set(stacks[0]) == shape and set(stacks[1]) == shape | {"qualification"}  # PROD is a qualified phase
    assert stacks[1]["qualification"].startswith("installed, not qualified: no IQ of ECR-prod-0001")
    for s in stacks:
        assert s["violations"] == [] and s["resources"] > 50 and s["error"] is None


def test_the_pack_needs_no_policy_config_to_find_the_approval(capsys, tmp_path):
    config = tmp_path / "empty.json"
    config.write_text("{}")
    code, out, _ = run(capsys, "check", "--json", "--policy-config", str(config), "prod", "sandbox")
    prod, sandbox = json.loads(out)["stacks"]
    assert code == 0 and prod["violations"] == [] and sandbox["violations"] == []


def test_check_refuses_a_config_that_lowers_a_rule_of_a_controlled_stack(capsys, tmp_path):
    config = tmp_path / "advisory.json"
    config.write_text(json.dumps({"all": "advisory"}))
    code, out, _ = run(capsys, "check", "--policy-config", str(config), "prod")
    assert code == 2 and "may not lower" in out
    code, out, _ = run(capsys, "check", "--policy-config", str(config), "sandbox")
    assert code == 0


def test_a_policy_config_with_duplicate_keys_is_refused(capsys, tmp_path):
    config = tmp_path / "dup.json"
    config.write_text('{"all": "mandatory", "all": "disabled"}')
    code, _, err = run(capsys, "check", "--policy-config", str(config), "sandbox")
    assert code == 2 and "duplicate key 'all'" in err


@pytest.mark.parametrize("args,message", [
    (("plan", "nope"), "no stack file for nope"),
    (("check", "--policy-config", "/nonexistent.json", "prod"), "not a readable JSON file"),
    (("plan", "--frobnicate"), ""),
])
def test_usage_errors_exit_2_without_traceback(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err


def test_check_takes_a_directory_of_stack_files(capsys, tmp_path):
    for stack in ("sandbox", "demo", "seed"):  # the seed stack answers their seed_from
        shutil.copy(PROJECT / f"Pulumi.{stack}.yaml", tmp_path)
    code = main(["--example", "check", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "3 stacks checked: 3 clean" in out


@pytest.mark.parametrize("stack", ("preprod", "val", "prod"))
def test_the_digest_envctl_computes_is_the_one_the_program_exports_and_its_record_approves(capsys, shipped, stack):
    code, out, _ = run(capsys, "digest", stack)
    exported = environment(shipped[stack]).outputs
    assert code == 0 and exported["desiredStateDigest"].startswith("sha256:")
    assert out.strip() == exported["desiredStateDigest"]
    assert exported["approval"]["record"] == f"ECR-{stack}-0001"


def test_a_policy_config_pointing_the_pack_at_another_project_is_refused(capsys, tmp_path):
    config = tmp_path / "elsewhere.json"
    config.write_text(json.dumps({"change-approved-state": {"projectDir": str(tmp_path)}}))
    code, out, _ = run(capsys, "check", "--policy-config", str(config), "prod")
    assert code == 2 and f"projectDir '{tmp_path}' is not the checked directory" in out


# --- one shell: one exit-code table, one place that turns an exception into a message, one registry ------------


def test_the_registry_lists_every_command_the_parser_offers():
    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub.choices) == list(COMMANDS)
    assert list(COMMANDS) == ["plan", "check", "ecr", "iq", "digest", "policy-config", "clone-check", "seed-check",
                             "copy-documents", "preflight", "drift", "diff", "report"]
    for name, module in COMMANDS.items():
        assert module.NAME == name and module.HELP and callable(module.add_arguments) and callable(module.run)
        assert sub.choices[name].get_default("command") is module


ENVCTL = Path(envctl.__file__).parent


def _sources() -> dict[str, str]:
    return {p.relative_to(ENVCTL).as_posix(): p.read_text(encoding="utf-8") for p in sorted(ENVCTL.rglob("*.py"))}


def test_the_exit_codes_and_the_error_messages_have_one_home_each():
    """No module but status_codes defines an exit code, and none but the shell prints `error:`."""
    defined = {name for name, text in _sources().items() if re.search(r"^\s*EXIT_\w+\s*[,=]|^\s*(OK|INVALID)\s*=",
                                                                       text, re.MULTILINE)}
    assert defined == {"status_codes.py"}
    printing = {name for name, text in _sources().items() if re.search(r"""f?["']error: """, text)}
    assert printing == {"shell.py"}
    returning = {name for name, text in _sources().items() if re.search(r"return [12]\b|sys\.exit\([12]\)", text)}
    assert returning == set()
    assert status_codes.MEANINGS == {0: "success", 1: "a check or verification found a problem",
                                     2: "invalid input or usage"}


BROKEN = "config: [1, 2]\n"  # a stack file whose `config` is no mapping
KEYS = Path(__file__).parent / "example" / "keys"

# Per command: arguments that reach its library with a stack file it cannot use (or a name or id it refuses).
BAD_INPUT = {
    "plan": ("plan", "acme-sandbox"),
    "check": ("check", "acme-sandbox"),
    "ecr": ("ecr", "new", "acme-sandbox", "--title", "T", "--reason", "R", "--key", str(KEYS / "a.berger")),
    "digest": ("digest", "acme-sandbox"),
    "policy-config": ("policy-config", "acme-sandbox"),
    "clone-check": ("clone-check", "acme-sandbox", "--region", "eu-central-1"),
    "seed-check": ("seed-check", "acme-sandbox", "--region", "eu-central-1"),
    "copy-documents": ("copy-documents", "--from", "acme-sandbox", "--to", "acme-sandbox", "--region", "eu-central-1"),
    "preflight": ("preflight", "acme-sandbox", "--region", "eu-central-1"),
    "diff": ("diff", "preprod", "acme-sandbox"),
    "report": ("report", "acme-sandbox", "--json"),
    "iq": ("iq", "run", "acme-sandbox", "--state", "export.json", "--region", "eu-central-1"),
    "drift": ("drift", "acme-sandbox", "--state", "export.json", "--region", "eu-central-1"),
}


def _fleet(tmp_path: Path) -> Path:
    """A fleet directory: the shipped stack files, and one whose stack file is broken."""
    for stack in ("preprod", "val", "sandbox"):
        shutil.copy(PROJECT / f"Pulumi.{stack}.yaml", tmp_path)
    (tmp_path / "Pulumi.acme-sandbox.yaml").write_text(BROKEN)
    return tmp_path


def _envctl(capsys, *args: str) -> tuple[int, str, str]:
    with runcontext.using(runcontext.RunContext(now=NOW)):
        code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error(err: str) -> str:
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_every_command_is_covered_below():
    assert set(BAD_INPUT) == set(COMMANDS)


@pytest.mark.parametrize("command", list(BAD_INPUT))
def test_a_bad_stack_file_exits_2_with_one_error_line(capsys, tmp_path, command):
    code, _, err = _envctl(capsys, "--dir", str(_fleet(tmp_path)), *BAD_INPUT[command])
    assert code == 2
    assert "Pulumi.acme-sandbox.yaml must be a mapping with a `config` mapping" in _one_error(err)


@pytest.mark.parametrize("command", list(BAD_INPUT))
def test_a_bad_argument_exits_2_with_one_error_line(capsys, command):
    code, _, err = _envctl(capsys, "--example", "--dir", str(PROJECT), *BAD_INPUT[command], "--frobnicate")
    assert code == 2
    assert "unrecognized arguments: --frobnicate" in _one_error(err)


@pytest.mark.parametrize("args", [
    ("clone-check", "val", "--profile", "nobody"),
    ("seed-check", "sandbox", "--profile", "nobody"),
    ("copy-documents", "--from", "preprod", "--to", "val", "--profile", "nobody"),
])
def test_an_aws_configuration_mistake_exits_2_with_one_error_line(capsys, monkeypatch, tmp_path, args):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    code, out, err = _envctl(capsys, "--example", "--dir", str(PROJECT), *args)
    assert code == 2 and out == ""
    assert _one_error(err) == "error: AWS credentials or region: The config profile (nobody) could not be found"


def test_an_invalid_stack_config_is_reported_like_every_other_error(capsys, tmp_path):
    """`ecr` and `policy-config` once printed it without `error:`; every command now prints it the same way."""
    directory = _fleet(tmp_path)
    (directory / "Pulumi.sandbox.yaml").write_text((PROJECT / "Pulumi.sandbox.yaml").read_text()
                                                   + "  clinspark-environments:frobnicate: 1\n")
    for args in (("policy-config", "sandbox"), ("digest", "sandbox"), ("clone-check", "sandbox")):
        code, _, err = _envctl(capsys, "--dir", str(directory), *args)
        assert code == 2
        assert _one_error(err).startswith("error: stack 'sandbox' has invalid configuration"), args


def test_a_defect_is_a_message_and_exit_2_and_envctl_debug_shows_it(capsys, monkeypatch):
    def broken(*_, **__):
        raise KeyError("surprise")

    monkeypatch.setattr("envctl.commands.digest.ecr.current", broken)
    code, _, err = run(capsys, "digest", "prod")
    assert code == 2 and "This is a defect of envctl" in _one_error(err) and "KeyError" in err
    monkeypatch.setenv("ENVCTL_DEBUG", "1")
    with pytest.raises(KeyError, match="surprise"):
        run(capsys, "digest", "prod")


def test_policy_config_reads_and_validates_the_stack_file_once(capsys, monkeypatch):
    calls = []
    real_read, real_load = stackfile.read, settings_module.load_settings
    monkeypatch.setattr(stackfile, "read", lambda *a, **k: calls.append("read") or real_read(*a, **k))
    monkeypatch.setattr(settings_module, "load_settings", lambda *a, **k: calls.append("load") or real_load(*a, **k))
    code, out, _ = run(capsys, "policy-config", "sandbox", "--advisory", "s3-versioning")
    assert code == 0 and json.loads(out)["s3-versioning"] == {"enforcementLevel": "advisory"}
    assert calls == ["read", "load"]


def test_check_prints_sarif_and_junit_through_the_format_option(capsys):
    import xml.etree.ElementTree as ET

    code, out, _ = run(capsys, "check", "--format", "sarif", "sandbox")
    assert code == 0
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"] == []
    code, out, _ = run(capsys, "check", "--format", "junit", "sandbox")
    assert code == 0 and ET.fromstring(out).find("testsuite").get("name") == "stack sandbox"
    code, out, _ = run(capsys, "check", "--format", "json", "sandbox")
    assert code == 0 and json.loads(out)["stacks"][0]["stack"] == "sandbox"


def test_check_refuses_two_formats_and_an_unknown_one(capsys):
    code, _, err = run(capsys, "check", "--json", "--format", "sarif", "sandbox")
    assert code == 2 and "--json and --format sarif ask for two formats" in err
    code, _, err = run(capsys, "check", "--format", "pdf", "sandbox")
    assert code == 2 and "invalid choice: 'pdf'" in err


def test_output_piped_into_head_ends_quietly():
    """`envctl plan | head -1`: the reader goes away; no BrokenPipeError, no traceback, no defect message."""
    import subprocess
    import sys

    pipeline = (f"'{sys.executable}' -m envctl.cli --example --dir '{PROJECT}' plan | head -1 >/dev/null; "
                "echo ${PIPESTATUS[0]}")
    done = subprocess.run(["bash", "-c", pipeline], capture_output=True, text=True, timeout=300, cwd=PROJECT)
    assert done.stderr == "" and done.stdout.strip() == "1", (done.stdout, done.stderr)


def test_a_stack_named_twice_is_checked_once_and_an_empty_name_or_no_workers_is_refused(capsys):
    code, out, _ = run(capsys, "check", "sandbox", "sandbox")
    assert code == 0 and "1 stacks checked" in out
    code, _, err = run(capsys, "check", "")
    assert code == 2 and "an empty stack name" in err
    code, _, err = run(capsys, "check", "--jobs", "0", "sandbox")
    assert code == 2 and "0 is not a number of workers" in err


def test_a_command_that_planned_leaves_no_event_loop_for_the_shutdown_to_close():
    """An engine loop left open is collected during the interpreter's shutdown, sometimes after its own socket,
    and asyncio then prints a traceback under a command that had already reported its result."""
    import subprocess
    import sys

    script = ("import asyncio, gc\nfrom envctl.cli import main\n"
              "code = main(['--example', 'plan', 'sandbox'])\ngc.collect()\n"
              "open_loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and not o.is_closed()]\n"
              "print(code, len(open_loops))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, timeout=120)
    assert done.stdout.split()[-2:] == ["0", "0"], done.stderr[-2000:]
