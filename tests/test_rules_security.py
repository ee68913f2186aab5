"""The security family of the policy pack, evaluated on offline plans the way the engine evaluates it.

Quiet cases are the shipped stacks as planned; firing cases alter what one resource registered
(never the stack files) and name the resource a user would have to fix.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from typing import Any, Callable

import pytest
from pulumi_policy import EnforcementLevel, StackValidationArgs
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from components.phases import PHASES, Role
from envctl.evaluate import (
    Evaluation,
    NotApplicableResult,
    Violation,
    effective_policies,
    evaluate,
    policy_resources,
)
from envctl.monitor import Registration
from envctl.offline import StackRun
from policies.framework import Rule, StackView, from_policy_resource, to_policy
from policies.pack import RULES as PACK_RULES
from policies.rules import security_compute, security_network, security_rds, security_s3
from tests.conftest import SHIPPED

SECURITY_RULES: list[Rule] = [*security_s3.RULES, *security_rds.RULES, *security_network.RULES, *security_compute.RULES]
BY_ID = {rule.id: rule for rule in PACK_RULES}  # the helpers below evaluate any rule of the pack, alone

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
DB = "aws:rds/instance:Instance"
KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
SERVICE = "aws:ecs/service:Service"
CLUSTER = "aws:ecs/cluster:Cluster"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ENVIRONMENT = "clinspark:environment:Environment"


@pytest.fixture
def prod(shipped) -> StackRun:
    return shipped["prod"]


@pytest.fixture
def sandbox(shipped) -> StackRun:
    return shipped["sandbox"]


# --------------------------------------------------------------------------------------------
# Helpers: evaluate exactly as the engine does; alter copies of registrations, never the originals
# --------------------------------------------------------------------------------------------
def evaluation(run: StackRun, rule_id: str) -> Evaluation:
    return evaluate(run, effective_policies([to_policy(BY_ID[rule_id])], None))


def violations(run: StackRun, rule_id: str) -> list[Violation]:
    return evaluation(run, rule_id).violations


def not_applicable(run: StackRun, rule_id: str) -> dict[str, str]:
    """URN -> the reason the rule gave for not applying to it ("" for the stack)."""
    return {n.urn: n.reason for n in evaluation(run, rule_id).not_applicable}


def only(found: list[Violation], urn: str) -> Violation:
    assert [v.urn for v in found] == [urn], [v.message for v in found]
    assert found[0].level == "mandatory"
    return found[0]


def edit(run: StackRun, typ: str, name: str, change: Callable[[dict[str, Any]], Any]) -> tuple[StackRun, Registration]:
    """`run` with the inputs of one registration changed (on a deep copy)."""
    old = run.one(typ, name)
    inputs = copy.deepcopy(old.inputs)
    change(inputs)
    new = dataclasses.replace(old, inputs=inputs)
    return dataclasses.replace(run, registrations=[new if r is old else r for r in run.registrations]), new


def without(run: StackRun, typ: str, name: str) -> StackRun:
    old = run.one(typ, name)
    return dataclasses.replace(run, registrations=[r for r in run.registrations if r is not old])


def added(run: StackRun, template: Registration, typ: str, name: str,
          inputs: dict[str, Any]) -> tuple[StackRun, Registration]:
    """`run` with one more resource registered beside `template` (same parent)."""
    head = template.urn.rsplit("::", 1)[0]
    urn = f"{head[: -len(template.type)]}{typ}::{name}"
    new = dataclasses.replace(template, urn=urn, type=typ, name=name, inputs=inputs, outputs=None, dependencies=[])
    return dataclasses.replace(run, registrations=[*run.registrations, new]), new


def with_outputs(run: StackRun, typ: str, **changes: Any) -> StackRun:
    (old,) = run.by_type(typ)
    new = dataclasses.replace(old, outputs={**(old.outputs or {}), **changes})
    return dataclasses.replace(run, registrations=[new if r is old else r for r in run.registrations])


def setter(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda inputs: inputs.update(values)


def dropper(*keys: str) -> Callable[[dict[str, Any]], None]:
    return lambda inputs: [inputs.pop(k, None) for k in keys]


# --------------------------------------------------------------------------------------------
# The rule table
# --------------------------------------------------------------------------------------------
def test_every_rule_has_a_stable_id_a_one_line_description_and_valid_mappings():
    ids = [rule.id for rule in SECURITY_RULES]
    assert len(ids) == len(set(ids))
    for rule in SECURITY_RULES:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.id), rule.id
        assert rule.family == "security" and to_policy(rule).enforcement_level == EnforcementLevel.MANDATORY
        assert rule.description and "\n" not in rule.description
        assert rule.fsbp is None or re.fullmatch(r"[A-Za-z0-9]+\.\d+", rule.fsbp), rule.fsbp
        assert rule.checkov is None or re.fullmatch(r"CKV2?_AWS_\d+(, CKV2?_AWS_\d+)*", rule.checkov), rule.checkov
        assert (rule.scope == "resource") == bool(rule.types), rule.id
    assert {"s3-kms-encryption", "s3-public-access-block", "s3-versioning", "s3-tls-only", "s3-no-acls",
            "s3-no-inline-settings", "rds-encrypted-cmk", "rds-not-public", "rds-backup-retention", "rds-multi-az-prod-main",
            "rds-copy-tags-to-snapshot", "rds-no-auto-minor-upgrade", "kms-rotation", "sg-no-open-ingress",
            "compute-no-public-ip", "compute-imdsv2", "compute-encrypted-volumes", "secrets-customer-key",
            "logs-retention", "lb-http-redirects", "lb-tls-policy", "lb-drop-invalid-headers", "lb-access-logs",
            "lb-deletion-protection"} == set(ids)


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_shipped_stacks_violate_no_security_rule(shipped, stack):
    found = evaluate(shipped[stack], effective_policies([to_policy(r) for r in SECURITY_RULES], None)).violations
    assert found == []


# --------------------------------------------------------------------------------------------
# S3
# --------------------------------------------------------------------------------------------
def test_every_shipped_bucket_is_judged_by_its_own_settings(shipped):
    """The quiet cases mean something: every bucket is paired with all five of its settings."""
    for stack, run in shipped.items():
        view = StackView(tuple(from_policy_resource(r) for r in policy_resources(run)))
        pairing = security_s3.pair_buckets(view)
        assert pairing.unpaired == ()
        assert len(pairing.buckets) == len(run.by_type(BUCKET))
        for paired in pairing.buckets:
            kinds = {s.type for s in paired.settings}
            assert {VERSIONING, ENCRYPTION, PUBLIC_ACCESS, OWNERSHIP, POLICY} <= kinds, (stack, paired.bucket.name)
            assert all(s.name.startswith(paired.bucket.name + "-") for s in paired.settings)


def test_a_documents_bucket_under_sse_s3_must_move_to_a_customer_key(prod):
    bucket = prod.one(BUCKET, "acme-prod-main-documents")
    run, _ = edit(prod, ENCRYPTION, "acme-prod-main-documents-encryption",
                  setter(rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]))
    v = only(violations(run, "s3-kms-encryption"), bucket.urn)
    assert "use sse_algorithm 'aws:kms' with kms_master_key_id set to a customer-managed KMS key" in v.message
    assert "only buckets tagged purpose=access-logs may use SSE-S3" in v.message


def test_sse_kms_under_the_aws_managed_key_is_not_a_customer_key(prod):
    bucket = prod.one(BUCKET, "acme-prod-exchange")
    run, _ = edit(prod, ENCRYPTION, "acme-prod-exchange-encryption",
                  setter(rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]))
    v = only(violations(run, "s3-kms-encryption"), bucket.urn)
    assert "set kms_master_key_id to a customer-managed KMS key" in v.message


def test_only_the_access_logs_bucket_may_use_sse_s3(prod):
    (encryption,) = [r for r in prod.by_type(ENCRYPTION) if r.name == "acme-prod-access-logs-encryption"]
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    assert violations(prod, "s3-kms-encryption") == []

    run, bucket = edit(prod, BUCKET, "acme-prod-access-logs", lambda i: i["tags"].update(purpose="documents"))
    v = only(violations(run, "s3-kms-encryption"), bucket.urn)
    assert "aws:kms" in v.message


def test_a_bucket_without_encryption_configuration_is_reported(prod):
    bucket = prod.one(BUCKET, "acme-prod-test-documents")
    run = without(prod, ENCRYPTION, "acme-prod-test-documents-encryption")
    v = only(violations(run, "s3-kms-encryption"), bucket.urn)
    assert "add one with sse_algorithm 'aws:kms'" in v.message


@pytest.mark.parametrize("flag", ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"])
def test_every_public_access_flag_is_required(prod, flag):
    bucket = prod.one(BUCKET, "acme-prod-main-documents")
    run, _ = edit(prod, PUBLIC_ACCESS, "acme-prod-main-documents-public-access", setter(**{flag: False}))
    v = only(violations(run, "s3-public-access-block"), bucket.urn)
    assert flag in v.message and "set all four" in v.message


def test_a_bucket_without_public_access_block_is_reported(prod):
    bucket = prod.one(BUCKET, "acme-prod-exchange")
    run = without(prod, PUBLIC_ACCESS, "acme-prod-exchange-public-access")
    v = only(violations(run, "s3-public-access-block"), bucket.urn)
    assert ("add one with block_public_acls, block_public_policy, ignore_public_acls and restrict_public_buckets"
            in v.message)


def test_a_bucket_without_versioning_is_reported(prod):
    bucket = prod.one(BUCKET, "acme-prod-main-documents")
    run = without(prod, VERSIONING, "acme-prod-main-documents-versioning")
    v = only(violations(run, "s3-versioning"), bucket.urn)
    assert "add one with versioning_configuration status 'Enabled'" in v.message


def test_suspended_versioning_is_reported(sandbox):
    bucket = sandbox.one(BUCKET, "acme-sandbox-access-logs")
    run, _ = edit(sandbox, VERSIONING, "acme-sandbox-access-logs-versioning",
                  setter(versioningConfiguration={"status": "Suspended"}))
    v = only(violations(run, "s3-versioning"), bucket.urn)
    assert "set versioning_configuration status to 'Enabled'" in v.message


def test_versioning_of_another_bucket_does_not_count_for_its_sibling(prod):
    """Pairing is by the `bucket` input first: a sibling that names another bucket is not this bucket's."""
    other = prod.one(BUCKET, "acme-prod-exchange")
    exchange_name = prod.one(VERSIONING, "acme-prod-exchange-versioning").inputs["bucket"]
    documents = prod.one(BUCKET, "acme-prod-main-documents")
    run, _ = edit(prod, VERSIONING, "acme-prod-main-documents-versioning", setter(bucket=exchange_name))
    only(violations(run, "s3-versioning"), documents.urn)
    assert other.urn not in {v.urn for v in violations(run, "s3-versioning")}


