"""The Pulumi program: parse the stack's settings once, build its environment, export its outputs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from .clone import read_clone_source
from .environment import Environment, EnvironmentArgs
from .settings import load_settings


def stack_config() -> dict[str, Any]:
    """Every config value the engine gave this run (the SDK only offers per-key lookups)."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


async def main() -> dict[str, Any]:
    """Entry point (`pulumi.run(main)`): everything that can refuse the stack runs before the first resource."""
    stack = pulumi.get_stack()
    settings = load_settings(
        stack, pulumi.get_project(), stack_config(), today=datetime.now(timezone.utc).date(), source=f"Pulumi.{stack}.yaml"
    )
    clone_snapshot = await read_clone_source(settings)
    env = Environment(settings.env_name, EnvironmentArgs(settings=settings, clone_snapshot=clone_snapshot))
    return env.outputs
