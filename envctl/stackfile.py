"""Stack files for envctl: where they are, which program deploys them, their validated settings.

Reading a stack or project file is changecontrol's (:mod:`changecontrol.stackfiles`), so that the
policy pack computing a digest and envctl read it the same way; this module adds envctl's view.
Everywhere in envctl, the directory holding the stack files, `change-records/` and `waivers/` is
called `stacks_dir` (the command line's `--dir`); the Pulumi project whose program deploys them is
its `program_dir`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from changecontrol import clock
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

from .errors import UsageError


def program_dir(stacks_dir: Path) -> Path:
    """The Pulumi project whose program deploys the stacks of `stacks_dir` (changecontrol.trust.program_of)."""
    return program_of(stacks_dir)


def load_stack_settings(stacks_dir: Path, stack: str, today: date | None = None, project: str | None = None):
    """A stack's validated settings from its stack file, as the program would see them on `today` (default: today
    in UTC, by the injectable clock); raises StackFileError or InvalidStackConfig. `project`: the project's name,
    when a caller reading many stacks has read it once (default: read from the stacks' program)."""
    from components.settings import load_settings

    project = project or project_name(program_dir(stacks_dir))
    sf = read(Path(stacks_dir), stack, project)
    return load_settings(stack, project, sf.config, today=today or clock.today(), source=sf.path.name)


def is_directory_argument(arg: str) -> bool:
    """A directory is written as a path (`./fleet`, `/srv/fleet`, `.`); a bare word is always a stack."""
    return "/" in arg or arg in (".", "..")


def select(stacks_dir: Path, arguments: Sequence[str]) -> tuple[Path, list[str]]:
    """The stacks_dir and the stacks that STACK arguments name: with none, every stack file; one path argument
    means all the stack files of that directory (which becomes the stacks_dir). Raises UsageError."""
    names = list(arguments)
    if len(names) == 1 and is_directory_argument(names[0]):
        path = Path(names[0])
        if not path.is_dir():
            raise UsageError(f"{names[0]}: not a directory")
        stacks_dir, names = path.resolve(), []
    found = discover(stacks_dir)
    if not names:
        if not found:
            raise UsageError(f"no stack files (Pulumi.<stack>.yaml) in {stacks_dir}")
        return stacks_dir, found
    if any(not s for s in names):
        raise UsageError("an empty stack name: give stack names such as prod or acme-sandbox, or one directory")
    names = list(dict.fromkeys(names))  # a stack named twice is checked once
    paths = [s for s in names if is_directory_argument(s)]
    if paths:
        raise UsageError(f"give either stack names or one directory, not both ({', '.join(paths)})")
    decoys = [s for s in names if (Path(stacks_dir) / s).exists() and not (Path(stacks_dir) / s).is_file()]
    if decoys:
        raise UsageError(f"{', '.join(decoys)}: a directory in {stacks_dir} is named like the stack; a stack is only "
                         "ever its stack file Pulumi.<stack>.yaml: rename the directory (a directory of stack files "
                         "is given as a path, such as ./fleet)")
    missing = [s for s in names if s not in found]
    if missing:
        raise UsageError(
            f"no stack file for {', '.join(missing)} in {stacks_dir}; stacks there: {', '.join(found) or 'none'}"
        )
    return stacks_dir, names
