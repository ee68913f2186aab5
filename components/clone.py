"""Restores: the snapshots a stack publishes (Pre-PROD's for clones, the seed stack's per release), the references
a clone or a seeded stack reads them through, and the migration iteration a migration stack names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from . import engines
from .database import SNAPSHOT_TIMEOUTS, snapshot_suffix
from .naming import Names
from .phases import (
    CLONE,
    CLONE_SOURCE_PHASE,
    DATABASE_ENGINE,
    ITERATION,
    SEED,
    SEED_SOURCE_PHASE,
    Role,
)
from .refs import RestoreFrom
from .settings import InvalidStackConfig, SnapshotSpec, StackSettings

SNAPSHOTS_OUTPUT = "snapshots"
SEED_RELEASE_TAG = "snapshot-release"


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
        if spec.release:
            tags[SEED_RELEASE_TAG] = spec.release  # a seed says which release it holds (seed-check reads it)
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
            # Only a seed may be restored into another customer's environment: it holds no customer's data.
            "seed": spec.purpose == SEED, "release": spec.release,
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


def restore_sources(settings: StackSettings, snapshot: Mapping[str, Any] | None,
                    seed: Mapping[str, Any] | None = None) -> dict[Role, RestoreFrom]:
    """The roles this phase restores, each from where the phase catalog says: the checked snapshot of the
    configured clone source, the checked seed of the stack's release, or the stack's current iteration."""
    phase, found = settings.phase_spec, {}
    for role in settings.roles:
        kind = phase.restore_kind(role)
        if kind == CLONE and snapshot is not None and settings.clone_from is not None:
            found[role] = RestoreFrom(settings.clone_from.snapshot, snapshot["arn"],
                                      int(snapshot.get("allocatedStorage") or 0), settings.clone_from.copies.get(role),
                                      kind=CLONE, customer=snapshot.get("customer"), stack=settings.clone_from.stack)
        elif kind == SEED and seed is not None and settings.seed_from is not None:
            found[role] = RestoreFrom(seed["name"], seed["arn"], int(seed.get("allocatedStorage") or 0), kind=SEED,
                                      customer=None, stack=settings.seed_from.stack, release=seed.get("release"))
        elif kind == ITERATION and settings.iteration is not None:
            it = settings.iteration
            found[role] = RestoreFrom(it.label, it.snapshot_arn, it.allocated_storage, kind=ITERATION,
                                      customer=iteration_customer(settings))
    return found


def iteration_customer(settings: StackSettings) -> str | None:
    """Whose migration snapshot the iteration names, by its identifier (`<customer>-migration-<label>`): what the
    pack compares with the environment's customer, never the stack's own word for it."""
    assert settings.iteration is not None
    identifier = settings.iteration.snapshot_arn.split(":snapshot:", 1)[1]
    return settings.customer if identifier.startswith(settings.names.iteration_snapshot_prefix) else None


def check_seed(settings: StackSettings, outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The seed snapshot of the stack's release that the seed stack publishes; refuse a missing seed, a seed of
    another release, and anything that is not a seed (a customer's snapshot never crosses customers)."""
    assert settings.seed_from is not None
    src = settings.seed_from
    key = f"{settings.project}:seed_from"
    snapshots = outputs.get(SNAPSHOTS_OUTPUT) or {}
    seeds = {name: snap for name, snap in snapshots.items() if snap.get("seed") is True}
    releases = ", ".join(f"{n} ({s.get('release')})" for n, s in sorted(seeds.items())) or "none"
    problems = []
    if not outputs.get("phase"):
        problems.append(f"{key}.stack: '{src.stack}' has no outputs: it does not exist or was never deployed")
    elif outputs.get("phase") != SEED_SOURCE_PHASE:
        problems.append(f"{key}.stack: '{src.stack}' is a {outputs.get('phase') or 'unknown'} stack, not {SEED_SOURCE_PHASE}")
    elif src.snapshot is not None:
        snap = snapshots.get(src.snapshot)
        if snap is None:
            problems.append(f"{key}.snapshot: '{src.snapshot}' is not published by '{src.stack}' (its seeds: {releases})")
        elif snap.get("seed") is not True or snap.get("customer"):
            problems.append(f"{key}.snapshot: '{src.snapshot}' of '{src.stack}' is not a seed (it was taken for "
                            f"{snap.get('purpose')}, customer {snap.get('customer')}): only a seed may start an "
                            f"environment of another customer")
        elif snap.get("release") != settings.release:
            problems.append(f"{key}.snapshot: '{src.snapshot}' is the seed of release {snap.get('release')}, not of "
                            f"this stack's release {settings.release}: name the seed of {settings.release}, or leave "
                            "snapshot out to take it by release")
        else:
            return _same_region(settings, key, {**snap, "name": src.snapshot})
    else:
        mine = [(name, snap) for name, snap in seeds.items() if snap.get("release") == settings.release
                and not snap.get("customer")]
        if len(mine) == 1:
            return _same_region(settings, key, {**mine[0][1], "name": mine[0][0]})
        problems.append(f"{key}.stack: '{src.stack}' publishes no seed of release {settings.release} (its seeds: "
                        f"{releases}): add {{name, purpose: {SEED}, release: {settings.release}}} to its snapshots "
                        f"once the {SEED_SOURCE_PHASE} database runs {settings.release}, pulumi up -s "
                        f"{src.stack_name}, then pulumi up this stack")
    raise InvalidStackConfig(settings.stack, problems)


