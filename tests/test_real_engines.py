"""What a real engine on a real account needs of the entry and the application (issue 9): ordering and
replacement the mocks cannot show are asserted on the registered dependencies and options that prevent the
failure; what AWS refuses, the offline engine refuses too, and settings refuse it earlier with exit 2."""

from __future__ import annotations

import json

import pytest

from components import tokens
from components.application import HEALTH_CHECK_GRACE_SECONDS
from components.naming import (
    Names,
)
from components.phases import Role
from envctl.offline import StackRunError, run_stack
from tests.conftest import NS, PROJECT, REVIEW, SHIPPED, stack_config, write_stack


def _plan(stacks_dir, stack, edit):
    config = stack_config(stack)
    edit(config)
    write_stack(stacks_dir, stack, config)
    return run_stack(PROJECT, stack, stacks_dir=stacks_dir, options=REVIEW)


def _envctl_plan(directory, capsys, *stacks):
    from envctl.cli import main

    code = main(["--example", "--dir", str(directory), "plan", *stacks])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------
# Public subnets are usable only after the gateway and the routes exist
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["sandbox", "prod"])
def test_the_internet_facing_load_balancer_waits_for_the_gateway_and_the_public_routes(shipped, stack):
    run = shipped[stack]
    (igw,) = run.by_type(tokens.INTERNET_GATEWAY)
    public_rt = next(r for r in run.by_type(tokens.ROUTE_TABLE) if r.name.endswith("-public-rt"))
    public_rtas = {r.urn for r in run.by_type(tokens.ROUTE_TABLE_ASSOCIATION) if "-public-" in r.name}
    assert len(public_rtas) == len([s for s in run.by_type(tokens.SUBNET) if "-public-" in s.name]) >= 2
    lbs = run.by_type(tokens.LOAD_BALANCER)
    assert lbs and len(lbs) == len(run.by_type(tokens.INSTANCE))  # one per instance
    for lb in lbs:
        sources = set(lb.property_dependencies["subnets"])
        assert public_rtas | {igw.urn, public_rt.urn} <= sources, lb.name
        assert public_rtas | {igw.urn} <= set(lb.dependencies)


def test_nat_gateways_wait_for_the_gateway_and_their_subnets_route_without_a_depends_on(shipped):
    run = shipped["prod"]  # Multi-AZ: a NAT gateway per zone (three)
    (igw,) = run.by_type(tokens.INTERNET_GATEWAY)
    nats = run.by_type(tokens.NAT_GATEWAY)
    assert len(nats) == 3
    for nat in nats:
        i = nat.name.rsplit("-", 1)[1]
        rta = next(r for r in run.by_type(tokens.ROUTE_TABLE_ASSOCIATION) if r.name.endswith(f"-public-{i}-rta"))
        assert {igw.urn, rta.urn} <= set(nat.property_dependencies["subnetId"])


def test_a_private_subnet_still_comes_from_its_subnet_alone(shipped):
    """The data dependency is the public subnets' only: the database's subnet group sees private subnets."""
    run = shipped["prod"]
    (igw,) = run.by_type(tokens.INTERNET_GATEWAY)
    for group in run.by_type(tokens.RDS_SUBNET_GROUP):
        assert igw.urn not in group.property_dependencies["subnetIds"]


# --------------------------------------------------------------------------------------------
# No delete_before_replace on the certificate the listener uses
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", SHIPPED)
def test_a_certificate_is_replaced_create_before_delete(shipped, stack):
    certs = shipped[stack].by_type(tokens.CERTIFICATE)
    assert certs and [c.delete_before_replace for c in certs] == [False] * len(certs)


