"""One instance of the application: its own key, documents and network boundaries, and three named parts:
the Database, the Application and the HttpsEntry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_aws as aws

from . import tokens
from .application import Application, ApplicationArgs
from .database import DB_PORT, Database, DatabaseArgs
from .https_entry import APP_PORT, HttpsEntry, HttpsEntryArgs
from .naming import Names
from .phases import DATABASE_ENGINE, Role, Size
from .refs import Account, ExchangeRefs, Lifecycle, NetworkRefs, RestoreFrom
from .storage import SecureBucket, SecureBucketArgs


@dataclass(frozen=True)
class InstanceSpec:
    """What the stack says about one instance, built at the edge from its settings (components.program).

    The defaults are the strict ones: no Multi-AZ is asked for, but protection, deletion protection, a
    final snapshot and no automatic minor upgrades are what a caller gets unless it says otherwise."""

    customer: str | None
    phase: str
    role: Role
    release: str
    size: Size
    names: Names
    hostname: str
    backup_retention_days: int
    log_retention_days: int
    tags: Mapping[str, str] = field(default_factory=dict)
    multi_az: bool = False
    engine_version: str = DATABASE_ENGINE.major  # what its database is asked to run (components.engines)
    auto_minor_version_upgrade: bool = False
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    log_groups_pinned: bool = False
    restore: RestoreFrom | None = None


@dataclass(frozen=True)
class InstanceArgs:
    """The spec, and what the environment around the instance gives it: account, network, log bucket, and in
    a pair the exchange location."""

    spec: InstanceSpec
    account: Account
    network: NetworkRefs
    logs_bucket_name: pulumi.Input[str]
    exchange: ExchangeRefs | None = None

    def with_exchange(self, exchange: ExchangeRefs) -> InstanceArgs:
        return replace(self, exchange=exchange)


def key_policy(account_id: str, partition: str, region: str) -> str:
    root = f"arn:{partition}:iam::{account_id}:root"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "AccountAdministersThroughIam", "Effect": "Allow", "Principal": {"AWS": root},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "CloudWatchLogsEncryptsThisInstancesLogs", "Effect": "Allow",
                 "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                 "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                 "Resource": "*",
                 "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                           f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}}},
                # Fargate ephemeral storage, as AWS documents it (the cluster name is not known
                # before the key, so the account condition alone scopes it).
                {"Sid": "FargateGeneratesDataKeys", "Effect": "Allow",
                 "Principal": {"Service": "fargate.amazonaws.com"},
                 "Action": "kms:GenerateDataKeyWithoutPlaintext", "Resource": "*",
                 "Condition": {"StringEquals": {"kms:EncryptionContext:aws:ecs:clusterAccount": [account_id]}}},
                {"Sid": "FargateCreatesDecryptGrants", "Effect": "Allow",
                 "Principal": {"Service": "fargate.amazonaws.com"},
                 "Action": "kms:CreateGrant", "Resource": "*",
                 "Condition": {"StringEquals": {"kms:EncryptionContext:aws:ecs:clusterAccount": [account_id]},
                               "ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]}}},
            ],
        }
    )


def kms_key(name: str, description: str, lifecycle: Lifecycle, account: Account, tags: Mapping[str, str],
            parent) -> aws.kms.Key:
    """A customer key with rotation on; the longest deletion window unless the stack is destroyable.

    Where databases leave a final snapshot or the logs are kept, the key outlives the stack: the snapshot and
    the log groups are encrypted under it, and a deleted key would make them unreadable."""
    key = aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=7 if lifecycle.destroyable else 30,
        policy=pulumi.Output.all(account.account_id, account.partition).apply(
            lambda v: key_policy(v[0], v[1], account.region)
        ),
        tags=dict(tags),
        opts=pulumi.ResourceOptions(parent=parent, protect=lifecycle.protected,
                                    retain_on_delete=lifecycle.final_snapshot or lifecycle.keep_logs),
    )
    aws.kms.Alias(f"{name}-alias", name=Names.key_alias(name), target_key_id=key.key_id,
                  opts=pulumi.ResourceOptions(parent=parent))
    return key


class Instance(pulumi.ComponentResource):
    """Compute running the pinned release, its PostgreSQL database, documents, secret and HTTPS entry."""

    def __init__(self, name: str, args: InstanceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.INSTANCE, name, None, opts)
        spec, acct, net = args.spec, args.account, args.network
        role, life, tags = spec.role, spec.lifecycle, dict(spec.tags)
        child = pulumi.ResourceOptions(parent=self)

        # --- encryption and documents -----------------------------------------------------
        key = kms_key(spec.names.key(role), f"{name}: database, documents, secrets and logs", life, acct, tags, self)
        documents = SecureBucket(
            f"{name}-documents",
            SecureBucketArgs(tags=tags, kms_key_arn=key.arn, protect=life.protected, force_destroy=life.destroyable,
                             access_log_bucket=args.logs_bucket_name,
                             access_log_prefix=spec.names.server_access_log_prefix(f"{name}-documents")),
            opts=child,
        )

        # --- network boundaries: internet -> load balancer -> application -> database ------
        lb_sg = aws.ec2.SecurityGroup(f"{name}-lb-sg", vpc_id=net.vpc_id, description=f"{name} load balancer",
                                      tags=tags, opts=child)
        app_sg = aws.ec2.SecurityGroup(f"{name}-app-sg", vpc_id=net.vpc_id, description=f"{name} application",
                                       tags=tags, opts=child)
        db_sg = aws.ec2.SecurityGroup(f"{name}-db-sg", vpc_id=net.vpc_id, description=f"{name} database",
                                      tags=tags, opts=child)
        for port, label in ((443, "https"), (80, "http-redirect")):
            for family, cidr in (("ipv4", {"cidr_ipv4": "0.0.0.0/0"}), ("ipv6", {"cidr_ipv6": "::/0"})):
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-lb-in-{label}-{family}", security_group_id=lb_sg.id, ip_protocol="tcp",
                    from_port=port, to_port=port, description=f"{label} from the internet", tags=tags, opts=child, **cidr,
                )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-lb-out-app", security_group_id=lb_sg.id, referenced_security_group_id=app_sg.id,
            ip_protocol="tcp", from_port=APP_PORT, to_port=APP_PORT, description="to the application", tags=tags, opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-app-in-lb", security_group_id=app_sg.id, referenced_security_group_id=lb_sg.id,
            ip_protocol="tcp", from_port=APP_PORT, to_port=APP_PORT, description="from the load balancer only",
            tags=tags, opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-app-out-db", security_group_id=app_sg.id, referenced_security_group_id=db_sg.id,
            ip_protocol="tcp", from_port=DB_PORT, to_port=DB_PORT, description="to its database", tags=tags, opts=child,
        )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-app-out-https", security_group_id=app_sg.id, cidr_ipv4="0.0.0.0/0", ip_protocol="tcp",
            from_port=443, to_port=443, description="AWS APIs and image pulls over HTTPS", tags=tags, opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-db-in-app", security_group_id=db_sg.id, referenced_security_group_id=app_sg.id,
            ip_protocol="tcp", from_port=DB_PORT, to_port=DB_PORT, description="from the application only",
            tags=tags, opts=child,
        )

        # --- the three parts ----------------------------------------------------------------------
        database = Database(
            f"{name}-database",
            DatabaseArgs(instance_name=name, names=spec.names, role=role, size=spec.size, key_arn=key.arn,
                         subnet_ids=net.private_subnet_ids, security_group_id=db_sg.id,
                         backup_retention_days=spec.backup_retention_days, tags=tags, multi_az=spec.multi_az,
                         engine_version=spec.engine_version,
                         auto_minor_version_upgrade=spec.auto_minor_version_upgrade, lifecycle=life,
                         restore=spec.restore),
            opts=child,
        )
        entry = HttpsEntry(
            f"{name}-https-entry",
            HttpsEntryArgs(instance_name=name, names=spec.names, role=role, hostname=spec.hostname,
                           zone_id=acct.zone_id, vpc_id=net.vpc_id, vpc_origin=net.origin, public_subnet_ids=net.public_subnet_ids,
                           security_group_id=lb_sg.id, logs_bucket_name=args.logs_bucket_name, tags=tags,
                           deletion_protection=not life.destroyable),
            opts=child,
        )
        Application(
            f"{name}-application",
            ApplicationArgs(instance_name=name, names=spec.names, role=role, release=spec.release, size=spec.size,
                            account=acct, key_arn=key.arn, key_id=key.key_id, subnet_ids=net.private_subnet_ids,
                            security_group_id=app_sg.id, log_retention_days=spec.log_retention_days,
                            documents_bucket_arn=documents.arn, documents_bucket_name=documents.bucket_name,
                            database_address=database.address, database_secret_arn=database.secret_arn,
                            target_group_arn=entry.target_group_arn, lifecycle=life,
                            log_groups_pinned=spec.log_groups_pinned,
                            ready_after=(entry.https_listener, database.credentials),
                            exchange=args.exchange, tags=tags),
            opts=child,
        )

        self.url = entry.url
        self.database_identifier = database.identifier
        self.engine_version_actual = database.engine_version_actual
        self.key_arn = key.arn
        self.documents_bucket = documents.bucket_name
        self.secret_arn = database.secret_arn
        self.register_outputs(
            tokens.InstanceOutputs(
                customer=spec.customer, phase=spec.phase, role=role.value, instance_name=name, release=spec.release,
                url=self.url, database_identifier=database.identifier, documents_bucket=documents.bucket_name,
                secret_arn=database.secret_arn, key_arn=key.arn,
                restored_from=spec.restore.describe() if spec.restore else None,
                engine_version=spec.engine_version, engine_version_actual=database.engine_version_actual,
            ).registered()
        )
