"""Cloning: the Pre-PROD snapshots a stack publishes, and the reference a clone reads them through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from . import engines
from .database import SNAPSHOT_TIMEOUTS, snapshot_suffix
from .naming import Names
from .phases import CLONE_SOURCE_PHASE, DATABASE_ENGINE, Role
from .refs import RestoreFrom
from .settings import InvalidStackConfig, SnapshotSpec, StackSettings

SNAPSHOTS_OUTPUT = "snapshots"


@dataclass(frozen=True)
class SnapshotsToPublish:
    """Pre-PROD's snapshots to take, and what each says about itself (built at the edge from the settings)."""

    specs: tuple[SnapshotSpec, ...]
    names: Names
    customer: str | None
    phase: str
    stack: str
    tags: Mapping[str, str] = field(default_factory=dict)  # the single instance's
    protected: bool = True


def publish_snapshots(what: SnapshotsToPublish, database_identifier: pulumi.Output[str], parent) -> dict[str, Any]:
    """One manual snapshot per configured name.

    Taking one is not free for the running database: on a Single-AZ instance (Pre-PROD's), AWS documents
    that creating a DB snapshot briefly suspends I/O, from a few seconds to a few minutes depending on the
    size and class of the instance (Multi-AZ instances take it from the standby). Take one outside working
    hours of whoever builds the configuration."""
    published: dict[str, Any] = {}
    for spec in what.specs:
        tags = {**what.tags, "snapshot": spec.name, "snapshot-purpose": spec.purpose}
        logical = f"{what.names.env}-snapshot-{spec.name}"
        # A pinned identifier (taken before identifiers were unique) is kept; a new snapshot's ends in a suffix
        # replaced with its database (a new database means a new snapshot), so a retake never collides.
        identifier = spec.identifier or snapshot_suffix(
            f"{logical}-id", {"database": database_identifier}, pulumi.ResourceOptions(parent=parent),
        ).apply(lambda suffix, name=spec.name: what.names.published_snapshot(name, suffix))
        snap = aws.rds.Snapshot(
            logical,
            db_instance_identifier=database_identifier,
            db_snapshot_identifier=identifier,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=parent, protect=what.protected, custom_timeouts=SNAPSHOT_TIMEOUTS),
        )
        # The snapshot resource does not report when it was taken; read it back once it exists.
        taken = aws.rds.get_snapshot_output(
            db_snapshot_identifier=snap.db_snapshot_identifier, opts=pulumi.InvokeOutputOptions(parent=parent)
        ).snapshot_create_time
        published[spec.name] = {
            "arn": snap.db_snapshot_arn, "id": snap.db_snapshot_identifier, "purpose": spec.purpose,
            "customer": what.customer, "phase": what.phase, "stack": what.stack,
            "engineVersion": snap.engine_version, "kmsKeyId": snap.kms_key_id, "createdAt": taken,
            "allocatedStorage": snap.allocated_storage,
        }
    return published


