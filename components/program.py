"""The Pulumi program: parse the stack's settings once, build its environment, export its outputs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from .environment import Environment, EnvironmentArgs
from .settings import StackSettings, load_settings


def stack_config() -> dict[str, Any]:
    """Every config value the engine gave this run (the SDK only offers per-key lookups)."""
    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def main() -> StackSettings:
    stack = pulumi.get_stack()
    settings = load_settings(
        stack, pulumi.get_project(), stack_config(), today=datetime.now(timezone.utc).date(), source=f"Pulumi.{stack}.yaml"
    )
    env = Environment(settings.env_name, EnvironmentArgs(settings=settings))
    for key, value in env.outputs.items():
        pulumi.export(key, value)
    return settings
