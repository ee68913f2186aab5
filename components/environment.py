"""The environment of one stack: network, logs, and the pair or single instance its phase asks for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from . import naming, tokens
from .clone import SnapshotsToPublish, publish_snapshots
from .instance import Instance, InstanceArgs, InstanceSpec
from .naming import SERVER_ACCESS_LOG_ROOT, Names
from .network import Network, NetworkArgs
from .pair import InstancePair, InstancePairArgs
from .phases import Phase, Role, Topology
from .refs import Account, Lifecycle, NetworkRefs
from .regions import elb_log_account
from .settings import NetworkSettings
from .storage import SecureBucket, SecureBucketArgs


@dataclass(frozen=True)
class EnvironmentArgs:
    """What the environment is told, built at the edge (components.program) from the stack's settings."""

    stack: str
    customer: str | None
    phase: Phase
    release: str
    region: str
    zone: str  # the public Route 53 zone of its hostnames
    network: NetworkSettings
    names: Names
    instances: Mapping[Role, InstanceSpec]  # one per role of the phase
    tags: Mapping[str, str] = field(default_factory=dict)  # its own (role "environment")
    image_repository: str | None = None  # None: the account's clinspark/edc repository
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    retiring: bool = False
    expires_on: date | None = None
    change_record: str | None = None
    clone_from: Mapping[str, str] | None = None  # {stack, snapshot}: where its restored databases come from
    snapshots: SnapshotsToPublish | None = None  # Pre-PROD only
    desired_state_digest: str | None = None  # what an ECR approves (changecontrol.digest), computed by the program
    approval: Mapping[str, Any] | None = None  # the approving record and its hashes: the deployed state anchors the chain

    def __post_init__(self) -> None:
        if set(self.instances) != set(self.phase.roles):
            raise ValueError(f"phase {self.phase.name} has roles {', '.join(self.phase.roles)}, "
                             f"not {', '.join(sorted(r.value for r in self.instances))}")


