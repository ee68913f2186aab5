"""Security rules for the databases and the keys and secrets that protect them.

What differs between phases (backup retention, which roles run Multi-AZ) is read from the phase
catalog, ``components.phases.PHASES``, by the database's own `phase` and `role` tags; no rule
names a phase.
"""

from __future__ import annotations

from typing import Any, Mapping

from components import tokens
from components.phases import PHASES, Phase

from ..framework import Resource, Rule

RDS_INSTANCE = tokens.RDS_INSTANCE
KMS_KEY = tokens.KMS_KEY
SECRET = tokens.SECRET


def _customer_key(value: Any) -> bool:
    """A KMS key reference that is not an AWS-managed key (`alias/aws/...`)."""
    return isinstance(value, str) and bool(value) and not value.startswith("alias/aws/")


def _phase_of(db: Resource) -> Phase | str:
    """The database's phase from the catalog, or the message that says how to make it readable."""
    phase = db.tags.get("phase")
    if phase in PHASES:
        return PHASES[phase]
    carries = "no phase tag" if phase is None else f"the unknown phase tag {phase!r}"
    return (f"database '{db.name}' carries {carries}, so its minimum cannot be read from the phase catalog: "
            f"tag it with its phase (one of {', '.join(PHASES)})")


def rds_encrypted_cmk(db: Resource, config: Mapping[str, Any]) -> str | None:
    if db.props.get("storageEncrypted") is not True:
        return (f"database '{db.name}' is not encrypted at rest: set storage_encrypted=True and kms_key_id to "
                f"the instance's customer-managed KMS key")
    if not _customer_key(db.props.get("kmsKeyId")):
        return (f"database '{db.name}' is encrypted with the AWS-managed key: set kms_key_id to the instance's "
                f"customer-managed KMS key")
    return None


def rds_not_public(db: Resource, config: Mapping[str, Any]) -> str | None:
    if db.props.get("publiclyAccessible") is True:
        return (f"database '{db.name}' is publicly accessible: set publicly_accessible=False and reach it from "
                f"the application's security group only")
    return None


def rds_backup_retention(db: Resource, config: Mapping[str, Any]) -> str | None:
    phase = _phase_of(db)
    if isinstance(phase, str):
        return phase
    days = db.props.get("backupRetentionPeriod")
    minimum = phase.backup_retention_days
    if not isinstance(days, (int, float)) or days < minimum:
        have = "no backup retention period" if days is None else f"{int(days)} day(s) of backups"
        return (f"database '{db.name}' keeps {have}; phase {phase.name} requires at least {minimum}: "
                f"set backup_retention_period to {minimum} or more")
    return None


def rds_multi_az(db: Resource, config: Mapping[str, Any]) -> str | None:
    phase = _phase_of(db)
    if isinstance(phase, str):
        return phase
    role = db.tags.get("role")
    if role in phase.multi_az_roles and db.props.get("multiAz") is not True:
        return (f"database '{db.name}' is the {role} database of phase {phase.name}, which runs Multi-AZ: "
                f"set multi_az=True")
    return None


def rds_copy_tags_to_snapshot(db: Resource, config: Mapping[str, Any]) -> str | None:
    if db.props.get("copyTagsToSnapshot") is not True:
        return (f"database '{db.name}' does not copy its tags to snapshots, so a snapshot loses its customer and "
                f"phase: set copy_tags_to_snapshot=True")
    return None


def rds_no_auto_minor_upgrade(db: Resource, config: Mapping[str, Any]) -> str | None:
    if db.props.get("autoMinorVersionUpgrade") is not False:
        return (f"database '{db.name}' is in a change-controlled stack but would take minor engine upgrades "
                f"automatically: set auto_minor_version_upgrade=False and upgrade through an approved ECR")
    return None


def kms_rotation(key: Resource, config: Mapping[str, Any]) -> str | None:
    spec = key.props.get("customerMasterKeySpec") or key.props.get("keySpec") or "SYMMETRIC_DEFAULT"
    usage = key.props.get("keyUsage") or "ENCRYPT_DECRYPT"
    if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
        return None  # AWS rotates only symmetric encryption keys automatically
    if key.props.get("enableKeyRotation") is not True:
        return f"KMS key '{key.name}' does not rotate: set enable_key_rotation=True"
    return None


def secrets_customer_key(secret: Resource, config: Mapping[str, Any]) -> str | None:
    if not _customer_key(secret.props.get("kmsKeyId")):
        return (f"secret '{secret.name}' is encrypted with the AWS-managed key: set kms_key_id to the instance's "
                f"customer-managed KMS key")
    return None


RULES: list[Rule] = [
    Rule("rds-encrypted-cmk", "security", "Databases are encrypted at rest with a customer-managed KMS key",
         rds_encrypted_cmk, types=(RDS_INSTANCE,), fsbp="RDS.3", checkov="CKV_AWS_16"),
    Rule("rds-not-public", "security", "Databases are not publicly accessible",
         rds_not_public, types=(RDS_INSTANCE,), fsbp="RDS.2", checkov="CKV_AWS_17"),
    Rule("rds-backup-retention", "security",
         "Databases keep automated backups at least as long as their phase requires",
         rds_backup_retention, types=(RDS_INSTANCE,), fsbp="RDS.11", checkov="CKV_AWS_133"),
    Rule("rds-multi-az-prod-main", "security", "Databases of roles their phase runs Multi-AZ are Multi-AZ",
         rds_multi_az, types=(RDS_INSTANCE,), fsbp="RDS.5", checkov="CKV_AWS_157"),
    Rule("rds-copy-tags-to-snapshot", "security", "Databases copy their tags to their snapshots",
         rds_copy_tags_to_snapshot, types=(RDS_INSTANCE,), fsbp="RDS.17", checkov="CKV2_AWS_60"),
    # Deliberately the opposite of FSBP RDS.13 and CKV_AWS_226 (automatic minor upgrades ON):
    # in a change-controlled stack an engine upgrade is a change of state that needs an ECR.
    Rule("rds-no-auto-minor-upgrade", "security",
         "Databases of change-controlled stacks take no automatic minor engine upgrades",
         rds_no_auto_minor_upgrade, types=(RDS_INSTANCE,), controlled_only=True),
    Rule("kms-rotation", "security", "Customer-managed KMS keys rotate automatically",
         kms_rotation, types=(KMS_KEY,), fsbp="KMS.4", checkov="CKV_AWS_7"),
    Rule("secrets-customer-key", "security", "Secrets are encrypted with a customer-managed KMS key",
         secrets_customer_key, types=(SECRET,), checkov="CKV_AWS_149"),
]