# --------------------------------------------------------------------------------------------
# Names that survive replacement
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", SHIPPED)
def test_the_shipped_load_balancers_and_target_groups_keep_their_names(shipped, stack):
    run = shipped[stack]
    env = run.by_type(tokens.ENVIRONMENT)[0].outputs
    names = Names(env["environmentName"])
    assert sorted(r.inputs["name"] for r in run.by_type(tokens.LOAD_BALANCER)) == sorted(
        f"{names.instance(Role(r))}-lb" for r in env["roles"])
    assert sorted(r.inputs["name"] for r in run.by_type(tokens.TARGET_GROUP)) == sorted(
        f"{names.instance(Role(r))}-tg" for r in env["roles"])


def test_a_target_group_is_replaced_before_the_old_one_goes_and_its_users_follow_it(shipped):
    run = shipped["prod"]
    target_groups = run.by_type(tokens.TARGET_GROUP)
    assert len(target_groups) == 2  # main and test
    for tg in target_groups:
        assert not tg.delete_before_replace and not tg.protect
        users = [r for t in (tokens.LISTENER, tokens.ECS_SERVICE) for r in run.by_type(t) if tg.urn in r.dependencies]
        assert {u.type for u in users} == {tokens.LISTENER, tokens.ECS_SERVICE}
        assert all(not u.replace_on_changes and not u.delete_before_replace for u in users)


# --------------------------------------------------------------------------------------------
# Evidence-grade deploys: a steady service, kept logs
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["prod", "sandbox"])
def test_the_service_waits_for_steady_state_with_a_grace_period_for_the_start(shipped, stack):
    services = shipped[stack].by_type(tokens.ECS_SERVICE)
    assert len(services) == 2
    for service in services:
        assert service.inputs["waitForSteadyState"] is True
        assert service.inputs["healthCheckGracePeriodSeconds"] == HEALTH_CHECK_GRACE_SECONDS
        # rolled back, a failed deployment would be steady again on the old release and the wait would pass
        assert service.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": False}


def _log_groups_and_keys(run):
    groups = run.by_type(tokens.LOG_GROUP)
    keys = {k.urn: k for k in run.by_type(tokens.KMS_KEY)}
    used = {urn for g in groups for urn in g.property_dependencies["kmsKeyId"]}
    return groups, [keys[u] for u in used]


def test_a_controlled_stacks_logs_are_protected_and_outlive_it(shipped):
    groups, keys = _log_groups_and_keys(shipped["prod"])
    assert len(groups) == 2 and len(keys) == 2
    assert all(g.protect and g.retain_on_delete for g in groups)
    assert all(k.retain_on_delete for k in keys)  # the logs stay readable


def test_an_uncontrolled_disposable_stacks_logs_go_with_it(shipped):
    groups, keys = _log_groups_and_keys(shipped["sandbox"])
    assert len(groups) == 2
    assert not any(g.protect or g.retain_on_delete for g in groups)
    assert not any(k.retain_on_delete for k in keys)


def test_retiring_val_unprotects_its_logs_but_keeps_them_and_their_keys(stacks_dir):
    run = _plan(stacks_dir, "val", lambda c: c.update({f"{NS}:retire": "true"}))
    groups, keys = _log_groups_and_keys(run)
    assert len(groups) == 2
    assert all(g.retain_on_delete and not g.protect for g in groups)
    assert all(k.retain_on_delete for k in keys)


def test_the_next_val_of_a_customer_names_its_log_groups_apart_from_those_a_retired_one_left(stacks_dir):
    """A retired VAL leaves its log groups behind (kept on delete); the next VAL pair of the customer is a new
    stack of the same environment. Its log groups carry a generation the stack keeps for its whole life (a
    random value without keepers), so they never take the plain names, which AWS would refuse."""
    run = _plan(stacks_dir, "val", lambda c: c.pop(f"{NS}:log_groups_pinned"))
    groups = run.by_type(tokens.LOG_GROUP)
    generations = {r.urn: r for r in run.by_type(tokens.RANDOM_STRING) if r.name.endswith("-logs-generation")}
    assert len(groups) == 2 and len(generations) == 2
    for group in groups:
        (source,) = group.property_dependencies["name"]
        generation = generations[source]
        assert generation.inputs.get("keepers") is None  # never replaced while the stack lives
        role = group.name.removeprefix("acme-val-").removesuffix("-logs")
        assert group.inputs["name"] == f"/clinspark/acme-val/{role}/{generation.state['result']}"
        assert group.retain_on_delete and group.protect