def test_versioning_of_a_bucket_outside_the_stack_does_not_count_for_a_named_sibling(prod):
    documents = prod.one(BUCKET, "acme-prod-main-documents")
    run, _ = edit(prod, VERSIONING, "acme-prod-main-documents-versioning", setter(bucket="someone-elses-bucket"))
    only(violations(run, "s3-versioning"), documents.urn)


def test_settings_outside_the_bucket_component_still_count_by_bucket_name(prod):
    env = prod.by_type(ENVIRONMENT)[0]
    old = prod.one(VERSIONING, "acme-prod-main-documents-versioning")
    urn = old.urn.replace("clinspark:storage:SecureBucket$", "clinspark:environment:Environment$")
    moved = dataclasses.replace(old, parent=env.urn, urn=urn)
    run = dataclasses.replace(prod, registrations=[moved if r is old else r for r in prod.registrations])
    assert violations(run, "s3-versioning") == []


def test_settings_whose_bucket_is_not_known_pair_with_their_only_sibling_bucket(prod):
    run, _ = edit(prod, VERSIONING, "acme-prod-main-documents-versioning", dropper("bucket"))
    assert violations(run, "s3-versioning") == []


def test_in_a_preview_unknown_bucket_ids_neither_fail_the_rule_nor_hide_a_missing_setting(prod):
    """As the engine hands props to a pack during `pulumi preview` of a new stack: ids not known yet."""
    resources = policy_resources(without(prod, VERSIONING, "acme-prod-exchange-versioning"))
    for r in resources:
        props = copy.deepcopy(dict(r.props))
        if r.resource_type in security_s3.SETTINGS_TYPES:
            props["bucket"] = UNKNOWN_STRING_VALUE
        if r.resource_type == security_s3.SECURE_BUCKET_TYPE:
            props["bucketName"] = UNKNOWN_STRING_VALUE
        r.props = unknown_checking_proxy(props)
    reported: list[tuple[str, str | None]] = []
    to_policy(BY_ID["s3-versioning"]).validate(StackValidationArgs(resources, {}, {}),
                                               lambda message, urn=None: reported.append((message, urn)))
    assert [urn for _, urn in reported] == [prod.one(BUCKET, "acme-prod-exchange").urn]


