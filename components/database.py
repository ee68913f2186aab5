"""An instance's PostgreSQL database: master secret, subnet and parameter groups, its restore copy, the RDS instance."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from . import tokens
from .naming import SNAPSHOT_SUFFIX_LENGTH, Names
from .phases import DATABASE_ENGINE, Role, Size
from .refs import Lifecycle, RestoreFrom

DB_PORT = 5432
DB_NAME = "edc"
DB_USER = "edc_admin"

# gp3 storage of RDS for PostgreSQL: 20 GiB to 64 TiB. Storage autoscaling needs a maximum at least 10% above the
# allocated storage (RDS refuses less: "Invalid max storage size"); AWS recommends 26%, so that reaching the
# maximum raises no event at once.
GP3_MIN_GB, GP3_MAX_GB = 20, 65536
AUTOSCALING_MIN_HEADROOM = 0.10
AUTOSCALING_HEADROOM = 0.26

# Long operations on databases of hundreds of GB outlast the provider's defaults (snapshot and snapshot copy:
# 20 minutes to create; instance: 40 to create, 80 to update, 60 to delete). Each timeout below says why.
SNAPSHOT_TIMEOUTS = pulumi.CustomTimeouts(create="4h")  # a first snapshot copies every block of the volume
COPY_TIMEOUTS = pulumi.CustomTimeouts(create="6h")  # a copy under another key re-encrypts the whole snapshot
RESTORED_TIMEOUTS = pulumi.CustomTimeouts(
    create="6h",  # restore, then the provider's ModifyDBInstance (engine version, storage) on the full volume
    update="6h",  # a minor upgrade or storage change of a restored volume of hundreds of GB
    delete="3h",  # the final snapshot is taken before the instance is deleted
)
# Every other database (Pre-PROD's grows to hundreds of GB by hand) updates and deletes as long; it is created empty.
DATABASE_TIMEOUTS = pulumi.CustomTimeouts(update=RESTORED_TIMEOUTS.update, delete=RESTORED_TIMEOUTS.delete)


def max_storage_gb(size: Size, allocated_gb: int) -> int:
    """The autoscaling ceiling: the size's, or 26% above what is allocated (a restore may be larger than the
    size's storage), within gp3's maximum."""
    return min(GP3_MAX_GB, max(size.db_max_storage_gb, math.ceil(allocated_gb * (1 + AUTOSCALING_HEADROOM))))


def snapshot_suffix(name: str, keepers: Mapping[str, pulumi.Input[str]], opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """The random part of a snapshot identifier, kept in state and replaced exactly when `keepers` change. The
    caller passes the inputs of this program that replace the snapshot it names, so that a snapshot taken anew
    never collides with the one before."""
    return random.RandomString(name, length=SNAPSHOT_SUFFIX_LENGTH, special=False, upper=False,
                               keepers=dict(keepers), opts=opts).result


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
    engine_version: str = DATABASE_ENGINE.major  # a pinned minor (controlled) or the major alone
    auto_minor_version_upgrade: bool = False  # upgrades are changes like any other
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    restore: RestoreFrom | None = None

    def __post_init__(self) -> None:
        if self.backup_retention_days < 1:
            raise ValueError("a database keeps backups for at least one day")
        if self.engine_version.split(".")[0] != DATABASE_ENGINE.major:
            raise ValueError(f"the database runs {DATABASE_ENGINE.engine} {DATABASE_ENGINE.major}, "
                             f"not {self.engine_version}")


class Database(pulumi.ComponentResource):
    """The instance's database, restored from its own copy of a snapshot where the phase restores one (a Pre-PROD
    snapshot, the seed of its release, or the current migration iteration)."""

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
            f"{base}-db-params", family=DATABASE_ENGINE.family, description=f"{base}: TLS only, connections logged",
            parameters=[{"name": "rds.force_ssl", "value": "1"}, {"name": "log_connections", "value": "1"}],
            tags=tags, opts=child,
        )
        restore_opts: dict = {}
        timeouts = DATABASE_TIMEOUTS
        storage = args.size.db_storage_gb
        if args.restore is not None:
            restore = args.restore
            # Our own copy, re-encrypted under this instance's key. A clone's and a seed's are pinned (with the
            # database), so that a newer Pre-PROD snapshot or seed never replaces a running database. An iteration's
            # are not: the migration instance shows the current iteration and nothing else, so a new iteration (a
            # new label: a new copy identifier, hence a new copy) replaces the copy and the database with it; what
            # was changed in the previous one is not kept, as the onboarding guide says.
            copy_id = restore.copy_identifier or snapshot_suffix(
                f"{base}-db-source-id", {"snapshot": restore.snapshot_name, "key": args.key_arn}, child,
            ).apply(lambda suffix: args.names.snapshot_copy(args.role, restore.snapshot_name, suffix))
            copy = aws.rds.SnapshotCopy(
                f"{base}-db-source",
                source_db_snapshot_identifier=restore.snapshot_arn,
                target_db_snapshot_identifier=copy_id,
                kms_key_id=args.key_arn, copy_tags=False, tags=tags,
                opts=pulumi.ResourceOptions(parent=self, aliases=was, protect=life.protected,
                                            ignore_changes=["sourceDbSnapshotIdentifier"] if restore.pinned else None,
                                            custom_timeouts=COPY_TIMEOUTS),
            )
            restore_opts = {"snapshot_identifier": copy.db_snapshot_arn}
            storage = max(storage, restore.allocated_storage_gb)
            timeouts = RESTORED_TIMEOUTS
        final_id = None
        if life.final_snapshot:
            # Replaced with the inputs of this program that can replace the database (its key, its restore source;
            # the other inputs that force a new database, such as its engine, user name and encryption, are
            # constants here), so a new database's final snapshot never takes the name of an earlier one's. A
            # replacement forced from outside those keepers would reuse the name: the delete then fails on the
            # existing snapshot instead of overwriting it.
            keepers = {"key": args.key_arn, "restoredFrom": args.restore.snapshot_name if args.restore else "none"}
            final_id = snapshot_suffix(f"{base}-db-final-id", keepers, child).apply(
                lambda suffix: args.names.final_snapshot(args.role, suffix))
        db = aws.rds.Instance(
            f"{base}-db",
            engine=DATABASE_ENGINE.engine,
            engine_version=args.engine_version,
            instance_class=args.size.db_instance_class,
            allocated_storage=storage,
            max_allocated_storage=max_storage_gb(args.size, storage),
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
            final_snapshot_identifier=final_id,
            auto_minor_version_upgrade=args.auto_minor_version_upgrade,
            iam_database_authentication_enabled=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=args.key_arn,
            ca_cert_identifier="rds-ca-rsa2048-g1",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, aliases=was, protect=life.protected,
                                        ignore_changes=["snapshotIdentifier"] if args.restore and args.restore.pinned
                                        else None,
                                        custom_timeouts=timeouts),
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
        self.engine_version_actual = db.engine_version_actual
        self.address = db.address
        self.secret_arn = secret.arn
        self.register_outputs({"identifier": db.identifier, "secretArn": secret.arn})
