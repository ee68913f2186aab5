"""Security rules for the databases and the keys and secrets that protect them.

What differs between phases (backup retention, which roles run Multi-AZ) is read from the phase
catalog, ``components.phases.PHASES``: the phase from the stack's name (as the program takes it) and
the role from the database's instance component, never from the database's own tags, which
``lifecycle-tags-agree`` holds to the same answers. No rule names a phase.
"""

from __future__ import annotations

from typing import Any, Mapping

from pulumi_policy import Severity

from components import tokens
from components.phases import Phase

from ..framework import (
    COMPLIANT,
    INSTANCE_TYPE,
    Finding,
    NotApplicable,
    Resource,
    ResourceResult,
    Rule,
    StackResult,
    StackView,
    Violated,
    as_days,
    flag,
    stack_phase,
)

RDS_INSTANCE = tokens.RDS_INSTANCE
KMS_KEY = tokens.KMS_KEY
SECRET = tokens.SECRET
AWS_DEFAULT_BACKUP_DAYS = 1  # what RDS keeps when backup_retention_period is not given
AWS_BACKUP_DAYS = range(0, 36)  # what RDS accepts (0 turns automated backups off)


def _customer_key(value: Any) -> bool:
    """A KMS key reference that is not an AWS-managed key (`alias/aws/...`)."""
    return isinstance(value, str) and bool(value) and not value.startswith("alias/aws/")


def _phase_of(db: Resource, config: Mapping[str, Any]) -> Phase | Violated:
    """The phase of the stack the database is in, from the stack's name (never from the database's own tags),
    or the message that says why it cannot be read."""
    phase = stack_phase(config)
    if phase is None:
        return Violated(f"database '{db.name}' is in a stack whose name says no phase, so its minimum cannot be read "
                        f"from the phase catalog: name the stack <phase> or <customer>-<phase>")
    return phase


