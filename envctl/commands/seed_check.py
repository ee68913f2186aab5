"""envctl seed-check STACK: before `pulumi up` of a sandbox or a demo, check the seed snapshot of its release
against the live account (exit 1 when a check fails)."""

from __future__ import annotations

import argparse

from .. import stackfile, status_codes
from ..aws.render import render_seed_check
from ..aws.seed_check import seed_check
from ..aws.session import connect
from . import aws_options

NAME = "seed-check"
HELP = "before pulumi up of a sandbox or demo: check the seed snapshot of its release"
AWS_STOPPED = "could not complete the checks, so the stack may not start from the seed yet: {error}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", metavar="STACK", help="the sandbox or demo stack to start from the seed")
    aws_options.add(parser)


def run(args: argparse.Namespace) -> int:
    target = stackfile.load_stack_settings(args.stacks_dir, args.stack)
    report = seed_check(connect(args.profile, args.region, args.endpoint_url), target)
    print(report.to_json() if args.json else render_seed_check(report))
    return status_codes.OK if report.passed else status_codes.PROBLEM
