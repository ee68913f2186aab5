"""Waivers: one finding, one resource by its URN, a reason, at most 90 days, never a second approval path.

A finding is provoked by altering what the program registered (a key without rotation), and the
pack is evaluated as the engine does, reading `waivers/<stack>.yaml` of the checked directory itself.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from changecontrol.trust import TrustRoot
from envctl import ecr
from envctl.check import check_stack, default_policy_config
from envctl.evaluate import Violation, effective_policies, evaluate
from envctl.offline import LocalStacks, StackRun
from policies import facts
from policies.pack import POLICIES
from tests.conftest import APPROVER_KEY, NOW, NS, OPTIONS, PROJECT, REQUESTER_KEY, REVIEW, TODAY, altered, set_config

KEY = "aws:kms/key:Key"


def rotation_off(run: StackRun, key_name: str) -> tuple[StackRun, str]:
    target = run.one(KEY, key_name)
    return altered(run, lambda r: r.urn == target.urn, inputs={"enableKeyRotation": False}), target.urn


def write_waivers(directory: Path, stack: str, entries: list[dict[str, Any]]) -> None:
    (directory / "waivers").mkdir(exist_ok=True)
    (directory / "waivers" / f"{stack}.yaml").write_text(yaml.safe_dump(entries, sort_keys=False))


def waiver(urn: str, **over: Any) -> dict[str, Any]:
    return {"rule": "kms-rotation", "resource": urn, "reason": "The key is rotated by the vendor's HSM procedure.",
            "expires": (TODAY + timedelta(days=30)).isoformat(), **over}


def violations(run: StackRun, directory: Path) -> list[Violation]:
    facts.clear()
    return evaluate(run, effective_policies(POLICIES, default_policy_config(directory))).violations


def kms(found: list[Violation]) -> list[Violation]:
    return [v for v in found if v.policy == "kms-rotation"]


def approve_state(directory: Path, stack: str) -> str:
    """Draft and approve the stack's current state with the example keys; name the record."""
    trust = TrustRoot.own()
    record = ecr.draft(directory, stack, "Waive rotation", "Vendor HSM rotates it", "standard", REQUESTER_KEY, trust, NOW)
    ecr.approve(directory, record.id, APPROVER_KEY, trust, NOW)
    set_config(directory, stack, f"{NS}:change_record", record.id)
    return record.id


@pytest.fixture
def sandbox(shipped) -> tuple[StackRun, str]:
    return rotation_off(shipped["sandbox"], "acme-sandbox-main-key")


@pytest.fixture
def prod(example_copy) -> tuple[StackRun, str]:
    run = LocalStacks(PROJECT, example_copy, OPTIONS).run("prod")
    return rotation_off(run, "acme-prod-main-key")


# --------------------------------------------------------------------------------------------
# uncontrolled stacks: the file alone, within its limits
# --------------------------------------------------------------------------------------------
def test_without_a_waiver_the_finding_stands(sandbox, example_copy):
    run, urn = sandbox
    assert [v.urn for v in kms(violations(run, example_copy))] == [urn]


def test_a_waiver_by_urn_with_reason_and_near_expiry_is_honoured(sandbox, example_copy):
    run, urn = sandbox
    write_waivers(example_copy, "sandbox", [waiver(urn)])
    assert kms(violations(run, example_copy)) == []


@pytest.mark.parametrize("change, refusal", [
    ({"resource": "acme-sandbox-main-key"}, "resource must be the full URN of one resource of stack 'sandbox'"),
    ({"reason": "HSM rotation"}, "the reason must say why in at least 20 characters"),
    ({"expires": (TODAY + timedelta(days=91)).isoformat()}, "beyond 90 days from today"),
    ({"expires": "9999-12-31"}, "beyond 90 days"),
    ({"expires": (TODAY - timedelta(days=1)).isoformat()}, "it expired on"),
    ({"expires": "2027-02-30"}, "is not a date YYYY-MM-DD"),
    ({"ecr": "ECR-sandbox-0001"}, "`ecr` is not a key of a waiver any more"),
])
def test_a_waiver_outside_its_limits_is_refused_and_the_finding_says_why(sandbox, example_copy, change, refusal):
    run, urn = sandbox
    write_waivers(example_copy, "sandbox", [waiver(urn, **change)])
    (v,) = kms(violations(run, example_copy))
    assert v.urn == urn and refusal in v.message and "waiver refused" in v.message
    listing = check_stack(LocalStacks(PROJECT, example_copy, REVIEW), "sandbox", None, example_copy, OPTIONS).waivers
    assert [(w["honoured"], refusal in w["why"]) for w in listing] == [(False, True)]


