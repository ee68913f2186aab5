"""The Pulumi program: parse the stack's settings once, refuse an unapproved state, build the environment."""

from __future__ import annotations

from typing import Any, Mapping

import pulumi
import pulumi_aws as aws
from pulumi.runtime import get_config_env, get_config_secret_keys_env

from changecontrol import clock, integrity, runcontext
from changecontrol.trust import OWN_ROOT, StackVerdict, TrustRoot, verify_stack

from . import engines
from .clone import (
    SnapshotsToPublish,
    check_iteration_account,
    read_clone_source,
    read_seed_source,
    restore_sources,
)
from .environment import Environment, EnvironmentArgs
from .instance import InstanceSpec
from .phases import DATABASE_ENGINE, ITERATION, SEED, Role
from .refs import Lifecycle, RestoreFrom
from .settings import InvalidStackConfig, StackSettings, load_settings


class UntrackedChange(pulumi.RunError):
    """A change-controlled stack asked to apply a desired state no verified ECR approves.

    Raised before the first resource is registered, so `pulumi up` without the policy pack, or
    with a policy config that disables a rule, still cannot apply it. A RunError: the CLI prints
    the message without a traceback."""

    def __init__(self, verdict: StackVerdict):
        self.verdict = verdict
        lines = [f"stack '{verdict.stack}' is change-controlled and this desired state is not approved; nothing was "
                 "registered:"]
        lines += [f"  - {p}" for p in verdict.problems]
        lines.append(f"  ({verdict.trust})")
        super().__init__("\n".join(lines))


def approval(stack: str, project: str, config: dict[str, Any], secret_keys: tuple[str, ...]) -> StackVerdict:
    """The program's own verdict on the state it is about to deploy: its files, its settings, its records."""
    context = runcontext.current()
    root = context.program_root or OWN_ROOT
    verdict = verify_stack(stack, project, config, secret_keys, root, context.stacks_dir or root,
                           TrustRoot(root, context.example))
    if verdict.controlled:
        found = integrity.problems(root)
        if found:
            verdict.problems += [f"what runs is not what the digest covers: {p}" for p in found]
    return verdict


def lifecycle_of(settings: StackSettings) -> Lifecycle:
    """How the stack's stateful resources live and end, as its phase (and an approved retirement) says."""
    return Lifecycle(protected=settings.protected, destroyable=settings.destroyable,
                     final_snapshot=settings.final_snapshot, keep_logs=settings.keep_logs)


# The tags that say which environment and role a database serves (the program sets them on every database).
IDENTIFYING_TAGS = ("customer", "phase", "role", "managed-by")


def running_engine_versions(settings: StackSettings, role: Role) -> dict[str, str]:
    """Identifier -> engine version of the databases that run now as the role's database (none before the first
    `up`). Read through the plural data source, which answers an empty list where the singular one would fail,
    filtered by the database's tags and then by its identifier (components.naming)."""
    tags = {k: v for k, v in settings.tags_for(role).items() if k in IDENTIFYING_TAGS}
    pattern = settings.names.database_identifier(role)
    found = [i for i in aws.rds.get_instances(tags=tags).instance_identifiers if pattern.match(i)]
    return {i: aws.rds.get_instance(db_instance_identifier=i).engine_version for i in found}


def engine_version(settings: StackSettings, role: Role, restored: str | None = None) -> str:
    """What the role's database is asked to run. Uncontrolled: the major alone (the provider does not diff it
    against the running minor, and AWS's minor upgrades are followed). Controlled: the pinned minor.

    An uncontrolled restore (a seed, an iteration) asks for `restored`, the snapshot's own version, or the newest
    minor of that major its database already runs (AWS's automatic minor upgrades since the restore). RDS
    restores a snapshot at its own version, and the provider's create then calls ModifyDBInstance with the
    configured engine_version; the major alone would ask for RDS's default minor, possibly lower than the
    snapshot's (a downgrade, refused), and a version below what runs would be a downgrade on the next `up`.
    Whatever carries the instance's tags can at most make an uncontrolled stack ask for a newer minor of the
    same major, which its automatic minor upgrades would install anyway.

    A controlled database that already runs a newer minor than the pin (AWS upgraded it: a forced or an automatic
    minor upgrade) is neither downgraded (RDS refuses it) nor followed silently: the stack is refused before
    anything is registered, as drift to be recorded by an ECR that moves the pin. Following it silently would
    let whatever runs under this instance's tags (a database made to look like it) choose the version, and
    upgrade the real database to a version nobody approved."""
    if settings.engine_version is None:
        if restored is None:
            return DATABASE_ENGINE.major
        newer = [v for v in running_engine_versions(settings, role).values()
                 if engines.major_of(v) == engines.major_of(restored) and engines.is_newer(v, restored)]
        return max(newer, key=engines.version_key, default=restored)
    pin = settings.engine_version
    newer = {i: v for i, v in running_engine_versions(settings, role).items() if engines.is_newer(v, pin)}
    if newer:
        found = ", ".join(f"{i} runs {v}" for i, v in sorted(newer.items()))
        raise InvalidStackConfig(settings.stack, [
            f"{settings.project}:engine_version: {pin} is older than what {settings.names.instance(role)}'s database "
            f"already runs ({found}; {DATABASE_ENGINE.engine}, found by its tags). RDS refuses a downgrade, and an "
            f"upgrade nobody approved is not made either: nothing was registered. If it is this stack's database, "
            f"AWS upgraded it: that is drift; record it with an ECR that moves engine_version to the version it "
            f"runs (once components/data/{engines.OFFERED_FILE.name} lists it). If it is not, take this instance's "
            f"tags off the other database."])
    return pin


