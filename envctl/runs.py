"""Offline runs as the plan and check commands ask for them: the run options of the current run context,
every stack planned with its error kept, and a `--policy-config` file read strictly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from changecontrol import runcontext, strictyaml

from . import stackfile
from .errors import UsageError
from .offline import RunOptions, StackRun, StackRunError
from .planning import stacks_for


def run_options(review_only: bool = False) -> RunOptions:
    """The options of an offline run: the clock and example mode of the current run context."""
    context = runcontext.current()
    return RunOptions(now=context.now, example=context.example, review_only=review_only)


def plan_all(stacks_dir: Path, stacks: Sequence[str]) -> list[tuple[str, StackRun | None, StackRunError | None]]:
    """Plan each stack offline; a stack that fails carries its error instead of a run."""
    local = stacks_for(stackfile.program_dir(stacks_dir), stacks_dir, run_options(), list(stacks))
    results: list[tuple[str, StackRun | None, StackRunError | None]] = []
    for stack in stacks:
        try:
            results.append((stack, local.run(stack), None))
        except StackRunError as e:
            results.append((stack, None, e))
    return results


def read_policy_config(path: str) -> dict[str, Any]:
    """A `--policy-config` JSON file: an object, without duplicate keys. Raises UsageError."""
    try:
        config = strictyaml.loads_json(Path(path).read_bytes(), path)
    except OSError as e:
        raise UsageError(f"--policy-config {path}: not a readable JSON file ({e.strerror or e})") from None
    except strictyaml.StrictYamlError as e:
        raise UsageError(f"--policy-config {e}") from None
    if not isinstance(config, dict):
        raise UsageError(f"--policy-config {path}: expected a JSON object")
    return config
