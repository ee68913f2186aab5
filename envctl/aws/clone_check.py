"""clone-check: before `pulumi up` of a VAL or PROD stack, may it clone its Pre-PROD snapshot?

Is the snapshot the stack clones from there, usable, encrypted, this customer's, taken for this
phase, of an engine version the stack may restore, and can each restored instance make its own copy
of it? The snapshot is found by the ARN the stack pinned, or else among the customer's Pre-PROD
snapshots (:mod:`components.naming` gives their prefix) by its `snapshot` tag: its identifier ends in a
random part, never rebuilt here. The report is rendered by :mod:`.render`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from components import engines, naming
from components.naming import Names
from components.phases import CLONE_SOURCE_PHASE, DATABASE_ENGINE, Role
from components.settings import MANAGED_BY, StackSettings

from .session import AwsClients, as_clients, error_code
from .targets import (
    CheckedRows,
    NotACloneTarget,
    require_clone_target,
    restored_roles,
    utc_stamp,
    words,
)

__all__ = ["CheckRow", "CloneCheckReport", "NotACloneTarget", "available_row", "clone_check", "snapshot_key_row",
           "snapshot_tags", "target_key_row"]

WAITING_STATES = ("creating", "copying", "pending")


# --- names, from the one naming module ------------------------------------------------------------


def source_snapshot_prefix(target: StackSettings) -> str:
    """What every snapshot the customer's Pre-PROD publishes starts with."""
    require_clone_target(target)
    assert target.customer is not None
    return naming.clone_source(target.customer).published_snapshot_prefix


def copy_identifier(target: StackSettings, role: Role) -> str | None:
    """The restored instance's own copy, where the stack pinned it (new copies get a unique identifier)."""
    assert target.clone_from is not None
    return target.clone_from.copies.get(role)


def key_alias(settings: StackSettings, role: Role) -> str:
    """The alias of an instance's own KMS key."""
    return Names.key_alias(settings.names.key(role))


def source_database_pattern(customer: str) -> re.Pattern[str]:
    """Pre-PROD's database identifier: `<customer>-preprod-single-db`, with Pulumi's random suffix."""
    return naming.clone_source(customer).database_identifier(Role.SINGLE)


# --- the check ------------------------------------------------------------------------------------



@dataclass(frozen=True)
class CheckRow:
    """One check: what was checked, whether it passed, what was found, and what to do if not."""

    name: str
    passed: bool
    detail: str
    remedy: str | None = None


@dataclass(frozen=True)
class CloneCheckReport(CheckedRows):
    """Whether a VAL or PROD stack may be cloned from its Pre-PROD snapshot, check by check."""

    stack: str
    customer: str
    phase: str
    source_stack: str
    snapshot: str
    snapshot_identifier: str
    region: str
    checked_at: str  # UTC, ISO 8601
    rows: tuple[CheckRow, ...]


