"""Security rules for the other ways to run a workload: containers, launch configurations, spot
instance requests, ECS task sets, Elastic IPs on instances and subnets that hand out public IPs.

The program runs hardened Fargate tasks (non-root, read-only root filesystem, private subnets); these
rules judge every other form the provider accepts, with booleans read as the provider coerces them
("true"/"false" strings included), so that compute added later cannot step around
:mod:`.security_compute`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from components import tokens

from ..framework import (
    COMPLIANT,
    UNKNOWN,
    NotApplicable,
    Resource,
    ResourceResult,
    Rule,
    Violated,
    as_list,
    flag,
    read_known,
)

TASK_DEFINITION = tokens.ECS_TASK_DEFINITION
TASK_SET = tokens.ECS_TASK_SET
LAUNCH_CONFIGURATION = tokens.LAUNCH_CONFIGURATION
SPOT_REQUEST = tokens.SPOT_INSTANCE_REQUEST
EIP = tokens.EIP
EIP_ASSOCIATION = tokens.EIP_ASSOCIATION
SUBNET = tokens.SUBNET
ROOT_USERS = ("root", "0")




# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------
def _container_problems(container: Mapping[str, Any]) -> list[str]:
    problems = []
    if flag(container.get("privileged")) is True:
        problems.append("runs privileged (set privileged=false)")
    user = str(container.get("user") or "")
    if not user or user.split(":", 1)[0] in ROOT_USERS:
        problems.append("runs as root (set user to a non-root uid, as the application's 10001)" if user
                        else "runs as the image's default user, usually root (set user to a non-root uid)")
    if flag(container.get("readonlyRootFilesystem")) is not True:
        problems.append("can write its root filesystem (set readonlyRootFilesystem=true)")
    return problems


def ecs_container_hardening(task: Resource, config: Mapping[str, Any]) -> ResourceResult:
    raw = read_known(lambda: task.props.get("containerDefinitions"))
    if raw is UNKNOWN:
        return NotApplicable("its container definitions are not known yet (the update judges them)")
    try:
        containers = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError as e:
        return Violated(f"{task.label}: container_definitions cannot be read ({e}): write a JSON list of containers")
    if not isinstance(containers, list) or not containers:
        return Violated(f"{task.label}: container_definitions is not a list of containers")
    found = []
    for c in containers:
        if not isinstance(c, Mapping):
            return Violated(f"{task.label}: a container definition is not an object")
        problems = _container_problems(c)
        if problems:
            found.append(f"container '{c.get('name', '?')}' {', '.join(problems)}")
    if found:
        return Violated(f"{task.label}: {'; '.join(found)}")
    return COMPLIANT


# --------------------------------------------------------------------------------------------
# Instance forms that bypass launch templates
# --------------------------------------------------------------------------------------------
def _device_problems(r: Resource) -> list[str]:
    unencrypted = []
    root = r.props.get("rootBlockDevice")
    if not (isinstance(root, Mapping) and flag(root.get("encrypted")) is True):
        unencrypted.append("root_block_device")
    for d in as_list(r.props.get("ebsBlockDevices")):
        if not (isinstance(d, Mapping) and flag(d.get("encrypted")) is True):
            unencrypted.append(f"ebs_block_device {d.get('deviceName') if isinstance(d, Mapping) else '?'}")
    return [f"unencrypted volumes ({', '.join(unencrypted)}): set encrypted=true with a customer kms_key_id"] \
        if unencrypted else []


def instance_forms(r: Resource, config: Mapping[str, Any]) -> ResourceResult:
    problems = []
    options = r.props.get("metadataOptions")
    options = options if isinstance(options, Mapping) else {}
    if not (options.get("httpTokens") == "required" or options.get("httpEndpoint") == "disabled"):
        problems.append("IMDSv1 allowed: set metadata_options http_tokens='required'")
    problems += _device_problems(r)
    if flag(r.props.get("associatePublicIpAddress")) is not False:
        problems.append("may get a public IP (left unset, the subnet decides): set associate_public_ip_address=false")
    if problems:
        return Violated(f"{r.label}: {'; '.join(problems)}")
    return COMPLIANT


def ecs_task_set_no_public_ip(task_set: Resource, config: Mapping[str, Any]) -> ResourceResult:
    network = task_set.props.get("networkConfiguration")
    if not isinstance(network, Mapping):
        return NotApplicable("it has no awsvpc network configuration (its tasks use the host's or bridge network)")
    if flag(network.get("assignPublicIp")) is True:
        return Violated(f"{task_set.label} gives its tasks public IP addresses: set network_configuration "
                        f"assign_public_ip=false and run them in private subnets")
    return COMPLIANT


def eip_not_on_instance(r: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if r.type == EIP:
        target = r.props.get("instance") or r.props.get("networkInterface")
        if not target:
            return NotApplicable("an unassociated address (a NAT gateway's, associated by the gateway)")
        return Violated(f"{r.label} puts a public address on {target}: instances stay private; reach them through "
                        f"the load balancer")
    target = r.props.get("instanceId") or r.props.get("networkInterfaceId")
    return Violated(f"{r.label} associates a public address with {target or 'an instance'}: instances stay private; "
                    f"reach them through the load balancer")


def subnet_no_auto_public_ip(subnet: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if flag(subnet.props.get("mapPublicIpOnLaunch")) is True:
        return Violated(f"{subnet.label} gives every network interface launched in it a public IP: set "
                        f"map_public_ip_on_launch=false (load balancers and NAT gateways do not need it)")
    return COMPLIANT


RULES: list[Rule] = [
    Rule("ecs-container-hardening", "security",
         "Containers run unprivileged, as a non-root user, on a read-only root filesystem",
         ecs_container_hardening, types=(TASK_DEFINITION,), fsbp="ECS.5", checkov="CKV_AWS_336",
         severity=Severity.HIGH,
         remediation="In every container definition: privileged=false, a non-root user, readonlyRootFilesystem=true"),
    Rule("compute-instance-forms", "security",
         "Launch configurations and spot instance requests require IMDSv2, encrypt volumes and get no public IP",
         instance_forms, types=(LAUNCH_CONFIGURATION, SPOT_REQUEST), fsbp="AutoScaling.3",
         checkov="CKV_AWS_79, CKV_AWS_8", severity=Severity.HIGH,
         remediation="Set http_tokens='required', encrypted=true on every device and associate_public_ip_address=false"),
    Rule("ecs-task-set-no-public-ip", "security", "ECS task sets assign no public IP addresses",
         ecs_task_set_no_public_ip, types=(TASK_SET,), fsbp="ECS.2", checkov="CKV_AWS_333",
         severity=Severity.HIGH, remediation="Set network_configuration assign_public_ip=false"),
    Rule("eip-not-on-instance", "security", "Elastic IPs are not associated with instances or network interfaces",
         eip_not_on_instance, types=(EIP, EIP_ASSOCIATION), severity=Severity.HIGH,
         remediation="Keep instances private; expose the application through the load balancer"),
    Rule("vpc-subnet-no-auto-public-ip", "security", "Subnets do not assign public IPs on launch",
         subnet_no_auto_public_ip, types=(SUBNET,), fsbp="EC2.15", checkov="CKV_AWS_130", severity=Severity.MEDIUM,
         remediation="Set map_public_ip_on_launch=false"),
]
