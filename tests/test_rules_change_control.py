"""Change-control rules: a controlled stack keeps its state and applies only an ECR-approved desired state.

Each shipped stack is planned offline once; a rule is shown to fire by altering what the program
registered (as a mistaken edit of the program would) and evaluating the pack as the engine does.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, Callable

import pytest

from envctl.evaluate import Violation, effective_policies, evaluate
from envctl.mocks import Registration
from envctl.offline import StackRun
from policies.framework import ENVIRONMENT_TYPE, today_utc
from policies.pack import POLICIES
from policies.rules import change_control
from tests.conftest import SHIPPED, altered, environment, of_type

CONTROLLED = ("preprod", "val", "prod")
RULE_IDS = [rule.id for rule in change_control.RULES]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def digest(run: StackRun) -> str:
    return environment(run).outputs["desiredStateDigest"]


def approval(run: StackRun, **extra: Any) -> dict[str, Any]:
    """The policy config `envctl policy-config` writes for a stack whose own desired state is approved."""
    return {"change-approved-state": {"approvedDigests": [digest(run)], "stack": run.stack, **extra}}


def violations(run: StackRun, config: dict[str, Any] | None = None, rules: list[str] | None = None) -> list[Violation]:
    wanted = set(rules or RULE_IDS)
    policies = [p for p in POLICIES if p.name in wanted]
    config = {k: v for k, v in (config or {}).items() if k in wanted or k == "all"}
    return evaluate(run, effective_policies(policies, config)).violations


def named(name: str) -> Callable[[Registration], bool]:
    return lambda reg: reg.name == name and reg.custom


def retiring(run: StackRun) -> StackRun:
    return altered(run, of_type(ENVIRONMENT_TYPE), outputs={"retiring": True})


def only(found: list[Violation], policy: str) -> Violation:
    mine = [v for v in found if v.policy == policy]
    assert len(mine) == 1, found
    return mine[0]


# --------------------------------------------------------------------------------------------
# quiet on what the program builds
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", SHIPPED)
def test_shipped_stacks_with_their_approved_state_pass_every_change_control_rule(shipped, stack):
    run = shipped[stack]
    assert violations(run, approval(run)) == []


@pytest.mark.parametrize("stack", ("sandbox", "migration", "demo", "community-dev"))
def test_uncontrolled_stacks_need_no_approval_and_no_protection(shipped, stack):
    run = altered(shipped[stack], of_type("aws:s3/bucket:Bucket"), protect=False, inputs={"forceDestroy": True})
    assert violations(run) == []


def test_every_change_control_rule_is_mandatory_and_for_controlled_stacks_only():
    assert {r.id for r in change_control.RULES} == {
        "change-approved-state", "change-stateful-protected", "change-database-retained",
        "change-bucket-not-force-destroyed", "change-key-deletion-window", "change-inside-environment"}
    assert all(r.controlled_only and r.level == "mandatory" and r.family == "change-control"
               for r in change_control.RULES)


# --------------------------------------------------------------------------------------------
# change-approved-state
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", CONTROLLED)
def test_a_controlled_stack_without_policy_config_is_an_untracked_change(shipped, stack):
    run = shipped[stack]
    v = only(violations(run, None), "change-approved-state")
    assert v.urn == environment(run).urn and v.level == "mandatory"
    assert "untracked change" in v.message and digest(run) in v.message and f"'{stack}'" in v.message
    assert f"envctl ecr new {stack} --title ... --reason ... --by <you>" in v.message
    assert "envctl ecr approve <ID> --by <approver>" in v.message
    assert f"envctl policy-config {stack}" in v.message


def test_an_empty_approval_list_fails_closed(shipped):
    run = shipped["prod"]
    config = {"change-approved-state": {"approvedDigests": [], "stack": "prod"}}
    v = only(violations(run, config), "change-approved-state")
    assert "approves no desired state" in v.message and "envctl ecr new prod" in v.message


def test_the_approved_digest_of_another_stack_does_not_approve_this_one(shipped):
    run = shipped["prod"]
    config = {"change-approved-state": {"approvedDigests": [digest(shipped["val"])], "stack": "prod"}}
    v = only(violations(run, config), "change-approved-state")
    assert v.urn == environment(run).urn
    assert digest(run) in v.message and "untracked change" in v.message and "envctl ecr new prod" in v.message


def test_a_config_written_for_another_stack_does_not_count(shipped):
    run = shipped["prod"]
    config = {"change-approved-state": {"approvedDigests": [digest(run)], "stack": "val"}}
    v = only(violations(run, config), "change-approved-state")
    assert "written for stack 'val', not 'prod'" in v.message and "envctl policy-config prod" in v.message


def test_a_config_that_names_no_stack_does_not_count(shipped):
    run = shipped["val"]
    config = {"change-approved-state": {"approvedDigests": [digest(run)]}}
    v = only(violations(run, config), "change-approved-state")
    assert "names no stack" in v.message and "envctl policy-config val" in v.message


def test_a_changed_setting_changes_the_digest_and_needs_a_new_approval(shipped):
    run = shipped["preprod"]
    changed = altered(run, of_type(ENVIRONMENT_TYPE), outputs={"desiredStateDigest": "sha256:" + "0" * 64})
    v = only(violations(changed, approval(run)), "change-approved-state")
    assert "sha256:" + "0" * 64 in v.message


def test_a_stack_without_environment_counts_as_controlled_and_untracked(shipped):
    run = shipped["sandbox"]  # uncontrolled, but without an Environment nothing says so: fail closed
    env = environment(run)
    stripped = replace(run, registrations=[r for r in run.registrations if r.urn != env.urn])
    found = violations(stripped, None, ["change-approved-state"])
    assert [v.policy for v in found] == ["change-approved-state"]
    assert "0 Environment components" in found[0].message


def test_the_approved_state_rule_refuses_a_malformed_digest_in_the_config(shipped):
    from envctl.evaluate import PolicyConfigError

    with pytest.raises(PolicyConfigError, match="change-approved-state"):
        violations(shipped["prod"], {"change-approved-state": {"approvedDigests": ["ECR-prod-0001"], "stack": "prod"}})


# --------------------------------------------------------------------------------------------
# change-stateful-protected
# --------------------------------------------------------------------------------------------
STATEFUL_IN_PROD = {
    "aws:rds/instance:Instance": "acme-prod-main-db",
    "aws:s3/bucket:Bucket": "acme-prod-main-documents",
    "aws:kms/key:Key": "acme-prod-main-key",
    "aws:secretsmanager/secret:Secret": "acme-prod-main-db-master",
}


@pytest.mark.parametrize("typ, name", sorted(STATEFUL_IN_PROD.items()))
def test_an_unprotected_stateful_resource_of_a_controlled_stack_is_refused(shipped, typ, name):
    run = shipped["prod"]
    target = run.one(typ, name)
    found = violations(altered(run, named(name), protect=False), approval(run))
    v = only(found, "change-stateful-protected")
    assert v.urn == target.urn and "protect=True" in v.message and "retire: true" in v.message


def test_an_unprotected_preprod_snapshot_is_refused(shipped):
    run = shipped["preprod"]
    (snapshot, *_) = run.by_type("aws:rds/snapshot:Snapshot")
    v = only(violations(altered(run, named(snapshot.name), protect=False), approval(run)), "change-stateful-protected")
    assert v.urn == snapshot.urn


def test_a_retiring_stack_may_drop_protection(shipped):
    run = shipped["prod"]
    unprotected = altered(retiring(run), of_type("aws:rds/instance:Instance"), protect=False)
    assert violations(unprotected, approval(run), ["change-stateful-protected"]) == []


def test_a_resource_tag_saying_uncontrolled_does_not_escape_change_control(shipped):
    run = shipped["prod"]
    changed = altered(run, named("acme-prod-main-db"), protect=False,
                      inputs={"tags": {**run.one("aws:rds/instance:Instance", "acme-prod-main-db").inputs["tags"],
                                       "controlled": "false"}})
    assert [v.policy for v in violations(changed, approval(run))] == ["change-stateful-protected"]


# --------------------------------------------------------------------------------------------
# change-database-retained
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("inputs, advice", [
    ({"deletionProtection": False}, "set deletionProtection=True"),
    ({"skipFinalSnapshot": True}, "set skipFinalSnapshot=False"),
    ({"finalSnapshotIdentifier": None}, "give a finalSnapshotIdentifier"),
])
def test_a_controlled_database_keeps_deletion_protection_and_a_final_snapshot(shipped, inputs, advice):
    run = shipped["val"]
    target = run.one("aws:rds/instance:Instance", "acme-val-test-db")
    v = only(violations(altered(run, named(target.name), inputs=inputs), approval(run)), "change-database-retained")
    assert v.urn == target.urn and advice in v.message


def test_a_retiring_val_may_go_without_deletion_protection_or_final_snapshot(shipped):
    run = retiring(shipped["val"])
    changed = altered(run, of_type("aws:rds/instance:Instance"),
                      inputs={"deletionProtection": False, "skipFinalSnapshot": True, "finalSnapshotIdentifier": None})
    assert violations(changed, approval(run), ["change-database-retained"]) == []


def test_a_retiring_prod_still_leaves_a_final_snapshot(shipped):
    run = retiring(shipped["prod"])
    changed = altered(run, named("acme-prod-main-db"),
                      inputs={"deletionProtection": False, "skipFinalSnapshot": True, "finalSnapshotIdentifier": None})
    v = only(violations(changed, approval(run), ["change-database-retained"]), "change-database-retained")
    assert "skipFinalSnapshot=False" in v.message and "deletionProtection" not in v.message


# --------------------------------------------------------------------------------------------
# change-bucket-not-force-destroyed
# --------------------------------------------------------------------------------------------
def test_a_force_destroyed_bucket_of_a_controlled_stack_is_refused(shipped):
    run = shipped["preprod"]
    target = run.one("aws:s3/bucket:Bucket", "acme-preprod-access-logs")
    v = only(violations(altered(run, named(target.name), inputs={"forceDestroy": True}), approval(run)),
             "change-bucket-not-force-destroyed")
    assert v.urn == target.urn and "set forceDestroy=False" in v.message


def test_a_retiring_stack_may_force_destroy_its_buckets(shipped):
    run = retiring(shipped["preprod"])
    changed = altered(run, of_type("aws:s3/bucket:Bucket"), inputs={"forceDestroy": True})
    assert violations(changed, approval(run), ["change-bucket-not-force-destroyed"]) == []


# --------------------------------------------------------------------------------------------
# change-key-deletion-window
# --------------------------------------------------------------------------------------------
def test_a_short_key_deletion_window_in_a_controlled_stack_is_refused(shipped):
    run = shipped["prod"]
    target = run.one("aws:kms/key:Key", "acme-prod-exchange-key")
    v = only(violations(altered(run, named(target.name), inputs={"deletionWindowInDays": 7.0}), approval(run)),
             "change-key-deletion-window")
    assert v.urn == target.urn and "deletionWindowInDays=30" in v.message


def test_a_retiring_stack_may_shorten_the_key_deletion_window(shipped):
    run = retiring(shipped["prod"])
    changed = altered(run, of_type("aws:kms/key:Key"), inputs={"deletionWindowInDays": 7.0})
    assert violations(changed, approval(run), ["change-key-deletion-window"]) == []


# --------------------------------------------------------------------------------------------
# change-inside-environment
# --------------------------------------------------------------------------------------------
def test_a_resource_outside_the_environment_is_refused(shipped):
    run = shipped["val"]
    root = environment(run).parent  # the stack resource
    target = run.one("aws:s3/bucket:Bucket", "acme-val-exchange")
    v = only(violations(altered(run, named(target.name), parent=root), approval(run)), "change-inside-environment")
    assert v.urn == target.urn and "parent=self" in v.message


def test_providers_may_stand_outside_the_environment(shipped):
    run = shipped["val"]
    root = environment(run).parent
    provider = replace(run.one("aws:s3/bucket:Bucket", "acme-val-exchange"), type="pulumi:providers:aws",
                       name="eu-west-1", parent=root, inputs={"region": "eu-west-1"},
                       urn=root.rsplit("::", 2)[0] + "::pulumi:providers:aws::eu-west-1")
    assert violations(replace(run, registrations=[*run.registrations, provider]), approval(run)) == []


# --------------------------------------------------------------------------------------------
# waivers (framework behaviour, shown on change-stateful-protected)
# --------------------------------------------------------------------------------------------
def waived(run: StackRun, waiver: dict[str, Any], approved: list[str]) -> list[Violation]:
    config = approval(run)
    config["change-stateful-protected"] = {"waivers": [waiver], "approvedRecords": approved}
    return violations(altered(run, named("acme-prod-test-db"), protect=False), config)


FUTURE = (today_utc() + timedelta(days=30)).isoformat()
PAST = (today_utc() - timedelta(days=1)).isoformat()


def test_a_waiver_with_reason_expiry_and_approved_ecr_is_honoured(shipped):
    waiver = {"resource": "acme-prod-test-db", "reason": "re-created under ECR-prod-0002", "expires": FUTURE,
              "ecr": "ECR-prod-0002"}
    assert waived(shipped["prod"], waiver, ["ECR-prod-0002"]) == []


def test_a_waiver_may_name_the_resource_by_urn(shipped):
    run = shipped["prod"]
    urn = run.one("aws:rds/instance:Instance", "acme-prod-test-db").urn
    waiver = {"resource": urn, "reason": "re-created", "expires": FUTURE, "ecr": "ECR-prod-0002"}
    assert waived(run, waiver, ["ECR-prod-0002"]) == []


@pytest.mark.parametrize("waiver, approved, refusal", [
    ({"reason": "re-created", "expires": PAST, "ecr": "ECR-prod-0002"}, ["ECR-prod-0002"],
     f"waiver refused: it expired on {PAST}"),
    ({"reason": "  ", "expires": FUTURE, "ecr": "ECR-prod-0002"}, ["ECR-prod-0002"],
     "waiver refused: it gives no reason"),
    ({"reason": "re-created", "expires": FUTURE}, [],
     "waiver refused: a controlled stack needs the id of an approved ECR"),
    ({"reason": "re-created", "expires": FUTURE, "ecr": "ECR-prod-0002"}, ["ECR-prod-0001"],
     "waiver refused: ECR-prod-0002 is not an approved ECR of this stack"),
    ({"reason": "re-created", "ecr": "ECR-prod-0002"}, ["ECR-prod-0002"],
     "waiver refused: it needs an expiry date YYYY-MM-DD"),
])
def test_a_waiver_is_refused_and_the_violation_says_why(shipped, waiver, approved, refusal):
    run = shipped["prod"]
    found = waived(run, {"resource": "acme-prod-test-db", **waiver}, approved)
    v = only(found, "change-stateful-protected")
    assert v.urn == run.one("aws:rds/instance:Instance", "acme-prod-test-db").urn
    assert refusal in v.message and "protect=True" in v.message


def test_a_waiver_for_another_resource_does_not_cover_this_one(shipped):
    waiver = {"resource": "acme-prod-main-db", "reason": "x", "expires": FUTURE, "ecr": "ECR-prod-0002"}
    found = waived(shipped["prod"], waiver, ["ECR-prod-0002"])
    assert [v.policy for v in found] == ["change-stateful-protected"] and "waiver" not in found[0].message