def test_a_policy_without_the_tls_deny_is_reported(prod):
    bucket = prod.one(BUCKET, "acme-prod-main-documents")

    def drop_tls(inputs):
        doc = json.loads(inputs["policy"])
        doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != "DenyInsecureTransport"]
        inputs["policy"] = json.dumps(doc)

    run, _ = edit(prod, POLICY, "acme-prod-main-documents-policy", drop_tls)
    v = only(violations(run, "s3-tls-only"), bucket.urn)
    assert "add a statement that denies Principal '*' the Action 's3:*'" in v.message
    assert "aws:SecureTransport" in v.message


def test_a_tls_deny_that_spares_the_objects_is_reported(prod):
    bucket = prod.one(BUCKET, "acme-prod-exchange")

    def bucket_only(inputs):
        doc = json.loads(inputs["policy"])
        doc["Statement"][0]["Resource"] = [r for r in doc["Statement"][0]["Resource"] if not r.endswith("/*")]
        inputs["policy"] = json.dumps(doc)

    run, _ = edit(prod, POLICY, "acme-prod-exchange-policy", bucket_only)
    only(violations(run, "s3-tls-only"), bucket.urn)


def test_a_bucket_without_policy_is_reported(sandbox):
    bucket = sandbox.one(BUCKET, "acme-sandbox-exchange")
    run = without(sandbox, POLICY, "acme-sandbox-exchange-policy")
    v = only(violations(run, "s3-tls-only"), bucket.urn)
    assert "add one with a statement that denies" in v.message