def instance_spec(settings: StackSettings, role: Role, restore: RestoreFrom | None,
                  version: str | None = None) -> InstanceSpec:
    """What the stack says about one of its instances (`version`: the engine version asked, by default the
    settings' pin or the major)."""
    phase = settings.phase_spec
    return InstanceSpec(
        customer=settings.customer, phase=phase.name, role=role, release=settings.release,
        size=settings.size(role), names=settings.names, hostname=settings.hostname(role),
        backup_retention_days=phase.backup_retention_days, log_retention_days=phase.log_retention_days,
        tags=settings.tags_for(role), multi_az=role in phase.multi_az_roles,
        engine_version=version or settings.engine_version or DATABASE_ENGINE.major,
        auto_minor_version_upgrade=not phase.controlled, lifecycle=lifecycle_of(settings), restore=restore,
        log_groups_pinned=settings.log_groups_pinned,
    )


def restored_version(settings: StackSettings, restore: RestoreFrom | None,
                     seed: Mapping[str, Any] | None) -> str | None:
    """The engine version of the snapshot an uncontrolled role is restored from (None: not restored, or a clone,
    whose controlled stack pins its own)."""
    if restore is None or settings.engine_version is not None:
        return None
    if restore.kind == ITERATION and settings.iteration is not None:
        return settings.iteration.engine_version
    if restore.kind == SEED and seed is not None:
        return str(seed.get("engineVersion") or "") or None
    return None


def environment_args(settings: StackSettings, clone_snapshot: Mapping[str, Any] | None,
                     verdict: StackVerdict, versions: Mapping[Role, str] | None = None,
                     seed: Mapping[str, Any] | None = None) -> EnvironmentArgs:
    """The edge: the stack's settings become the Environment's args (and through them every component's)."""
    s = settings
    restore = restore_sources(s, clone_snapshot, seed)
    snapshots = SnapshotsToPublish(
        specs=s.snapshots, names=s.names, customer=s.customer, phase=s.phase, stack=s.stack,
        # Seeds are protected in any phase: every sandbox and demo of their release starts from them.
        tags=s.tags_for(Role.SINGLE), protected=s.protected or SEED in s.phase_spec.publishes,
    ) if s.phase_spec.publishes_snapshots else None
    return EnvironmentArgs(
        stack=s.stack, customer=s.customer, phase=s.phase_spec, release=s.release, region=s.region,
        zone=s.domain.zone, network=s.network, names=s.names,
        instances={role: instance_spec(s, role, restore.get(role), (versions or {}).get(role)) for role in s.roles},
        tags=s.tags_for(None), image_repository=s.image_repository, lifecycle=lifecycle_of(s),
        retiring=s.retire, expires_on=s.expires_on, change_record=s.change_record,
        clone_from={"stack": s.clone_from.stack, "snapshot": s.clone_from.snapshot} if s.clone_from else None,
        snapshots=snapshots, desired_state_digest=verdict.digest, approval=verdict.anchor,
    )


async def main() -> dict[str, Any]:
    """Entry point (`pulumi.run(main)`): everything that can refuse the stack runs before the first resource."""
    stack, project = pulumi.get_stack(), pulumi.get_project()
    config = dict(get_config_env())
    secret_keys = tuple(get_config_secret_keys_env())
    settings = load_settings(stack, project, config, today=clock.today(), source=f"Pulumi.{stack}.yaml")
    verdict = approval(stack, project, config, secret_keys)
    if not verdict.ok and verdict.controlled:
        if not runcontext.current().review_only:
            raise UntrackedChange(verdict)
        pulumi.log.warn(f"review only: {UntrackedChange(verdict)}")
    clone_snapshot = await read_clone_source(settings)
    seed = await read_seed_source(settings)
    check_iteration_account(settings)
    restore = restore_sources(settings, clone_snapshot, seed)
    versions = {role: engine_version(settings, role, restored_version(settings, restore.get(role), seed))
                for role in settings.roles}
    env = Environment(settings.env_name, environment_args(settings, clone_snapshot, verdict, versions, seed))
    return env.outputs.exports()
