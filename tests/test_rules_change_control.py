"""Change-control rules: a controlled stack keeps its state and applies only an ECR-approved desired state.

Each shipped stack is planned offline once; a rule is shown to fire by altering what the program
registered (as a mistaken edit of the program would) and evaluating the pack as the engine does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import pytest
from pulumi_policy import EnforcementLevel

from envctl.evaluate import (
    Evaluation,
    NotApplicableResult,
    Violation,
    effective_policies,
    evaluate,
)
from envctl.monitor import Registration
from envctl.offline import StackRun
from policies import facts
from policies.framework import ENVIRONMENT_TYPE
from policies.pack import POLICIES
from policies.rules import change_control
from tests.conftest import NS, SHIPPED, altered, environment, of_type, set_config
from tests.helpers import only

CONTROLLED = ("preprod", "val", "prod")
RULE_IDS = [rule.id for rule in change_control.RULES]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def digest(run: StackRun) -> str:
    return environment(run).outputs["desiredStateDigest"]


def evaluation(run: StackRun, config: dict[str, Any] | None = None, rules: list[str] | None = None) -> Evaluation:
    """The pack's verdict on a plan, as the engine asks it (the pack reads approvals and waivers itself)."""
    wanted = set(rules or RULE_IDS)
    policies = [p for p in POLICIES if p.name in wanted]
    config = {k: v for k, v in (config or {}).items() if k in wanted or k == "all"}
    facts.clear()
    return evaluate(run, effective_policies(policies, config))


def violations(run: StackRun, config: dict[str, Any] | None = None, rules: list[str] | None = None) -> list[Violation]:
    return evaluation(run, config, rules).violations


def named(name: str) -> Callable[[Registration], bool]:
    return lambda reg: reg.name == name and reg.custom


def retiring(run: StackRun) -> StackRun:
    return altered(run, of_type(ENVIRONMENT_TYPE), outputs={"retiring": True})


# --------------------------------------------------------------------------------------------
# quiet on what the program builds
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", SHIPPED)
def test_shipped_stacks_with_their_approved_state_pass_every_change_control_rule(shipped, stack):
    assert violations(shipped[stack]) == []


@pytest.mark.parametrize("stack", ("sandbox", "migration", "demo", "community-dev"))
def test_uncontrolled_stacks_need_no_approval_and_no_protection(shipped, stack):
    run = altered(shipped[stack], of_type("aws:s3/bucket:Bucket"), protect=False, inputs={"forceDestroy": True})
    assert violations(run) == []


def test_every_change_control_rule_is_mandatory_and_for_controlled_stacks_only():
    assert {r.id for r in change_control.RULES} == {
        "change-approved-state", "change-stateful-protected", "change-database-retained",
        "change-bucket-not-force-destroyed", "change-key-deletion-window", "change-inside-environment",
        "change-resource-options"}
    levels = {p.name: p.enforcement_level for p in POLICIES}
    assert all(r.controlled_only and levels[r.id] == EnforcementLevel.MANDATORY and r.family == "change-control"
               for r in change_control.RULES)


# --------------------------------------------------------------------------------------------
# change-approved-state: the pack verifies the approval itself
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", CONTROLLED)
def test_an_edited_controlled_stack_is_an_untracked_change_whatever_the_config_says(example_copy, plan_in, stack):
    set_config(example_copy, stack, f"{NS}:release", "2026.4.1")
    run = plan_in(example_copy, stack)
    # A config that claims to approve the state (the pre-signature format) approves nothing now.
    claim = {"projectDir": str(example_copy), "approvedDigests": [digest(run)], "stack": stack,
             "approvals": {f"ECR-{stack}-0001": digest(run)}}
    v = only(violations(run, {"change-approved-state": claim}), "change-approved-state")
    assert v.urn == environment(run).urn and v.level == "mandatory"
    assert f"untracked change: stack '{stack}' would apply desired state {digest(run)}" in v.message
    assert f"names ECR-{stack}-0001, which approves another desired state" in v.message
    assert f"envctl ecr new {stack} --title ... --reason ... --key <your key>" in v.message
    assert "envctl ecr approve <ID> --key <approver's key>" in v.message


def test_the_unedited_copy_is_approved_so_the_finding_above_is_the_edit(example_copy, plan_in):
    run = plan_in(example_copy, "prod")
    assert violations(run, {"change-approved-state": {"projectDir": str(example_copy)}}) == []


def test_a_program_exporting_another_digest_than_its_files_give_is_refused(shipped):
    run = shipped["preprod"]
    forged = "sha256:" + "0" * 64
    changed = altered(run, of_type(ENVIRONMENT_TYPE), outputs={"desiredStateDigest": forged})
    v = only(violations(changed), "change-approved-state")
    assert f"exports desired state '{forged}'" in v.message and digest(run) in v.message


def test_a_program_exporting_another_approval_anchor_is_refused(shipped):
    run = shipped["prod"]
    anchor = {**environment(run).outputs["approval"], "recordSha256": "sha256:" + "1" * 64}
    v = only(violations(altered(run, of_type(ENVIRONMENT_TYPE), outputs={"approval": anchor})), "change-approved-state")
    assert "exports the approval" in v.message


