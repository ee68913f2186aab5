"""What clone-check and copy-documents share: how the team writes a phase, which instances a stack
restores from Pre-PROD, and when a stack may be cloned at all."""

from __future__ import annotations

from datetime import UTC, datetime

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