@pytest.mark.parametrize("stack", ["prod", "val", "preprod", "community-dev"])
def test_log_groups_deployed_before_generations_keep_their_plain_names(shipped, stack):
    groups = shipped[stack].by_type(tokens.LOG_GROUP)
    assert groups and all(g.inputs["name"].count("/") == 3 for g in groups)  # /clinspark/<env>/<role>
    assert not [r for r in shipped[stack].by_type(tokens.RANDOM_STRING) if r.name.endswith("-logs-generation")]


def test_log_groups_that_go_with_their_stack_need_no_generation_and_refuse_the_pin(shipped, stacks_dir, capsys):
    assert all(g.inputs["name"] == f"/clinspark/acme-sandbox/{g.name.split('-')[2]}"
               for g in shipped["sandbox"].by_type(tokens.LOG_GROUP))
    _set(stacks_dir, "sandbox", f"{NS}:log_groups_pinned", True)
    code, _out, err = _envctl_plan(stacks_dir, capsys, "sandbox")
    assert code == 2 and "Traceback" not in err and "Pulumi.sandbox.yaml" in err
    assert (f"{NS}:log_groups_pinned: phase sandbox does not keep its logs beyond the stack (its log groups go with "
            "it and carry no generation): remove the key") in err


# --------------------------------------------------------------------------------------------
# The offline engine refuses what AWS refuses; settings refuse it earlier (exit 2)
# --------------------------------------------------------------------------------------------
def _program(tmp_path, body: str):
    program = tmp_path / "project"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: limits\nruntime: python\n")
    (program / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-central-1\n")
    (program / "__main__.py").write_text("import pulumi_aws as aws\n" + body)
    return program


def _task(cpu: int, memory: int) -> str:
    return (f"aws.ecs.TaskDefinition('t', family='t', cpu='{cpu}', memory='{memory}', network_mode='awsvpc', "
            f"requires_compatibilities=['FARGATE'], container_definitions='[]')\n")


@pytest.mark.parametrize("cpu, memory, says", [
    (512, 512, "with 512 CPU units it accepts 1024..4096 MiB"),
    (1024, 16384, "with 1024 CPU units it accepts 2048..8192 MiB"),
    (300, 1024, "Fargate takes no task of 300 CPU units; it accepts 256, 512, 1024"),
])
def test_a_fargate_task_size_aws_does_not_offer_is_rejected(tmp_path, cpu, memory, says):
    with pytest.raises(StackRunError, match=says) as err:
        run_stack(_program(tmp_path, _task(cpu, memory)), "dev")
    assert err.value.kind == "rejected"


@pytest.mark.parametrize("cpu, memory", [(256, 512), (512, 4096), (8192, 61440), (16384, 122880)])
def test_the_fargate_task_sizes_aws_offers_are_accepted(tmp_path, cpu, memory):
    assert run_stack(_program(tmp_path, _task(cpu, memory)), "dev").by_type(tokens.ECS_TASK_DEFINITION)


@pytest.mark.parametrize("body, says", [
    ("aws.lb.TargetGroup('t', name='x' * 33, port=1, protocol='HTTP', vpc_id='vpc-1')\n",
     "has 33 characters; AWS accepts at most 32"),
    ("aws.lb.LoadBalancer('l', name='x' * 33)\n", "has 33 characters; AWS accepts at most 32"),
    ("aws.iam.Role('r', name='r' * 65, assume_role_policy='{}')\n", "has 65 characters; AWS accepts at most 64"),
    ("aws.kms.Alias('a', name='alias/' + 'a' * 251, target_key_id='k')\n", "AWS accepts at most 256"),
    ("aws.cloudwatch.LogGroup('g', name='/' + 'g' * 512)\n", "AWS accepts at most 512"),
    ("aws.acm.Certificate('c', domain_name='a' * 60 + '.example', validation_method='DNS')\n",
     "ACM accepts at most 64"),
    ("aws.s3.Bucket('b', bucket='b', tags={f'k{i}': 'v' for i in range(51)})\n",
     "51 tags; AWS accepts at most 50 tags per resource"),
], ids=["target-group", "load-balancer", "iam-role", "kms-alias", "log-group", "acm-domain", "tags"])
def test_what_aws_refuses_of_a_resource_is_rejected_offline(tmp_path, body, says):
    with pytest.raises(StackRunError, match=says) as err:
        run_stack(_program(tmp_path, body), "dev")
    assert err.value.kind == "rejected"


def test_names_and_tags_at_aws_limits_are_accepted(tmp_path):
    body = ("aws.lb.TargetGroup('t', name='x' * 32, port=1, protocol='HTTP', vpc_id='vpc-1')\n"
            "aws.iam.Role('r', name='r' * 64, assume_role_policy='{}')\n"
            "aws.acm.Certificate('c', domain_name='a' * 56 + '.example', validation_method='DNS')\n"
            "aws.s3.Bucket('b', bucket='b', tags={f'k{i}': 'v' for i in range(50)})\n")
    assert len(run_stack(_program(tmp_path, body), "dev").registrations) == 4


def test_a_hostname_too_long_for_a_certificate_is_refused_before_anything_is_registered(stacks_dir, capsys):
    zone = "a" * 32 + ".clinspark.example"  # acme-prod-test.<zone> is 65 characters, acme-prod.<zone> 60
    _set(stacks_dir, "prod", f"{NS}:domain", {"zone": zone})
    code, out, err = _envctl_plan(stacks_dir, capsys, "prod")
    assert code == 2 and "Traceback" not in err
    assert (f"{NS}:domain: the hostname 'acme-prod-test.{zone}' is 65 characters long; ACM certifies domain names "
            "of at most 64: use a shorter zone") in err
    assert "Pulumi.prod.yaml" in err
    zone = "a" * 31 + ".clinspark.example"  # 64 characters: accepted
    assert _plan(stacks_dir, "prod", lambda c: c.update({f"{NS}:domain": {"zone": zone}})).by_type(tokens.CERTIFICATE)


def test_extra_tags_are_capped_so_that_every_resource_keeps_within_50(stacks_dir, capsys):
    def tags(n):
        return lambda c: c.update({f"{NS}:tags": {f"cost-{i}": "x" for i in range(n)}})

    run = _plan(stacks_dir, "sandbox", tags(41))
    assert max(len(r.inputs.get("tags") or {}) for r in run.registrations) == 50  # a subnet: 41 + 7 + Name + tier
    _set(stacks_dir, "sandbox", f"{NS}:tags", {f"cost-{i}": "x" for i in range(42)})
    code, out, err = _envctl_plan(stacks_dir, capsys, "sandbox")
    assert code == 2
    assert "42 extra tags; at most 41: AWS takes 50 tags per resource" in err and "Traceback" not in err


# (community-dev: a stack that restores nothing, so it may move region alone; a seeded one needs its seed's region)
def test_more_zones_than_the_account_sees_is_a_clear_refusal_not_an_index_error(stacks_dir, capsys):
    network = {"cidr": "10.41.0.0/16", "az_count": 3}
    _set(stacks_dir, "community-dev", "aws:region", "us-west-1")
    _set(stacks_dir, "community-dev", f"{NS}:network", network)
    code, out, err = _envctl_plan(stacks_dir, capsys, "community-dev")
    assert code == 2 and "Traceback" not in err and "IndexError" not in err
    assert (f"stack 'community-dev' (Pulumi.community-dev.yaml): {NS}:network.az_count asks for 3 availability zones, but this "
            "account sees 2 available in us-west-1 (us-west-1a, us-west-1b): set az_count to at most 2") in err
    _set(stacks_dir, "community-dev", f"{NS}:network", {**network, "az_count": 2})
    assert _envctl_plan(stacks_dir, capsys, "community-dev")[0] == 0


def test_a_region_without_known_log_delivery_is_refused_naming_the_accepted_regions(stacks_dir, capsys):
    _set(stacks_dir, "sandbox", "aws:region", "us-gov-west-1")
    code, out, err = _envctl_plan(stacks_dir, capsys, "sandbox")
    assert code == 2 and "Traceback" not in err
    assert "Pulumi.sandbox.yaml" in err and "aws:region: a region whose load balancers' access-log delivery" in err
    assert "Accepted: an AWS region whose load balancers can deliver access logs: af-south-1, ap-east-1" in err


def test_a_region_launched_after_august_2022_grants_only_the_log_delivery_service(stacks_dir):
    """No ELB account there (the offline engine's get_service_account refuses such a region, as the provider's
    does): the program must not ask, and grants the service principal under aws:SourceAccount alone."""
    run = _plan(stacks_dir, "community-dev", lambda c: c.update({"aws:region": "eu-central-2"}))
    policy = next(p for p in run.by_type(tokens.S3_BUCKET_POLICY) if "access-logs" in p.name)
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert "LoadBalancerAccessLogs" not in statements
    assert statements["LoadBalancerLogDelivery"]["Principal"] == {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}
    assert statements["LoadBalancerLogDelivery"]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    older = _plan(stacks_dir, "community-dev", lambda c: c.update({"aws:region": "eu-central-1"}))
    policy = next(p for p in older.by_type(tokens.S3_BUCKET_POLICY) if "access-logs" in p.name)
    sids = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    assert sids["LoadBalancerAccessLogs"]["Principal"] == {"AWS": "arn:aws:iam::054676820928:root"}


def test_the_offline_engine_refuses_the_elb_account_of_a_region_that_has_none():
    from pulumi.runtime.mocks import MockCallArgs

    from envctl.mocks import AwsMocks
    from envctl.monitor import ResourceRejected

    mocks = AwsMocks("eu-central-2")
    with pytest.raises(ResourceRejected, match="unsupported ELB service account region 'eu-central-2'"):
        mocks.call(MockCallArgs(tokens.GET_ELB_SERVICE_ACCOUNT, {}, ""))
    assert AwsMocks("eu-central-1").call(MockCallArgs(tokens.GET_ELB_SERVICE_ACCOUNT, {}, ""))["id"] == "054676820928"


def _set(directory, stack, key, value):
    from tests.conftest import set_config

    set_config(directory, stack, key, value)


def test_grants_stay_in_account_holds_for_both_kinds_of_region(stacks_dir):
    from tests.helpers import verdict

    newer = _plan(stacks_dir, "community-dev", lambda c: c.update({"aws:region": "eu-central-2"}))
    assert verdict(newer, ["grants-stay-in-account"]) == []

    def with_an_elb_account(statements):  # an account where the region has none: another account
        return [*statements, {"Sid": "X", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::054676820928:root"},
                              "Action": "s3:PutObject",
                              "Resource": statements[0]["Resource"]}]

    from tests.test_rules_security_grants import _statements

    policy = next(p for p in newer.by_type(tokens.S3_BUCKET_POLICY) if "access-logs" in p.name)
    found = verdict(_statements(newer, tokens.S3_BUCKET_POLICY, policy.name, with_an_elb_account)[0],
                    ["grants-stay-in-account"])
    assert len(found) == 1 and "054676820928" in str(found)
