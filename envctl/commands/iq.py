"""envctl iq sign|approve: Installation Qualification entries of a stack's chain, signed with SSH keys."""

from __future__ import annotations

import argparse
from pathlib import Path

from changecontrol import clock, layout
from changecontrol.records import utc_text
from changecontrol.trust import TrustRoot

from .. import ecr as records
from .. import qualification, status_codes
from .ecr import KEY_HELP, announced_trust

NAME = "iq"
HELP = "Installation Qualification: sign a passed IQ into the stack's chain, approve it"
DESCRIPTION = ("Installation Qualification. A passed IQ report becomes an entry of its own after the record whose "
               "deployment it qualifies (ECR-<stack>-NNNN.iq.yaml), signed by who executed it and approved by Quality.")


def sign(args: argparse.Namespace) -> int:
    """Sign a passed IQ report into the chain, after the record it qualifies."""
    trust: TrustRoot = announced_trust(args)
    iq = qualification.sign(args.stacks_dir, args.report, records.signing_key(args.key), trust, clock.now(),
                            pdf=args.pdf)
    path = f"{layout.RECORDS_DIR}/{iq.chain}/{layout.record_files(iq.record)['iq']}"
    print(f"Signed the IQ {iq.document_id} of {iq.record} ({path}), executed by {iq.executed_by} at "
          f"{utc_text(iq.executed_at)}: {iq.checks} checks passed.")
    print(f"  report {iq.report_sha256}, evidence {iq.evidence_sha256}" + (f", PDF {iq.pdf_sha256}" if iq.pdf_sha256 else ""))
    print("Next: Quality reviews the report and its evidence and approves it with their own key:")
    print(f"  envctl iq approve {iq.record} --key <Quality's key>")
    return status_codes.OK


def approve(args: argparse.Namespace) -> int:
    """Quality's approval of the IQ entry of a record (not by who executed it)."""
    qa = qualification.approve(args.stacks_dir, args.record, records.signing_key(args.key), announced_trust(args), clock.now())
    chain = layout.RECORD_ID.match(args.record)["chain"]
    print(f"Approved the IQ of {qa.record} by {qa.approved_by} at {utc_text(qa.approved_at)} "
          f"({layout.RECORDS_DIR}/{chain}/{layout.record_files(qa.record)['iq_approval']}, signed): {chain} is "
          "qualified.")
    print(f"Next: git add {layout.RECORDS_DIR}/{chain}/{qa.record}.iq.*; envctl check {chain}")
    return status_codes.OK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="iq_command", required=True, metavar="ACTION")

    a = actions.add_parser("sign", help="sign a passed IQ report into the stack's chain (by who executed it)")
    a.add_argument("report", type=Path, metavar="REPORT.json", help="the iq-report.json envctl iq run wrote")
    a.add_argument("--pdf", type=Path, metavar="FILE", help="the report's PDF, recorded by its SHA-256")
    a.add_argument("--key", type=Path, metavar="FILE", help=KEY_HELP)
    a.set_defaults(action=sign)

    a = actions.add_parser("approve", help="Quality's approval of a signed IQ (not by who executed it)")
    a.add_argument("record", metavar="ID", help="the record whose IQ is approved, such as ECR-val-0001")
    a.add_argument("--key", type=Path, metavar="FILE", help=KEY_HELP)
    a.set_defaults(action=approve)


def run(args: argparse.Namespace) -> int:
    return args.action(args)
