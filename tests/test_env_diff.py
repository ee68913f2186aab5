"""`envctl diff`: two environments compared after normalising what must differ, every difference explained by the
phase catalog, by the stack settings, or reported as unexplained (exit 1)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from pypdf import PdfReader

from components import tokens
from components.phases import PHASES
from components.settings import StackSettings
from envctl import stackfile
from envctl.commands import diff as diff_command
from envctl.evidence import diff
from envctl.evidence.environment import from_plan
from envctl.monitor import SECRET_MARK
from envctl.offline import StackRun
from tests.conftest import PROJECT, TODAY, altered
from tests.helpers import envctl, stack_export


def settings(stack: str) -> StackSettings:
    return stackfile.load_stack_settings(PROJECT, stack, today=TODAY)


def compared(shipped, a: str, b: str, run_b: StackRun | None = None) -> diff.DiffReport:
    return diff.compare(from_plan(shipped[a]), settings(a), from_plan(run_b or shipped[b]), settings(b))


def main_db(reg) -> bool:
    return reg.type == tokens.RDS_INSTANCE and reg.name.endswith("-main-db")


# ----------------------------------------------------------------------------------------------------------
# What is compared with what
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("a, b, pairs", [
    ("preprod", "val", [("environment", "environment"), ("single", "main"), ("single", "test")]),
    ("preprod", "prod", [("environment", "environment"), ("single", "main")]),  # PROD test is never restored
    ("val", "preprod", [("environment", "environment"), ("main", "single"), ("test", "single")]),
    ("val", "prod", [("environment", "environment"), ("main", "main"), ("test", "test")]),
    ("sandbox", "migration", [("environment", "environment"), ("main", "single")]),  # nothing restored: main
])
def test_instances_are_matched_by_role(shipped, a, b, pairs):
    assert diff.matched_groups(from_plan(shipped[a]), PHASES[a], from_plan(shipped[b]), PHASES[b]) == pairs


# ----------------------------------------------------------------------------------------------------------
# Pre-PROD against VAL of the shipped example
# ----------------------------------------------------------------------------------------------------------
def test_preprod_and_val_differ_only_where_the_catalog_or_the_settings_say(shipped):
    report = compared(shipped, "preprod", "val")
    assert report.unexplained == []
    counts = report.counts()
    assert counts[diff.CATALOG] > 0 and counts[diff.SETTINGS] > 0


def test_a_catalog_column_that_differs_explains_what_it_drives(shipped):
    report = compared(shipped, "preprod", "val")
    backups = [d for d in report.differences if d.resource == "db" and d.path == "backupRetentionPeriod"]
    assert {(d.instance_a, d.instance_b, d.a, d.b) for d in backups} == {("single", "main", 14, 7),
                                                                        ("single", "test", 14, 7)}
    assert {d.category for d in backups} == {diff.CATALOG}
    assert backups[0].because == "catalog column backup_retention_days: 14 (preprod) vs 7 (val)"
    restored = next(d for d in report.differences if d.resource == "db-source" and d.instance_b == "main")
    assert restored.path == diff.PRESENCE and (restored.a, restored.b) == ("absent", "present")
    assert restored.because.startswith("catalog column restored_roles")


def test_a_setting_that_differs_explains_what_it_drives(shipped):
    report = compared(shipped, "preprod", "val")
    vpc = next(d for d in report.differences if d.resource == "network-vpc" and d.path == "cidrBlock")
    assert (vpc.a, vpc.b, vpc.category) == ("10.43.0.0/16", "10.44.0.0/16", diff.SETTINGS)
    assert vpc.because == "setting network: {'cidr': '10.43.0.0/16'} (preprod) vs {'cidr': '10.44.0.0/16'} (val)"


def test_names_ids_accounts_and_secrets_are_never_a_difference(shipped):
    report = compared(shipped, "preprod", "val")
    shown = json.dumps(report.as_json(), default=str)
    for must_differ in ("acme-preprod", "acme-val", "123456789012", "sg-", SECRET_MARK):
        assert must_differ not in shown, must_differ
    assert not [d for d in report.differences if d.path in ("password", "kmsKeyId", "vpcSecurityGroupIds")]


# ----------------------------------------------------------------------------------------------------------
# Unexplained differences
# ----------------------------------------------------------------------------------------------------------
def test_a_program_change_to_a_declared_property_whose_drivers_are_equal_is_unexplained(shipped):
    changed = altered(shipped["val"], main_db, inputs={"multiAz": True})
    (found,) = compared(shipped, "preprod", "val", changed).unexplained
    assert (found.instance_a, found.instance_b, found.resource, found.path) == ("single", "main", "db", "multiAz")
    assert (found.a, found.b) == (False, True)
    assert found.because == "driven by catalog:multi_az_roles, which are equal in both stacks"


def test_a_property_nothing_declares_is_unexplained(shipped):
    changed = altered(shipped["val"], main_db, inputs={"storageType": "io2"})
    (found,) = compared(shipped, "preprod", "val", changed).unexplained
    assert (found.resource, found.path, found.a, found.b) == ("db", "storageType", "gp3", "io2")
    assert found.because == "no catalog column or setting is declared to drive it"


def test_a_resource_on_one_side_only_that_nothing_declares_is_unexplained(shipped):
    run = shipped["val"]
    key = next(r for r in run.registrations if r.type == tokens.KMS_KEY and r.name == "acme-val-main-key")
    extra = replace(key, name="acme-val-main-audit-key", urn=key.urn.replace("::acme-val-main-key", "::acme-val-main-"
                                                                             "audit-key"))
    (found,) = compared(shipped, "preprod", "val", replace(run, registrations=[*run.registrations, extra])).unexplained
    assert (found.instance_b, found.resource, found.path, found.a, found.b) == ("main", "audit-key", diff.PRESENCE,
                                                                                "absent", "present")
    assert found.because == "no catalog column or setting is declared to drive it"


def test_every_declared_driver_is_a_catalog_column_or_a_stack_setting():
    phase = next(iter(PHASES.values()))
    for driver in diff.DRIVERS:
        for name in driver.drivers:
            kind, key = name.split(":", 1)
            assert kind in ("catalog", "setting"), driver
            if kind == "catalog":
                assert key in diff.CATALOG_COLUMNS and hasattr(phase, key), driver
            else:
                assert key in diff.SETTING_KEYS and key in StackSettings.model_fields, driver


# ----------------------------------------------------------------------------------------------------------
# The command
# ----------------------------------------------------------------------------------------------------------
def test_envctl_diff_of_preprod_and_val_exits_0_and_writes_a_pdf(capsys, tmp_path):
    code, out, err = envctl(capsys, PROJECT, "diff", "preprod", "val", "--pdf", str(tmp_path / "diff.pdf"))
    assert code == 0, err
    assert "UNEXPLAINED: 0 difference(s)" in out and "single vs main: db backupRetentionPeriod: 14 -> 7" in out
    texts = [p.extract_text() for p in PdfReader(str(tmp_path / "diff.pdf")).pages]
    assert len(texts) > 1
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {len(texts)}" in text and "Document DIFF-preprod-val-" in text
    assert "Differences by category, per instance compared" in texts[0]
    assert "unexplained (0)" in texts[0] and "no unexplained difference" in texts[0]


def test_envctl_diff_against_an_installed_state_reports_a_hand_made_change_and_exits_1(capsys, tmp_path, shipped):
    public = stack_export(shipped["val"], lambda reg: main_db(reg) and (lambda i: {**i, "publiclyAccessible": True}))
    (tmp_path / "val.json").write_text(json.dumps(public))
    code, out, err = envctl(capsys, PROJECT, "diff", "preprod", "val", "--state-b", str(tmp_path / "val.json"),
                            "--json")
    assert code == 1, err
    report = json.loads(out)
    assert report["b"]["source"] == str(tmp_path / "val.json") and report["unexplained"] == 1
    (found,) = [d for d in report["differences"] if d["category"] == diff.UNEXPLAINED]
    assert (found["instance_b"], found["resource"], found["path"], found["a"], found["b"]) == (
        "main", "db", "publiclyAccessible", False, True)


def test_envctl_diff_against_an_unchanged_installed_state_exits_0(capsys, tmp_path, shipped):
    def as_the_engine_records_it(reg):  # the provider's defaults and the engine's bookkeeping, as in a real export
        return reg.custom and (lambda values: {**values, "__defaults": ["applyImmediately"], "applyImmediately": False})

    (tmp_path / "val.json").write_text(json.dumps(stack_export(shipped["val"], as_the_engine_records_it)))
    code, out, err = envctl(capsys, PROJECT, "diff", "preprod", "val", "--state-b", str(tmp_path / "val.json"))
    assert code == 0, err
    assert "UNEXPLAINED: 0 difference(s)" in out


@pytest.mark.parametrize("argv, message", [
    (["val", "val"], "diff compares two environments: STACK_A and STACK_B are both 'val'"),
    (["preprod", "staging"], "no stack file for staging"),
    (["preprod", "val", "--state-b", "{missing}"], "cannot be read"),
    (["preprod", "val", "--state-b", "{not_export}"], "not the output of `pulumi stack export` (JSON, version 3"),
    (["preprod", "val", "--state-b", "{other_stack}"], "is of stack 'prod', not 'val': give the export of stack 'val'"),
])
def test_bad_input_is_refused_with_exit_2_naming_what_is_wrong(capsys, tmp_path, shipped, argv, message):
    files = {"missing": tmp_path / "missing.json", "not_export": tmp_path / "plan.json",
             "other_stack": tmp_path / "prod.json"}
    files["not_export"].write_text(json.dumps({"stacks": []}))
    files["other_stack"].write_text(json.dumps(stack_export(shipped["prod"])))
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    code, out, err = envctl(capsys, PROJECT, "diff", *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert out == ""


def test_a_bad_export_is_refused_before_any_stack_is_planned(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(diff_command, "plan_all", lambda *a, **k: pytest.fail("planned before the export was read"))
    (tmp_path / "val.json").write_text("{}")
    code, _, err = envctl(capsys, PROJECT, "diff", "preprod", "val", "--state-b", str(tmp_path / "val.json"))
    assert code == 2 and f"{tmp_path / 'val.json'}: not the output of `pulumi stack export`" in err
