"""The environment of one stack: network, logs, and the pair or single instance its phase asks for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from . import tokens
from .clone import publish_snapshots, restore_sources
from .instance import Instance, InstanceArgs
from .network import Network, NetworkArgs
from .pair import InstancePair, InstancePairArgs
from .phases import Role, Topology
from .refs import Account, Lifecycle, NetworkRefs, RestoreFrom
from .settings import StackSettings
from .storage import SecureBucket, SecureBucketArgs


@dataclass(frozen=True)
class EnvironmentArgs:
    settings: StackSettings
    clone_snapshot: Mapping[str, Any] | None = None  # the checked Pre-PROD snapshot, for phases that clone
    desired_state_digest: str | None = None  # what an ECR approves (changecontrol.digest), computed by the program
    approval: Mapping[str, Any] | None = None  # the approving record and its hashes: the deployed state anchors the chain


def _log_delivery(account: Account, elb_account_arn: pulumi.Output[str]):
    """Bucket-policy statements that let the load balancers and VPC flow logs deliver logs."""

    def statements(bucket_arn: pulumi.Output[str]):
        return pulumi.Output.all(bucket_arn, account.account_id, elb_account_arn).apply(
            lambda v: [
                {"Sid": "LoadBalancerAccessLogs", "Effect": "Allow",
                 "Principal": {"AWS": v[2], "Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": f"{v[0]}/*"},
                {"Sid": "FlowLogsWrite", "Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": f"{v[0]}/AWSLogs/{v[1]}/*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": v[1], "s3:x-amz-acl": "bucket-owner-full-control"}}},
                {"Sid": "FlowLogsCheck", "Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
                 "Action": ["s3:GetBucketAcl", "s3:ListBucket"], "Resource": v[0],
                 "Condition": {"StringEquals": {"aws:SourceAccount": v[1]}}},
            ]
        )

    return statements


def lifecycle_of(settings: StackSettings) -> Lifecycle:
    """How the stack's stateful resources live and end, as its phase (and an approved retirement) says."""
    return Lifecycle(protected=settings.protected, destroyable=settings.destroyable,
                     final_snapshot=settings.final_snapshot)


def instance_args(settings: StackSettings, role: Role, account: Account, network: NetworkRefs,
                  logs_bucket_name: pulumi.Input[str], restore: RestoreFrom | None) -> InstanceArgs:
    """One instance's args, from the stack's settings: the edge where settings become component args."""
    phase = settings.phase_spec
    return InstanceArgs(
        customer=settings.customer, phase=phase.name, role=role, release=settings.release,
        size=settings.size(role), names=settings.names, hostname=settings.hostname(role), account=account,
        network=network, logs_bucket_name=logs_bucket_name, backup_retention_days=phase.backup_retention_days,
        log_retention_days=phase.log_retention_days, tags=settings.tags_for(role),
        multi_az=role in phase.multi_az_roles, auto_minor_version_upgrade=not phase.controlled,
        lifecycle=lifecycle_of(settings), restore=restore,
    )


class Environment(pulumi.ComponentResource):
    """Everything of one stack; every resource of the stack stands in this component's tree."""

    outputs: tokens.EnvironmentOutputs

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.ENVIRONMENT, name, None, opts)
        s = args.settings
        phase = s.phase_spec
        child = pulumi.ResourceOptions(parent=self)
        tags = s.tags_for(None)
        invoke = pulumi.InvokeOutputOptions(parent=self)

        caller = aws.get_caller_identity_output(opts=invoke)
        account = Account(
            account_id=caller.account_id,
            partition=aws.get_partition_output(opts=invoke).partition,
            region=s.region,
            zone_id=aws.route53.get_zone_output(name=s.domain.zone, private_zone=False, opts=invoke).zone_id,
            image_repository=pulumi.Output.from_input(s.image_repository) if s.image_repository else caller.account_id.apply(
                lambda a: f"{a}.dkr.ecr.{s.region}.amazonaws.com/clinspark/edc"
            ),
        )
        elb_account = aws.elb.get_service_account_output(opts=invoke).arn

        # Logs that AWS services deliver (load balancer access logs, VPC flow logs). They accept
        # SSE-S3 only; the bucket keeps them as long as the phase keeps its logs.
        logs = SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(tags=tags, kms_key_arn=None, protect=s.protected, force_destroy=s.destroyable,
                             extra_statements=_log_delivery(account, elb_account),
                             expire_after_days=phase.log_retention_days, purpose="access-logs"),
            opts=child,
        )
        network = Network(
            f"{name}-network",
            NetworkArgs(settings=s.network, tags=tags, high_availability=bool(phase.multi_az_roles),
                        flow_log_bucket_arn=logs.arn),
            opts=child,
        )
        refs = NetworkRefs(network.vpc_id, network.private_subnet_ids, network.public_subnet_ids)
        restore = restore_sources(s, args.clone_snapshot)

        lifecycle = lifecycle_of(s)
        each = {role: instance_args(s, role, account, refs, logs.bucket_name, restore.get(role)) for role in s.roles}

        instances: dict[Role, Instance]
        exchange_bucket = None
        if phase.topology is Topology.PAIR:
            pair = InstancePair(
                f"{name}-pair",
                InstancePairArgs(customer=s.customer, phase=phase.name, names=s.names, account=account,
                                 instances=each, tags=tags, lifecycle=lifecycle),
                opts=child,
            )
            instances, exchange_bucket = pair.instances, pair.exchange_bucket
        else:
            instances = {Role.SINGLE: Instance(s.names.instance(Role.SINGLE), each[Role.SINGLE], opts=child)}
        snapshots = (
            publish_snapshots(s, instances[Role.SINGLE].database_identifier, self) if phase.publishes_snapshots else {}
        )

        self.outputs = tokens.EnvironmentOutputs(
            customer=s.customer,
            phase=phase.name,
            controlled=phase.controlled,
            qualified=phase.qualified,
            disposable=phase.disposable,
            retiring=s.retire,
            expires_on=s.expires_on.isoformat() if s.expires_on else None,
            change_record=s.change_record,
            desired_state_digest=args.desired_state_digest,
            approval=dict(args.approval) if args.approval else None,
            release=s.release,
            region=s.region,
            instances={
                role.value: {
                    "url": inst.url,
                    "databaseIdentifier": inst.database_identifier,
                    "documentsBucket": inst.documents_bucket,
                    "secretArn": inst.secret_arn,
                }
                for role, inst in instances.items()
            },
            exchange_bucket=exchange_bucket,
            access_logs_bucket=logs.bucket_name,
            snapshots=snapshots,
            clone_from={"stack": s.clone_from.stack, "snapshot": s.clone_from.snapshot} if s.clone_from else None,
            stack=s.stack,
            environment_name=name,
            topology=phase.topology.value,
            roles=[r.value for r in s.roles],
        )
        self.register_outputs(self.outputs.registered())