def _log_delivery(account: Account, elb_account_arn: pulumi.Output[str] | None, log_prefix: str):
    """Bucket-policy statements that let the load balancers and VPC flow logs deliver logs.

    Each grant reaches only this account's own log path: the regional ELB account (which every customer's
    load balancers in the region use; regions launched before August 2022 only) and the ELB log-delivery
    service may write only under `<this environment's prefix>/<role>/AWSLogs/<this account>/`, the service
    only for this account. Where the region has no ELB account (`elb_account_arn` None), the service alone."""

    def statements(bucket_arn: pulumi.Output[str]):
        return pulumi.Output.all(bucket_arn, account.account_id, elb_account_arn or "").apply(
            lambda v: ([
                {"Sid": "LoadBalancerAccessLogs", "Effect": "Allow", "Principal": {"AWS": v[2]},
                 "Action": "s3:PutObject", "Resource": f"{v[0]}/{log_prefix}/*/AWSLogs/{v[1]}/*"}] if v[2] else []) + [
                {"Sid": "LoadBalancerLogDelivery", "Effect": "Allow",
                 "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": f"{v[0]}/{log_prefix}/*/AWSLogs/{v[1]}/*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": v[1]}}},
                {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": f"{v[0]}/{SERVER_ACCESS_LOG_ROOT}/*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": v[1]}}},
                {"Sid": "FlowLogsWrite", "Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": f"{v[0]}/AWSLogs/{v[1]}/*",
                 "Condition": {"StringEquals": {"aws:SourceAccount": v[1], "s3:x-amz-acl": "bucket-owner-full-control"}}},
                {"Sid": "FlowLogsCheck", "Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
                 "Action": ["s3:GetBucketAcl", "s3:ListBucket"], "Resource": v[0],
                 "Condition": {"StringEquals": {"aws:SourceAccount": v[1]}}},
            ]
        )

    return statements


class Environment(pulumi.ComponentResource):
    """Everything of one stack; every resource of the stack stands in this component's tree."""

    outputs: tokens.EnvironmentOutputs

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.ENVIRONMENT, name, None, opts)
        phase, names, life = args.phase, args.names, args.lifecycle
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        invoke = pulumi.InvokeOutputOptions(parent=self)

        region, repository = args.region, args.image_repository
        caller = aws.get_caller_identity_output(opts=invoke)
        account = Account(
            account_id=caller.account_id,
            partition=aws.get_partition_output(opts=invoke).partition,
            region=region,
            zone_id=aws.route53.get_zone_output(name=args.zone, private_zone=False, opts=invoke).zone_id,
            image_repository=pulumi.Output.from_input(repository) if repository else caller.account_id.apply(
                lambda a: naming.default_image_repository(a, region)
            ),
        )
        # Regions launched from August 2022 have no ELB log account (get_service_account fails there): the
        # log-delivery service principal alone writes the load balancers' logs (components.regions).
        elb_account = aws.elb.get_service_account_output(opts=invoke).arn if elb_log_account(region) else None

        # Logs that AWS services deliver (load balancer access logs, VPC flow logs). They accept
        # SSE-S3 only; the bucket keeps them as long as the phase keeps its logs.
        logs = SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(tags=tags, kms_key_arn=None, protect=life.protected, force_destroy=life.destroyable,
                             extra_statements=_log_delivery(account, elb_account, names.access_log_root),
                             expire_after_days=phase.log_retention_days, purpose="access-logs"),
            opts=child,
        )
        network = Network(
            f"{name}-network",
            NetworkArgs(settings=args.network, region=region, tags=tags, high_availability=bool(phase.multi_az_roles),
                        flow_log_bucket_arn=logs.arn),
            opts=child,
        )
        refs = NetworkRefs(network.vpc_id, network.private_subnet_ids, network.public_subnet_ids,
                           origin=args.network.vpc_id or args.network.cidr or "")
        each = {role: InstanceArgs(spec=spec, account=account, network=refs, logs_bucket_name=logs.bucket_name)
                for role, spec in args.instances.items()}

        instances: dict[Role, Instance]
        exchange_bucket = None
        extra_keys: list[pulumi.Output[str]] = []
        if phase.topology is Topology.PAIR:
            pair = InstancePair(
                f"{name}-pair",
                InstancePairArgs(customer=args.customer, phase=phase.name, names=names, account=account,
                                 instances=each, tags=tags, lifecycle=life),
                opts=child,
            )
            instances, exchange_bucket = pair.instances, pair.exchange_bucket
            extra_keys.append(pair.exchange_key_arn)
        else:
            instances = {Role.SINGLE: Instance(names.instance(Role.SINGLE), each[Role.SINGLE], opts=child)}
        snapshots = (
            publish_snapshots(args.snapshots, instances[Role.SINGLE].database_identifier, self)
            if phase.publishes_snapshots and args.snapshots is not None else {}
        )

        self.outputs = tokens.EnvironmentOutputs(
            customer=args.customer,
            phase=phase.name,
            controlled=phase.controlled,
            qualified=phase.qualified,
            disposable=phase.disposable,
            retiring=args.retiring,
            expires_on=args.expires_on.isoformat() if args.expires_on else None,
            change_record=args.change_record,
            desired_state_digest=args.desired_state_digest,
            approval=dict(args.approval) if args.approval else None,
            release=args.release,
            region=region,
            instances={
                role.value: {
                    "url": inst.url,
                    "databaseIdentifier": inst.database_identifier,
                    "documentsBucket": inst.documents_bucket,
                    "secretArn": inst.secret_arn,
                    "engineVersionActual": inst.engine_version_actual,
                }
                for role, inst in instances.items()
            },
            exchange_bucket=exchange_bucket,
            access_logs_bucket=logs.bucket_name,
            snapshots=snapshots,
            clone_from=dict(args.clone_from) if args.clone_from else None,
            stack=args.stack,
            environment_name=name,
            topology=phase.topology.value,
            roles=[r.value for r in phase.roles],
            account_id=account.account_id,
            key_arns=[*(inst.key_arn for inst in instances.values()), *extra_keys],
        )
        self.register_outputs(self.outputs.registered())
