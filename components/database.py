"""An instance's PostgreSQL database: master secret, subnet and parameter groups, its restore copy, the RDS instance."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from . import tokens
from .naming import Names
from .phases import Role, Size
from .refs import Lifecycle, RestoreFrom

POSTGRES_ENGINE_VERSION = "16.4"
POSTGRES_FAMILY = "postgres16"
DB_PORT = 5432
DB_NAME = "edc"
DB_USER = "edc_admin"


@dataclass(frozen=True)
class DatabaseArgs:
    """What the database is told. Encryption, privacy (never public), TLS, IAM authentication and copied
    tags are not arguments: they are always on."""

    instance_name: str  # its resources keep the instance's names, so that they keep their identity
    names: Names
    role: Role
    size: Size
    key_arn: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    backup_retention_days: int
    tags: Mapping[str, str] = field(default_factory=dict)
    multi_az: bool = False
    auto_minor_version_upgrade: bool = False  # upgrades are changes like any other
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    restore: RestoreFrom | None = None

    def __post_init__(self) -> None:
        if self.backup_retention_days < 1:
            raise ValueError("a database keeps backups for at least one day")


class Database(pulumi.ComponentResource):
    """The instance's database, restored from its own copy of a Pre-PROD snapshot where the phase clones."""

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.DATABASE, name, None, opts)
        base, life, tags = args.instance_name, args.lifecycle, dict(args.tags)
        # Every resource here stood directly in the Instance before it had named parts: the alias keeps its URN.
        was = [pulumi.Alias(parent=opts.parent if opts else None)]
        child = pulumi.ResourceOptions(parent=self, aliases=was)
        stateful = pulumi.ResourceOptions(parent=self, aliases=was, protect=life.protected)

        password = random.RandomPassword(
            f"{base}-db-password", length=32, special=True, override_special="!#$%^&*()-_=+[]{}<>:?", opts=child
        )
        secret = aws.secretsmanager.Secret(
            f"{base}-db-master", description=f"{base}: database master credentials", kms_key_id=args.key_arn,
            recovery_window_in_days=0 if life.destroyable else 30, tags=tags, opts=stateful,
        )
        subnet_group = aws.rds.SubnetGroup(f"{base}-db-subnets", subnet_ids=list(args.subnet_ids), tags=tags,
                                           opts=child)
        parameters = aws.rds.ParameterGroup(
            f"{base}-db-params", family=POSTGRES_FAMILY, description=f"{base}: TLS only, connections logged",
            parameters=[{"name": "rds.force_ssl", "value": "1"}, {"name": "log_connections", "value": "1"}],
            tags=tags, opts=child,
        )
        restore_opts: dict = {}
        storage = args.size.db_storage_gb
        if args.restore is not None:
            # Our own copy, re-encrypted under this instance's key; both pinned, so that a newer
            # Pre-PROD snapshot never replaces a running database.
            copy = aws.rds.SnapshotCopy(
                f"{base}-db-source",
                source_db_snapshot_identifier=args.restore.snapshot_arn,
                target_db_snapshot_identifier=args.names.snapshot_copy(args.role, args.restore.snapshot_name),
                kms_key_id=args.key_arn, copy_tags=False, tags=tags,
                opts=pulumi.ResourceOptions(parent=self, aliases=was, protect=life.protected,
                                            ignore_changes=["sourceDbSnapshotIdentifier"]),
            )
            restore_opts = {"snapshot_identifier": copy.db_snapshot_arn}
            storage = max(storage, args.restore.allocated_storage_gb)
        db = aws.rds.Instance(
            f"{base}-db",
            engine="postgres",
            engine_version=POSTGRES_ENGINE_VERSION,
            instance_class=args.size.db_instance_class,
            allocated_storage=storage,
            max_allocated_storage=max(args.size.db_max_storage_gb, storage),
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=args.key_arn,
            db_name=None if args.restore else DB_NAME,
            username=None if args.restore else DB_USER,
            password=password.result,
            db_subnet_group_name=subnet_group.name,
            parameter_group_name=parameters.name,
            vpc_security_group_ids=[args.security_group_id],
            publicly_accessible=False,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            backup_window="01:00-02:00",
            maintenance_window="sun:03:00-sun:04:00",
            copy_tags_to_snapshot=True,
            deletion_protection=not life.destroyable,
            skip_final_snapshot=not life.final_snapshot,
            final_snapshot_identifier=args.names.final_snapshot(args.role) if life.final_snapshot else None,
            auto_minor_version_upgrade=args.auto_minor_version_upgrade,
            iam_database_authentication_enabled=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.key_arn,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, aliases=was, protect=life.protected,
                                        ignore_changes=["snapshotIdentifier"] if args.restore else None),
            **restore_opts,
        )
        self.credentials = aws.secretsmanager.SecretVersion(
            f"{base}-db-master-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(
                pulumi.Output.all(password.result, db.address).apply(
                    lambda v: json.dumps({"engine": "postgres", "username": DB_USER, "password": v[0],
                                          "host": v[1], "port": DB_PORT, "dbname": DB_NAME})
                )
            ),
            opts=child,
        )
        self.identifier = db.identifier
        self.address = db.address
        self.secret_arn = secret.arn
        self.register_outputs({"identifier": db.identifier, "secretArn": secret.arn})
