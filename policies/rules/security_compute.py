"""Security rules for compute and its logs: no public IPs, IMDSv2, encrypted volumes, kept and encrypted logs.

The application runs on Fargate; the EC2 instance and launch template cases guard against compute
added later. EC2 settings that AWS would otherwise take from the subnet or the AMI must be stated
explicitly, so that what runs does not depend on a default the program cannot see.
"""

from __future__ import annotations

from typing import Any, Mapping

from pulumi_policy import Severity

from components import tokens
from components.phases import LOG_RETENTION_DAYS

from ..framework import (
    COMPLIANT,
    NotApplicable,
    Resource,
    ResourceResult,
    Rule,
    Violated,
    as_days,
    as_list,
    flag,
    stack_phase,
)

ECS_SERVICE = tokens.ECS_SERVICE
ECS_CLUSTER = tokens.ECS_CLUSTER
EC2_INSTANCE = tokens.EC2_INSTANCE
LAUNCH_TEMPLATE = tokens.LAUNCH_TEMPLATE
EBS_VOLUME = tokens.EBS_VOLUME
LOG_GROUP = tokens.LOG_GROUP




def compute_no_public_ip(r: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if r.type == ECS_SERVICE:
        network = r.props.get("networkConfiguration")
        if isinstance(network, Mapping) and flag(network.get("assignPublicIp")) is True:
            return Violated(f"ECS service '{r.name}' gives its tasks public IP addresses: set network_configuration "
                            f"assign_public_ip=False and run the tasks in private subnets")
        return COMPLIANT
    if r.type == EC2_INSTANCE:
        if r.props.get("launchTemplate") and r.props.get("associatePublicIpAddress") is None:
            return NotApplicable("its launch template decides whether it gets a public IP, and is judged itself")
        if flag(r.props.get("associatePublicIpAddress")) is not False:
            return Violated(f"EC2 instance '{r.name}' may get a public IP address (left unset, the subnet decides): "
                            f"set associate_public_ip_address=False")
        return COMPLIANT
    interfaces = [i for i in as_list(r.props.get("networkInterfaces")) if isinstance(i, Mapping)]
    if not interfaces or any(flag(i.get("associatePublicIpAddress")) is not False for i in interfaces):
        return Violated(f"launch template '{r.name}' may give instances public IP addresses (left unset, the subnet "
                        f"decides): declare its network interfaces with associate_public_ip_address='false'")
    return COMPLIANT


def compute_imdsv2(r: Resource, config: Mapping[str, Any]) -> ResourceResult:
    options = r.props.get("metadataOptions")
    if r.type == EC2_INSTANCE and options is None and r.props.get("launchTemplate"):
        return NotApplicable("its launch template decides its metadata options, and is judged itself")
    options = options if isinstance(options, Mapping) else {}
    if options.get("httpEndpoint") == "disabled" or options.get("httpTokens") == "required":
        return COMPLIANT
    kind = "EC2 instance" if r.type == EC2_INSTANCE else "launch template"
    return Violated(f"{kind} '{r.name}' allows IMDSv1 (metadata without a session token): set metadata_options "
                    f"http_tokens='required'")


def _unencrypted_devices(r: Resource) -> list[str]:
    if r.type == EC2_INSTANCE:
        devices = []
        root = r.props.get("rootBlockDevice")
        if not (isinstance(root, Mapping) and flag(root.get("encrypted")) is True):
            devices.append("root_block_device")
        for d in as_list(r.props.get("ebsBlockDevices")):
            if not (isinstance(d, Mapping) and flag(d.get("encrypted")) is True):
                devices.append(f"ebs_block_device {d.get('deviceName') if isinstance(d, Mapping) else '?'}")
        return devices
    devices = []
    for m in as_list(r.props.get("blockDeviceMappings")):
        if not isinstance(m, Mapping) or m.get("virtualName") or m.get("noDevice"):
            continue  # instance-store or suppressed devices carry no EBS volume
        if flag((m.get("ebs") or {}).get("encrypted")) is not True:
            devices.append(f"block_device_mapping {m.get('deviceName')}")
    return devices


def compute_encrypted_volumes(r: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if r.type == ECS_CLUSTER:
        storage = ((r.props.get("configuration") or {}).get("managedStorageConfiguration") or {})
        if not storage.get("fargateEphemeralStorageKmsKeyId"):
            return Violated(f"ECS cluster '{r.name}' does not encrypt Fargate ephemeral storage with a customer key: "
                            f"set configuration.managed_storage_configuration.fargate_ephemeral_storage_kms_key_id")
        return COMPLIANT
    if r.type == EBS_VOLUME:
        if flag(r.props.get("encrypted")) is not True:
            return Violated(f"EBS volume '{r.name}' is not encrypted: set encrypted=True and kms_key_id to a customer "
                            f"key")
        return COMPLIANT
    devices = _unencrypted_devices(r)
    if devices:
        kind = "EC2 instance" if r.type == EC2_INSTANCE else "launch template"
        return Violated(f"{kind} '{r.name}' has unencrypted volumes ({', '.join(devices)}): set encrypted=True "
                        f"(with a customer kms_key_id) on every EBS device")
    return COMPLIANT



def logs_retention(group: Resource, config: Mapping[str, Any]) -> ResourceResult:
    problems = []
    phase = stack_phase(config)
    minimum = phase.log_retention_days if phase is not None else max(LOG_RETENTION_DAYS)  # no phase: fail closed
    raw = group.props.get("retentionInDays")
    days = as_days(raw)
    if days is None or days <= 0:
        problems.append(f"set retention_in_days to at least {minimum} (the phase's log retention; left unset or 0, "
                        f"logs are kept forever at the owner's cost and never expire as the phase says)")
    elif days not in LOG_RETENTION_DAYS:
        problems.append(f"retention_in_days {days} is not a period CloudWatch accepts: use one of "
                        f"{', '.join(str(d) for d in LOG_RETENTION_DAYS if d >= minimum)}")
    elif days < minimum:
        problems.append(f"keep logs at least {minimum} days (the phase's log retention; retention_in_days is {days})")
    if not group.props.get("kmsKeyId"):
        problems.append("set kms_key_id to the instance's customer-managed KMS key")
    if problems:
        return Violated(f"log group '{group.name}': {'; '.join(problems)}")
    return COMPLIANT


RULES: list[Rule] = [
    Rule("compute-no-public-ip", "security",
         "ECS services, EC2 instances and launch templates assign no public IP addresses",
         compute_no_public_ip, types=(ECS_SERVICE, EC2_INSTANCE, LAUNCH_TEMPLATE), fsbp="ECS.2",
         checkov="CKV_AWS_333, CKV_AWS_88",
         severity=Severity.HIGH,
         remediation="Set assign_public_ip=False (ECS) or associate_public_ip_address=False (EC2) and run in private "
                     "subnets"),
    Rule("compute-imdsv2", "security", "EC2 instances and launch templates require IMDSv2",
         compute_imdsv2, types=(EC2_INSTANCE, LAUNCH_TEMPLATE), fsbp="EC2.8", checkov="CKV_AWS_79",
         severity=Severity.HIGH,
         remediation="Set metadata_options http_tokens='required'"),
    Rule("compute-encrypted-volumes", "security",
         "EBS volumes and devices are encrypted; ECS clusters encrypt Fargate ephemeral storage with a customer key",
         compute_encrypted_volumes, types=(EC2_INSTANCE, LAUNCH_TEMPLATE, EBS_VOLUME, ECS_CLUSTER), fsbp="EC2.3",
         checkov="CKV_AWS_8, CKV_AWS_3",
         severity=Severity.MEDIUM,
         remediation="Set encrypted=True with a customer kms_key_id on every EBS device; give ECS clusters a "
                     "fargate_ephemeral_storage_kms_key_id"),
    Rule("logs-retention", "security", "Log groups have a retention period and a customer-managed KMS key",
         logs_retention, types=(LOG_GROUP,), checkov="CKV_AWS_66, CKV_AWS_158",
         severity=Severity.LOW,
         remediation="Set retention_in_days to the phase's log retention and kms_key_id to the instance's "
                     "customer-managed KMS key"),
]
