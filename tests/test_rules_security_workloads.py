"""Containers, launch configurations, spot requests, task sets, Elastic IPs and subnets, judged in every
form the provider accepts (string booleans included), on the shipped plans as the engine evaluates them."""

from __future__ import annotations

import json

import pytest

from envctl.evaluate import effective_policies, evaluate
from policies.framework import to_policy
from policies.rules import security_workloads
from tests.conftest import SHIPPED
from tests.test_rules_security import (
    added,
    edit,
    not_applicable,
    only,
    violations,
)

TASK = "aws:ecs/taskDefinition:TaskDefinition"
SERVICE = "aws:ecs/service:Service"
SUBNET = "aws:ec2/subnet:Subnet"
EIP = "aws:ec2/eip:Eip"


@pytest.fixture
def prod(shipped):
    return shipped["prod"]


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_shipped_stacks_violate_no_workload_rule(shipped, stack):
    found = evaluate(shipped[stack], effective_policies([to_policy(r) for r in security_workloads.RULES],
                                                        None)).violations
    assert found == []


def _container(run, **changes):
    def change(inputs):
        containers = json.loads(inputs["containerDefinitions"])
        for key, value in changes.items():
            if value is None:
                containers[0].pop(key, None)
            else:
                containers[0][key] = value
        inputs["containerDefinitions"] = json.dumps(containers)
    return edit(run, TASK, run.by_type(TASK)[0].name, change)


@pytest.mark.parametrize("changes, says", [
    ({"privileged": True}, "runs privileged"),
    ({"privileged": "true"}, "runs privileged"),
    ({"user": "root"}, "runs as root"),
    ({"user": "0:0"}, "runs as root"),
    ({"user": None}, "image's default user"),
    ({"readonlyRootFilesystem": False}, "can write its root filesystem"),
    ({"readonlyRootFilesystem": None}, "can write its root filesystem"),
])
def test_each_container_weakness_is_reported(prod, changes, says):
    run, task = _container(prod, **changes)
    assert says in only(violations(run, "ecs-container-hardening"), task.urn).message


def test_unreadable_container_definitions_are_reported(prod):
    run, task = edit(prod, TASK, prod.by_type(TASK)[0].name, lambda i: i.update(containerDefinitions="[{"))
    assert "cannot be read" in only(violations(run, "ecs-container-hardening"), task.urn).message


GOOD_INSTANCE = {"metadataOptions": {"httpTokens": "required"}, "rootBlockDevice": {"encrypted": True},
                 "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": "true"}],
                 "associatePublicIpAddress": "false"}


@pytest.mark.parametrize("typ", ["aws:ec2/launchConfiguration:LaunchConfiguration",
                                 "aws:ec2/spotInstanceRequest:SpotInstanceRequest"])
def test_launch_configurations_and_spot_requests_are_judged_like_instances(prod, typ):
    template = prod.by_type(SERVICE)[0]
    run, _ = added(prod, template, typ, "legacy", GOOD_INSTANCE)
    assert violations(run, "compute-instance-forms") == []
    bad = {**GOOD_INSTANCE, "metadataOptions": {"httpTokens": "optional"},
           "ebsBlockDevices": [{"deviceName": "/dev/sdf", "encrypted": "false"}]}
    bad.pop("associatePublicIpAddress")
    run, r = added(prod, template, typ, "legacy", bad)
    message = only(violations(run, "compute-instance-forms"), r.urn).message
    assert "IMDSv1" in message and "ebs_block_device /dev/sdf" in message and "public IP" in message


def test_a_task_set_with_public_ips_is_reported_and_a_private_one_stays_quiet(prod):
    template = prod.by_type(SERVICE)[0]
    network = {"subnets": ["subnet-1"], "assignPublicIp": "true"}
    run, task_set = added(prod, template, "aws:ecs/taskSet:TaskSet", "canary", {"networkConfiguration": network})
    only(violations(run, "ecs-task-set-no-public-ip"), task_set.urn)
    run, _ = added(prod, template, "aws:ecs/taskSet:TaskSet", "canary",
                   {"networkConfiguration": {**network, "assignPublicIp": False}})
    assert violations(run, "ecs-task-set-no-public-ip") == []


def test_an_elastic_ip_on_an_instance_is_reported_and_the_nat_address_is_not_applicable(prod):
    nat_eip = prod.by_type(EIP)[0]
    assert violations(prod, "eip-not-on-instance") == []
    assert "NAT gateway" in not_applicable(prod, "eip-not-on-instance")[nat_eip.urn]
    run, eip = edit(prod, EIP, nat_eip.name, lambda i: i.update(instance="i-0123456789abcdef0"))
    assert "i-0123456789abcdef0" in only(violations(run, "eip-not-on-instance"), eip.urn).message
    run, association = added(prod, nat_eip, "aws:ec2/eipAssociation:EipAssociation", "assoc",
                             {"allocationId": "eipalloc-1", "instanceId": "i-0123456789abcdef0"})
    only(violations(run, "eip-not-on-instance"), association.urn)


@pytest.mark.parametrize("value", [True, "true"])
def test_a_subnet_mapping_public_ips_is_reported(prod, value):
    subnet = prod.by_type(SUBNET)[0]
    run, subnet = edit(prod, SUBNET, subnet.name, lambda i: i.update(mapPublicIpOnLaunch=value))
    only(violations(run, "vpc-subnet-no-auto-public-ip"), subnet.urn)