def check_source(settings: StackSettings, outputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """Refuse a source that is not this customer's Pre-PROD or lacks a fitting snapshot."""
    assert settings.clone_from is not None
    src = settings.clone_from
    key = f"{settings.project}:clone_from"
    snapshots = outputs.get(SNAPSHOTS_OUTPUT) or {}
    snap = snapshots.get(src.snapshot)
    problems = []
    if not outputs.get("phase"):
        problems.append(f"{key}.stack: '{src.stack}' has no outputs: it does not exist or was never deployed")
    elif outputs.get("phase") != CLONE_SOURCE_PHASE:
        problems.append(f"{key}.stack: '{src.stack}' is a {outputs.get('phase') or 'unknown'} stack, not {CLONE_SOURCE_PHASE}")
    elif outputs.get("customer") != settings.customer:
        problems.append(f"{key}.stack: '{src.stack}' belongs to customer '{outputs.get('customer')}', not '{settings.customer}'")
    elif snap is None:
        names = ", ".join(sorted(snapshots)) or "none"
        problems.append(f"{key}.snapshot: '{src.snapshot}' is not published by '{src.stack}' (it publishes: {names})")
    elif snap.get("purpose") != settings.phase or snap.get("customer") != settings.customer:
        problems.append(
            f"{key}.snapshot: '{src.snapshot}' was taken for {snap.get('purpose')}, not {settings.phase}: "
            f"take a snapshot with purpose {settings.phase} in {src.stack}"
        )
    else:
        problems += restore_version_problems(settings, snap.get("engineVersion"))
    if problems:
        raise InvalidStackConfig(settings.stack, problems)
    return snap


def restore_version_problems(settings: StackSettings, snapshot_version: str | None) -> list[str]:
    """A restore never asks for a downgrade: RDS restores a snapshot at its own engine version, and the provider
    then asks ModifyDBInstance for the configured one, which RDS refuses when it is lower (or another major)."""
    pin = settings.engine_version
    if not snapshot_version or pin is None:
        return []
    src = settings.clone_from
    assert src is not None
    where = f"snapshot '{src.snapshot}' of {src.stack}"
    if engines.major_of(snapshot_version) != DATABASE_ENGINE.major:
        return [f"{settings.project}:engine_version: {where} is {DATABASE_ENGINE.engine} {snapshot_version}, not "
                f"{DATABASE_ENGINE.major} (the catalog's major): a clone is never upgraded across majors on restore; "
                f"take a snapshot of a {DATABASE_ENGINE.major} database"]
    if engines.is_newer(snapshot_version, pin):
        return [f"{settings.project}:engine_version: {where} runs {snapshot_version}, newer than this stack's pin "
                f"{pin}; RDS restores it at {snapshot_version} and refuses a downgrade to {pin}: move engine_version "
                f"to {snapshot_version} (or a newer offered version) through an ECR, then pulumi up again"]
    return []


async def read_clone_source(settings: StackSettings) -> Mapping[str, Any] | None:
    """Read and check the configured Pre-PROD snapshot before anything is registered.

    Awaited by the program's entry point, so a wrong source stops the run with a clear message
    before the first resource; the stack reference is only a read.
    """
    if not settings.phase_spec.may_clone or settings.clone_from is None:
        return None
    src = settings.clone_from
    if src.snapshot_arn is not None:
        # Pinned after the clone was made: checked by the settings, no longer read from the source. The
        # account is only known to the engine: a snapshot of another account is refused here.
        account = src.snapshot_arn.split(":")[4]
        caller = aws.get_caller_identity().account_id
        if account != caller:
            raise InvalidStackConfig(settings.stack, [
                f"{settings.project}:clone_from.snapshot_arn: the snapshot is in account {account}, not this stack's "
                f"account {caller}: a clone is restored from its own account's {CLONE_SOURCE_PHASE} snapshot"])
        return {"arn": src.snapshot_arn, "allocatedStorage": src.allocated_storage, "purpose": settings.phase,
                "customer": settings.customer}
    organization = pulumi.get_organization()  # the engine's (None offline, where the backend is not known)
    source_org = src.stack.split("/", 1)[0]
    if organization and source_org != organization:
        raise InvalidStackConfig(settings.stack, [
            f"{settings.project}:clone_from.stack: '{src.stack}' is in organization '{source_org}', not this stack's "
            f"organization '{organization}': a clone is made from the same organization's {CLONE_SOURCE_PHASE}"])
    ref = pulumi.StackReference(f"{settings.env_name}-clone-source", stack_name=settings.clone_from.stack)
    outputs: dict[str, Any] = {}
    for name in ("phase", "customer", SNAPSHOTS_OUTPUT):
        details = await ref.get_output_details(name)
        outputs[name] = details.value if details.value is not None else details.secret_value
    return check_source(settings, outputs)


def restore_sources(settings: StackSettings, snapshot: Mapping[str, Any] | None) -> dict[Role, RestoreFrom]:
    """The roles this phase restores, each from the checked snapshot of the configured source."""
    if snapshot is None or settings.clone_from is None:
        return {}
    restored = settings.phase_spec.restored_roles
    storage = int(snapshot.get("allocatedStorage") or 0)
    copies = settings.clone_from.copies
    return {role: RestoreFrom(settings.clone_from.snapshot, snapshot["arn"], storage, copies.get(role))
            for role in settings.roles if role in restored}
