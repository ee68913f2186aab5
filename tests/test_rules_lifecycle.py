"""Lifecycle rules: every stack is what its phase says (life, instances, data source, customer).

Each shipped stack is planned offline once; a rule is shown to fire by altering what the program
registered and evaluating the pack as the engine does. Phase facts come from the phase catalog.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from typing import Any, Callable

import pytest
from pulumi_policy import EnforcementLevel

from components.phases import CLONE_SOURCE_PHASE, PHASES
from envctl.evaluate import NotApplicableResult, Violation, effective_policies, evaluate
from envctl.monitor import Registration
from envctl.offline import StackRun
from policies.framework import ENVIRONMENT_TYPE, INSTANCE_TYPE, PAIR_TYPE
from policies.pack import POLICIES
from policies.rules import lifecycle
from tests.conftest import PROJECT, SHIPPED, TODAY, altered, environment, of_type
from tests.helpers import only, verdict

RULE_IDS = [rule.id for rule in lifecycle.RULES]
RDS = "aws:rds/instance:Instance"
COPY = "aws:rds/snapshotCopy:SnapshotCopy"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def instance(run: StackRun, role: str) -> Registration:
    (found,) = [r for r in run.by_type(INSTANCE_TYPE) if r.outputs["role"] == role]
    return found


def violations(run: StackRun, config: dict[str, Any] | None = None, rules: list[str] | None = None) -> list[Violation]:
    return verdict(run, rules or RULE_IDS, config)


def added(run: StackRun, *regs: Registration) -> StackRun:
    return replace(run, registrations=[*run.registrations, *regs])


def named(name: str) -> Callable[[Registration], bool]:
    return lambda reg: reg.name == name


def policies_of(found: list[Violation]) -> set[str]:
    return {v.policy for v in found}


# --------------------------------------------------------------------------------------------
# quiet on what the program builds
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", SHIPPED)
def test_shipped_stacks_pass_every_lifecycle_rule(shipped, stack):
    assert violations(shipped[stack]) == []


def test_lifecycle_rules_apply_to_every_stack_and_are_mandatory_but_the_one_that_warns():
    assert set(RULE_IDS) == {"lifecycle-expiry", "lifecycle-topology", "lifecycle-restore-allowed",
                             "lifecycle-no-cross-customer", "lifecycle-tags-agree", "lifecycle-dummy-data-only",
                             "lifecycle-release-listed", "lifecycle-release-latest", "lifecycle-release-behind-limit",
                             "lifecycle-cross-customer-restore", "lifecycle-iteration-migration-only"}
    levels = {p.name: p.enforcement_level for p in POLICIES}
    assert {r.id for r in lifecycle.RULES if levels[r.id] != EnforcementLevel.MANDATORY} == {"lifecycle-release-latest"}
    assert levels["lifecycle-release-latest"] == EnforcementLevel.ADVISORY
    assert all(not r.controlled_only and r.family == "lifecycle" for r in lifecycle.RULES)


def test_a_stack_without_environment_fails_every_lifecycle_rule(shipped):
    run = shipped["demo"]
    env = environment(run)
    found = violations(replace(run, registrations=[r for r in run.registrations if r.urn != env.urn]))
    assert policies_of(found) == set(RULE_IDS)
    assert all("0 Environment components" in v.message for v in found)


# --------------------------------------------------------------------------------------------
# lifecycle-expiry
# --------------------------------------------------------------------------------------------
def expiring(run: StackRun, expires_on: str | None) -> StackRun:
    """The run with a new expiry on the Environment and, as the program would, on every tag."""
    tag = expires_on or "never"
    regs = []
    for reg in run.registrations:
        if reg.type == ENVIRONMENT_TYPE:
            reg = replace(reg, outputs={**reg.outputs, "expiresOn": expires_on})
        elif reg.inputs.get("tags"):
            reg = replace(reg, inputs={**reg.inputs, "tags": {**reg.inputs["tags"], "expires-on": tag}})
        regs.append(reg)
    return replace(run, registrations=regs)


@pytest.mark.parametrize("stack", ("sandbox", "migration", "val", "demo"))
def test_a_disposable_stack_may_not_live_beyond_its_phase(shipped, stack):
    phase = PHASES[stack]
    run = shipped[stack]
    assert violations(expiring(run, (TODAY + timedelta(days=phase.max_life_days)).isoformat())) == []
    too_late = (TODAY + timedelta(days=phase.max_life_days + 1)).isoformat()
    v = only(violations(expiring(run, too_late)), "lifecycle-expiry")
    assert v.urn == environment(run).urn
    assert f"{phase.max_life_days} days" in v.message and "set it to" in v.message


def test_an_expired_stack_is_told_to_be_destroyed(shipped):
    run = shipped["sandbox"]
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    v = only(violations(expiring(run, yesterday)), "lifecycle-expiry")
    assert v.urn == environment(run).urn and f"expired on {yesterday}" in v.message and "pulumi destroy" in v.message


def test_a_disposable_stack_without_expiry_is_refused(shipped):
    run = shipped["migration"]
    v = only(violations(expiring(run, None)), "lifecycle-expiry")
    assert "needs an expiry date" in v.message and "set expires_on" in v.message


@pytest.mark.parametrize("stack", ("preprod", "prod", "community-dev"))
def test_a_lasting_stack_takes_no_expiry(shipped, stack):
    run = shipped[stack]
    v = only(violations(expiring(run, (TODAY + timedelta(days=30)).isoformat())), "lifecycle-expiry")
    assert v.urn == environment(run).urn and "remove expires_on" in v.message


def test_every_tag_carries_the_environment_expiry(shipped):
    run = shipped["val"]
    target = run.one("aws:ecs/cluster:Cluster", "acme-val-main-cluster")
    changed = altered(run, named(target.name), inputs={"tags": {**target.inputs["tags"], "expires-on": "never"}})
    v = only(violations(changed), "lifecycle-expiry")
    assert v.urn == target.urn and "'never'" in v.message and "tags_for" in v.message


def test_an_environment_that_contradicts_the_catalog_about_disposability_is_refused(shipped):
    run = shipped["prod"]
    changed = altered(run, of_type(ENVIRONMENT_TYPE), outputs={"disposable": True})
    v = only(violations(changed), "lifecycle-expiry")
    assert "not disposable" in v.message


# --------------------------------------------------------------------------------------------
# lifecycle-topology
# --------------------------------------------------------------------------------------------
def copy_of(reg: Registration, name: str, **outputs: Any) -> Registration:
    return replace(reg, name=name, urn=reg.urn.rsplit("::", 1)[0] + "::" + name,
                   outputs={**(reg.outputs or {}), "instanceName": name, **outputs})


def test_a_third_instance_in_a_pair_is_refused(shipped):
    run = shipped["prod"]
    third = copy_of(instance(run, "main"), "acme-prod-extra")
    v = only(violations(added(run, third)), "lifecycle-topology")
    assert v.urn == third.urn and "second instance with role 'main'" in v.message and "remove it" in v.message


def test_an_instance_with_a_role_foreign_to_the_phase_is_refused(shipped):
    run = shipped["sandbox"]
    changed = altered(run, named("acme-sandbox-test"), outputs={"role": "single"})
    found = [v for v in violations(changed) if v.policy == "lifecycle-topology"]
    assert {v.urn for v in found} == {instance(run, "test").urn, run.by_type(PAIR_TYPE)[0].urn}
    assert any("role 'single'" in v.message for v in found)
    assert any("no instance with role test" in v.message for v in found)


def test_a_pair_without_its_test_instance_is_refused(shipped):
    run = shipped["val"]
    test = instance(run, "test")
    v = only(violations(replace(run, registrations=[r for r in run.registrations if r.urn != test.urn])),
             "lifecycle-topology")
    assert v.urn == run.by_type(PAIR_TYPE)[0].urn and "no instance with role test" in v.message


def test_a_pair_instance_outside_its_pair_is_refused(shipped):
    run = shipped["sandbox"]
    test = instance(run, "test")
    v = only(violations(altered(run, named(test.name), parent=environment(run).urn)), "lifecycle-topology",
             urn=test.urn)
    assert "outside the InstancePair" in v.message


def test_a_second_single_instance_is_refused(shipped):
    run = shipped["migration"]
    second = copy_of(instance(run, "single"), "acme-migration-single-2")
    v = only(violations(added(run, second)), "lifecycle-topology")
    assert v.urn == second.urn and "second instance with role 'single'" in v.message


def test_a_pair_in_a_single_phase_is_refused(shipped):
    run = shipped["demo"]
    pair = replace(instance(run, "single"), type=PAIR_TYPE, name="demo-pair",
                   urn=environment(run).urn.rsplit("::", 1)[0] + "::demo-pair", outputs={"role": "pair"})
    v = only(violations(added(run, pair)), "lifecycle-topology")
    assert v.urn == pair.urn and "remove the pair" in v.message


# --------------------------------------------------------------------------------------------
# lifecycle-restore-allowed
# --------------------------------------------------------------------------------------------
def snapshot_arn(run: StackRun, identifier: str) -> str:
    copy = run.by_type(COPY)[0]
    return copy.inputs["sourceDbSnapshotIdentifier"].split(":snapshot:")[0] + ":snapshot:" + identifier


def prod_test_restored_like_main(run: StackRun):
    """PROD as if its test instance were restored from its own copy of main's Pre-PROD snapshot: the changed
    run, test's database and copy, and main's copy."""
    main_db, main_copy = run.one(RDS, "acme-prod-main-db"), run.one(COPY, "acme-prod-main-db-source")
    test = instance(run, "test")
    test_db = run.one(RDS, "acme-prod-test-db")
    test_copy = replace(main_copy, name="acme-prod-test-db-source", parent=test.urn,
                        urn=main_copy.urn.replace("acme-prod-main-db-source", "acme-prod-test-db-source"),
                        inputs={**main_copy.inputs, "kmsKeyId": test.outputs["keyArn"],
                                "targetDbSnapshotIdentifier": "acme-prod-test-from-golive"})
    changed = added(altered(run, named(test_db.name), inputs={
        "snapshotIdentifier": main_db.inputs["snapshotIdentifier"].replace("main", "test")}), test_copy)
    return changed, test_db, test_copy, main_copy


def test_prod_test_is_never_restored(shipped):
    run = shipped["prod"]
    changed, test_db, test_copy, main_copy = prod_test_restored_like_main(run)
    found = [v for v in violations(changed) if v.policy == "lifecycle-restore-allowed"]
    assert {v.urn for v in found} == {test_db.urn, test_copy.urn}
    assert all("in role 'test'" in v.message and "only main of a prod stack may be restored" in v.message
               and "remove the restore" in v.message for v in found)


STARTS_EMPTY = [s for s in SHIPPED if not any(PHASES[s].restore_kind(r) for r in PHASES[s].roles)]
RESTORES = [s for s in SHIPPED if s not in STARTS_EMPTY]


def test_the_phases_that_start_empty_are_the_ones_that_publish_or_follow_the_latest_release():
    assert STARTS_EMPTY == ["preprod", "community-dev", "seed"]


@pytest.mark.parametrize("stack", STARTS_EMPTY)
def test_phases_that_start_empty_restore_nothing(shipped, stack):
    run = shipped[stack]
    db = run.by_type(RDS)[0]
    changed = altered(run, named(db.name),
                      inputs={"snapshotIdentifier": snapshot_arn(shipped["val"], "acme-preprod-x")})
    v = only(violations(changed), "lifecycle-restore-allowed")
    assert v.urn == db.urn and "starts empty and restores nothing" in v.message


def test_a_clone_from_another_customers_preprod_is_refused(shipped):
    run = shipped["val"]
    copy = run.one(COPY, "acme-val-main-db-source")
    foreign = snapshot_arn(run, f"globex-{CLONE_SOURCE_PHASE}-val-2026-11")
    v = only(violations(altered(run, named(copy.name), inputs={"sourceDbSnapshotIdentifier": foreign})),
             "lifecycle-restore-allowed")
    assert v.urn == copy.urn and foreign in v.message and "same customer's preprod" in v.message


def test_a_clone_from_another_phase_of_the_same_customer_is_refused(shipped):
    run = shipped["val"]
    copy = run.one(COPY, "acme-val-test-db-source")
    other = snapshot_arn(run, "acme-sandbox-main-db-final")
    v = only(violations(altered(run, named(copy.name), inputs={"sourceDbSnapshotIdentifier": other})),
             "lifecycle-restore-allowed")
    assert v.urn == copy.urn and "acme-preprod-<name>" in v.message


def test_a_copy_under_another_instances_key_is_refused(shipped):
    run = shipped["val"]
    copy = run.one(COPY, "acme-val-main-db-source")
    other_key = instance(run, "test").outputs["keyArn"]
    v = only(violations(altered(run, named(copy.name), inputs={"kmsKeyId": other_key})), "lifecycle-restore-allowed")
    assert v.urn == copy.urn and other_key in v.message and "instance's own key" in v.message


def test_a_copy_without_a_key_is_refused(shipped):
    run = shipped["prod"]
    copy = run.one(COPY, "acme-prod-main-db-source")
    v = only(violations(altered(run, named(copy.name), inputs={"kmsKeyId": None})), "lifecycle-restore-allowed")
    assert v.urn == copy.urn and "set kms_key_id" in v.message


def test_a_database_restored_straight_from_preprod_bypassing_its_copy_is_refused(shipped):
    run = shipped["val"]
    db = run.one(RDS, "acme-val-main-db")
    source = run.one(COPY, "acme-val-main-db-source").inputs["sourceDbSnapshotIdentifier"]
    v = only(violations(altered(run, named(db.name), inputs={"snapshotIdentifier": source})),
             "lifecycle-restore-allowed")
    assert v.urn == db.urn and "not the instance's own snapshot copy" in v.message


def test_the_key_arn_the_engine_reports_for_the_instance_key_counts_as_its_own(shipped):
    run = shipped["val"]
    main = instance(run, "main")
    key = run.one("aws:kms/key:Key", "acme-val-main-key")
    arn = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    changed = altered(altered(run, named(key.name), inputs={"arn": arn}), named("acme-val-main-db-source"),
                      inputs={"kmsKeyId": arn})
    assert violations(changed, rules=["lifecycle-restore-allowed"]) == []
    assert main.outputs["keyArn"] != arn


# --------------------------------------------------------------------------------------------
# lifecycle-no-cross-customer
# --------------------------------------------------------------------------------------------
def test_a_resource_of_another_customer_is_refused(shipped):
    run = shipped["prod"]
    bucket = run.one("aws:s3/bucket:Bucket", "acme-prod-main-documents")
    changed = altered(run, named(bucket.name), inputs={"tags": {**bucket.inputs["tags"], "customer": "globex"}})
    v = only(violations(changed), "lifecycle-no-cross-customer")
    assert v.urn == bucket.urn and "'globex'" in v.message and "'acme'" in v.message and "remove it" in v.message


def test_a_customer_in_a_vendor_internal_environment_is_refused(shipped):
    run = shipped["community-dev"]
    db = run.by_type(RDS)[0]
    changed = altered(run, named(db.name), inputs={"tags": {**db.inputs["tags"], "customer": "acme"}})
    v = only(violations(changed), "lifecycle-no-cross-customer")
    assert v.urn == db.urn and "customer 'none'" in v.message


def exchange_policy(run: StackRun) -> Registration:
    (policy,) = [r for r in run.by_type("aws:s3/bucketPolicy:BucketPolicy") if "exchange" in r.name]
    return policy


def with_principals(policy: Registration, principals: list[str]) -> dict[str, Any]:
    doc = json.loads(policy.inputs["policy"])
    for statement in doc["Statement"]:
        for operator in statement.get("Condition", {}).values():
            if "aws:PrincipalArn" in operator:
                operator["aws:PrincipalArn"] = principals
    return {"policy": json.dumps(doc)}


def test_the_exchange_bucket_names_only_roles_of_its_own_environment(shipped):
    run = shipped["val"]
    policy = exchange_policy(run)
    foreign = "arn:aws:iam::123456789012:role/globex-val-main-task"
    own = "arn:aws:iam::123456789012:role/acme-val-main-task"
    v = only(violations(altered(run, named(policy.name), inputs=with_principals(policy, [own, foreign]))),
             "lifecycle-no-cross-customer")
    assert v.urn == policy.urn and foreign in v.message and "'acme-val-'" in v.message
    assert "name only this environment's own task roles" in v.message


def test_a_role_of_another_phase_of_the_same_customer_is_refused(shipped):
    run = shipped["sandbox"]
    policy = exchange_policy(run)
    prod_role = "arn:aws:iam::123456789012:role/acme-prod-main-task"
    v = only(violations(altered(run, named(policy.name), inputs=with_principals(policy, [prod_role]))),
             "lifecycle-no-cross-customer")
    assert prod_role in v.message


def test_a_bucket_policy_granting_a_foreign_role_as_principal_is_refused(shipped):
    run = shipped["prod"]
    policy = exchange_policy(run)
    doc = json.loads(policy.inputs["policy"])
    doc["Statement"].append({"Sid": "Share", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                             "Principal": {"AWS": ["arn:aws:iam::123456789012:role/globex-prod-main-task"]}})
    v = only(violations(altered(run, named(policy.name), inputs={"policy": json.dumps(doc)})),
             "lifecycle-no-cross-customer")
    assert "globex-prod-main-task" in v.message


# --------------------------------------------------------------------------------------------
# lifecycle-dummy-data-only
# --------------------------------------------------------------------------------------------
DUMMY = "lifecycle-dummy-data-only"
CLUSTER = "aws:rds/cluster:Cluster"


def test_prod_test_holding_a_copy_of_preprod_is_refused_explicitly(shipped):
    run = shipped["prod"]
    changed, test_db, test_copy, main_copy = prod_test_restored_like_main(run)
    found = [v for v in violations(changed) if v.policy == DUMMY]
    assert {v.urn for v in found} == {test_db.urn, test_copy.urn}
    assert all("prod test holds dummy data only" in v.message and "never restored from preprod" in v.message
               for v in found)
    assert "create it empty (remove snapshotIdentifier)" in only(found, DUMMY, test_db.urn).message
    assert main_copy.inputs["sourceDbSnapshotIdentifier"] in only(found, DUMMY, test_copy.urn).message


@pytest.mark.parametrize("key, value", [
    ("replicateSourceDb", "acme-prod-main-db"),
    ("restoreToPointInTime", {"sourceDbInstanceIdentifier": "acme-prod-main-db", "useLatestRestorableTime": True}),
    ("s3Import", {"bucketName": "acme-prod-main-export", "ingestionRole": "arn:aws:iam::123456789012:role/x",
                  "sourceEngine": "postgres", "sourceEngineVersion": "16.4"}),
])
def test_prod_test_made_from_main_by_any_other_way_is_refused(shipped, key, value):
    run = shipped["prod"]
    test_db = run.one(RDS, "acme-prod-test-db")
    v = only(violations(altered(run, named(test_db.name), inputs={key: value})), DUMMY)
    assert v.urn == test_db.urn and f"remove {key}" in v.message
    assert violations(run, rules=[DUMMY]) == []


def test_a_cluster_in_prod_test_restored_from_a_snapshot_is_refused(shipped):
    run = shipped["prod"]
    test_db = run.one(RDS, "acme-prod-test-db")
    cluster = replace(test_db, type=CLUSTER, name="acme-prod-test-cluster",
                      urn=test_db.urn.replace(RDS, CLUSTER).replace("acme-prod-test-db", "acme-prod-test-cluster"),
                      inputs={"engine": "aurora-postgresql",
                              "snapshotIdentifier": "arn:aws:rds:eu-central-1:123456789012:snapshot:acme-preprod-x"})
    v = only(violations(added(run, cluster), rules=[DUMMY]), DUMMY)
    assert v.urn == cluster.urn and "database cluster 'acme-prod-test-cluster'" in v.message


def test_the_role_comes_from_the_instance_not_from_a_tag(shipped):
    run = shipped["prod"]
    test_db = run.one(RDS, "acme-prod-test-db")
    disguised = altered(run, named(test_db.name), inputs={"replicateSourceDb": "acme-prod-main-db",
                                                         "tags": {**test_db.inputs["tags"], "role": "main"}})
    assert only(violations(disguised, rules=[DUMMY]), DUMMY).urn == test_db.urn


def test_prod_main_restored_from_preprod_is_not_its_concern(shipped):
    run = shipped["prod"]
    assert run.one(COPY, "acme-prod-main-db-source") is not None
    found = evaluate(run, effective_policies([p for p in POLICIES if p.name == DUMMY], None))
    assert found.violations == [] and DUMMY in found.applied


def test_a_catalog_edited_to_restore_prod_test_is_still_refused_by_envctl_check(tmp_path):
    """A careless edit of the copy's phase catalog (prod restores test too) silences lifecycle-restore-allowed,
    which reads the restored roles from that catalog; the copy's own envctl check still refuses the plan, because
    PROD test's dummy data is a column of its own. (The trusted checker would not even plan that program.)"""
    repo = tmp_path / "repo"
    shutil.copytree(PROJECT, repo, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc",
                                                                 ".pytest_cache", "*.egg-info", "bench"))
    phases = repo / "components" / "phases.py"
    one = "restored_roles=frozenset({Role.MAIN}),"
    assert phases.read_text().count(one) == 1
    phases.write_text(phases.read_text().replace(one, "restored_roles=frozenset({Role.MAIN, Role.TEST}),"))
    result = subprocess.run([sys.executable, "-m", "envctl.cli", "--example", "check", "--no-cache", "--json", "prod"],
                            cwd=repo, env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 1, result.stderr
    (prod,) = json.loads(result.stdout)["stacks"]
    found = {(v["policy"], v["urn"].rsplit("::", 1)[-1]) for v in prod["violations"] if v["policy"].startswith("lifecycle")}
    assert found == {(DUMMY, "acme-prod-test-db"), (DUMMY, "acme-prod-test-db-source")}


# --------------------------------------------------------------------------------------------
# not applicable
# --------------------------------------------------------------------------------------------
PHASE_BOUND = {"lifecycle-dummy-data-only", "lifecycle-release-latest", "lifecycle-release-behind-limit"}


@pytest.mark.parametrize("stack", STARTS_EMPTY)
def test_restores_are_not_judged_in_a_stack_that_restores_nothing(shipped, stack):
    found = evaluate(shipped[stack], effective_policies(POLICIES, None))
    phase = environment(shipped[stack]).outputs["phase"]
    assert [n for n in found.not_applicable if n.policy in set(RULE_IDS) - PHASE_BOUND] == [
        NotApplicableResult("lifecycle-restore-allowed", "", f"nothing in this {phase} stack is restored from a snapshot"),
        NotApplicableResult("lifecycle-cross-customer-restore", "", "no instance of this stack is restored from a snapshot"),
        NotApplicableResult("lifecycle-iteration-migration-only", "",
                            f"no instance of this {phase} stack is restored from a migration iteration"),
    ]


@pytest.mark.parametrize("stack", RESTORES)
def test_every_lifecycle_rule_applies_to_a_restored_stack(shipped, stack):
    found = evaluate(shipped[stack], effective_policies(POLICIES, None))
    quiet = {"lifecycle-iteration-migration-only"} if not PHASES[stack].iterated else set()
    assert {n.policy for n in found.not_applicable if n.policy in set(RULE_IDS) - PHASE_BOUND} == quiet
    assert set(RULE_IDS) - PHASE_BOUND - quiet <= found.applied


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_rules_bound_to_a_phase_column_apply_exactly_where_the_catalog_says(shipped, stack):
    phase = PHASES[environment(shipped[stack]).outputs["phase"]]
    found = evaluate(shipped[stack], effective_policies(POLICIES, None))
    expected = {"lifecycle-dummy-data-only": bool(phase.dummy_data_roles),
                "lifecycle-release-latest": phase.follows_latest_release,
                "lifecycle-release-behind-limit": phase.follows_latest_release}
    assert {rule: rule in found.applied for rule in PHASE_BOUND} == expected
    assert {n.policy for n in found.not_applicable if n.policy in PHASE_BOUND} == \
        {rule for rule, applies in expected.items() if not applies}


def test_a_stack_without_environment_is_refused_not_excused(shipped):
    run = replace(shipped["sandbox"], registrations=[r for r in shipped["sandbox"].registrations
                                                     if r.type != ENVIRONMENT_TYPE])
    found = evaluate(run, effective_policies([p for p in POLICIES if p.name in RULE_IDS], None))
    assert found.not_applicable == [] and policies_of(found.violations) == set(RULE_IDS)
