"""envctl digest CHAIN: what a record of the chain would approve now."""

from __future__ import annotations

import argparse

from changecontrol import clock

from .. import ecr, status_codes

NAME = "digest"
HELP = "print what a record would approve now (stack, 'tooling' or 'signers')"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", metavar="CHAIN")


def run(args: argparse.Namespace) -> int:
    print(ecr.current(args.stacks_dir, args.stack, clock.today()).digest)
    return status_codes.OK
