"""seed-check: before `pulumi up` of a sandbox or a demo, may it start from the seed of its release?

The sibling of clone-check for the seeded phases (the catalog's `seeded_roles`). Is the seed snapshot of the
stack's release there, usable, encrypted, truly a seed (taken by the vendor's seed stack from its own
database: no customer's data, the only snapshot allowed to cross customers), of the stack's release and of the
major the catalog pins, and can each seeded instance copy it under its own key? The seed is found by the name
the stack pinned (`seed_from.snapshot`) or else among the seed stack's snapshots (their prefix comes from
:mod:`components.naming`) by its purpose and release tags; its identifier ends in a random part and is never
rebuilt here. The report is rendered by :mod:`.render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3

from components import engines, naming
from components.clone import SEED_RELEASE_TAG
from components.phases import DATABASE_ENGINE, PHASES, SEED, SEED_SOURCE_PHASE, Role
from components.settings import MANAGED_BY, StackSettings

from ..errors import UsageError
from .clone_check import (
    CheckRow,
    available_row,
    snapshot_key_row,
    snapshot_tags,
    target_key_row,
)
from .session import AwsClients, as_clients
from .targets import CheckedRows, utc_stamp, words

__all__ = ["NotASeededTarget", "SeedCheckReport", "seed_check"]

NO_CUSTOMER = "none"  # the customer tag of a stack that serves none (StackSettings.tags_for)


class NotASeededTarget(UsageError):
    """seed-check asked of a stack whose phase does not start from the seed (a usage error)."""


def seed_names(target: StackSettings) -> naming.Names:
    """The names of the seed stack the target reads its seed from."""
    assert target.seed_from is not None
    return naming.Names(naming.environment_name(None, SEED_SOURCE_PHASE, target.seed_from.stack_name))


def seeded_roles(target: StackSettings) -> tuple[Role, ...]:
    return tuple(r for r in target.roles if target.phase_spec.restore_kind(r) == SEED)


def require_seeded_target(target: StackSettings) -> None:
    if not target.phase_spec.seeded or target.seed_from is None:
        seeded = ", ".join(p.name for p in PHASES.values() if p.seeded)
        raise NotASeededTarget(
            f"stack '{target.stack}' is a {words(target.phase)} stack, which does not start from the seed (its data: "
            f"{target.phase_spec.data}); only {seeded} stacks do")


@dataclass(frozen=True)
class SeedCheckReport(CheckedRows):
    """Whether a seeded stack may start from the seed of its release, check by check."""

    stack: str
    customer: str | None
    phase: str
    release: str
    source_stack: str
    snapshot_identifier: str
    region: str
    checked_at: str  # UTC, ISO 8601
    rows: tuple[CheckRow, ...]


def seed_check(aws: boto3.Session | AwsClients, target: StackSettings, *, now: datetime | None = None) -> SeedCheckReport:
    """Check, before `pulumi up` of a seeded stack, the seed of its release against the live account.

    A failed check is a row, never an exception; a stack that is not seeded raises :class:`NotASeededTarget`.
    AWS errors other than "not found" propagate."""
    require_seeded_target(target)
    assert target.seed_from is not None
    aws = as_clients(aws)
    region = aws.region_for(target.region)
    rds, kms = aws.client("rds", target.region), aws.client("kms", target.region)
    found = _find_seed(rds, target)
    snapshot = found[0] if len(found) == 1 else None
    identifier = snapshot["DBSnapshotIdentifier"] if snapshot else f"{seed_names(target).published_snapshot_prefix}*"
    rows = [_exists_row(target, region, snapshot, [s["DBSnapshotIdentifier"] for s in found])]
    if snapshot is not None:
        tags = snapshot_tags(rds, snapshot)
        rows += [
            _available_row(target, snapshot, region),
            _encrypted_row(target, snapshot),
            _is_seed_row(target, snapshot, tags),
            _release_row(target, tags),
            _engine_row(target, snapshot),
        ]
        if snapshot.get("Encrypted") and snapshot.get("KmsKeyId"):
            rows.append(_seed_key_row(kms, target, snapshot["KmsKeyId"]))
        rows += [target_key_row(kms, target, role) for role in seeded_roles(target)]
    return SeedCheckReport(
        stack=target.stack, customer=target.customer, phase=target.phase, release=target.release,
        source_stack=target.seed_from.stack, snapshot_identifier=identifier, region=region,
        checked_at=utc_stamp(now), rows=tuple(rows),
    )


def _find_seed(rds: Any, target: StackSettings) -> list[dict[str, Any]]:
    """The seed stack's snapshots that are the one named in `seed_from.snapshot`, or else the seed of the stack's
    release (by its tags); more than one is ambiguous, and reported so."""
    assert target.seed_from is not None
    prefix, name = seed_names(target).published_snapshot_prefix, target.seed_from.snapshot
    matches = []
    for page in rds.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual"):
        for snap in page["DBSnapshots"]:
            if not snap["DBSnapshotIdentifier"].startswith(prefix):
                continue
            tags = snapshot_tags(rds, snap)
            if (tags.get("snapshot") == name if name else
                    tags.get("snapshot-purpose") == SEED and tags.get(SEED_RELEASE_TAG) == target.release):
                matches.append(snap)
    return matches


def _publish_seed(target: StackSettings) -> str:
    """The remedy for a missing or unfit seed: take one in the seed stack, once its database runs the release."""
    assert target.seed_from is not None
    src = target.seed_from.stack_name
    return (f"once the {SEED_SOURCE_PHASE} database runs release {target.release}, add {{name: "
            f"release-{target.release.replace('.', '-')}, purpose: {SEED}, release: {target.release}}} to "
            f"{target.project}:snapshots in Pulumi.{src}.yaml and pulumi up -s {src}")


def _exists_row(target: StackSettings, region: str, snapshot: dict[str, Any] | None, found: list[str]) -> CheckRow:
    assert target.seed_from is not None
    name = f"seed of release {target.release} exists"
    what = (f"snapshot '{target.seed_from.snapshot}'" if target.seed_from.snapshot
            else f"a snapshot tagged snapshot-purpose={SEED}, {SEED_RELEASE_TAG}={target.release}")
    if snapshot is not None:
        return CheckRow(name, True, f"{snapshot['DBSnapshotIdentifier']} found in {region}")
    if len(found) > 1:
        return CheckRow(name, False, f"{len(found)} snapshots of {target.seed_from.stack} are {what}: "
                        f"{', '.join(sorted(found))}",
                        f"name the one to start from: set {target.project}:seed_from.snapshot in Pulumi.{target.stack}.yaml")
    return CheckRow(name, False, f"no snapshot of {target.seed_from.stack} in {region} is {what}",
                    _publish_seed(target))


def _available_row(target: StackSettings, snapshot: dict[str, Any], region: str) -> CheckRow:
    return available_row("seed available", snapshot, region, f"envctl seed-check {target.stack}",
                         f"the seed is unusable; {_publish_seed(target)} (a seed under a new name)")


def _encrypted_row(target: StackSettings, snapshot: dict[str, Any]) -> CheckRow:
    if snapshot.get("Encrypted"):
        return CheckRow("seed encrypted", True, f"encrypted with {snapshot.get('KmsKeyId', 'a KMS key')}")
    return CheckRow("seed encrypted", False, f"{snapshot['DBSnapshotIdentifier']} is not encrypted",
                    f"do not start from it: the program always encrypts the seed database, so it was not taken by the "
                    f"seed stack; {_publish_seed(target)}")


def _is_seed_row(target: StackSettings, snapshot: dict[str, Any], tags: dict[str, str]) -> CheckRow:
    """Only a seed crosses customers: taken for the seeds by the seed stack, from its own database, for no customer."""
    name = "a seed: no customer's data"
    source = seed_names(target)
    database = snapshot.get("DBInstanceIdentifier", "")
    problems = []
    if tags.get("snapshot-purpose") != SEED:
        problems.append(f"tagged snapshot-purpose={tags.get('snapshot-purpose') or '(none)'}, not {SEED}")
    if tags.get("phase") != SEED_SOURCE_PHASE:
        problems.append(f"tagged phase={tags.get('phase') or '(none)'}, not {SEED_SOURCE_PHASE}")
    if tags.get("customer") != NO_CUSTOMER:
        problems.append(f"tagged customer={tags.get('customer') or '(none)'}: a seed serves no customer")
    if tags.get("managed-by") != MANAGED_BY:
        problems.append(f"tagged managed-by={tags.get('managed-by') or '(none)'}, not {MANAGED_BY} (taken by hand?)")
    if not source.database_identifier(Role.SINGLE).match(database):
        problems.append(f"taken from database '{database}', not {source.instance(Role.SINGLE)}-db-*")
    if not problems:
        return CheckRow(name, True, f"taken from {database} by {target.seed_from.stack if target.seed_from else ''}, "
                        f"snapshot-purpose={SEED}, customer={NO_CUSTOMER}")
    return CheckRow(name, False, "; ".join(problems),
                    f"do not start from it: only a seed may cross customers; find out who created or re-tagged "
                    f"{snapshot['DBSnapshotIdentifier']} (CloudTrail), and {_publish_seed(target)}")


def _release_row(target: StackSettings, tags: dict[str, str]) -> CheckRow:
    name = f"holds release {target.release}"
    held = tags.get(SEED_RELEASE_TAG)
    if held == target.release:
        return CheckRow(name, True, f"{SEED_RELEASE_TAG}={held}")
    return CheckRow(name, False, f"{SEED_RELEASE_TAG}={held or '(none)'}: the seed of another release, whose base "
                    f"configuration does not match {target.release}", _publish_seed(target))


def _engine_row(target: StackSettings, snapshot: dict[str, Any]) -> CheckRow:
    """The seeded database is restored at the seed's own version (components.program.engine_version)."""
    name = "engine version restorable"
    version = str(snapshot.get("EngineVersion") or "")
    if version and engines.major_of(version) == DATABASE_ENGINE.major:
        return CheckRow(name, True, f"{DATABASE_ENGINE.engine} {version}; {target.stack} restores it at that version "
                        "and follows its minor upgrades")
    return CheckRow(name, False, f"{DATABASE_ENGINE.engine} {version or '(none)'}: not the major {DATABASE_ENGINE.major} "
                    "the phase catalog pins", f"do not start from it; {_publish_seed(target)}")


def _seed_key_row(kms: Any, target: StackSettings, key_id: str) -> CheckRow:
    assert target.seed_from is not None
    return snapshot_key_row(kms, "seed's key usable", "seed", key_id, target.region,
                            f"the seed is lost; {_publish_seed(target)}", target.seed_from.stack_name)
