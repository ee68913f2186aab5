"""Security rules for compute and its logs: no public IPs, IMDSv2, encrypted volumes, kept and encrypted logs.

The application runs on Fargate; the EC2 instance and launch template cases guard against compute
added later. EC2 settings that AWS would otherwise take from the subnet or the AMI must be stated
explicitly, so that what runs does not depend on a default the program cannot see.
"""

from __future__ import annotations

from typing import Any, Mapping

from components import tokens

from ..framework import Resource, Rule, as_list

ECS_SERVICE = tokens.ECS_SERVICE
ECS_CLUSTER = tokens.ECS_CLUSTER
EC2_INSTANCE = tokens.EC2_INSTANCE
LAUNCH_TEMPLATE = tokens.LAUNCH_TEMPLATE
EBS_VOLUME = tokens.EBS_VOLUME
LOG_GROUP = tokens.LOG_GROUP


def _flag(value: Any) -> bool | None:
    """A boolean input; launch templates carry some as the strings "true"/"false"."""
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).lower()
    return True if text == "true" else False if text == "false" else None


def compute_no_public_ip(r: Resource, config: Mapping[str, Any]) -> str | None:
    if r.type == ECS_SERVICE:
        network = r.props.get("networkConfiguration")
        if isinstance(network, Mapping) and _flag(network.get("assignPublicIp")) is True:
            return (f"ECS service '{r.name}' gives its tasks public IP addresses: set network_configuration "
                    f"assign_public_ip=False and run the tasks in private subnets")
        return None
    if r.type == EC2_INSTANCE:
        if r.props.get("launchTemplate") and r.props.get("associatePublicIpAddress") is None:
            return None  # its launch template decides, and is judged itself
        if _flag(r.props.get("associatePublicIpAddress")) is not False:
            return (f"EC2 instance '{r.name}' may get a public IP address (left unset, the subnet decides): "
                    f"set associate_public_ip_address=False")
        return None
    interfaces = [i for i in as_list(r.props.get("networkInterfaces")) if isinstance(i, Mapping)]
    if not interfaces or any(_flag(i.get("associatePublicIpAddress")) is not False for i in interfaces):
        return (f"launch template '{r.name}' may give instances public IP addresses (left unset, the subnet "
                f"decides): declare its network interfaces with associate_public_ip_address='false'")
    return None


def compute_imdsv2(r: Resource, config: Mapping[str, Any]) -> str | None:
    options = r.props.get("metadataOptions")
    if r.type == EC2_INSTANCE and options is None and r.props.get("launchTemplate"):
        return None  # its launch template decides, and is judged itself
    options = options if isinstance(options, Mapping) else {}
    if options.get("httpEndpoint") == "disabled" or options.get("httpTokens") == "required":
        return None
    kind = "EC2 instance" if r.type == EC2_INSTANCE else "launch template"
    return (f"{kind} '{r.name}' allows IMDSv1 (metadata without a session token): set metadata_options "
            f"http_tokens='required'")


def _unencrypted_devices(r: Resource) -> list[str]:
    if r.type == EC2_INSTANCE:
        devices = []
        root = r.props.get("rootBlockDevice")
        if not (isinstance(root, Mapping) and _flag(root.get("encrypted")) is True):
            devices.append("root_block_device")
        for d in as_list(r.props.get("ebsBlockDevices")):
            if not (isinstance(d, Mapping) and _flag(d.get("encrypted")) is True):
                devices.append(f"ebs_block_device {d.get('deviceName') if isinstance(d, Mapping) else '?'}")
        return devices
    devices = []
    for m in as_list(r.props.get("blockDeviceMappings")):
        if not isinstance(m, Mapping) or m.get("virtualName") or m.get("noDevice"):
            continue  # instance-store or suppressed devices carry no EBS volume
        if _flag((m.get("ebs") or {}).get("encrypted")) is not True:
            devices.append(f"block_device_mapping {m.get('deviceName')}")
    return devices


def compute_encrypted_volumes(r: Resource, config: Mapping[str, Any]) -> str | None:
    if r.type == ECS_CLUSTER:
        storage = ((r.props.get("configuration") or {}).get("managedStorageConfiguration") or {})
        if not storage.get("fargateEphemeralStorageKmsKeyId"):
            return (f"ECS cluster '{r.name}' does not encrypt Fargate ephemeral storage with a customer key: set "
                    f"configuration.managed_storage_configuration.fargate_ephemeral_storage_kms_key_id")
        return None
    if r.type == EBS_VOLUME:
        if _flag(r.props.get("encrypted")) is not True:
            return f"EBS volume '{r.name}' is not encrypted: set encrypted=True and kms_key_id to a customer key"
        return None
    devices = _unencrypted_devices(r)
    if devices:
        kind = "EC2 instance" if r.type == EC2_INSTANCE else "launch template"
        return (f"{kind} '{r.name}' has unencrypted volumes ({', '.join(devices)}): set encrypted=True "
                f"(with a customer kms_key_id) on every EBS device")
    return None


def logs_retention(group: Resource, config: Mapping[str, Any]) -> str | None:
    problems = []
    days = group.props.get("retentionInDays")
    if not isinstance(days, (int, float)) or days <= 0:
        problems.append("set retention_in_days to the phase's log retention (left unset or 0, logs are kept forever)")
    if not group.props.get("kmsKeyId"):
        problems.append("set kms_key_id to the instance's customer-managed KMS key")
    if problems:
        return f"log group '{group.name}': {'; '.join(problems)}"
    return None


RULES: list[Rule] = [
    Rule("compute-no-public-ip", "security",
         "ECS services, EC2 instances and launch templates assign no public IP addresses",
         compute_no_public_ip, types=(ECS_SERVICE, EC2_INSTANCE, LAUNCH_TEMPLATE), fsbp="ECS.2",
         checkov="CKV_AWS_333, CKV_AWS_88"),
    Rule("compute-imdsv2", "security", "EC2 instances and launch templates require IMDSv2",
         compute_imdsv2, types=(EC2_INSTANCE, LAUNCH_TEMPLATE), fsbp="EC2.8", checkov="CKV_AWS_79"),
    Rule("compute-encrypted-volumes", "security",
         "EBS volumes and devices are encrypted; ECS clusters encrypt Fargate ephemeral storage with a customer key",
         compute_encrypted_volumes, types=(EC2_INSTANCE, LAUNCH_TEMPLATE, EBS_VOLUME, ECS_CLUSTER), fsbp="EC2.3",
         checkov="CKV_AWS_8, CKV_AWS_3"),
    Rule("logs-retention", "security", "Log groups have a retention period and a customer-managed KMS key",
         logs_retention, types=(LOG_GROUP,), checkov="CKV_AWS_66, CKV_AWS_158"),
]