def rds_encrypted_cmk(db: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if flag(db.props.get("storageEncrypted")) is not True:
        return Violated(f"database '{db.name}' is not encrypted at rest: set storage_encrypted=True and kms_key_id to "
                        f"the instance's customer-managed KMS key")
    if not _customer_key(db.props.get("kmsKeyId")):
        return Violated(f"database '{db.name}' is encrypted with the AWS-managed key: set kms_key_id to the instance's "
                        f"customer-managed KMS key")
    return COMPLIANT


def rds_not_public(db: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if flag(db.props.get("publiclyAccessible")) is True:
        return Violated(f"database '{db.name}' is publicly accessible: set publicly_accessible=False and reach it from "
                        f"the application's security group only")
    return COMPLIANT



def rds_backup_retention(db: Resource, config: Mapping[str, Any]) -> ResourceResult:
    phase = _phase_of(db, config)
    if isinstance(phase, Violated):
        return phase
    raw = db.props.get("backupRetentionPeriod")
    minimum = phase.backup_retention_days
    days = AWS_DEFAULT_BACKUP_DAYS if raw is None else as_days(raw)
    if days is None:
        return Violated(f"database '{db.name}': backup_retention_period {raw!r} is not a number of days: set it to "
                        f"{minimum} or more (RDS accepts {AWS_BACKUP_DAYS[0]} to {AWS_BACKUP_DAYS[-1]})")
    if days > AWS_BACKUP_DAYS[-1]:
        return Violated(f"database '{db.name}': backup_retention_period {days} is more than RDS accepts "
                        f"({AWS_BACKUP_DAYS[-1]} days at most): set it to between {minimum} and {AWS_BACKUP_DAYS[-1]}")
    if days < minimum:
        have = "no automated backups" if days <= 0 else f"{days} day(s) of backups" + (
            " (unset: AWS's default)" if raw is None else "")
        return Violated(f"database '{db.name}' keeps {have}; phase {phase.name} requires at least {minimum}: "
                        f"set backup_retention_period to {minimum} or more")
    return COMPLIANT


def rds_multi_az(view: StackView, config: Mapping[str, Any]) -> StackResult:
    """The role of a database is its instance component's (the Instance's registered `role`), never its tag."""
    phase = stack_phase(config)
    dbs = view.of_type(RDS_INSTANCE)
    if not dbs:
        return NotApplicable("the stack has no database")
    if phase is not None and not phase.multi_az_roles:
        return NotApplicable(f"phase {phase.name} runs every database in one availability zone")
    findings = []
    for db in dbs:
        owner = next((a for a in view.ancestors(db) if a.type == INSTANCE_TYPE), None)
        role = owner.props.get("role") if owner is not None else None
        if phase is None or owner is None:
            findings.append(Finding(db.urn, f"database '{db.name}' stands outside an instance component of a stack "
                                            f"with a phase, so whether it must be Multi-AZ cannot be read: build it "
                                            f"with the project's program", db.name))
        elif role in {r.value for r in phase.multi_az_roles} and flag(db.props.get("multiAz")) is not True:
            findings.append(Finding(db.urn, f"database '{db.name}' is the {role} database of phase {phase.name}, "
                                            f"which runs Multi-AZ: set multi_az=True", db.name))
    return findings


def rds_copy_tags_to_snapshot(db: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if flag(db.props.get("copyTagsToSnapshot")) is not True:
        return Violated(f"database '{db.name}' does not copy its tags to snapshots, so a snapshot loses its customer "
                        f"and phase: set copy_tags_to_snapshot=True")
    return COMPLIANT


def rds_no_auto_minor_upgrade(db: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if flag(db.props.get("autoMinorVersionUpgrade")) is not False:
        return Violated(f"database '{db.name}' is in a change-controlled stack but would take minor engine upgrades "
                        f"automatically: set auto_minor_version_upgrade=False and upgrade through an approved ECR")
    return COMPLIANT


def kms_rotation(key: Resource, config: Mapping[str, Any]) -> ResourceResult:
    spec = key.props.get("customerMasterKeySpec") or key.props.get("keySpec") or "SYMMETRIC_DEFAULT"
    usage = key.props.get("keyUsage") or "ENCRYPT_DECRYPT"
    if spec != "SYMMETRIC_DEFAULT" or usage != "ENCRYPT_DECRYPT":
        return NotApplicable(f"{spec} {usage} key: AWS rotates only symmetric encryption keys automatically")
    if flag(key.props.get("enableKeyRotation")) is not True:
        return Violated(f"KMS key '{key.name}' does not rotate: set enable_key_rotation=True")
    return COMPLIANT


def secrets_customer_key(secret: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if not _customer_key(secret.props.get("kmsKeyId")):
        return Violated(f"secret '{secret.name}' is encrypted with the AWS-managed key: set kms_key_id to the "
                        f"instance's customer-managed KMS key")
    return COMPLIANT


RULES: list[Rule] = [
    Rule("rds-encrypted-cmk", "security", "Databases are encrypted at rest with a customer-managed KMS key",
         rds_encrypted_cmk, types=(RDS_INSTANCE,), fsbp="RDS.3", checkov="CKV_AWS_16",
         severity=Severity.HIGH,
         remediation="Set storage_encrypted=True and kms_key_id to the instance's customer-managed KMS key"),
    Rule("rds-not-public", "security", "Databases are not publicly accessible",
         rds_not_public, types=(RDS_INSTANCE,), fsbp="RDS.2", checkov="CKV_AWS_17",
         severity=Severity.CRITICAL,
         remediation="Set publicly_accessible=False; reach the database from the application's security group only"),
    Rule("rds-backup-retention", "security",
         "Databases keep automated backups at least as long as their phase requires",
         rds_backup_retention, types=(RDS_INSTANCE,), fsbp="RDS.11", checkov="CKV_AWS_133",
         severity=Severity.MEDIUM,
         remediation="Set backup_retention_period to at least the phase's backup retention days"),
    Rule("rds-multi-az-prod-main", "security", "Databases of roles their phase runs Multi-AZ are Multi-AZ",
         rds_multi_az, scope="stack", fsbp="RDS.5", checkov="CKV_AWS_157",
         severity=Severity.MEDIUM,
         remediation="Set multi_az=True on the database of every role its phase runs Multi-AZ"),
    Rule("rds-copy-tags-to-snapshot", "security", "Databases copy their tags to their snapshots",
         rds_copy_tags_to_snapshot, types=(RDS_INSTANCE,), fsbp="RDS.17", checkov="CKV2_AWS_60",
         severity=Severity.LOW,
         remediation="Set copy_tags_to_snapshot=True on the database"),
    # Deliberately the opposite of FSBP RDS.13 and CKV_AWS_226 (automatic minor upgrades ON):
    # in a change-controlled stack an engine upgrade is a change of state that needs an ECR.
    Rule("rds-no-auto-minor-upgrade", "security",
         "Databases of change-controlled stacks take no automatic minor engine upgrades",
         rds_no_auto_minor_upgrade, types=(RDS_INSTANCE,), controlled_only=True,
         severity=Severity.MEDIUM,
         remediation="Set auto_minor_version_upgrade=False and upgrade the engine through an approved ECR"),
    Rule("kms-rotation", "security", "Customer-managed KMS keys rotate automatically",
         kms_rotation, types=(KMS_KEY,), fsbp="KMS.4", checkov="CKV_AWS_7",
         severity=Severity.MEDIUM,
         remediation="Set enable_key_rotation=True on the key"),
    Rule("secrets-customer-key", "security", "Secrets are encrypted with a customer-managed KMS key",
         secrets_customer_key, types=(SECRET,), checkov="CKV_AWS_149",
         severity=Severity.MEDIUM,
         remediation="Set kms_key_id on the secret to the instance's customer-managed KMS key"),
]