def clone_check(
    aws: boto3.Session | AwsClients, target: StackSettings, *, now: datetime | None = None
) -> CloneCheckReport:
    """Check, before `pulumi up` of a VAL or PROD stack, that its Pre-PROD snapshot may be cloned.

    A failed check is a row of the report, never an exception; only a stack whose phase starts
    empty (sandbox, migration, Pre-PROD, demo, community-dev) raises :class:`NotACloneTarget`.
    AWS errors other than "not found" propagate.
    """
    require_clone_target(target)
    assert target.clone_from is not None and target.customer is not None
    aws = as_clients(aws)
    region = aws.region_for(target.region)
    rds, kms = aws.client("rds", target.region), aws.client("kms", target.region)
    checked_at = utc_stamp(now)
    found = _find_snapshot(rds, target)
    snapshot = found[0] if len(found) == 1 else None
    identifier = snapshot["DBSnapshotIdentifier"] if snapshot else (target.clone_from.snapshot_arn or "").split(
        ":snapshot:")[-1] or f"{source_snapshot_prefix(target)}{target.clone_from.snapshot}-*"
    rows = [_exists_row(target, identifier, region, snapshot, [s["DBSnapshotIdentifier"] for s in found])]
    if snapshot is not None:
        tags = snapshot_tags(rds, snapshot)
        rows += [
            _available_row(target, snapshot, region),
            _encrypted_row(target, snapshot),
            _engine_version_row(target, snapshot),
            _customer_row(target, snapshot, tags),
            _source_database_row(target, snapshot, tags),
            _published_row(target, tags),
            _purpose_row(target, tags),
        ]
        if snapshot.get("Encrypted") and snapshot.get("KmsKeyId"):
            rows.append(_source_key_row(kms, target, snapshot["KmsKeyId"]))
        for role in restored_roles(target):
            rows.append(_copy_row(rds, target, role, snapshot, region))
            rows.append(target_key_row(kms, target, role))
    return CloneCheckReport(
        stack=target.stack, customer=target.customer, phase=target.phase, source_stack=target.clone_from.stack,
        snapshot=target.clone_from.snapshot, snapshot_identifier=identifier, region=region, checked_at=checked_at,
        rows=tuple(rows),
    )


def _find_snapshot(rds: Any, target: StackSettings) -> list[dict[str, Any]]:
    """The snapshot the stack clones from: the pinned ARN's, or the customer's Pre-PROD snapshot tagged with
    its name (more than one is ambiguous, and reported so)."""
    assert target.clone_from is not None
    if target.clone_from.snapshot_arn:
        found = describe_snapshot(rds, target.clone_from.snapshot_arn.split(":snapshot:", 1)[1])
        return [found] if found else []
    prefix, name = source_snapshot_prefix(target), target.clone_from.snapshot
    matches = []
    for page in rds.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual"):
        for snap in page["DBSnapshots"]:
            if snap["DBSnapshotIdentifier"].startswith(prefix) and snapshot_tags(rds, snap).get("snapshot") == name:
                matches.append(snap)
    return matches


def describe_snapshot(rds: Any, identifier: str) -> dict[str, Any] | None:
    try:
        found = rds.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"]
    except ClientError as e:
        if error_code(e) == "DBSnapshotNotFound":
            return None
        raise
    return found[0] if found else None


def snapshot_tags(rds: Any, snapshot: dict[str, Any]) -> dict[str, str]:
    tag_list = snapshot.get("TagList")
    if tag_list is None:
        tag_list = rds.list_tags_for_resource(ResourceName=snapshot["DBSnapshotArn"])["TagList"]
    return {t["Key"]: t["Value"] for t in tag_list}


def _take_snapshot(target: StackSettings, name: str | None = None) -> str:
    """The remedy for a missing or unfit snapshot: take one in Pre-PROD, through its stack."""
    assert target.clone_from is not None
    src = target.clone_from
    name = name or src.snapshot
    remedy = (
        f"take the snapshot in {words(CLONE_SOURCE_PHASE)}: add {{name: {name}, purpose: {target.phase}}} to "
        f"{target.project}:snapshots in Pulumi.{src.stack_name}.yaml, draft an ECR, pulumi up -s {src.stack_name}"
    )
    if name != src.snapshot:
        remedy += f"; then set {target.project}:clone_from.snapshot to {name} in Pulumi.{target.stack}.yaml"
    return remedy


def _stop_foreign(target: StackSettings, identifier: str) -> str:
    return (
        f"do not clone: {words(target.phase)} of {target.customer} is made only from {target.customer}'s own "
        f"{words(CLONE_SOURCE_PHASE)}; find out who created or re-tagged snapshot {identifier} (CloudTrail) and "
        f"{_take_snapshot(target, f'{target.phase}-<date>')}"
    )


