"""The Pulumi program: parse the stack's settings once, refuse an unapproved state, build the environment."""

from __future__ import annotations

from typing import Any, Mapping

import pulumi
from pulumi.runtime import get_config_env, get_config_secret_keys_env

from changecontrol import clock, integrity, runcontext
from changecontrol.trust import OWN_ROOT, StackVerdict, TrustRoot, verify_stack

from .clone import SnapshotsToPublish, read_clone_source, restore_sources
from .environment import Environment, EnvironmentArgs
from .instance import InstanceSpec
from .phases import Role
from .refs import Lifecycle, RestoreFrom
from .settings import StackSettings, load_settings


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


def instance_spec(settings: StackSettings, role: Role, restore: RestoreFrom | None) -> InstanceSpec:
    """What the stack says about one of its instances."""
    phase = settings.phase_spec
    return InstanceSpec(
        customer=settings.customer, phase=phase.name, role=role, release=settings.release,
        size=settings.size(role), names=settings.names, hostname=settings.hostname(role),
        backup_retention_days=phase.backup_retention_days, log_retention_days=phase.log_retention_days,
        tags=settings.tags_for(role), multi_az=role in phase.multi_az_roles,
        auto_minor_version_upgrade=not phase.controlled, lifecycle=lifecycle_of(settings), restore=restore,
    )


def environment_args(settings: StackSettings, clone_snapshot: Mapping[str, Any] | None,
                     verdict: StackVerdict) -> EnvironmentArgs:
    """The edge: the stack's settings become the Environment's args (and through them every component's)."""
    s = settings
    restore = restore_sources(s, clone_snapshot)
    snapshots = SnapshotsToPublish(
        specs=s.snapshots, names=s.names, customer=s.customer, phase=s.phase, stack=s.stack,
        tags=s.tags_for(Role.SINGLE), protected=s.protected,
    ) if s.phase_spec.publishes_snapshots else None
    return EnvironmentArgs(
        stack=s.stack, customer=s.customer, phase=s.phase_spec, release=s.release, region=s.region,
        zone=s.domain.zone, network=s.network, names=s.names,
        instances={role: instance_spec(s, role, restore.get(role)) for role in s.roles},
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
    env = Environment(settings.env_name, environment_args(settings, clone_snapshot, verdict))
    return env.outputs.exports()