def test_acls_must_be_disabled_by_bucket_owner_enforced(prod):
    bucket = prod.one(BUCKET, "acme-prod-main-documents")
    run, _ = edit(prod, OWNERSHIP, "acme-prod-main-documents-ownership",
                  setter(rule={"objectOwnership": "BucketOwnerPreferred"}))
    v = only(violations(run, "s3-no-acls"), bucket.urn)
    assert "set object_ownership to 'BucketOwnerEnforced'" in v.message

    run = without(prod, OWNERSHIP, "acme-prod-main-documents-ownership")
    only(violations(run, "s3-no-acls"), bucket.urn)


@pytest.mark.parametrize("acl_type", ["aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2"])
def test_a_granting_acl_resource_is_reported(prod, acl_type):
    bucket = prod.one(BUCKET, "acme-prod-exchange")
    sibling = prod.one(OWNERSHIP, "acme-prod-exchange-ownership")
    run, _ = added(prod, sibling, acl_type, "acme-prod-exchange-acl",
                   {"bucket": sibling.inputs["bucket"], "acl": "public-read"})
    v = only(violations(run, "s3-no-acls"), bucket.urn)
    assert "acme-prod-exchange-acl" in v.message and "remove it" in v.message

    private, _ = added(prod, sibling, acl_type, "acme-prod-exchange-acl",
                       {"bucket": sibling.inputs["bucket"], "acl": "private"})
    assert violations(private, "s3-no-acls") == []


# --------------------------------------------------------------------------------------------
# Databases, keys and secrets
# --------------------------------------------------------------------------------------------
def test_an_unencrypted_database_is_reported(prod):
    run, db = edit(prod, DB, "acme-prod-main-db", setter(storageEncrypted=False))
    v = only(violations(run, "rds-encrypted-cmk"), db.urn)
    assert "set storage_encrypted=True" in v.message


def test_a_database_under_the_aws_managed_key_is_reported(sandbox):
    run, db = edit(sandbox, DB, "acme-sandbox-test-db", dropper("kmsKeyId"))
    v = only(violations(run, "rds-encrypted-cmk"), db.urn)
    assert "set kms_key_id to the instance's customer-managed KMS key" in v.message


def test_a_public_database_is_reported(prod):
    run, db = edit(prod, DB, "acme-prod-test-db", setter(publiclyAccessible=True))
    v = only(violations(run, "rds-not-public"), db.urn)
    assert "set publicly_accessible=False" in v.message


def test_backup_retention_below_the_phase_minimum_is_reported(prod):
    minimum = PHASES["prod"].backup_retention_days
    run, db = edit(prod, DB, "acme-prod-main-db", setter(backupRetentionPeriod=float(minimum - 1)))
    v = only(violations(run, "rds-backup-retention"), db.urn)
    assert f"at least {minimum}" in v.message and f"set backup_retention_period to {minimum} or more" in v.message


def test_the_backup_minimum_is_the_phase_s_own(sandbox):
    """A sandbox keeps only what its phase asks for, and that is enough."""
    days = PHASES["sandbox"].backup_retention_days
    assert all(db.inputs["backupRetentionPeriod"] == days for db in sandbox.by_type(DB))
    assert days < max(p.backup_retention_days for p in PHASES.values())
    assert violations(sandbox, "rds-backup-retention") == []


def test_a_prod_database_tagged_as_a_sandbox_is_still_judged_as_prod(prod):
    """The phase comes from the stack, not from the database's tags: a lie in the tags changes nothing."""
    run, db = edit(prod, DB, "acme-prod-main-db", lambda i: (i["tags"].update(phase="sandbox", controlled="false"),
                                                            i.update(backupRetentionPeriod=1.0, multiAz=False)))
    assert "phase prod requires at least" in only(violations(run, "rds-backup-retention"), db.urn).message
    assert "set multi_az=True" in only(violations(run, "rds-multi-az-prod-main"), db.urn).message
    run, db = edit(prod, DB, "acme-prod-test-db", lambda i: i["tags"].pop("phase"))
    assert violations(run, "rds-backup-retention") == []  # no tag needed to know the phase


