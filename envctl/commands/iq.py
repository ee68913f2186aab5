"""envctl iq protocol|run STACK: the Installation Qualification of a stack, derived from its approved desired state
(protocol) and executed against the live account through the stack's `pulumi stack export` (run: exit 1 when a
check fails or a deviation is found)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from changecontrol import clock

from .. import stackfile, status_codes
from ..aws.session import connect
from ..evidence.iq import REPORT_FILE, executed_by, render_iq, run_iq
from ..evidence.load import load_protocol, stack_of
from ..evidence.protocol import render_protocol
from ..evidence.state import read_state
from ..progress import Progress
from . import aws_options

NAME = "iq"
HELP = "Installation Qualification: the protocol from the approved desired state, and its run against the account"
DESCRIPTION = ("iq protocol STACK lists every check the IQ executes, each with its expected value and where that "
               "value comes from. iq run STACK --state EXPORT.json reads every resource of `pulumi stack export` "
               "back through boto3 and writes iq-report.json and its evidence bundle (exit 1 unless all pass).")
AWS_STOPPED = "the IQ could not read the account, so no report was written: {error}"
PDF_MODULE = "envctl.evidence.iq_pdf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    protocol = actions.add_parser("protocol", help="list the checks the IQ of STACK executes")
    protocol.add_argument("stack", metavar="STACK")
    protocol.add_argument("--json", action="store_true", help="print the protocol as JSON")
    run = actions.add_parser("run", help="execute the IQ of STACK against the account")
    run.add_argument("stack", metavar="STACK")
    run.add_argument("--state", required=True, type=Path, metavar="EXPORT.json",
                     help="the output of `pulumi stack export --stack STACK --file EXPORT.json`")
    run.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="where to write iq-report.json (and iq-report.pdf) and the evidence bundle "
                          "(default: iq-STACK-<time>)")
    aws_options.add(run)


def run(args: argparse.Namespace) -> int:
    if args.action == "protocol":
        protocol = load_protocol(args.stacks_dir, args.stack)
        print(protocol.to_json() if args.json else render_protocol(protocol))
        return status_codes.OK
    stacks_dir, stack = stack_of(args.stacks_dir, args.stack)
    settings = stackfile.load_stack_settings(stacks_dir, stack)  # a bad stack file is refused first
    state = read_state(args.state, stack)  # then a bad export: before the plan and any AWS call
    protocol = load_protocol(stacks_dir, stack, settings)
    started = clock.now()
    out = args.out or Path(f"iq-{protocol.stack}-{started.strftime('%Y%m%dT%H%M%SZ')}")
    report = run_iq(protocol, state, connect(args.profile, args.region, args.endpoint_url), clock.now,
                    executed_by(), Progress(what="resource"), out=out)
    written = [str(out / REPORT_FILE)]
    # The PDF of the report (envctl.evidence.iq_pdf, another part of issue 11): written where it is installed.
    if importlib.util.find_spec(PDF_MODULE) is not None:
        from ..evidence import iq_pdf  # type: ignore[attr-defined]

        iq_pdf.write_iq_pdf(report.to_dict(), out / "iq-report.pdf")
        written.append(str(out / "iq-report.pdf"))
    if args.json:
        import json

        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render_iq(report, written))
    return status_codes.OK if report.passed else status_codes.PROBLEM