def _same_region(settings: StackSettings, key: str, seed: dict[str, Any]) -> dict[str, Any]:
    """A seed is copied within its region (the program makes no cross-region copy): one of another region is refused
    here, not half-way through `pulumi up`."""
    region = str(seed.get("arn") or "").split(":")[3:4]
    if region and region[0] != settings.region:
        raise InvalidStackConfig(settings.stack, [
            f"{key}: the seed '{seed['name']}' of release {seed.get('release')} is in region {region[0]}, not this "
            f"stack's region {settings.region}: sandboxes and demos start from a seed of their own region; run a "
            f"{SEED_SOURCE_PHASE} stack there"])
    return seed


async def read_seed_source(settings: StackSettings) -> Mapping[str, Any] | None:
    """Read and check the seed of the stack's release before anything is registered (as read_clone_source)."""
    if not settings.phase_spec.seeded or settings.seed_from is None:
        return None
    src = settings.seed_from
    organization = pulumi.get_organization()
    source_org = src.stack.split("/", 1)[0]
    if organization and source_org != organization:
        raise InvalidStackConfig(settings.stack, [
            f"{settings.project}:seed_from.stack: '{src.stack}' is in organization '{source_org}', not this stack's "
            f"organization '{organization}': seeds come from the same organization's {SEED_SOURCE_PHASE} stack"])
    ref = pulumi.StackReference(f"{settings.env_name}-seed-source", stack_name=src.stack)
    outputs: dict[str, Any] = {}
    for name in ("phase", SNAPSHOTS_OUTPUT):
        details = await ref.get_output_details(name)
        outputs[name] = details.value if details.value is not None else details.secret_value
    return check_seed(settings, outputs)


def check_iteration_account(settings: StackSettings) -> None:
    """An iteration is restored from a snapshot in the stack's own account (only the engine knows which)."""
    if settings.iteration is None or not settings.phase_spec.iterated:
        return
    account = settings.iteration.snapshot_arn.split(":")[4]
    caller = aws.get_caller_identity().account_id
    if account != caller:
        raise InvalidStackConfig(settings.stack, [
            f"{settings.project}:iteration.snapshot_arn: the snapshot is in account {account}, not this stack's "
            f"account {caller}: an iteration is restored from the migration tooling's snapshot in the stack's own "
            "account"])
