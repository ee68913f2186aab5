"""Offline runs as the plan and check commands ask for them: the run options of the current run context,
every stack planned with its error kept, and a `--policy-config` file read strictly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from changecontrol import runcontext, strictyaml

from . import planning, stackfile
from .errors import UsageError
from .offline import RunOptions, StackRun, StackRunError
from .progress import Progress


def run_options(review_only: bool = False) -> RunOptions:
    """The options of an offline run: the clock and example mode of the current run context."""
    context = runcontext.current()
    return RunOptions(now=context.now, example=context.example, review_only=review_only)


def plan_all(stacks_dir: Path, stacks: Sequence[str]) -> list[tuple[str, StackRun | None, StackRunError | None]]:
    """Plan each stack offline; a stack that fails carries its error instead of a run. On a terminal, progress
    on stderr for more than one stack."""
    return planning.plan_all(stackfile.program_dir(stacks_dir), stacks_dir, run_options(), list(stacks),
                             progress=Progress())


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
