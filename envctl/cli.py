"""envctl: the platform team's command line around the Pulumi program.

The one entry point (the `envctl` console script, and `python -m envctl.cli`). Exit codes are those
of :mod:`envctl.status_codes`; the commands are those of :mod:`envctl.commands`; every error becomes
its message and exit code in :mod:`envctl.shell`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from changecontrol import runcontext
from changecontrol.trust import TrustRoot, load_example

from . import shell, status_codes
from .check import now_of
from .commands import add_all


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="envctl", description=__doc__.splitlines()[0])
    parser.add_argument("--example", action="store_true",
                        help="example mode: trust the published example keys (tests/example) for the shipped example "
                             "stacks only, and check them as of the date pinned there; never for a real stack")
    parser.add_argument("--dir", dest="stacks_dir", metavar="DIR", type=Path, default=Path.cwd(),
                        help="where the stack files, change-records/ and waivers/ are (default: the current "
                             "directory); the program is that directory's Pulumi project, or this repository's")
    add_all(parser.add_subparsers(dest="name", required=True, metavar="COMMAND"))
    return parser


def _safe_import_path() -> None:
    """No process of envctl imports from the working directory, which in CI is the checkout under check:
    a planted `multiprocessing.py` or `json.py` there would otherwise run in envctl's worker processes
    (spawned as `python -c`, which puts the working directory first) or in envctl itself."""
    os.environ["PYTHONSAFEPATH"] = "1"  # inherited by every child envctl starts
    if not sys.flags.safe_path and sys.path and sys.path[0] in ("", ".", os.getcwd()):
        del sys.path[0]  # the entry `python -m`/`-c` adds implicitly; an explicit PYTHONPATH entry stays


def _run(args: argparse.Namespace) -> int:
    """The command, in the run context --example asks for (the example's keys and pinned date); otherwise only an
    in-process caller's clock carries over (a test's fixed date; the real time for the console script)."""
    context = runcontext.RunContext(now=runcontext.current().now)
    if args.example:
        example = load_example(TrustRoot.own().directory)
        context = runcontext.RunContext(now=now_of(TrustRoot(TrustRoot.own().directory, example)), example=example)
    with runcontext.using(context):
        return args.command.run(args)


def main(argv: Sequence[str] | None = None) -> int:
    _safe_import_path()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse prints its own usage message
        return status_codes.INVALID if e.code else status_codes.OK
    args.stacks_dir = args.stacks_dir.resolve()
    try:
        return shell.run(args.command, lambda: _run(args), as_json=getattr(args, "json", False))
    finally:
        engine = sys.modules.get(f"{__package__}.offline")  # only a command that planned has an engine loop
        if engine is not None:
            engine.close_engine_loop()


if __name__ == "__main__":
    sys.exit(main())
