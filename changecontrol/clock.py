"""The one clock: every "now" and "today" of the program, the pack and envctl comes from here.

The real UTC time, unless an in-process caller fixed it (:mod:`changecontrol.runcontext`): tests,
and envctl's example mode, which checks the shipped example as of the date pinned in the repository.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from . import runcontext


def now() -> datetime:
    """The current UTC time, to the second."""
    fixed = runcontext.current().now
    value = fixed if fixed is not None else datetime.now(timezone.utc)
    return value.astimezone(timezone.utc).replace(microsecond=0)


def today() -> date:
    return now().date()
