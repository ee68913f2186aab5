"""Stack files for envctl: where they are, which program deploys them, their validated settings.

Reading a stack or project file is changecontrol's (:mod:`changecontrol.stackfiles`), so that the
policy pack computing a digest and envctl read it the same way; this module adds envctl's view.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from changecontrol.layout import stack_file as stack_path  # noqa: F401 (envctl's name for it)
from changecontrol.stackfiles import (  # noqa: F401 (envctl's one import of them)
    SECURE_PLACEHOLDER,
    StackFile,
    StackFileError,
    discover,
    project_name,
    read,
)
from changecontrol.trust import program_of


def program_dir(directory: Path) -> Path:
    """The Pulumi project whose program deploys the stacks of `directory` (changecontrol.trust.program_of)."""
    return program_of(directory)


def load_stack_settings(directory: Path, stack: str, today: date):
    """A stack's validated settings from its stack file, as the program would see them on `today`
    (raises StackFileError or InvalidStackConfig)."""
    from components.settings import load_settings

    project = project_name(program_dir(directory))
    sf = read(Path(directory), stack, project)
    return load_settings(stack, project, sf.config, today=today, source=sf.path.name)