@pytest.mark.parametrize("value, says", [
    (None, "1 day(s) of backups (unset: AWS's default)"),
    ("7", "7 day(s) of backups"),
    ("seven", "is not a number of days"),
    (36.0, "more than RDS accepts"),
    (0.0, "no automated backups"),
])
def test_backup_retention_is_read_as_the_provider_reads_it(prod, value, says):
    change = (lambda i: i.pop("backupRetentionPeriod")) if value is None else setter(backupRetentionPeriod=value)
    run, db = edit(prod, DB, "acme-prod-main-db", change)
    assert says in only(violations(run, "rds-backup-retention"), db.urn).message


def test_an_unset_backup_period_is_enough_where_one_day_is(sandbox):
    assert PHASES["sandbox"].backup_retention_days == 1
    run, _ = edit(sandbox, DB, "acme-sandbox-main-db", lambda i: i.pop("backupRetentionPeriod"))
    assert violations(run, "rds-backup-retention") == []


def test_the_prod_main_database_runs_multi_az(prod):
    assert Role.MAIN in PHASES["prod"].multi_az_roles and Role.TEST not in PHASES["prod"].multi_az_roles
    assert prod.one(DB, "acme-prod-test-db").inputs["multiAz"] is False  # quiet, and not by accident
    run, db = edit(prod, DB, "acme-prod-main-db", setter(multiAz=False))
    v = only(violations(run, "rds-multi-az-prod-main"), db.urn)
    assert "set multi_az=True" in v.message


def test_a_database_that_does_not_copy_tags_to_snapshots_is_reported(prod):
    run, db = edit(prod, DB, "acme-prod-main-db", setter(copyTagsToSnapshot=False))
    v = only(violations(run, "rds-copy-tags-to-snapshot"), db.urn)
    assert "set copy_tags_to_snapshot=True" in v.message


def test_a_controlled_database_takes_no_automatic_minor_upgrades(prod):
    run, db = edit(prod, DB, "acme-prod-main-db", setter(autoMinorVersionUpgrade=True))
    v = only(violations(run, "rds-no-auto-minor-upgrade"), db.urn)
    assert "set auto_minor_version_upgrade=False" in v.message


def test_an_uncontrolled_database_may_take_automatic_minor_upgrades(sandbox):
    assert all(db.inputs["autoMinorVersionUpgrade"] is True for db in sandbox.by_type(DB))
    assert violations(sandbox, "rds-no-auto-minor-upgrade") == []


def test_a_key_that_does_not_rotate_is_reported(prod):
    run, key = edit(prod, KEY, "acme-prod-exchange-key", setter(enableKeyRotation=False))
    v = only(violations(run, "kms-rotation"), key.urn)
    assert "set enable_key_rotation=True" in v.message


def test_a_secret_under_the_aws_managed_key_is_reported(prod):
    run, secret = edit(prod, SECRET, "acme-prod-main-db-master", dropper("kmsKeyId"))
    v = only(violations(run, "secrets-customer-key"), secret.urn)
    assert "set kms_key_id to the instance's customer-managed KMS key" in v.message


# --------------------------------------------------------------------------------------------
# Security groups
# --------------------------------------------------------------------------------------------
def test_the_shipped_load_balancers_are_open_to_the_internet_on_80_and_443_only(prod):
    """The quiet case is not vacuous: the internet does reach the load balancers' groups."""
    open_rules = [r for r in prod.by_type(INGRESS)
                  if r.inputs.get("cidrIpv4") == "0.0.0.0/0" or r.inputs.get("cidrIpv6") == "::/0"]
    lb_groups = {sg for lb in prod.by_type(LB) for sg in lb.inputs["securityGroups"]}
    assert open_rules and {(r.inputs["fromPort"], r.inputs["toPort"]) for r in open_rules} == {(80, 80), (443, 443)}
    assert {r.inputs["securityGroupId"] for r in open_rules} == lb_groups
    assert violations(prod, "sg-no-open-ingress") == []


@pytest.mark.parametrize("port, name", [(22, "SSH (22)"), (3389, "RDP (3389)")])
def test_administration_ports_are_never_open_even_on_the_load_balancer(prod, port, name):
    run, rule = edit(prod, INGRESS, "acme-prod-main-lb-in-https-ipv6", setter(fromPort=float(port), toPort=float(port)))
    v = only(violations(run, "sg-no-open-ingress"), rule.urn)
    assert name in v.message and "never open administration ports to the internet" in v.message


def test_a_port_range_that_includes_ssh_is_reported(prod):
    run, rule = edit(prod, INGRESS, "acme-prod-main-lb-in-https-ipv4", setter(fromPort=0.0, toPort=1024.0))
    v = only(violations(run, "sg-no-open-ingress"), rule.urn)
    assert "SSH (22)" in v.message


