"""envctl copy-documents --from STACK --to STACK [--role main|test]: after `pulumi up` of a VAL or PROD stack,
copy Pre-PROD's documents into its restored instances (exit 1 when the copy is refused or stops)."""

from __future__ import annotations

import argparse

from components.phases import Role

from .. import stackfile, status_codes
from ..aws.copy_documents import copy_documents
from ..aws.render import render_copy_report
from ..aws.session import connect
from . import aws_options

NAME = "copy-documents"
HELP = "after pulumi up of a VAL or PROD stack: copy Pre-PROD's documents into its restored instances"
AWS_STOPPED = "the copy stopped: {error}. Run it again: what was copied is kept and skipped."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="from_stack", required=True, metavar="STACK",
                        help="the customer's Pre-PROD stack")
    parser.add_argument("--to", dest="to_stack", required=True, metavar="STACK", help="the VAL or PROD stack")
    parser.add_argument("--role", dest="roles", action="append", choices=[Role.MAIN.value, Role.TEST.value],
                        help="copy into this instance only (repeatable; default: every restored instance, "
                             "VAL main and test, PROD main)")
    aws_options.add(parser)


def run(args: argparse.Namespace) -> int:
    roles = [Role(r) for r in args.roles or ()]
    source = stackfile.load_stack_settings(args.stacks_dir, args.from_stack)
    target = stackfile.load_stack_settings(args.stacks_dir, args.to_stack)
    report = copy_documents(connect(args.profile, args.region, args.endpoint_url), source, target, roles=roles or None)
    print(report.to_json() if args.json else render_copy_report(report))
    return status_codes.OK
