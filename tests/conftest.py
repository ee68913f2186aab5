"""Shared fixtures: the shipped stacks planned once, stacks planned from edited stack files; altering a plan."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from envctl.mocks import Registration
from envctl.offline import LocalStacks, StackRun, run_stack
from policies.framework import ENVIRONMENT_TYPE

PROJECT = Path(__file__).resolve().parent.parent
NS = "clinspark-environments"
SHIPPED = ("sandbox", "migration", "preprod", "val", "prod", "demo", "community-dev")


@pytest.fixture(scope="session")
def shipped() -> dict[str, StackRun]:
    """Every shipped stack planned offline once (VAL and PROD resolve Pre-PROD locally).

    Shared by every test of the session: never change a StackRun or Registration of it in place;
    alter copies (:func:`altered`, ``dataclasses.replace``, ``copy.deepcopy``).
    """
    local = LocalStacks(PROJECT)
    return {stack: local.run(stack) for stack in SHIPPED}


def stack_config(stack: str) -> dict[str, Any]:
    """The `config:` mapping of a shipped stack file, as YAML data."""
    return dict(yaml.safe_load((PROJECT / f"Pulumi.{stack}.yaml").read_text())["config"])


@pytest.fixture
def stacks_dir(tmp_path: Path) -> Path:
    """A directory with copies of every shipped stack file, for edits that never touch the repo."""
    for stack in SHIPPED:
        shutil.copy(PROJECT / f"Pulumi.{stack}.yaml", tmp_path)
    return tmp_path


def write_stack(directory: Path, stack: str, config: dict[str, Any]) -> Path:
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


@pytest.fixture
def plan_edited(stacks_dir: Path) -> Callable[..., StackRun]:
    """Plan `stack` after `edit(config)` changed a copy of its stack file (the edit may return None)."""

    def plan(stack: str, edit: Callable[[dict[str, Any]], Any] | None = None, *, base: str | None = None) -> StackRun:
        config = stack_config(base or stack)
        if edit is not None:
            edit(config)
        write_stack(stacks_dir, stack, config)
        return run_stack(PROJECT, stack, stacks_dir=stacks_dir)

    return plan


# --------------------------------------------------------------------------------------------
# Altering a plan: always on copies, so that `shipped` stays as planned
# --------------------------------------------------------------------------------------------
def altered(run: StackRun, match: Callable[[Registration], bool], **changes: Any) -> StackRun:
    """The run with every matching registration changed; `inputs`/`outputs` changes are merged."""
    regs, matched = [], False
    for reg in run.registrations:
        if match(reg):
            matched = True
            update = dict(changes)
            if "inputs" in update:
                update["inputs"] = {**reg.inputs, **update["inputs"]}
            if "outputs" in update:
                update["outputs"] = {**(reg.outputs or {}), **update["outputs"]}
            reg = replace(reg, **update)
        regs.append(reg)
    assert matched, "the alteration matched nothing"
    return replace(run, registrations=regs)


def of_type(typ: str) -> Callable[[Registration], bool]:
    return lambda reg: reg.type == typ


def environment(run: StackRun) -> Registration:
    (env,) = run.by_type(ENVIRONMENT_TYPE)
    return env