@pytest.mark.parametrize("change, refusal", [
    ({"rule": "no-such-rule"}, "'no-such-rule' is not a rule of the policy pack"),
    ({"resource": "*"}, "resource must be the full URN of one resource of stack 'sandbox'"),
])
def test_a_waiver_that_names_no_rule_or_no_resource_waives_nothing(sandbox, example_copy, change, refusal):
    run, urn = sandbox
    write_waivers(example_copy, "sandbox", [waiver(urn, **change)])
    assert [v.urn for v in kms(violations(run, example_copy))] == [urn]
    listing = check_stack(LocalStacks(PROJECT, example_copy, REVIEW), "sandbox", None, example_copy, OPTIONS).waivers
    assert [(w["honoured"], refusal in w["why"]) for w in listing] == [(False, True)]


def test_a_waiver_by_name_never_silences_another_resource_of_that_name(sandbox, example_copy):
    run, urn = sandbox
    other = urn.replace("acme-sandbox-main-key", "acme-sandbox-test-key")
    write_waivers(example_copy, "sandbox", [waiver(other)])
    assert [v.urn for v in kms(violations(run, example_copy))] == [urn]


@pytest.mark.parametrize("rule, family", [("lifecycle-no-cross-customer", "lifecycle"),
                                          ("change-stateful-protected", "change-control")])
def test_lifecycle_and_change_control_rules_are_never_waived(shipped, example_copy, rule, family):
    run = shipped["prod"]
    bucket = run.one("aws:s3/bucket:Bucket", "acme-prod-exchange")
    changed = altered(run, lambda r: r.urn == bucket.urn, protect=False,
                      inputs={"tags": {**bucket.inputs["tags"], "customer": "globex"}})
    write_waivers(example_copy, "prod", [waiver(bucket.urn, rule=rule)])
    (v,) = [v for v in violations(changed, example_copy) if v.policy == rule]
    assert f"{rule} is a {family} rule, and those are never waived" in v.message


def test_a_waiver_file_that_is_not_strict_yaml_is_refused_whole(sandbox, example_copy):
    run, urn = sandbox
    (example_copy / "waivers").mkdir()
    (example_copy / "waivers" / "sandbox.yaml").write_text(f"- &w {{rule: kms-rotation, resource: '{urn}'}}\n")
    (v,) = kms(violations(run, example_copy))
    assert "anchors and aliases are not accepted" in v.message


def test_an_unused_waiver_is_reported(shipped, example_copy):
    run = shipped["sandbox"]
    key = run.one(KEY, "acme-sandbox-main-key").urn
    write_waivers(example_copy, "sandbox", [waiver(key)])
    result = check_stack(LocalStacks(PROJECT, example_copy, REVIEW), "sandbox", None, example_copy, OPTIONS)
    assert result.violations == []
    assert [(w["honoured"], w["used"]) for w in result.waivers] == [(True, False)]
    assert "matches no finding of this plan" in result.waivers[0]["why"]


# --------------------------------------------------------------------------------------------
# controlled stacks: the record that approves the state approves its waivers
# --------------------------------------------------------------------------------------------
def test_a_waiver_added_to_a_controlled_stack_is_an_untracked_change_until_approved(prod, example_copy):
    run, urn = prod
    write_waivers(example_copy, "prod", [waiver(urn)])
    found = violations(run, example_copy)
    (v,) = kms(found)
    assert "the stack's desired state (which includes its waivers) is not approved" in v.message
    assert any(x.policy == "change-approved-state" and "untracked change" in x.message for x in found)


def test_the_record_that_lists_a_waiver_approves_it(prod, example_copy):
    _, urn = prod
    write_waivers(example_copy, "prod", [waiver(urn)])
    record = approve_state(example_copy, "prod")
    approved = yaml.safe_load((example_copy / "change-records" / "prod" / f"{record}.yaml").read_text())
    assert approved["state"]["waivers"] == [waiver(urn)]  # the record lists the waivers it approves
    run, _ = rotation_off(LocalStacks(PROJECT, example_copy, OPTIONS).run("prod"), "acme-prod-main-key")
    assert violations(run, example_copy) == []


def test_an_approved_waiver_still_lasts_at_most_90_days_from_its_approval(prod, example_copy):
    run, urn = prod
    write_waivers(example_copy, "prod", [waiver(urn, expires=(NOW.date() + timedelta(days=91)).isoformat())])
    approve_state(example_copy, "prod")
    run, _ = rotation_off(LocalStacks(PROJECT, example_copy, OPTIONS).run("prod"), "acme-prod-main-key")
    (v,) = kms(violations(run, example_copy))
    assert "beyond 90 days from the approval of the record that lists it" in v.message