def test_a_stack_without_environment_is_untracked(shipped):
    run = shipped["prod"]
    env = environment(run)
    stripped = replace(run, registrations=[r for r in run.registrations if r.urn != env.urn])
    found = violations(stripped, None, ["change-approved-state"])
    assert [v.policy for v in found] == ["change-approved-state"]
    assert "0 Environment components" in found[0].message


def test_controlled_comes_from_the_stack_name_not_from_what_the_program_exports(shipped):
    run = altered(shipped["prod"], of_type(ENVIRONMENT_TYPE), outputs={"controlled": False, "phase": "sandbox"})
    unprotected = altered(run, named("acme-prod-main-db"), protect=False)
    assert [v.policy for v in violations(unprotected, None, ["change-stateful-protected"])] == [
        "change-stateful-protected"]


def test_a_policy_config_pointing_at_a_directory_without_the_stack_is_untracked(shipped, tmp_path):
    v = only(violations(shipped["prod"], {"change-approved-state": {"projectDir": str(tmp_path)}}),
             "change-approved-state")
    assert "untracked change" in v.message and "cannot be read" in v.message


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
    found = violations(altered(run, named(name), protect=False))
    v = only(found, "change-stateful-protected")
    assert v.urn == target.urn and "protect=True" in v.message and "retire: true" in v.message


def test_an_unprotected_preprod_snapshot_is_refused(shipped):
    run = shipped["preprod"]
    (snapshot, *_) = run.by_type("aws:rds/snapshot:Snapshot")
    v = only(violations(altered(run, named(snapshot.name), protect=False)), "change-stateful-protected")
    assert v.urn == snapshot.urn


def test_a_retiring_stack_may_drop_protection(shipped):
    run = shipped["prod"]
    unprotected = altered(retiring(run), of_type("aws:rds/instance:Instance"), protect=False)
    assert violations(unprotected, None, ["change-stateful-protected"]) == []


def test_a_resource_tag_saying_uncontrolled_does_not_escape_change_control(shipped):
    run = shipped["prod"]
    changed = altered(run, named("acme-prod-main-db"), protect=False,
                      inputs={"tags": {**run.one("aws:rds/instance:Instance", "acme-prod-main-db").inputs["tags"],
                                       "controlled": "false"}})
    assert [v.policy for v in violations(changed)] == ["change-stateful-protected"]


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
    v = only(violations(altered(run, named(target.name), inputs=inputs)), "change-database-retained")
    assert v.urn == target.urn and advice in v.message


def test_a_retiring_val_may_go_without_deletion_protection_or_final_snapshot(shipped):
    run = retiring(shipped["val"])
    changed = altered(run, of_type("aws:rds/instance:Instance"),
                      inputs={"deletionProtection": False, "skipFinalSnapshot": True, "finalSnapshotIdentifier": None})
    assert violations(changed, None, ["change-database-retained"]) == []


def test_a_retiring_prod_still_leaves_a_final_snapshot(shipped):
    run = retiring(shipped["prod"])
    changed = altered(run, named("acme-prod-main-db"),
                      inputs={"deletionProtection": False, "skipFinalSnapshot": True, "finalSnapshotIdentifier": None})
    v = only(violations(changed, None, ["change-database-retained"]), "change-database-retained")
    assert "skipFinalSnapshot=False" in v.message and "deletionProtection" not in v.message


# --------------------------------------------------------------------------------------------
# change-bucket-not-force-destroyed
# --------------------------------------------------------------------------------------------
def test_a_force_destroyed_bucket_of_a_controlled_stack_is_refused(shipped):
    run = shipped["preprod"]
    target = run.one("aws:s3/bucket:Bucket", "acme-preprod-access-logs")
    v = only(violations(altered(run, named(target.name), inputs={"forceDestroy": True})),
             "change-bucket-not-force-destroyed")
    assert v.urn == target.urn and "set forceDestroy=False" in v.message


def test_a_retiring_stack_may_force_destroy_its_buckets(shipped):
    run = retiring(shipped["preprod"])
    changed = altered(run, of_type("aws:s3/bucket:Bucket"), inputs={"forceDestroy": True})
    assert violations(changed, None, ["change-bucket-not-force-destroyed"]) == []


# --------------------------------------------------------------------------------------------
# change-key-deletion-window
# --------------------------------------------------------------------------------------------
def test_a_short_key_deletion_window_in_a_controlled_stack_is_refused(shipped):
    run = shipped["prod"]
    target = run.one("aws:kms/key:Key", "acme-prod-exchange-key")
    v = only(violations(altered(run, named(target.name), inputs={"deletionWindowInDays": 7.0})),
             "change-key-deletion-window")
    assert v.urn == target.urn and "deletionWindowInDays=30" in v.message


