"""envctl preflight STACK: before the first `pulumi up` of a stack, check what its offline plan needs against the
live account: quotas and usage, the hosted zone, the engine version, the image (exit 1 when a check fails)."""

from __future__ import annotations

import argparse

from .. import planning, stackfile, status_codes
from ..aws.preflight import preflight
from ..aws.render import render_preflight
from ..aws.session import connect
from ..errors import UsageError
from ..runs import run_options
from . import aws_options

NAME = "preflight"
HELP = "before the first pulumi up of a stack: check the account's quotas, hosted zone, engine version and image"
AWS_STOPPED = "could not complete the pre-flight checks, so the account is not known to have room: {error}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", metavar="STACK", help="the stack to be created")
    aws_options.add(parser)


def run(args: argparse.Namespace) -> int:
    stacks_dir, (stack,) = stackfile.select(args.stacks_dir, [args.stack])
    settings = stackfile.load_stack_settings(stacks_dir, stack)
    # What the stack needs comes from its own plan; its approval is envctl check's business, not the account's.
    ((_, planned, error),) = planning.plan_all(stackfile.program_dir(stacks_dir), stacks_dir,
                                               run_options(review_only=True), [stack])
    if planned is None:
        raise UsageError(f"stack '{stack}' could not be planned offline, so what it needs is not known: {error}")
    report = preflight(connect(args.profile, args.region, args.endpoint_url), settings, planned)
    print(report.to_json() if args.json else render_preflight(report))
    return status_codes.OK if report.passed else status_codes.PROBLEM