def test_the_application_may_not_be_reached_from_the_internet(prod):
    run, rule = edit(prod, INGRESS, "acme-prod-main-app-in-lb",
                     lambda i: (i.pop("referencedSecurityGroupId"), i.update(cidrIpv4="0.0.0.0/0")))
    v = only(violations(run, "sg-no-open-ingress"), rule.urn)
    assert "only TCP 80 and 443 to a load balancer's own security group" in v.message


def test_https_from_the_internet_to_a_group_of_no_load_balancer_is_reported(prod):
    run, rule = edit(prod, INGRESS, "acme-prod-test-db-in-app",
                     lambda i: (i.pop("referencedSecurityGroupId"),
                                i.update(cidrIpv6="::/0", fromPort=443.0, toPort=443.0)))
    v = only(violations(run, "sg-no-open-ingress"), rule.urn)
    assert "belongs to no load balancer" in v.message


def test_another_port_on_the_load_balancer_is_reported(prod):
    run, rule = edit(prod, INGRESS, "acme-prod-test-lb-in-https-ipv4", setter(fromPort=8443.0, toPort=8443.0))
    v = only(violations(run, "sg-no-open-ingress"), rule.urn)
    assert "tcp 8443" in v.message


def test_a_load_balancer_group_shared_with_the_application_is_not_the_load_balancer_s_own(prod):
    lb_sg = prod.one(LB, "acme-prod-main-lb").inputs["securityGroups"][0]
    run, _ = edit(prod, SERVICE, "acme-prod-main-service",
                  lambda i: i["networkConfiguration"]["securityGroups"].append(lb_sg))
    found = violations(run, "sg-no-open-ingress")
    opened = {r.urn for r in prod.by_type(INGRESS)
              if r.inputs.get("securityGroupId") == lb_sg and r.name.startswith("acme-prod-main-lb-in-")}
    assert {v.urn for v in found} == opened and len(opened) == 4
    assert all("give the load balancer a security group of its own" in v.message for v in found)


def test_inline_internet_ingress_is_reported(prod):
    run, sg = edit(prod, SG, "acme-prod-main-app-sg",
                   setter(ingress=[{"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0,
                                    "cidrBlocks": ["0.0.0.0/0"]}]))
    v = only(violations(run, "sg-no-open-ingress"), sg.urn)
    assert "declare internet ingress as aws.vpc.SecurityGroupIngressRule resources" in v.message


def test_a_legacy_rule_open_to_rdp_is_reported(prod):
    template = prod.one(INGRESS, "acme-prod-main-db-in-app")
    run, rule = added(prod, template, "aws:ec2/securityGroupRule:SecurityGroupRule", "acme-prod-main-rdp",
                      {"type": "ingress", "protocol": "tcp", "fromPort": 3389.0, "toPort": 3389.0,
                       "cidrBlocks": ["10.0.0.0/8", "0.0.0.0/0"],
                       "securityGroupId": template.inputs["securityGroupId"]})
    v = only(violations(run, "sg-no-open-ingress"), rule.urn)
    assert "RDP (3389)" in v.message


# --------------------------------------------------------------------------------------------
# Load balancers
# --------------------------------------------------------------------------------------------
def test_an_http_listener_that_serves_instead_of_redirecting_is_reported(prod):
    https = prod.one(LISTENER, "acme-prod-main-https")
    run, listener = edit(prod, LISTENER, "acme-prod-main-http", setter(defaultActions=https.inputs["defaultActions"]))
    v = only(violations(run, "lb-http-redirects"), listener.urn)
    assert "make its default action a redirect with protocol 'HTTPS'" in v.message


def test_an_https_listener_under_an_old_tls_policy_is_reported(prod):
    run, listener = edit(prod, LISTENER, "acme-prod-test-https", setter(sslPolicy="ELBSecurityPolicy-2016-08"))
    v = only(violations(run, "lb-tls-policy"), listener.urn)
    assert "set ssl_policy to an ELBSecurityPolicy-TLS13-* policy" in v.message

    run, listener = edit(prod, LISTENER, "acme-prod-test-https", dropper("sslPolicy"))
    only(violations(run, "lb-tls-policy"), listener.urn)


def test_a_load_balancer_that_passes_invalid_headers_is_reported(prod):
    run, lb = edit(prod, LB, "acme-prod-main-lb", setter(dropInvalidHeaderFields=False))
    v = only(violations(run, "lb-drop-invalid-headers"), lb.urn)
    assert "set drop_invalid_header_fields=True" in v.message


def test_a_load_balancer_without_access_logs_is_reported(sandbox):
    run, lb = edit(sandbox, LB, "acme-sandbox-test-lb", lambda i: i["accessLogs"].update(enabled=False))
    v = only(violations(run, "lb-access-logs"), lb.urn)
    assert "set access_logs with enabled=True" in v.message


