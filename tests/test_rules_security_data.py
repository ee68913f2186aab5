"""Snapshot sharing, TLS-only parameter groups and Aurora clusters, on the shipped plans as the engine
evaluates them. The phase and "controlled" come from the Environment and the pack's facts: an Aurora
cluster added to prod is judged as prod's even when its own tags say otherwise."""

from __future__ import annotations

import pytest

from envctl.evaluate import effective_policies, evaluate
from policies.framework import to_policy
from policies.rules import security_data
from tests.conftest import SHIPPED
from tests.test_rules_security import (
    added,
    edit,
    not_applicable,
    only,
    violations,
)

DB = "aws:rds/instance:Instance"
PARAMS = "aws:rds/parameterGroup:ParameterGroup"
SNAPSHOT = "aws:rds/snapshot:Snapshot"
COPY = "aws:rds/snapshotCopy:SnapshotCopy"
CLUSTER = "aws:rds/cluster:Cluster"
CLUSTER_INSTANCE = "aws:rds/clusterInstance:ClusterInstance"


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_shipped_stacks_violate_no_data_rule(shipped, stack):
    found = evaluate(shipped[stack], effective_policies([to_policy(r) for r in security_data.RULES], None)).violations
    assert found == []


# --------------------------------------------------------------------------------------------
# rds-snapshot-not-shared
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shared, whom", [(["all"], "every AWS account"), (["210987654321"], "210987654321")])
def test_a_published_snapshot_shared_out_of_the_account_is_reported(shipped, shared, whom):
    (snapshot, *_) = shipped["preprod"].by_type(SNAPSHOT)
    run, snapshot = edit(shipped["preprod"], SNAPSHOT, snapshot.name, lambda i: i.update(sharedAccounts=shared))
    assert whom in only(violations(run, "rds-snapshot-not-shared"), snapshot.urn).message


def test_a_shared_copy_is_reported_and_unshared_ones_stay_quiet(shipped):
    val = shipped["val"]
    assert violations(val, "rds-snapshot-not-shared") == [] and val.by_type(COPY)
    run, copy = edit(val, COPY, val.by_type(COPY)[0].name, lambda i: i.update(sharedAccounts=["all"]))
    only(violations(run, "rds-snapshot-not-shared"), copy.urn)


# --------------------------------------------------------------------------------------------
# rds-force-ssl
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("parameters", [
    [{"name": "log_connections", "value": "1"}],
    [{"name": "rds.force_ssl", "value": "0"}],
    [],
])
def test_a_postgres_parameter_group_that_accepts_plain_text_is_reported(shipped, parameters):
    run, group = edit(shipped["prod"], PARAMS, "acme-prod-main-db-params", lambda i: i.update(parameters=parameters))
    assert "rds.force_ssl=1" in only(violations(run, "rds-force-ssl"), group.urn).message


def test_a_mysql_group_needs_require_secure_transport(shipped):
    run, group = edit(shipped["prod"], PARAMS, "acme-prod-main-db-params", lambda i: i.update(
        family="mysql8.0", parameters=[{"name": "rds.force_ssl", "value": "1"}]))
    assert "require_secure_transport" in only(violations(run, "rds-force-ssl"), group.urn).message
    run, _ = edit(shipped["prod"], PARAMS, "acme-prod-main-db-params", lambda i: i.update(
        family="mysql8.0", parameters=[{"name": "require_secure_transport", "value": "ON"}]))
    assert violations(run, "rds-force-ssl") == []


def test_a_family_without_a_known_tls_parameter_is_not_applicable(shipped):
    run, group = edit(shipped["prod"], PARAMS, "acme-prod-main-db-params", lambda i: i.update(family="sqlserver-se-16.0"))
    assert violations(run, "rds-force-ssl") == []
    assert "sqlserver-se-16.0" in not_applicable(run, "rds-force-ssl")[group.urn]


# --------------------------------------------------------------------------------------------
# aurora-secure
# --------------------------------------------------------------------------------------------
GOOD_CLUSTER = {"engine": "aurora-postgresql", "storageEncrypted": True,
                "kmsKeyId": "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555",
                "backupRetentionPeriod": 35, "deletionProtection": True, "skipFinalSnapshot": False,
                "finalSnapshotIdentifier": "acme-prod-aurora-final", "tags": {"phase": "sandbox", "controlled": "false"}}


def _with_cluster(run, **changes):
    template = run.by_type(DB)[0]
    return added(run, template, CLUSTER, "acme-aurora", {**GOOD_CLUSTER, **changes})


def test_a_stack_without_aurora_is_not_applicable(shipped):
    assert not_applicable(shipped["prod"], "aurora-secure") == {"": "the stack has no Aurora cluster"}


def test_a_well_configured_cluster_stays_quiet(shipped):
    run, _ = _with_cluster(shipped["prod"])
    assert violations(run, "aurora-secure") == []


@pytest.mark.parametrize("changes, says", [
    ({"storageEncrypted": "false"}, "storage_encrypted=True"),
    ({"kmsKeyId": "arn:aws:kms:eu-central-1:123456789012:alias/aws/rds"}, "customer-managed key"),
    ({"backupRetentionPeriod": 36}, "outside what RDS accepts"),
    ({"backupRetentionPeriod": "7"}, "keep backups at least 35 days"),
    ({"backupRetentionPeriod": "seven"}, "not a number of days"),
    ({"deletionProtection": False}, "deletion_protection=True"),
    ({"skipFinalSnapshot": "true"}, "skip_final_snapshot=False"),
], ids=["string-false", "aws-managed-key", "over-35", "prod-minimum", "not-a-number", "unprotected", "no-final"])
def test_each_cluster_weakness_in_prod_is_reported_whatever_its_tags_say(shipped, changes, says):
    run, cluster = _with_cluster(shipped["prod"], **changes)
    assert says in only(violations(run, "aurora-secure"), cluster.urn).message


def test_an_unset_backup_period_is_awss_one_day_which_a_sandbox_allows(shipped):
    sandbox = shipped["sandbox"]
    cluster = {k: v for k, v in GOOD_CLUSTER.items() if k not in ("backupRetentionPeriod", "deletionProtection")}
    template = sandbox.by_type(DB)[0]
    run, _ = added(sandbox, template, CLUSTER, "acme-aurora", {**cluster, "skipFinalSnapshot": True})
    assert violations(run, "aurora-secure") == []  # uncontrolled: no protection required; 1 day suffices


def test_a_public_cluster_instance_is_reported(shipped):
    run, _ = _with_cluster(shipped["prod"])
    template = run.by_type(DB)[0]
    run, instance = added(run, template, CLUSTER_INSTANCE, "acme-aurora-1",
                          {"clusterIdentifier": "acme-aurora", "publiclyAccessible": "true"})
    assert "publicly accessible" in only(violations(run, "aurora-secure"), instance.urn).message
