"""What is wired to what (issue 8, item 5), followed through the engine's property dependencies: databases
in private subnets, load-balancer logs into the environment's own bucket, a flow log on every VPC."""

from __future__ import annotations

import dataclasses

import pytest

from components import tokens
from envctl.evaluate import policy_resources
from policies.framework import StackView, from_policy_resource
from policies.rules.security_paths import public_subnets
from tests.conftest import SHIPPED
from tests.helpers import only, verdict


def rewired(run, typ, name, prop, sources, **inputs):
    """`run` with one input of one resource now coming from `sources` (URNs), and its inputs updated."""
    old = run.one(typ, name)
    deps = {**old.property_dependencies, prop: list(sources)}
    new = dataclasses.replace(old, inputs={**old.inputs, **inputs}, property_dependencies=deps)
    return dataclasses.replace(run, registrations=[new if r is old else r for r in run.registrations]), new


def without(run, typ):
    return dataclasses.replace(run, registrations=[r for r in run.registrations if r.type != typ])


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_shipped_stacks_are_wired_as_the_rules_want(shipped, stack):
    assert verdict(shipped[stack], ["rds-subnets-private", "lb-logs-in-environment", "vpc-flow-logs"]) == []


def test_the_public_subnets_are_found_through_the_route_tables(shipped):
    prod = shipped["prod"]
    view = StackView(tuple(from_policy_resource(r) for r in policy_resources(prod)))
    found = {u.rsplit("::", 1)[1] for u in public_subnets(view)}
    assert found == {f"acme-prod-network-public-{i}" for i in range(3)}


def test_a_database_subnet_group_on_a_public_subnet_is_reported(shipped):
    prod = shipped["prod"]
    public = prod.one(tokens.SUBNET, "acme-prod-network-public-0")
    run, group = rewired(prod, tokens.RDS_SUBNET_GROUP, "acme-prod-main-db-subnets", "subnetIds", [public.urn])
    assert "public subnets" in only(verdict(run, ["rds-subnets-private"]), "rds-subnets-private", group.urn).message


def test_access_logs_to_a_bucket_outside_the_environment_are_reported(shipped):
    prod = shipped["prod"]
    lb = prod.one(tokens.LOAD_BALANCER, "acme-prod-main-lb")
    logs = {**lb.inputs["accessLogs"], "bucket": "someone-elses-bucket"}
    run, lb = rewired(prod, tokens.LOAD_BALANCER, lb.name, "accessLogs", [], accessLogs=logs)
    found = verdict(run, ["lb-logs-in-environment"])
    assert "'someone-elses-bucket', which is not a bucket of this environment" in only(
        found, "lb-logs-in-environment", lb.urn).message


def test_a_vpc_without_a_flow_log_is_reported(shipped):
    run = without(shipped["prod"], tokens.FLOW_LOG)
    (vpc,) = run.by_type(tokens.VPC)
    assert "has no flow log" in only(verdict(run, ["vpc-flow-logs"]), "vpc-flow-logs", vpc.urn).message


def test_every_bucket_but_the_access_logs_bucket_keeps_server_access_logs(shipped):
    prod = shipped["prod"]
    logging = prod.by_type(tokens.S3_BUCKET_LOGGING)
    assert len(logging) == len(prod.by_type(tokens.S3_BUCKET)) - 1  # documents of main and test, the exchange
    assert all(g.inputs["targetPrefix"].startswith("s3/") for g in logging)


def test_a_bucket_without_server_access_logging_is_reported(shipped):
    prod = shipped["prod"]
    gone = next(g for g in prod.by_type(tokens.S3_BUCKET_LOGGING) if "exchange" in g.name)
    run = dataclasses.replace(prod, registrations=[r for r in prod.registrations if r is not gone])
    (bucket,) = [b for b in run.by_type(tokens.S3_BUCKET) if "exchange" in b.name]
    assert "keeps no server access log" in only(verdict(run, ["s3-access-logging"]), "s3-access-logging",
                                                bucket.urn).message