def _exists_row(
    target: StackSettings, identifier: str, region: str, snapshot: dict[str, Any] | None, found: list[str]
) -> CheckRow:
    assert target.clone_from is not None
    if snapshot is not None:
        return CheckRow("snapshot exists", True, f"{identifier} found in {region}")
    if len(found) > 1:
        return CheckRow(
            "snapshot exists", False,
            f"{len(found)} snapshots of {target.customer}'s {words(CLONE_SOURCE_PHASE)} are tagged "
            f"snapshot={target.clone_from.snapshot}: {', '.join(sorted(found))}",
            f"pin the one to clone: set {target.project}:clone_from.snapshot_arn (and allocated_storage) to the ARN "
            f"{target.clone_from.stack_name} exports for '{target.clone_from.snapshot}' in Pulumi.{target.stack}.yaml",
        )
    return CheckRow(
        "snapshot exists", False,
        f"no DB snapshot {identifier} in {region}: {target.clone_from.stack} has not published "
        f"snapshot '{target.clone_from.snapshot}'",
        _take_snapshot(target),
    )


def available_row(name: str, snapshot: dict[str, Any], region: str, again: str, unusable: str) -> CheckRow:
    """Is the snapshot available: a snapshot still being made is waited for (then `again`: the command to run once
    more), any other state makes it unusable (`unusable`: what to do instead)."""
    status = snapshot.get("Status", "unknown")
    identifier = snapshot["DBSnapshotIdentifier"]
    if status == "available":
        return CheckRow(name, True, "status available")
    if status in WAITING_STATES:
        remedy = (
            f"wait until it is available: aws rds wait db-snapshot-available --db-snapshot-identifier {identifier} "
            f"--region {region}; then run {again} again"
        )
    else:
        remedy = unusable
    return CheckRow(name, False, f"status {status}, not available", remedy)


def _available_row(target: StackSettings, snapshot: dict[str, Any], region: str) -> CheckRow:
    return available_row("snapshot available", snapshot, region, f"envctl clone-check {target.stack}",
                         f"the snapshot is unusable; {_take_snapshot(target, f'{target.phase}-<date>')}")


def _encrypted_row(target: StackSettings, snapshot: dict[str, Any]) -> CheckRow:
    assert target.clone_from is not None
    if snapshot.get("Encrypted"):
        return CheckRow("snapshot encrypted", True, f"encrypted with {snapshot.get('KmsKeyId', 'a KMS key')}")
    return CheckRow(
        "snapshot encrypted", False,
        f"{snapshot['DBSnapshotIdentifier']} is not encrypted: its database was not encrypted at rest",
        f"do not clone it: an unencrypted copy of {target.customer}'s data must not spread; find out why "
        f"{words(CLONE_SOURCE_PHASE)}'s database is unencrypted (the program always encrypts it: "
        f"pulumi preview -s {target.clone_from.stack_name} shows the drift), fix it through an ECR and take a new "
        "snapshot",
    )


def _engine_version_row(target: StackSettings, snapshot: dict[str, Any]) -> CheckRow:
    """A restore never asks for a downgrade nor another major: RDS restores the snapshot at its own version and
    the program then asks for the stack's pin."""
    name = "engine version restorable"
    version = str(snapshot.get("EngineVersion") or "")
    pin = target.engine_version or DATABASE_ENGINE.major
    if not version:
        return CheckRow(name, False, "the snapshot reports no engine version", _take_snapshot(target, f"{target.phase}-<date>"))
    if engines.major_of(version) != DATABASE_ENGINE.major:
        return CheckRow(
            name, False, f"{DATABASE_ENGINE.engine} {version}: another major than {DATABASE_ENGINE.major}, which the "
            "phase catalog pins", f"do not clone it; {_take_snapshot(target, f'{target.phase}-<date>')}")
    if target.engine_version and engines.is_newer(version, pin):
        return CheckRow(
            name, False, f"{DATABASE_ENGINE.engine} {version}, newer than {target.stack}'s pin {pin}: the restore "
            f"would ask RDS for a downgrade",
            f"move {target.project}:engine_version to {version} (or a newer offered version) in "
            f"Pulumi.{target.stack}.yaml through an ECR, then run envctl clone-check {target.stack} again")
    return CheckRow(name, True, f"{DATABASE_ENGINE.engine} {version}; {target.stack} asks for {pin}")


