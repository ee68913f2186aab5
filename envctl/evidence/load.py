"""The protocol of a stack of a stacks directory: its settings and its approved offline plan (what the IQ and
drift commands start from)."""

from __future__ import annotations

from pathlib import Path

from components.settings import StackSettings

from .. import planning, stackfile
from ..errors import UsageError
from ..runs import run_options
from .protocol import Protocol, protocol_for


def stack_of(stacks_dir: Path, stack: str) -> tuple[Path, str]:
    """The stacks directory and the stack a STACK argument names; UsageError for an unknown stack."""
    stacks_dir, (stack,) = stackfile.select(stacks_dir, [stack])
    return stacks_dir, stack


def load_protocol(stacks_dir: Path, stack: str, settings: StackSettings | None = None) -> Protocol:
    """Raises UsageError for an unknown stack, or a stack whose desired state cannot be planned as approved.
    `settings`: the stack's, when the caller has read them already."""
    stacks_dir, stack = stack_of(stacks_dir, stack)
    settings = settings or stackfile.load_stack_settings(stacks_dir, stack)
    # The approved desired state: an unapproved one is refused, never qualified.
    ((_, planned, error),) = planning.plan_all(stackfile.program_dir(stacks_dir), stacks_dir, run_options(), [stack])
    if planned is None:
        raise UsageError(f"stack '{stack}' has no approved desired state to derive the IQ protocol from: {error}")
    return protocol_for(planned, settings)
