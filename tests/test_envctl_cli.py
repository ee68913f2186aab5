"""envctl plan and check as an engineer and CI call them: output, JSON shapes and exit codes."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from envctl.cli import main
from tests.conftest import PROJECT, SHIPPED, environment


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
    for s in stacks:
        assert set(s) == {"stack", "phase", "resources", "violations", "notApplicable", "waivers", "error"}
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
    for stack in ("sandbox", "demo"):
        shutil.copy(PROJECT / f"Pulumi.{stack}.yaml", tmp_path)
    code = main(["--example", "check", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0 and "2 stacks checked: 2 clean" in out


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