def _customer_row(target: StackSettings, snapshot: dict[str, Any], tags: dict[str, str]) -> CheckRow:
    owner = tags.get("customer")
    name = f"snapshot is {target.customer}'s"
    if owner == target.customer:
        return CheckRow(name, True, f"tagged customer={owner}")
    return CheckRow(
        name, False, f"tagged customer={owner or '(none)'}, but {target.stack} serves {target.customer}",
        _stop_foreign(target, snapshot["DBSnapshotIdentifier"]),
    )


def _source_database_row(target: StackSettings, snapshot: dict[str, Any], tags: dict[str, str]) -> CheckRow:
    assert target.customer is not None
    name = f"taken from {target.customer}'s {words(CLONE_SOURCE_PHASE)} database"
    database = snapshot.get("DBInstanceIdentifier", "")
    problems = []
    if tags.get("phase") != CLONE_SOURCE_PHASE:
        problems.append(f"tagged phase={tags.get('phase') or '(none)'}, not {CLONE_SOURCE_PHASE}")
    if tags.get("role") != Role.SINGLE.value:
        problems.append(f"tagged role={tags.get('role') or '(none)'}, not {Role.SINGLE.value}")
    if not source_database_pattern(target.customer).match(database):
        problems.append(
            f"taken from database '{database}', not {naming.clone_source(target.customer).instance(Role.SINGLE)}-db-*"
        )
    if not problems:
        return CheckRow(name, True, f"taken from {database}, tagged phase={CLONE_SOURCE_PHASE}")
    return CheckRow(name, False, "; ".join(problems), _stop_foreign(target, snapshot["DBSnapshotIdentifier"]))


def _published_row(target: StackSettings, tags: dict[str, str]) -> CheckRow:
    assert target.clone_from is not None
    name = f"published by the {words(CLONE_SOURCE_PHASE)} stack"
    problems = []
    if tags.get("snapshot") != target.clone_from.snapshot:
        problems.append(f"tagged snapshot={tags.get('snapshot') or '(none)'}, not {target.clone_from.snapshot}")
    if tags.get("managed-by") != MANAGED_BY:
        problems.append(f"tagged managed-by={tags.get('managed-by') or '(none)'}, not {MANAGED_BY} (taken by hand?)")
    if not problems:
        return CheckRow(name, True, f"snapshot={target.clone_from.snapshot}, managed-by={MANAGED_BY}")
    return CheckRow(
        name, False, "; ".join(problems),
        "a snapshot taken by hand has no ECR behind it: " + _take_snapshot(target, f"{target.phase}-<date>"),
    )


def _purpose_row(target: StackSettings, tags: dict[str, str]) -> CheckRow:
    purpose = tags.get("snapshot-purpose")
    name = f"taken for {words(target.phase)}"
    if purpose == target.phase:
        return CheckRow(name, True, f"snapshot-purpose={purpose}")
    return CheckRow(
        name, False, f"snapshot-purpose={purpose or '(none)'}: it was taken for {words(purpose or 'nothing')}, "
        f"not {words(target.phase)}",
        _take_snapshot(target, f"{target.phase}-<date>"),
    )


def key_state(kms: Any, key_id: str) -> tuple[str | None, str]:
    """(KeyState or None if there is no such key, the key's ARN or the id asked for)."""
    try:
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except ClientError as e:
        if error_code(e) == "NotFoundException":
            return None, key_id
        raise
    return meta.get("KeyState", "Enabled" if meta.get("Enabled") else "Disabled"), meta.get("Arn", key_id)


def key_remedy(state: str, arn: str, region: str, whose: str) -> str:
    if state == "PendingDeletion":
        return (f"through an ECR of {whose}: aws kms cancel-key-deletion --key-id {arn} --region {region}, "
                f"then aws kms enable-key --key-id {arn} --region {region}")
    return f"through an ECR of {whose}: aws kms enable-key --key-id {arn} --region {region}"