def test_a_retiring_stack_may_shorten_the_key_deletion_window(shipped):
    run = retiring(shipped["prod"])
    changed = altered(run, of_type("aws:kms/key:Key"), inputs={"deletionWindowInDays": 7.0})
    assert violations(changed, None, ["change-key-deletion-window"]) == []


# --------------------------------------------------------------------------------------------
# change-inside-environment
# --------------------------------------------------------------------------------------------
def test_a_resource_outside_the_environment_is_refused(shipped):
    run = shipped["val"]
    root = environment(run).parent  # the stack resource
    target = run.one("aws:s3/bucket:Bucket", "acme-val-exchange")
    v = only(violations(altered(run, named(target.name), parent=root)), "change-inside-environment")
    assert v.urn == target.urn and "parent=self" in v.message


def test_providers_may_stand_outside_the_environment(shipped):
    run = shipped["val"]
    root = environment(run).parent
    provider = replace(run.one("aws:s3/bucket:Bucket", "acme-val-exchange"), type="pulumi:providers:aws",
                       name="eu-west-1", parent=root, inputs={"region": "eu-west-1"},
                       urn=root.rsplit("::", 2)[0] + "::pulumi:providers:aws::eu-west-1")
    assert violations(replace(run, registrations=[*run.registrations, provider])) == []


# --------------------------------------------------------------------------------------------
# not applicable
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ("sandbox", "migration", "demo", "community-dev"))
def test_every_change_control_rule_says_it_does_not_apply_to_an_uncontrolled_stack(shipped, stack):
    found = evaluation(shipped[stack])
    reason = f"stack '{stack}' is not change-controlled; the rule is for change-controlled stacks only"
    assert found.not_applicable == [NotApplicableResult(rule, "", reason) for rule in RULE_IDS]
    assert found.applied == set()


@pytest.mark.parametrize("stack", ("preprod", "val", "prod"))
def test_every_change_control_rule_applies_to_a_controlled_stack(shipped, stack):
    found = evaluation(shipped[stack])
    assert found.not_applicable == [] and found.applied == set(RULE_IDS)


def test_a_retiring_stack_is_excused_from_protection_but_not_from_approval(shipped):
    found = evaluation(retiring(shipped["prod"]))
    excused = {n.policy: n.reason for n in found.not_applicable}
    assert excused == {rule: "an approved ECR retires the stack" for rule in (
        "change-stateful-protected", "change-bucket-not-force-destroyed", "change-key-deletion-window")}
    assert {"change-approved-state", "change-database-retained", "change-inside-environment"} <= found.applied


def test_a_controlled_stack_without_keys_is_not_judged_for_key_windows(shipped):
    run = shipped["preprod"]
    keyless = replace(run, registrations=[r for r in run.registrations if r.type != "aws:kms/key:Key"])
    found = evaluation(keyless, None, ["change-key-deletion-window"])
    assert found.not_applicable == [NotApplicableResult("change-key-deletion-window", "", "no KMS key in the stack")]


# --------------------------------------------------------------------------------------------
# change-resource-options: the options the engine hands a policy (issue 8, item 6)
# --------------------------------------------------------------------------------------------
def test_the_documented_restore_pins_are_the_only_ignored_changes_and_stay_quiet(shipped):
    val = shipped["val"]
    pinned = {(r.type, tuple(r.ignore_changes)) for r in val.registrations if r.ignore_changes}
    assert pinned == {("aws:rds/instance:Instance", ("snapshotIdentifier",)),
                      ("aws:rds/snapshotCopy:SnapshotCopy", ("sourceDbSnapshotIdentifier",))}
    assert violations(val, rules=["change-resource-options"]) == []


@pytest.mark.parametrize("change, says", [
    ({"ignore_changes": ["backupRetentionPeriod"]}, "ignoreChanges backupRetentionPeriod"),
    ({"ignore_changes": ["snapshotIdentifier", "multiAz"]}, "ignoreChanges multiAz"),
    ({"delete_before_replace": True}, "deleteBeforeReplace would delete it"),
])
def test_an_ignored_change_or_delete_before_replace_on_a_prod_database_is_reported(shipped, change, says):
    run = altered(shipped["prod"], named("acme-prod-main-db"), **change)
    v = only(violations(run, rules=["change-resource-options"]), "change-resource-options")
    assert says in v.message and v.urn.endswith("::acme-prod-main-db")


def test_options_on_an_uncontrolled_stack_are_not_judged(shipped):
    run = altered(shipped["sandbox"], named("acme-sandbox-main-db"), ignore_changes=["multiAz"])
    assert violations(run, rules=["change-resource-options"]) == []


@pytest.mark.parametrize("stack, retained", [("prod", True), ("val", True), ("preprod", True), ("sandbox", False)])
def test_keys_that_encrypt_a_final_snapshot_are_retained_on_delete_by_the_program(shipped, stack, retained):
    """retainOnDelete is not among the options the engine hands a policy, so no rule can judge it: the program
    sets it wherever a final snapshot is kept (a deleted key would make that snapshot unreadable)."""
    keys = shipped[stack].by_type("aws:kms/key:Key")
    assert keys and {k.retain_on_delete for k in keys} == {retained}
