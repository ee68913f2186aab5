"""`envctl check` results as SARIF 2.1.0 and JUnit XML: what a code-scanning tool and a CI test report read.

The SARIF output is validated against the official SARIF 2.1.0 JSON schema (vendored in
tests/sarif/, see its README); the JUnit output is parsed as XML and counted.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from changecontrol.trust import TrustRoot
from envctl import formats
from envctl.check import StackCheck, check_stack, render, to_json
from envctl.evaluate import Violation
from envctl.offline import LocalStacks
from policies.pack import RULES
from tests.conftest import OPTIONS, PROJECT, REVIEW

SCHEMA = json.loads((Path(__file__).parent / "sarif" / "sarif-schema-2.1.0.json").read_text())
PREFIX = "urn:pulumi:migration::clinspark-environments::clinspark:environment:Environment$"
DB_URN = PREFIX + "aws:rds/instance:Instance::acme-migration-main-db"
KEY_URN = PREFIX + "aws:kms/key:Key::acme-migration-main-key"


@pytest.fixture(scope="module")
def checked() -> list[StackCheck]:
    """The shipped sandbox and prod as `envctl check` reports them (clean), and a hand-made migration
    result with a critical and a low violation, an advisory one, a waived finding, and a stack in error."""
    local = LocalStacks(PROJECT, PROJECT, REVIEW)
    real = [check_stack(local, stack, None, PROJECT, OPTIONS) for stack in ("sandbox", "prod")]
    migration = StackCheck(
        "migration", "migration", 90,
        violations=[Violation("rds-not-public", "mandatory", DB_URN, "database 'acme-migration-main-db' is public"),
                    Violation("rds-copy-tags-to-snapshot", "mandatory", DB_URN, "no tags on snapshots"),
                    Violation("rds-copy-tags-to-snapshot", "mandatory", KEY_URN, "a second finding of the rule"),
                    Violation("lb-access-logs", "advisory", "", "no access logs (advisory here)")],
        waivers=[{"rule": "kms-rotation", "resource": KEY_URN, "reason": "rotation handled by the key custodian",
                  "expires": "2026-12-31", "honoured": True, "used": True, "why": "rotation handled"},
                 {"rule": "kms-rotation", "resource": "x", "reason": "y", "expires": "2026-12-31", "honoured": False,
                  "used": False, "why": "refused"}],
        not_applicable={"change-approved-state": ["stack 'migration' is not change-controlled"]})
    broken = StackCheck("demo", error="stack 'demo': not planned: unreviewed program")
    return [*real, migration, broken]


def sarif_of(results: list[StackCheck]) -> dict:
    return json.loads(formats.render("sarif", results, trust=TrustRoot.own(), checked=PROJECT))


# --------------------------------------------------------------------------------------------
# SARIF
# --------------------------------------------------------------------------------------------
def test_the_sarif_output_is_valid_sarif_2_1_0(checked):
    log = sarif_of(checked)
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    errors = sorted(jsonschema.Draft7Validator(SCHEMA).iter_errors(log), key=str)
    assert errors == [], [e.message for e in errors[:5]]
    assert log["version"] == "2.1.0"


def test_the_schema_check_refuses_a_result_without_a_message(checked):
    log = sarif_of(checked)
    del log["runs"][0]["results"][0]["message"]
    assert not jsonschema.Draft7Validator(SCHEMA).is_valid(log)


def test_the_driver_lists_every_rule_with_its_remediation_severity_and_references(checked):
    (run,) = sarif_of(checked)["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [rule.id for rule in RULES]
    by_id = {r["id"]: r for r in rules}
    rds = by_id["rds-encrypted-cmk"]
    assert rds["name"] == "RdsEncryptedCmk" and rds["shortDescription"]["text"] == RULES[
        [r.id for r in RULES].index("rds-encrypted-cmk")].description
    assert rds["help"]["text"].startswith("Set storage_encrypted=True")
    assert rds["helpUri"] == "https://docs.aws.amazon.com/securityhub/latest/userguide/rds-controls.html#rds-3"
    assert rds["defaultConfiguration"]["level"] == "error"
    assert (rds["properties"]["fsbp"], rds["properties"]["checkov"]) == ("RDS.3", ["CKV_AWS_16"])
    assert rds["properties"]["security-severity"] == "8.0" and rds["properties"]["severity"] == "high"
    assert by_id["rds-copy-tags-to-snapshot"]["defaultConfiguration"]["level"] == "note"
    assert "helpUri" not in by_id["change-approved-state"]


def test_each_violation_is_located_in_its_stack_file_and_resource(checked):
    (run,) = sarif_of(checked)["runs"]
    results = [r for r in run["results"] if "suppressions" not in r]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("rds-not-public", "error"), ("rds-copy-tags-to-snapshot", "note"), ("rds-copy-tags-to-snapshot", "note"),
        ("lb-access-logs", "note")]
    public = results[0]
    assert public["message"]["text"] == "database 'acme-migration-main-db' is public"
    assert RULES[public["ruleIndex"]].id == "rds-not-public"
    (location,) = public["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "Pulumi.migration.yaml"
    assert location["logicalLocations"] == [{"fullyQualifiedName": DB_URN, "name": "acme-migration-main-db",
                                             "kind": "resource"}]
    assert results[3]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "stack migration"
    assert results[3]["properties"]["enforcementLevel"] == "advisory"
    fingerprints = [json.dumps(r["partialFingerprints"]) for r in results]
    assert len(set(fingerprints)) == len(results)  # two findings of one rule on one line stay two


def test_stack_files_under_a_directory_are_located_there(checked):
    log = json.loads(formats.render("sarif", checked, trust=TrustRoot.own(), checked=PROJECT, stacks_uri="fleet/"))
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in log["runs"][0]["results"]}
    assert uris == {"fleet/Pulumi.migration.yaml"}


def test_a_waived_finding_is_a_suppressed_result_with_the_waiver_s_reason(checked):
    (run,) = sarif_of(checked)["runs"]
    (waived,) = [r for r in run["results"] if "suppressions" in r]
    assert waived["ruleId"] == "kms-rotation"
    assert waived["suppressions"] == [{"kind": "external", "state": "accepted",
                                       "justification": "rotation handled by the key custodian"}]
    assert waived["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == KEY_URN


def test_a_stack_that_was_not_checked_fails_the_invocation(checked):
    (run,) = sarif_of(checked)["runs"]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error" and "stack demo was not checked" in note["message"]["text"]
    assert sarif_of(checked[:2])["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_the_rules_that_applied_to_nothing_are_listed_per_stack(checked):
    (run,) = sarif_of(checked)["runs"]
    listed = run["properties"]["notApplicable"]
    assert listed["sandbox"]["change-approved-state"] == [
        "stack 'sandbox' is not change-controlled; the rule is for change-controlled stacks only"]
    assert "change-approved-state" not in listed["prod"]


# --------------------------------------------------------------------------------------------
# JUnit
# --------------------------------------------------------------------------------------------
def junit_of(results: list[StackCheck]) -> ET.Element:
    return ET.fromstring(formats.render("junit", results, trust=TrustRoot.own(), checked=PROJECT))


def test_junit_has_one_suite_per_stack_and_one_case_per_rule(checked):
    root = junit_of(checked)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["stack sandbox", "stack prod", "stack migration", "stack demo"]
    for suite in suites[:3]:
        assert [c.get("name") for c in suite.findall("testcase")] == [rule.id for rule in RULES]
        assert suite.get("tests") == str(len(RULES))
    sandbox, prod, migration, demo = suites
    assert (sandbox.get("failures"), prod.get("failures"), migration.get("failures")) == ("0", "0", "2")
    assert (demo.get("tests"), demo.get("errors")) == ("1", "1")
    assert root.get("tests") == str(3 * len(RULES) + 1) and root.get("failures") == "2" and root.get("errors") == "1"


def test_junit_fails_mandatory_violations_and_skips_rules_that_do_not_apply(checked):
    sandbox, _, migration, demo = junit_of(checked).findall("testsuite")
    cases = {c.get("name"): c for c in migration.findall("testcase")}
    failure = cases["rds-copy-tags-to-snapshot"].find("failure")
    assert failure.get("type") == "mandatory" and "2 mandatory violation(s)" in failure.get("message")
    assert failure.text.splitlines() == [f"{DB_URN}: no tags on snapshots",
                                         f"{KEY_URN}: a second finding of the rule"]
    advisory = cases["lb-access-logs"]
    assert advisory.find("failure") is None and "[advisory]" in advisory.find("system-out").text
    assert "[waived until 2026-12-31]" in cases["kms-rotation"].find("system-out").text
    assert cases["change-approved-state"].find("skipped").get("message") == (
        "not applicable: stack 'migration' is not change-controlled")
    assert migration.get("skipped") == "1"
    skipped = {c.get("name") for c in sandbox.findall("testcase") if c.find("skipped") is not None}
    assert skipped == set(checked[0].not_applicable)
    assert {r.id for r in RULES if r.family == "change-control" and r.controlled_only} <= skipped
    assert sandbox.get("skipped") == str(len(skipped))
    (error,) = demo.findall("testcase")
    assert error.find("error").text == "stack 'demo': not planned: unreviewed program" and demo.get("errors") == "1"


# --------------------------------------------------------------------------------------------
# The one entry point
# --------------------------------------------------------------------------------------------
def test_text_and_json_are_the_check_s_own_renderings(checked):
    trust = TrustRoot.own()
    assert formats.render("text", checked, trust=trust, checked=PROJECT) == render(checked, trust.describe(PROJECT))
    assert formats.render("json", checked, trust=trust, checked=PROJECT) == to_json(checked, trust, PROJECT)
    assert formats.FORMATS == ("text", "json", "sarif", "junit")


def test_an_unknown_format_is_refused_by_name(checked):
    with pytest.raises(ValueError, match=r"unknown output format 'xml'; accepted: text, json, sarif, junit"):
        formats.render("xml", checked, trust=TrustRoot.own(), checked=PROJECT)


def test_check_json_lists_the_rules_that_did_not_apply_and_each_violation_s_references(checked):
    sandbox, prod, migration, _ = json.loads(to_json(checked, TrustRoot.own(), PROJECT))["stacks"]
    listed = {n["policy"]: n["reasons"] for n in sandbox["notApplicable"]}
    assert listed["lifecycle-iteration-migration-only"] == [
        "no instance of this sandbox stack is restored from a migration iteration"]
    assert "lifecycle-restore-allowed" not in set(listed) | {n["policy"] for n in prod["notApplicable"]}
    public = migration["violations"][0]
    assert (public["severity"], public["fsbp"], public["checkov"]) == ("critical", "RDS.2", ["CKV_AWS_17"])
    assert public["remediation"].startswith("Set publicly_accessible=False")