def test_a_controlled_load_balancer_without_deletion_protection_is_reported(prod):
    run, lb = edit(prod, LB, "acme-prod-main-lb", setter(enableDeletionProtection=False))
    v = only(violations(run, "lb-deletion-protection"), lb.urn)
    assert "set enable_deletion_protection=True" in v.message


def test_an_uncontrolled_load_balancer_may_be_deleted(sandbox):
    assert all(lb.inputs["enableDeletionProtection"] is False for lb in sandbox.by_type(LB))
    assert violations(sandbox, "lb-deletion-protection") == []


def test_a_retiring_controlled_stack_may_drop_deletion_protection(prod):
    run, _ = edit(prod, LB, "acme-prod-main-lb", setter(enableDeletionProtection=False))
    assert violations(with_outputs(run, ENVIRONMENT, retiring=True), "lb-deletion-protection") == []


# --------------------------------------------------------------------------------------------
# Compute and logs
# --------------------------------------------------------------------------------------------
def test_an_ecs_service_with_public_ips_is_reported(prod):
    run, service = edit(prod, SERVICE, "acme-prod-test-service",
                        lambda i: i["networkConfiguration"].update(assignPublicIp=True))
    v = only(violations(run, "compute-no-public-ip"), service.urn)
    assert "set network_configuration assign_public_ip=False" in v.message


SAFE_INSTANCE = {
    "ami": "ami-0123456789abcdef0", "instanceType": "t3.micro", "associatePublicIpAddress": False,
    "metadataOptions": {"httpTokens": "required"}, "rootBlockDevice": {"encrypted": True},
}
SAFE_TEMPLATE = {
    "imageId": "ami-0123456789abcdef0", "metadataOptions": {"httpTokens": "required"},
    "networkInterfaces": [{"associatePublicIpAddress": "false"}],
    "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}],
}
INSTANCE, TEMPLATE = "aws:ec2/instance:Instance", "aws:ec2/launchTemplate:LaunchTemplate"
COMPUTE_RULES = ("compute-no-public-ip", "compute-imdsv2", "compute-encrypted-volumes")


@pytest.mark.parametrize("typ, inputs", [(INSTANCE, SAFE_INSTANCE), (TEMPLATE, SAFE_TEMPLATE)])
def test_ec2_compute_stated_safely_is_quiet(prod, typ, inputs):
    run, _ = added(prod, prod.one(SERVICE, "acme-prod-main-service"), typ, "acme-prod-main-worker", inputs)
    assert [v for rule in COMPUTE_RULES for v in violations(run, rule)] == []


@pytest.mark.parametrize("typ, inputs, rule, advice", [
    (INSTANCE, {**SAFE_INSTANCE, "associatePublicIpAddress": True}, "compute-no-public-ip",
     "set associate_public_ip_address=False"),
    (INSTANCE, {k: v for k, v in SAFE_INSTANCE.items() if k != "associatePublicIpAddress"}, "compute-no-public-ip",
     "left unset, the subnet decides"),
    (TEMPLATE, {**SAFE_TEMPLATE, "networkInterfaces": [{"associatePublicIpAddress": "true"}]}, "compute-no-public-ip",
     "associate_public_ip_address='false'"),
    (INSTANCE, {**SAFE_INSTANCE, "metadataOptions": {"httpTokens": "optional"}}, "compute-imdsv2",
     "http_tokens='required'"),
    (TEMPLATE, {k: v for k, v in SAFE_TEMPLATE.items() if k != "metadataOptions"}, "compute-imdsv2",
     "http_tokens='required'"),
    (INSTANCE, {**SAFE_INSTANCE, "rootBlockDevice": {"encrypted": False}}, "compute-encrypted-volumes",
     "set encrypted=True"),
    (TEMPLATE, {**SAFE_TEMPLATE, "blockDeviceMappings": [{"deviceName": "/dev/xvdb", "ebs": {"encrypted": "false"}}]},
     "compute-encrypted-volumes", "block_device_mapping /dev/xvdb"),
])
def test_ec2_compute_stated_unsafely_is_reported(prod, typ, inputs, rule, advice):
    run, added_reg = added(prod, prod.one(SERVICE, "acme-prod-main-service"), typ, "acme-prod-main-worker", inputs)
    v = only(violations(run, rule), added_reg.urn)
    assert advice in v.message


def test_fargate_services_are_not_asked_for_imdsv2(prod):
    assert prod.by_type(SERVICE) and all(s.inputs["launchType"] == "FARGATE" for s in prod.by_type(SERVICE))
    assert violations(prod, "compute-imdsv2") == []


def test_a_cluster_that_does_not_encrypt_fargate_storage_with_a_customer_key_is_reported(prod):
    run, cluster = edit(prod, CLUSTER, "acme-prod-main-cluster", dropper("configuration"))
    v = only(violations(run, "compute-encrypted-volumes"), cluster.urn)
    assert "set configuration.managed_storage_configuration.fargate_ephemeral_storage_kms_key_id" in v.message


