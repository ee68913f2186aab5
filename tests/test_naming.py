"""Every name an environment gives AWS comes from components.naming: the shipped stacks register exactly
the names it derives, and its rules hold for any environment (the idea of awsx's subnetNaming tests)."""

from __future__ import annotations

import re

import pytest

from components.naming import (
    FIRST_LOAD_BALANCER,
    FIRST_TARGET_GROUP,
    LB_NAME_LIMIT,
    SNAPSHOT_SUFFIX_LENGTH,
    TARGET_GROUP_VPC,
    Names,
    clone_source,
    environment_name,
    replacement_digest,
    within,
)
from components.phases import PHASES, Role
from tests.conftest import NS, SHIPPED, stack_config


def registered(run, typ: str, field: str) -> list[str]:
    return sorted(r.inputs[field] for r in run.by_type(typ) if r.inputs.get(field))


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_shipped_stacks_register_the_names_the_module_derives(shipped, stack):
    run = shipped[stack]
    env = run.by_type("clinspark:environment:Environment")[0].outputs
    names = Names(env["environmentName"])
    roles = [Role(r) for r in env["roles"]]
    zone = {"sandbox": "onboarding.clinspark.example", "migration": "onboarding.clinspark.example",
            "preprod": "onboarding.clinspark.example", "val": "onboarding.clinspark.example",
            "prod": "clinspark.example", "demo": "demo.clinspark.example",
            "community-dev": "community.clinspark.example", "seed": "demo.clinspark.example"}[stack]
    # A log group that outlives a stack carries its generation, unless pinned to its name from before (the
    # deployed preprod, val, prod, community-dev); the seed stack, new, carries one.
    generation = PHASES[stack].keeps_logs and not stack_config(stack).get(f"{NS}:log_groups_pinned")
    logs = registered(run, "aws:cloudwatch/logGroup:LogGroup", "name")
    suffix = "/[a-z0-9]{8}" if generation else ""
    assert sorted(next(r.value for r in roles if re.fullmatch(re.escape(names.log_group(r)) + suffix, log))
                  for log in logs) == sorted(r.value for r in roles)
    assert registered(run, "aws:ecs/taskDefinition:TaskDefinition", "family") == sorted(names.task_family(r) for r in roles)
    assert set(names.task_role(r) for r in roles) <= set(registered(run, "aws:iam/role:Role", "name"))
    assert registered(run, "aws:lb/loadBalancer:LoadBalancer", "name") == sorted(names.load_balancer(r) for r in roles)
    assert registered(run, "aws:lb/targetGroup:TargetGroup", "name") == sorted(names.target_group(r) for r in roles)
    aliases = registered(run, "aws:kms/alias:Alias", "name")
    assert set(Names.key_alias(names.key(r)) for r in roles) <= set(aliases)
    assert set(names.hostname(r, zone) for r in roles) <= set(registered(run, "aws:route53/record:Record", "name"))
    lbs = run.by_type("aws:lb/loadBalancer:LoadBalancer")
    assert sorted(lb.inputs["accessLogs"]["prefix"] for lb in lbs) == sorted(names.access_log_prefix(r) for r in roles)


def test_a_clones_snapshot_copies_and_preprods_snapshots_are_named_by_the_module(shipped):
    val = shipped["val"]
    copies = registered(val, "aws:rds/snapshotCopy:SnapshotCopy", "targetDbSnapshotIdentifier")
    assert copies == sorted(Names("acme-val").snapshot_copy(r, "val-2026-11") for r in (Role.MAIN, Role.TEST))
    published = registered(shipped["preprod"], "aws:rds/snapshot:Snapshot", "dbSnapshotIdentifier")
    assert published == sorted(clone_source("acme").published_snapshot(n) for n in ("val-2026-11", "golive"))
    finals = registered(shipped["prod"], "aws:rds/instance:Instance", "finalSnapshotIdentifier")
    suffixes = [f.rsplit("-", 1)[1] for f in finals]
    assert finals == sorted(Names("acme-prod").final_snapshot(r, s) for r, s in zip((Role.MAIN, Role.TEST), suffixes))
    assert all(len(s) == SNAPSHOT_SUFFIX_LENGTH for s in suffixes) and len(set(suffixes)) == 2


def test_environment_names():
    assert environment_name("acme", "prod", "prod") == "acme-prod"
    assert environment_name("acme", "prod", "acme-prod") == "acme-prod"
    assert environment_name(None, "demo", "demo-2026-3") == "demo-2026-3"


def test_long_names_are_cut_to_the_limit_and_stay_unique():
    long = Names("averyveryverylongcustomer-migration")
    lb, tg = long.load_balancer(Role.SINGLE), long.target_group(Role.SINGLE)
    assert len(lb) == len(tg) == LB_NAME_LIMIT and lb != tg and not lb.endswith("-")
    assert within("short", LB_NAME_LIMIT) == "short"
    other = Names("averyveryverylongcustomer-migrations")
    assert other.load_balancer(Role.SINGLE) != lb


def test_the_test_instance_gets_its_own_hostname():
    names = Names("acme-prod")
    assert names.hostname(Role.MAIN, "clinspark.example") == "acme-prod.clinspark.example"
    assert names.hostname(Role.TEST, "clinspark.example") == "acme-prod-test.clinspark.example"


def test_the_database_identifier_pattern_allows_pulumis_suffix_only():
    pattern = clone_source("acme").database_identifier(Role.SINGLE)
    assert pattern.match("acme-preprod-single-db-1a2b3c4") and pattern.match("acme-preprod-single-db")
    assert not pattern.match("acme-preprod-single-db-x.y") and not pattern.match("globex-preprod-single-db")


# Names that survive replacement (issue 9): the digest of the inputs that force a replacement
def test_the_first_generation_keeps_todays_names_and_any_forcing_change_gets_a_new_one():
    names = Names("acme-prod")
    assert names.load_balancer(Role.MAIN) == names.load_balancer(Role.MAIN, FIRST_LOAD_BALANCER) == "acme-prod-main-lb"
    assert names.target_group(Role.MAIN, {**FIRST_TARGET_GROUP, TARGET_GROUP_VPC: "10.46.0.0/16"}) == "acme-prod-main-tg"
    internal = names.load_balancer(Role.MAIN, {**FIRST_LOAD_BALANCER, "internal": True})
    assert internal == "acme-prod-main-lb-" + replacement_digest({**FIRST_LOAD_BALANCER, "internal": True})
    other_port = {**FIRST_TARGET_GROUP, "port": 8443, TARGET_GROUP_VPC: "10.46.0.0/16"}
    moved = {**other_port, TARGET_GROUP_VPC: "10.47.0.0/16"}
    assert len({names.target_group(Role.MAIN, other_port), names.target_group(Role.MAIN, moved),
                names.target_group(Role.MAIN)}) == 3  # a new port, then a new VPC: each replacement a new name


def test_a_replacement_name_fits_aws_and_differs_per_role_and_environment():
    long = Names("averyveryverylongcustomer-migration")
    forcing = {**FIRST_LOAD_BALANCER, "internal": True}
    made = {long.load_balancer(r, forcing) for r in Role} | {Names("acme-sandbox").load_balancer(Role.MAIN, forcing)}
    assert len(made) == 4 and all(len(n) <= LB_NAME_LIMIT and not n.endswith("-") for n in made)
