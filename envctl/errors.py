"""What envctl's commands and libraries raise when they stop; :mod:`envctl.shell` turns it into an exit code.

Commands never print `error:` themselves: they raise one of these (or a library error the shell knows).
"""

from __future__ import annotations

from typing import Any

from . import status_codes


class EnvctlError(Exception):
    """A stop that the shell reports as one `error:` line per message, with the class's exit code."""

    exit_code = status_codes.INVALID

    def __init__(self, *messages: str):
        self.messages = tuple(messages)
        super().__init__("\n".join(messages))


class UsageError(EnvctlError):
    """Invalid input or usage: an argument, a stack file, a refused request (exit 2)."""


class Problem(EnvctlError):
    """A check or an operation found a problem and stopped (exit 1). `report` is printed as JSON with --json."""

    exit_code = status_codes.PROBLEM

    def __init__(self, *messages: str, report: dict[str, Any] | None = None):
        super().__init__(*messages)
        self.report = report
