"""envctl's command registry: one name, one module (the idea of pip's commands/__init__.py).

A command module has NAME, HELP, `add_arguments(parser)` and `run(args) -> int` (OK or PROBLEM of
:mod:`envctl.status_codes`); it may have DESCRIPTION and AWS_STOPPED (what did not happen when an AWS call
fails). It only wires arguments to library functions and prints what they return; everything it raises
goes through :mod:`envctl.shell`.
"""

from __future__ import annotations

import argparse
from types import ModuleType

from . import (
    check,
    clone_check,
    copy_documents,
    diff,
    digest,
    drift,
    ecr,
    iq,
    plan,
    policy_config,
    preflight,
    report,
    seed_check,
)

COMMANDS: dict[str, ModuleType] = {
    m.NAME: m for m in (plan, check, ecr, iq, digest, policy_config, clone_check, seed_check, copy_documents,
                        preflight, drift, diff, report)
}


def add_all(subparsers: argparse._SubParsersAction) -> None:
    """A sub-parser per registered command; the parsed arguments carry the command's module as `command`."""
    for name, module in COMMANDS.items():
        parser = subparsers.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", None))
        module.add_arguments(parser)
        parser.set_defaults(command=module)
