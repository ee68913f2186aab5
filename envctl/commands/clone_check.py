"""envctl clone-check STACK: before `pulumi up` of a VAL or PROD stack, check the Pre-PROD snapshot it clones
from against the live account (exit 1 when a check fails)."""

from __future__ import annotations

import argparse

from .. import stackfile, status_codes
from ..aws.clone_check import clone_check
from ..aws.render import render_clone_check
from ..aws.session import connect
from . import aws_options

NAME = "clone-check"
HELP = "before pulumi up of a VAL or PROD stack: check the Pre-PROD snapshot it clones from"
AWS_STOPPED = "could not complete the checks, so the clone may not go ahead: {error}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", metavar="STACK", help="the VAL or PROD stack to be cloned")
    aws_options.add(parser)


def run(args: argparse.Namespace) -> int:
    target = stackfile.load_stack_settings(args.stacks_dir, args.stack)
    report = clone_check(connect(args.profile, args.region, args.endpoint_url), target)
    print(report.to_json() if args.json else render_clone_check(report))
    return status_codes.OK if report.passed else status_codes.PROBLEM
