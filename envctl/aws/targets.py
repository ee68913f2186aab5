"""What clone-check and copy-documents share: how the team writes a phase, which instances a stack
restores from Pre-PROD, and when a stack may be cloned at all."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from changecontrol import clock
from components.phases import CLONE_SOURCE_PHASE, PHASES, Role
from components.settings import StackSettings

from ..errors import UsageError

_PHASE_WORDS = {"preprod": "Pre-PROD", "val": "VAL", "prod": "PROD"}


def words(phase: str) -> str:
    """A phase as the team writes it: Pre-PROD, VAL, PROD, sandbox, ..."""
    return _PHASE_WORDS.get(phase, phase)


def restored_roles(settings: StackSettings) -> tuple[Role, ...]:
    """The instances restored from Pre-PROD: VAL main and test, PROD main; none elsewhere."""
    return tuple(r for r in settings.roles if r in settings.phase_spec.restored_roles)


class NotACloneTarget(UsageError):
    """clone-check asked of a stack whose phase starts empty (a usage error)."""


def require_clone_target(target: StackSettings) -> None:
    if not target.phase_spec.may_clone or target.clone_from is None or not target.customer:
        cloning = ", ".join(words(p.name) for p in PHASES.values() if p.may_clone)
        raise NotACloneTarget(
            f"stack '{target.stack}' is a {words(target.phase)} stack, which is never cloned from "
            f"{words(CLONE_SOURCE_PHASE)} (its data: {target.phase_spec.data}); only {cloning} stacks are"
        )


def utc_stamp(now: datetime | None = None) -> str:
    """A moment in UTC, ISO 8601 to the second (the clock is injected in tests)."""
    moment = (now or clock.now()).astimezone(UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class CheckedRows:
    """What every check-by-check report (clone-check, seed-check, preflight) answers from its `rows`: whether it
    passed (at least one row, every row passed), the rows that failed, and its JSON evidence."""

    rows: tuple[Any, ...]

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.passed for r in self.rows)

    @property
    def failures(self) -> tuple[Any, ...]:
        return tuple(r for r in self.rows if not r.passed)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)
