"""The Pulumi program: parse the stack's settings once, refuse an unapproved state, build the environment."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.runtime import get_config_env, get_config_secret_keys_env

from changecontrol import clock, integrity, runcontext
from changecontrol.trust import OWN_ROOT, StackVerdict, TrustRoot, verify_stack

from .clone import read_clone_source
from .environment import Environment, EnvironmentArgs
from .settings import load_settings


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
    env = Environment(settings.env_name, EnvironmentArgs(settings=settings, clone_snapshot=clone_snapshot,
                                                         desired_state_digest=verdict.digest,
                                                         approval=verdict.anchor))
    return env.outputs.exports()