def snapshot_key_row(kms: Any, name: str, what: str, key_id: str, region: str, lost: str, owner: str) -> CheckRow:
    """Can the key a snapshot (`what`: how the report calls it) is encrypted under decrypt it: missing, the snapshot
    is `lost`; disabled or pending deletion, the remedy goes through an ECR of the `owner` stack."""
    state, arn = key_state(kms, key_id)
    if state == "Enabled":
        return CheckRow(name, True, f"{arn} is enabled")
    if state is None:
        return CheckRow(name, False, f"key {key_id} does not exist (in this account and region): the {what} cannot be "
                        "decrypted", lost)
    where = key_id.split(":")[3] if key_id.startswith("arn:") else region
    return CheckRow(name, False, f"{arn} is {state}: the {what} cannot be copied", key_remedy(state, arn, where, owner))


def _source_key_row(kms: Any, target: StackSettings, key_id: str) -> CheckRow:
    assert target.clone_from is not None
    return snapshot_key_row(kms, "snapshot's key usable", "snapshot", key_id, target.region,
                            f"the snapshot is lost for cloning; {_take_snapshot(target, f'{target.phase}-<date>')}",
                            target.clone_from.stack_name)


def _same_source(copy: dict[str, Any], source: dict[str, Any]) -> bool:
    """Whether an existing snapshot is a copy of the source (AWS names the source only across regions)."""
    declared = copy.get("SourceDBSnapshotIdentifier")
    if declared:
        return declared in (source.get("DBSnapshotArn"), source.get("DBSnapshotIdentifier"))

    def taken(s: dict[str, Any]) -> Any:
        return s.get("OriginalSnapshotCreateTime") or s.get("SnapshotCreateTime")

    return copy.get("DbiResourceId") == source.get("DbiResourceId") and taken(copy) == taken(source)


def _copy_row(rds: Any, target: StackSettings, role: Role, source: dict[str, Any], region: str) -> CheckRow:
    identifier = copy_identifier(target, role)
    if identifier is None:
        return CheckRow(f"{role.value}: copy can be made", True,
                        f"pulumi up -s {target.stack} copies the snapshot under {key_alias(target, role)}, with an "
                        "identifier of its own that ends in a random part (nothing to collide with)")
    name = f"{role.value}: copy {identifier} can be made"
    existing = describe_snapshot(rds, identifier)
    taken = existing and (existing.get("OriginalSnapshotCreateTime") or existing.get("SnapshotCreateTime"))
    if existing is None:
        return CheckRow(name, True,
                        f"free; pulumi up -s {target.stack} copies the snapshot under {key_alias(target, role)}")
    if _same_source(existing, source):
        return CheckRow(name, True,
                        f"exists already as a copy of {source['DBSnapshotIdentifier']}; pulumi up reuses it")
    return CheckRow(
        name, False,
        f"{identifier} exists but is not a copy of {source['DBSnapshotIdentifier']} (taken from "
        f"{existing.get('DBInstanceIdentifier', '?')} at {taken})",
        f"if no database of {target.stack} was restored from it, delete the stale copy through an ECR: "
        f"aws rds delete-db-snapshot --db-snapshot-identifier {identifier} --region {region}; "
        f"otherwise {_take_snapshot(target, f'{target.phase}-<date>')}",
    )


def target_key_row(kms: Any, target: StackSettings, role: Role) -> CheckRow:
    alias = key_alias(target, role)
    name = f"{role.value}: its own key usable"
    state, arn = key_state(kms, alias)
    if state is None:
        return CheckRow(name, True, f"{alias} does not exist yet; pulumi up -s {target.stack} creates it")
    if state == "Enabled":
        return CheckRow(name, True, f"{alias} ({arn}) is enabled")
    return CheckRow(name, False, f"{alias} ({arn}) is {state}: the copy cannot be encrypted under it",
                    key_remedy(state, arn, target.region, target.stack))
