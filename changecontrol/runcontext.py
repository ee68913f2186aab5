"""What an in-process caller tells the program and the pack about the run, and nothing else can.

envctl's offline engine and the tests run the Pulumi program and the policy pack inside their own
process; they say here which day it is (the one clock), whether the shipped example's keys are
trusted (example mode), where a fleet's stack files and records are, and whether an unapproved
state is reported rather than refused (``envctl check``, so that every other rule still runs).

A context variable is the only way in: no stack setting, policy config, file or environment
variable reaches it, so a real ``pulumi up`` always runs with the defaults (the real date, the
real signers, refusal of an unapproved state).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunContext:
    now: datetime | None = None  # a fixed clock (timezone-aware); None: the real time
    example: Any = None  # changecontrol.trust.Example: the shipped example's keys and date are trusted
    stacks_dir: Path | None = None  # where the stack files, records and waivers are (a fleet directory)
    review_only: bool = False  # report an unapproved state instead of refusing it (envctl check)
    program_root: Path | None = None  # the tree the running program stands for, when envctl plans a checked tree's
    # byte-identical program with its own loaded modules (default: the directory the program's files are in)


_CURRENT: ContextVar[RunContext] = ContextVar("clinspark_run_context", default=RunContext())


def current() -> RunContext:
    return _CURRENT.get()


@contextmanager
def using(context: RunContext) -> Iterator[RunContext]:
    """Run a block (an offline plan, a policy evaluation, a test) under `context`."""
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)


def set_for_this_context(context: RunContext) -> None:
    """Set `context` for the rest of the current context (a fresh `contextvars.Context().run`)."""
    _CURRENT.set(context)