def test_a_log_group_kept_forever_is_reported(prod):
    run, group = edit(prod, LOG_GROUP, "acme-prod-main-logs", dropper("retentionInDays"))
    v = only(violations(run, "logs-retention"), group.urn)
    assert "set retention_in_days" in v.message


def test_a_log_group_without_customer_key_is_reported(sandbox):
    run, group = edit(sandbox, LOG_GROUP, "acme-sandbox-main-logs", dropper("kmsKeyId"))
    v = only(violations(run, "logs-retention"), group.urn)
    assert "set kms_key_id to the instance's customer-managed KMS key" in v.message


# --------------------------------------------------------------------------------------------
# Not applicable: said, with a reason, and only where the rule has nothing to judge
# --------------------------------------------------------------------------------------------
def test_a_listener_rule_does_not_apply_to_the_other_protocol_nor_to_other_types(prod):
    http, https = prod.one(LISTENER, "acme-prod-main-http"), prod.one(LISTENER, "acme-prod-main-https")
    reasons = not_applicable(prod, "lb-tls-policy")
    assert reasons[http.urn] == "HTTP listener: the rule is for HTTPS and TLS listeners"
    assert reasons[prod.one(DB, "acme-prod-main-db").urn] == (
        "not a resource it checks (aws:lb/listener:Listener, aws:alb/listener:Listener)")
    assert https.urn not in reasons
    assert "lb-tls-policy" not in evaluation(prod, "lb-tls-policy").not_applicable_policies()  # it judged https
    assert not_applicable(prod, "lb-http-redirects")[https.urn] == "HTTPS listener: the rule is for HTTP listeners"


def test_multi_az_does_not_apply_where_the_phase_runs_every_database_in_one_zone(prod, sandbox):
    assert not_applicable(sandbox, "rds-multi-az-prod-main") == {
        "": "phase sandbox runs every database in one availability zone"}
    assert violations(prod, "rds-multi-az-prod-main") == []  # the test database of prod is single-AZ, and quiet
    assert "rds-multi-az-prod-main" not in evaluation(prod, "rds-multi-az-prod-main").not_applicable_policies()


def test_a_rule_of_controlled_stacks_is_not_applicable_in_a_sandbox(sandbox):
    found = evaluation(sandbox, "rds-no-auto-minor-upgrade")
    assert found.violations == []
    reasons = found.not_applicable_policies()["rds-no-auto-minor-upgrade"]
    assert "stack 'sandbox' is not change-controlled; the rule is for change-controlled stacks only" in reasons
    stack_rule = evaluation(sandbox, "lb-deletion-protection")
    assert stack_rule.not_applicable == [NotApplicableResult(
        "lb-deletion-protection", "", "stack 'sandbox' is not change-controlled; the rule is for change-controlled "
                                      "stacks only")]


def test_a_retiring_stack_is_not_asked_for_load_balancer_deletion_protection(prod):
    run = with_outputs(prod, ENVIRONMENT, retiring=True)
    assert not_applicable(run, "lb-deletion-protection") == {"": "an approved ECR retires the stack"}
    assert not_applicable(prod, "lb-deletion-protection") == {}


def test_an_asymmetric_key_is_not_asked_to_rotate(prod):
    run, key = edit(prod, KEY, "acme-prod-exchange-key",
                    setter(customerMasterKeySpec="RSA_2048", keyUsage="SIGN_VERIFY", enableKeyRotation=False))
    assert violations(run, "kms-rotation") == []
    assert not_applicable(run, "kms-rotation")[key.urn] == (
        "RSA_2048 SIGN_VERIFY key: AWS rotates only symmetric encryption keys automatically")


@pytest.mark.parametrize("rule", [r.id for r in security_s3.RULES if r.scope == "stack"])
def test_bucket_rules_do_not_apply_to_a_stack_without_buckets(prod, rule):
    run = dataclasses.replace(prod, registrations=[r for r in prod.registrations
                                                   if r.type not in security_s3.BUCKET_TYPES])
    found = evaluation(run, rule)
    assert found.violations == []
    assert found.not_applicable == [NotApplicableResult(rule, "", "no S3 bucket in the stack")]
    assert not_applicable(prod, rule) == {}


def test_the_ingress_rule_does_not_apply_to_a_stack_without_security_groups(prod):
    groups = (*security_network.SECURITY_GROUP_TYPES, *security_network.SG_RULE_TYPES)
    run = dataclasses.replace(prod, registrations=[r for r in prod.registrations if r.type not in groups])
    assert not_applicable(run, "sg-no-open-ingress") == {"": "no security group or security group rule in the stack"}
    assert not_applicable(prod, "sg-no-open-ingress") == {}
