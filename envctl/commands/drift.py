"""envctl drift STACK --state EXPORT.json: what differs, now, from the approved desired state (exit 1 on drift);
--json for a scheduled CI job."""

from __future__ import annotations

import argparse
from pathlib import Path

from changecontrol import clock

from .. import stackfile, status_codes
from ..aws.session import connect
from ..evidence.drift import drift, render_drift
from ..evidence.load import load_protocol, stack_of
from ..evidence.state import read_state
from ..progress import Progress
from . import aws_options

NAME = "drift"
HELP = "compare an installed stack with its approved desired state (exit 1 on drift)"
AWS_STOPPED = "could not read the account, so drift is not known: {error}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", metavar="STACK")
    parser.add_argument("--state", required=True, type=Path, metavar="EXPORT.json",
                        help="the output of `pulumi stack export --stack STACK --file EXPORT.json`")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="keep the raw responses (the evidence) in DIR")
    aws_options.add(parser)


def run(args: argparse.Namespace) -> int:
    stacks_dir, stack = stack_of(args.stacks_dir, args.stack)
    settings = stackfile.load_stack_settings(stacks_dir, stack)  # a bad stack file is refused first
    state = read_state(args.state, stack)  # then a bad export: before the plan and any AWS call
    protocol = load_protocol(stacks_dir, stack, settings)
    report = drift(protocol, state, connect(args.profile, args.region, args.endpoint_url), clock.now,
                   Progress(what="resource"), out=args.out)
    print(report.to_json() if args.json else render_drift(report))
    return status_codes.PROBLEM if report.drifted else status_codes.OK
