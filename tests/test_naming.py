"""Every name an environment gives AWS comes from components.naming: the shipped stacks register exactly
the names it derives, and its rules hold for any environment (the idea of awsx's subnetNaming tests)."""

from __future__ import annotations

import pytest

from components.naming import (
    LB_NAME_LIMIT,
    SNAPSHOT_SUFFIX_LENGTH,
    Names,
    clone_source,
    environment_name,
    within,
)
from components.phases import Role
from tests.conftest import SHIPPED


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
    assert registered(run, "aws:cloudwatch/logGroup:LogGroup", "name") == sorted(names.log_group(r) for r in roles)
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
