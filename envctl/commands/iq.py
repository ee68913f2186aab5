"""envctl iq protocol|run|sign|approve: the Installation Qualification of a stack.

protocol: what the IQ verifies, derived from the stack's approved desired state. run: executes it against the live
account through the stack's `pulumi stack export` (exit 1 when a check fails or a deviation is found). sign: a passed
IQ report becomes an entry of its own in the stack's chain (ECR-<stack>-NNNN.iq.yaml), after the record whose
deployment it qualifies, signed by who executed it. approve: Quality's approval of that entry, by another person.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from changecontrol import clock, layout
from changecontrol.records import utc_text

from .. import ecr as records
from .. import qualification, stackfile, status_codes
from ..aws.session import connect
from ..evidence.iq import REPORT_FILE, executed_by, render_iq, run_iq
from ..evidence.iq_pdf import write_iq_pdf
from ..evidence.load import load_protocol, stack_of
from ..evidence.protocol import render_protocol
from ..evidence.state import read_state
from ..progress import Progress
from . import aws_options
from .ecr import KEY_HELP, announced_trust

NAME = "iq"
HELP = "Installation Qualification: protocol, run against the account, sign into the chain, approve"
DESCRIPTION = ("iq protocol STACK lists every check the IQ executes, each with its expected value and where that "
               "value comes from. iq run STACK --state EXPORT.json reads every resource of `pulumi stack export` "
               "back through boto3 and writes iq-report.json, its PDF and its evidence bundle (exit 1 unless all "
               "pass). iq sign REPORT.json makes a passed IQ an entry of the stack's chain; iq approve ID is "
               "Quality's approval of it.")
AWS_STOPPED = "the IQ could not read the account, so no report was written: {error}"
PDF_FILE = "iq-report.pdf"


def protocol(args: argparse.Namespace) -> int:
    found = load_protocol(args.stacks_dir, args.stack)
    print(found.to_json() if args.json else render_protocol(found))
    return status_codes.OK


def run_(args: argparse.Namespace) -> int:
    stacks_dir, stack = stack_of(args.stacks_dir, args.stack)
    settings = stackfile.load_stack_settings(stacks_dir, stack)  # a bad stack file is refused first
    state = read_state(args.state, stack)  # then a bad export: before the plan and any AWS call
    found = load_protocol(stacks_dir, stack, settings)
    started = clock.now()
    out = args.out or Path(f"iq-{found.stack}-{started.strftime('%Y%m%dT%H%M%SZ')}")
    report = run_iq(found, state, connect(args.profile, args.region, args.endpoint_url), clock.now,
                    args.executed_by or executed_by(), Progress(what="resource"), out=out)
    write_iq_pdf(report.to_dict(), out / PDF_FILE)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render_iq(report, [str(out / REPORT_FILE), str(out / PDF_FILE)]))
    return status_codes.OK if report.passed else status_codes.PROBLEM


def _pdf(args: argparse.Namespace) -> Path | None:
    """The report's PDF: --pdf, else the one iq run wrote beside the report, if it is there."""
    beside = args.report.parent / PDF_FILE
    return args.pdf if args.pdf is not None or not beside.is_file() else beside


def sign(args: argparse.Namespace) -> int:
    """Sign a passed IQ report into the chain, after the record it qualifies."""
    iq = qualification.sign(args.stacks_dir, args.report, records.signing_key(args.key), announced_trust(args),
                            clock.now(), pdf=_pdf(args))
    path = f"{layout.RECORDS_DIR}/{iq.chain}/{layout.record_files(iq.record)['iq']}"
    print(f"Signed the IQ {iq.document_id} of {iq.record} ({path}), executed by {iq.executed_by} at "
          f"{utc_text(iq.executed_at)}: {iq.checks} checks passed.")
    print(f"  report {iq.report_sha256}, evidence {iq.evidence_sha256}"
          + (f", PDF {iq.pdf_sha256}" if iq.pdf_sha256 else ""))
    print("Next: Quality reviews the report and its evidence and approves it with their own key:")
    print(f"  envctl iq approve {iq.record} --key <Quality's key>")
    return status_codes.OK


def approve(args: argparse.Namespace) -> int:
    """Quality's approval of the IQ entry of a record (not by who executed it)."""
    trust = announced_trust(args)
    qa = qualification.approve(args.stacks_dir, args.record, args.report, records.signing_key(args.key), trust,
                               clock.now(), pdf=_pdf(args))
    chain = layout.RECORD_ID.match(args.record)["chain"]
    print(f"Approved the IQ of {qa.record} by {qa.approved_by} at {utc_text(qa.approved_at)} "
          f"({layout.RECORDS_DIR}/{chain}/{layout.record_files(qa.record)['iq_approval']}, signed).")
    standing = qualification.standing(args.stacks_dir, chain, trust)
    if standing is not None:
        print(f"{chain}: {standing}")
    print(f"Next: git add {layout.RECORDS_DIR}/{chain}/{qa.record}.iq.*; envctl check {chain}")
    return status_codes.OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="iq_command", metavar="ACTION", required=True)
    a = actions.add_parser("protocol", help="list the checks the IQ of STACK executes")
    a.add_argument("stack", metavar="STACK")
    a.add_argument("--json", action="store_true", help="print the protocol as JSON")
    a.set_defaults(action=protocol)

    a = actions.add_parser("run", help="execute the IQ of STACK against the account")
    a.add_argument("stack", metavar="STACK")
    a.add_argument("--state", required=True, type=Path, metavar="EXPORT.json",
                   help="the output of `pulumi stack export --stack STACK --file EXPORT.json`")
    a.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="where to write iq-report.json, iq-report.pdf and the evidence bundle (default: "
                        "iq-STACK-<time>)")
    a.add_argument("--executed-by", metavar="PRINCIPAL",
                   help="who executes it, as the signers file names them (the one who then signs it with "
                        "envctl iq sign; default: $ENVCTL_EXECUTED_BY, else the login name)")
    aws_options.add(a)
    a.set_defaults(action=run_)

    a = actions.add_parser("sign", help="sign a passed IQ report into the stack's chain (by who executed it)")
    a.add_argument("report", type=Path, metavar="REPORT.json", help="the iq-report.json envctl iq run wrote")
    a.add_argument("--pdf", type=Path, metavar="FILE",
                   help="the report's PDF, recorded by its SHA-256 (default: iq-report.pdf beside the report)")
    a.add_argument("--key", type=Path, metavar="FILE", help=KEY_HELP)
    a.set_defaults(action=sign)

    a = actions.add_parser("approve", help="Quality's approval of a signed IQ (not by who executed it)")
    a.add_argument("record", metavar="ID", help="the record whose IQ is approved, such as ECR-val-0001")
    a.add_argument("report", type=Path, metavar="REPORT.json",
                   help="the report you reviewed: it, its PDF and its evidence must be what the entry names")
    a.add_argument("--pdf", type=Path, metavar="FILE", help="the PDF you reviewed (default: iq-report.pdf beside it)")
    a.add_argument("--key", type=Path, metavar="FILE", help=KEY_HELP)
    a.set_defaults(action=approve)


def run(args: argparse.Namespace) -> int:
    return args.action(args)
