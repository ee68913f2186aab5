"""Cloning: the Pre-PROD snapshots a stack publishes, and the reference a clone reads them through."""

from __future__ import annotations

from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from .phases import CLONE_SOURCE_PHASE, Role
from .instance import RestoreFrom
from .settings import InvalidStackConfig, StackSettings

SNAPSHOTS_OUTPUT = "snapshots"


def publish_snapshots(settings: StackSettings, database_identifier: pulumi.Output[str], parent) -> dict[str, Any]:
    """One manual snapshot per configured name; a new one never touches the running database."""
    published: dict[str, Any] = {}
    for spec in settings.snapshots:
        tags = {**settings.tags_for(Role.SINGLE), "snapshot": spec.name, "snapshot-purpose": spec.purpose}
        snap = aws.rds.Snapshot(
            f"{settings.env_name}-snapshot-{spec.name}",
            db_instance_identifier=database_identifier,
            db_snapshot_identifier=f"{settings.env_name}-{spec.name}",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=parent, protect=settings.protected),
        )
        published[spec.name] = {
            "arn": snap.db_snapshot_arn, "id": snap.db_snapshot_identifier, "purpose": spec.purpose,
            "customer": settings.customer, "phase": settings.phase, "stack": settings.stack,
            "engineVersion": snap.engine_version, "kmsKeyId": snap.kms_key_id,
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
    if problems:
        raise InvalidStackConfig(settings.stack, problems)
    return snap


def restore_sources(settings: StackSettings, parent: pulumi.Resource) -> dict[Role, RestoreFrom]:
    """The roles this phase restores, each from the checked snapshot of the configured source."""
    restored = settings.phase_spec.restored_roles
    if not restored or settings.clone_from is None:
        return {}
    ref = pulumi.StackReference(
        f"{settings.env_name}-clone-source", stack_name=settings.clone_from.stack, opts=pulumi.ResourceOptions(parent=parent)
    )
    outputs = pulumi.Output.all(
        phase=ref.get_output("phase"), customer=ref.get_output("customer"), snapshots=ref.get_output(SNAPSHOTS_OUTPUT)
    )
    arn = outputs.apply(lambda o: check_source(settings, o)["arn"])
    return {role: RestoreFrom(settings.clone_from.snapshot, arn) for role in settings.roles if role in restored}
