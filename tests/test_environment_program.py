"""The environment program, planned offline through the same code path as `pulumi up`.

Assertions are on what the program registered (inputs, options, component outputs), never on
values the mocks echoed back.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from datetime import date

import pytest

from components.engines import offered
from components.phases import (
    DATABASE_ENGINE,
    LOG_RETENTION_DAYS,
    PHASES,
    Role,
    Topology,
)
from components.settings import MANAGED_BY, RESERVED_TAGS
from envctl.monitor import Registration
from envctl.offline import StackRun, StackRunError
from tests.conftest import NS, SHIPPED, TODAY, environment, stack_config, without_pins
from tests.helpers import instances, under

STATEFUL = ("aws:rds/instance:Instance", "aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:secretsmanager/secret:Secret",
            "aws:rds/snapshot:Snapshot", "aws:rds/snapshotCopy:SnapshotCopy")
INSTANCE = "clinspark:environment:Instance"
SECURE_BUCKET = "clinspark:storage:SecureBucket"


def nonempty(items):
    """The items, asserted to be there: `all()` over an empty list proves nothing."""
    items = list(items)
    assert items, "nothing of that type was registered, so the assertion would prove nothing"
    return items


def child(run: StackRun, parent: Registration, typ: str) -> Registration:
    (found,) = under(run, parent, typ)
    return found


def state_of(run: StackRun, typ: str, **inputs) -> Registration:
    return next(r for r in run.by_type(typ) if all(r.inputs.get(k) == v for k, v in inputs.items()))


def bucket_settings(run: StackRun, bucket: Registration, typ: str) -> Registration:
    (found,) = [r for r in run.by_type(typ) if r.inputs.get("bucket") == bucket.id]
    return found


# --------------------------------------------------------------------------------------------
# Topology
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", SHIPPED)
def test_every_shipped_stack_plans_with_the_topology_of_its_phase(shipped, stack):
    run = shipped[stack]
    env = environment(run)
    phase = PHASES[env.outputs["phase"]]
    roles = sorted(instances(run))
    assert roles == sorted(r.value for r in phase.roles)
    exchanges = [r for r in run.by_type(SECURE_BUCKET) if r.outputs["purpose"] == "exchange"]
    pairs = run.by_type("clinspark:environment:InstancePair")
    if phase.topology is Topology.PAIR:
        assert len(pairs) == 1 and len(exchanges) == 1
        assert set(pairs[0].outputs["instanceNames"]) == {i.name for i in instances(run).values()}
    else:
        assert pairs == [] and exchanges == []


def test_demo_and_community_dev_serve_no_customer(shipped):
    for stack in ("demo", "community-dev"):
        env = environment(shipped[stack])
        assert env.outputs.get("customer") is None  # None is not registered
        assert {r.inputs["tags"]["customer"] for r in shipped[stack].registrations if "tags" in r.inputs} == {"none"}
    assert environment(shipped["prod"]).outputs["customer"] == "acme"


def test_every_managed_resource_stands_in_the_environment_tree(shipped):
    for run in shipped.values():
        env = environment(run)
        reads = [r.type for r in run.registrations if r.read]
        assert set(reads) <= {"pulumi:pulumi:StackReference"}  # the clone source is read, never managed
        others = [r for r in run.registrations if r is not env and not r.read and not r.type.startswith("pulumi:providers:")]
        assert {r.urn for r in others} == {r.urn for t in {r.type for r in others} for r in under(run, env, t)}


# --------------------------------------------------------------------------------------------
# Secure defaults, per instance
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", SHIPPED)
def test_each_instance_has_its_own_rotated_key_and_encrypted_private_documents(shipped, stack):
    run = shipped[stack]
    for inst in instances(run).values():
        key = child(run, inst, "aws:kms/key:Key")
        assert key.inputs["enableKeyRotation"] is True
        docs = [b for b in under(run, inst, SECURE_BUCKET) if b.outputs["purpose"] == "documents"]
        bucket = child(run, docs[0], "aws:s3/bucket:Bucket")
        sse = bucket_settings(run, bucket, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
        assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.state["arn"]}
        assert bucket_settings(run, bucket, "aws:s3/bucketVersioning:BucketVersioning").inputs[
            "versioningConfiguration"]["status"] == "Enabled"
        pab = bucket_settings(run, bucket, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
        assert all(pab[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
        owner = bucket_settings(run, bucket, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
        assert owner["rule"]["objectOwnership"] == "BucketOwnerEnforced"
        policy = json.loads(bucket_settings(run, bucket, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
        tls = [s for s in policy["Statement"] if s["Effect"] == "Deny"
               and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"]
        assert tls and set(tls[0]["Resource"]) == {bucket.state["arn"], bucket.state["arn"] + "/*"}


@pytest.mark.parametrize("stack", SHIPPED)
def test_each_database_is_pinned_encrypted_private_and_backed_up_as_its_phase_says(shipped, stack):
    run = shipped[stack]
    phase = PHASES[environment(run).outputs["phase"]]
    private = {r.id for r in run.by_type("aws:ec2/subnet:Subnet") if r.inputs["tags"]["tier"] == "private"}
    for role, inst in instances(run).items():
        db = child(run, inst, "aws:rds/instance:Instance").inputs
        key = child(run, inst, "aws:kms/key:Key")
        assert db["engine"] == DATABASE_ENGINE.engine
        if phase.controlled:  # a pinned minor AWS offers for the catalog's major
            assert offered().accepts(db["engineVersion"]) and db["engineVersion"].startswith(DATABASE_ENGINE.major + ".")
        else:  # the major alone (AWS's minor upgrades followed), or a restored snapshot's own offered minor
            fresh = "snapshotIdentifier" not in db
            assert db["engineVersion"] in ({DATABASE_ENGINE.major} if fresh else set(offered().versions))
        assert db["storageEncrypted"] is True and db["kmsKeyId"] == key.state["arn"]
        assert db["publiclyAccessible"] is False
        assert db["backupRetentionPeriod"] == phase.backup_retention_days
        assert db["copyTagsToSnapshot"] is True
        assert db["multiAz"] is (Role(role) in phase.multi_az_roles)
        assert db["autoMinorVersionUpgrade"] is (not phase.controlled)
        subnets = child(run, inst, "aws:rds/subnetGroup:SubnetGroup")
        assert set(subnets.inputs["subnetIds"]) <= private and len(subnets.inputs["subnetIds"]) >= 2
        assert db["dbSubnetGroupName"] == subnets.state["name"]


def test_prod_main_database_runs_multi_az_and_prod_test_does_not(shipped):
    run = shipped["prod"]
    dbs = {role: child(run, inst, "aws:rds/instance:Instance").inputs for role, inst in instances(run).items()}
    assert dbs["main"]["multiAz"] is True and dbs["test"]["multiAz"] is False
    assert dbs["main"]["instanceClass"] != dbs["test"]["instanceClass"]


@pytest.mark.parametrize("stack", SHIPPED)
def test_database_password_is_random_kept_in_secrets_manager_and_never_exported(shipped, stack):
    run = shipped[stack]
    exported = json.dumps(run.outputs)
    for inst in instances(run).values():
        password = child(run, inst, "random:index/randomPassword:RandomPassword")
        assert password.inputs["length"] >= 32
        key = child(run, inst, "aws:kms/key:Key")
        secret = child(run, inst, "aws:secretsmanager/secret:Secret")
        assert secret.inputs["kmsKeyId"] == key.state["arn"]
        version = child(run, inst, "aws:secretsmanager/secretVersion:SecretVersion")
        assert version.inputs["secretId"] == secret.id
        assert isinstance(version.inputs["secretString"], dict), "the secret value must be registered as a secret"
        db = child(run, inst, "aws:rds/instance:Instance")
        assert isinstance(db.inputs["password"], dict), "the database password must be registered as a secret"
        assert password.state["result"] not in exported
        assert run.outputs["instances"][inst.outputs["role"]]["secretArn"] == secret.id


@pytest.mark.parametrize("stack", SHIPPED)
def test_compute_runs_the_pinned_release_privately_with_encrypted_storage(shipped, stack):
    run = shipped[stack]
    release = environment(run).outputs["release"]
    private = {r.id for r in run.by_type("aws:ec2/subnet:Subnet") if r.inputs["tags"]["tier"] == "private"}
    for inst in instances(run).values():
        service = child(run, inst, "aws:ecs/service:Service").inputs
        assert service["launchType"] == "FARGATE"
        net = service["networkConfiguration"]
        assert net["assignPublicIp"] is False and set(net["subnets"]) <= private
        key = child(run, inst, "aws:kms/key:Key")
        cluster = child(run, inst, "aws:ecs/cluster:Cluster").inputs
        assert cluster["configuration"]["managedStorageConfiguration"]["fargateEphemeralStorageKmsKeyId"] == key.state["keyId"]
        (container,) = json.loads(child(run, inst, "aws:ecs/taskDefinition:TaskDefinition").inputs["containerDefinitions"])
        assert container["image"].endswith(f":{release}") and container["readonlyRootFilesystem"] is True
        logs = child(run, inst, "aws:cloudwatch/logGroup:LogGroup").inputs
        assert logs["retentionInDays"] == PHASES[environment(run).outputs["phase"]].log_retention_days
        assert logs["kmsKeyId"] == key.state["arn"]


@pytest.mark.parametrize("stack", SHIPPED)
def test_database_admits_only_the_application_and_the_application_only_the_load_balancer(shipped, stack):
    run = shipped[stack]
    for inst in instances(run).values():
        groups = {g.name.rsplit("-", 2)[-2]: g.id for g in under(run, inst, "aws:ec2/securityGroup:SecurityGroup")}
        ingress = under(run, inst, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        by_group: dict[str, list[dict]] = {}
        for rule in ingress:
            by_group.setdefault(rule.inputs["securityGroupId"], []).append(rule.inputs)
        assert [(r.get("referencedSecurityGroupId"), r["fromPort"]) for r in by_group[groups["db"]]] == [(groups["app"], 5432)]
        assert [r.get("referencedSecurityGroupId") for r in by_group[groups["app"]]] == [groups["lb"]]
        assert not any("cidrIpv4" in r or "cidrIpv6" in r for r in by_group[groups["db"]] + by_group[groups["app"]])
        assert sorted({r["fromPort"] for r in by_group[groups["lb"]]}) == [80, 443]


@pytest.mark.parametrize("stack", SHIPPED)
def test_load_balancer_serves_https_only_and_redirects_http(shipped, stack):
    run = shipped[stack]
    for inst in instances(run).values():
        lb = child(run, inst, "aws:lb/loadBalancer:LoadBalancer").inputs
        assert lb["internal"] is False and lb["dropInvalidHeaderFields"] is True
        assert lb["accessLogs"]["enabled"] is True
        listeners = {l.inputs["port"]: l.inputs for l in under(run, inst, "aws:lb/listener:Listener")}
        assert listeners[80]["defaultActions"][0]["redirect"]["protocol"] == "HTTPS"
        assert listeners[443]["protocol"] == "HTTPS" and listeners[443]["sslPolicy"].startswith("ELBSecurityPolicy-TLS13")


def test_the_exchange_location_admits_object_data_from_the_pair_alone(shipped):
    run = shipped["sandbox"]
    (exchange,) = [b for b in run.by_type(SECURE_BUCKET) if b.outputs["purpose"] == "exchange"]
    bucket = child(run, exchange, "aws:s3/bucket:Bucket")
    policy = json.loads(bucket_settings(run, bucket, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    (deny,) = [s for s in policy["Statement"] if s["Sid"] == "DenyDataAccessOutsideThePair"]
    roles = {r.inputs["name"]: r.state["arn"] for r in run.by_type("aws:iam/role:Role") if r.name.endswith("-task")}
    assert sorted(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]) == sorted(roles.values())
    assert len(roles) == 2
    for inst in instances(run).values():
        (task_data,) = [p for p in under(run, inst, "aws:iam/rolePolicy:RolePolicy") if p.name.endswith("task-data")]
        grants = json.loads(task_data.inputs["policy"])
        assert f"{bucket.state['arn']}/*" in grants["Statement"][1]["Resource"]


# --------------------------------------------------------------------------------------------
# Change-controlled versus disposable
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", [s for s in SHIPPED if PHASES[s].controlled])
def test_controlled_stacks_protect_every_stateful_resource_and_keep_their_databases(shipped, stack):
    run = shipped[stack]
    stateful = [r for r in run.registrations if r.type in STATEFUL]
    assert stateful and all(r.protect for r in stateful), [r.name for r in stateful if not r.protect]
    for db in nonempty(run.by_type("aws:rds/instance:Instance")):
        assert db.inputs["deletionProtection"] is True
        assert db.inputs["skipFinalSnapshot"] is False and db.inputs["finalSnapshotIdentifier"]
    assert all(b.inputs["forceDestroy"] is False for b in nonempty(run.by_type("aws:s3/bucket:Bucket")))
    assert all(k.inputs["deletionWindowInDays"] == 30 for k in nonempty(run.by_type("aws:kms/key:Key")))
    assert all(lb.inputs["enableDeletionProtection"] is True for lb in nonempty(run.by_type("aws:lb/loadBalancer:LoadBalancer")))


@pytest.mark.parametrize("stack", [s for s in SHIPPED if PHASES[s].disposable and not PHASES[s].controlled])
def test_disposable_stacks_destroy_in_one_go_and_carry_their_expiry(shipped, stack):
    run = shipped[stack]
    expiry = environment(run).outputs["expiresOn"]
    assert date.fromisoformat(expiry) >= TODAY
    assert not any(r.protect for r in run.registrations)
    for db in nonempty(run.by_type("aws:rds/instance:Instance")):
        assert db.inputs["deletionProtection"] is False and db.inputs["skipFinalSnapshot"] is True
    assert all(b.inputs["forceDestroy"] is True for b in nonempty(run.by_type("aws:s3/bucket:Bucket")))
    assert all(s.inputs["recoveryWindowInDays"] == 0 for s in nonempty(run.by_type("aws:secretsmanager/secret:Secret")))
    assert all(lb.inputs["enableDeletionProtection"] is False for lb in nonempty(run.by_type("aws:lb/loadBalancer:LoadBalancer")))
    assert {r.inputs["tags"]["expires-on"] for r in run.registrations if "tags" in r.inputs} == {expiry}


def test_retiring_a_controlled_val_lifts_protection_only_through_its_settings(plan_edited):
    run = plan_edited("val", lambda c: c.update({"clinspark-environments:retire": True}))
    assert not any(r.protect for r in run.registrations)
    for db in nonempty(run.by_type("aws:rds/instance:Instance")):
        assert db.inputs["deletionProtection"] is False and db.inputs["skipFinalSnapshot"] is True
    assert environment(run).outputs["retiring"] is True


# --------------------------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------------------------
def _taggable(token: str) -> bool:
    """Whether the pulumi-aws resource class of `token` takes tags (so every such resource must carry ours)."""
    pkg, module, cls = token.split(":")[0], token.split(":")[1].split("/")[0], token.split(":")[2]
    mod = importlib.import_module(f"pulumi_{pkg}.{module}" if module != "index" else f"pulumi_{pkg}")
    return "tags" in inspect.signature(getattr(mod, cls)._internal_init).parameters


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_taggable_resource_carries_the_environment_tags(shipped, stack):
    run = shipped[stack]
    env = environment(run).outputs
    taggable = [r for r in run.registrations if r.custom and r.type.startswith("aws:") and _taggable(r.type)]
    assert len(taggable) > 30
    for reg in taggable:
        tags = reg.inputs.get("tags") or {}
        assert set(RESERVED_TAGS) <= set(tags), f"{reg.type} {reg.name} lacks {set(RESERVED_TAGS) - set(tags)}"
        assert tags["customer"] == (env.get("customer") or "none") and tags["phase"] == env["phase"]
        assert tags["controlled"] == str(env["controlled"]).lower()
        assert tags["disposable"] == str(env["disposable"]).lower()
        assert tags["expires-on"] == (env.get("expiresOn") or "never") and tags["managed-by"] == MANAGED_BY
        assert tags["role"] in {"main", "test", "single", "environment"}
        assert "ECR" not in json.dumps(tags), "the change record belongs in the outputs, not in tags"


def test_extra_tags_are_added_but_never_override_the_environment_tags(plan_edited):
    run = plan_edited("sandbox", lambda c: c.update({"clinspark-environments:tags": {"cost-center": "cs-42"}}))
    tagged = [r for r in run.registrations if "tags" in r.inputs]
    assert all(r.inputs["tags"]["cost-center"] == "cs-42" and r.inputs["tags"]["phase"] == "sandbox" for r in nonempty(tagged))


def test_instance_roles_are_tagged_and_registered(shipped):
    run = shipped["val"]
    for role, inst in instances(run).items():
        assert inst.outputs["phase"] == "val" and inst.outputs["customer"] == "acme"
        db = child(run, inst, "aws:rds/instance:Instance")
        assert db.inputs["tags"]["role"] == role


# --------------------------------------------------------------------------------------------
# Stack outputs
# --------------------------------------------------------------------------------------------
def test_stack_outputs_describe_the_environment_without_secrets(shipped):
    out = shipped["prod"].outputs
    assert out["phase"] == "prod" and out["customer"] == "acme"
    assert out["controlled"] is True and out["disposable"] is False and out["expiresOn"] is None
    assert out["changeRecord"] == "ECR-prod-0001"
    assert set(out["instances"]) == {"main", "test"}
    for role, inst in out["instances"].items():
        assert inst["url"].startswith("https://acme-prod") and inst["databaseIdentifier"] and inst["documentsBucket"]
        assert inst["secretArn"].startswith("arn:aws:secretsmanager:eu-central-1:")
    assert shipped["prod"].secret_outputs == set()
    assert shipped["sandbox"].outputs["expiresOn"] == str(stack_config("sandbox")[f"{NS}:expires_on"])


def test_phase_catalog_is_consistent():
    for phase in PHASES.values():
        assert phase.log_retention_days in LOG_RETENTION_DAYS
        assert set(phase.sizes) == set(phase.roles)
        assert phase.restored_roles <= set(phase.roles) and phase.multi_az_roles <= set(phase.roles)
        assert (phase.max_life_days is not None) == phase.disposable


def test_a_phase_whose_log_retention_cloudwatch_refuses_cannot_be_written():
    with pytest.raises(ValueError, match="phase demo: CloudWatch Logs keeps logs for one of"):
        dataclasses.replace(PHASES["demo"], log_retention_days=10)


@pytest.mark.parametrize("stack", SHIPPED)
def test_no_stack_uses_a_deprecated_resource_or_property(shipped, stack):
    # pulumi-aws reports the use of a deprecated resource or property through the engine log.
    assert shipped[stack].warnings == []


def test_engine_warnings_are_recorded_so_a_deprecation_cannot_pass_unseen(plan_edited, monkeypatch):
    import pulumi

    import components.environment as environment_module

    original = environment_module.Network

    def noisy(*args, **kwargs):
        pulumi.log.warn("BucketV2 is deprecated: use Bucket")
        return original(*args, **kwargs)

    monkeypatch.setattr(environment_module, "Network", noisy)
    run = plan_edited("demo")
    assert run.warnings == ["warning: BucketV2 is deprecated: use Bucket"]


@pytest.mark.parametrize("stack", SHIPPED)
def test_names_fit_aws_limits_for_the_longest_customer_slug(plan_edited, stack):
    longest = "abcdefghij-klmnopqrs"  # a valid slug of 20 characters, the most the settings accept
    if PHASES[stack].customer_required:
        target = f"{longest}-{stack}"

        def edit(config):
            without_pins(config)
            config[f"{NS}:customer"] = longest
            if f"{NS}:clone_from" in config:
                config[f"{NS}:clone_from"]["stack"] = f"clinspark/clinspark-environments/{longest}-preprod"
            if f"{NS}:iteration" in config:  # the customer's own iteration
                iteration = config[f"{NS}:iteration"]
                iteration["snapshot_arn"] = iteration["snapshot_arn"].replace("acme-", f"{longest}-")

        if stack in ("val", "prod"):
            plan_edited(f"{longest}-preprod", edit, base="preprod")
        run = plan_edited(target, edit, base=stack)
    else:
        run = plan_edited(stack)
    for typ in ("aws:lb/loadBalancer:LoadBalancer", "aws:lb/targetGroup:TargetGroup"):
        names = [r.inputs["name"] for r in run.by_type(typ)]
        assert names and all(len(n) <= 32 and not n.endswith("-") for n in names)
        assert len(set(names)) == len(names)


def test_the_offline_engine_refuses_an_autoname_aws_would_refuse(plan_edited, monkeypatch):
    from components.naming import Names

    monkeypatch.setattr(Names, "load_balancer", lambda *args: None)  # back to autonaming
    monkeypatch.setattr(Names, "target_group", lambda *args: None)
    with pytest.raises(StackRunError, match="'novartis-migration-single-(lb|tg)' plus 7 random characters is longer "
                                            "than the maximum length 32"):
        plan_edited("novartis-migration", lambda c: c.update({
            f"{NS}:customer": "novartis", f"{NS}:iteration": {
                **c[f"{NS}:iteration"], "snapshot_arn": c[f"{NS}:iteration"]["snapshot_arn"].replace("acme-", "novartis-")}}),
            base="migration")
