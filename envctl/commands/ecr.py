"""envctl ecr new|approve|verify|list: Environment Change Records, drafted and approved with SSH keys."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from changecontrol import clock, layout
from changecontrol.records import utc_text
from changecontrol.trust import TrustRoot

from .. import ecr as records
from .. import ecr_report, status_codes

NAME = "ecr"
HELP = "Environment Change Records: draft, approve, verify, list (signed)"
DESCRIPTION = ("Environment Change Records, kept in change-records/<chain>/, chained by hash and signed with SSH "
               "keys the signers file lists.")
KEY_HELP = (f"your SSH key: a private key file, or a .pub whose private key is in ssh-agent (default: "
            f"${records.KEY_ENV}, else {records.DEFAULT_KEY})")


def announced_trust(args: argparse.Namespace) -> TrustRoot:
    """The trust root, named on standard error first: whose signatures this run trusts."""
    trust = TrustRoot.own()
    print(trust.describe(args.stacks_dir), file=sys.stderr)
    return trust


def new(args: argparse.Namespace) -> int:
    """Draft the next record of a chain, approving its current state, signed with your key."""
    trust = announced_trust(args)
    key = records.signing_key(args.key)
    record = records.draft(args.stacks_dir, args.stack, args.title, args.reason, args.classification, key, trust,
                           clock.now())
    files = layout.record_files(record.id)
    print(f"Drafted {record.id} ({layout.RECORDS_DIR}/{record.chain}/{files['record']}), signed by "
          f"{record.requested_by}; pending approval.")
    print(f"  approves: {record.digest}")
    print(f"  requested by {record.requested_by} at {utc_text(record.requested_at)}")
    print("Next: someone else, with their own key, reviews and approves it:")
    print(f"  envctl ecr approve {record.id} --key <approver's key>")
    return status_codes.OK


def approve(args: argparse.Namespace) -> int:
    """Approve the last, pending record of a chain, signed with your key (not the requester's)."""
    trust = announced_trust(args)
    key = records.signing_key(args.key)
    approval = records.approve(args.stacks_dir, args.record, key, trust, clock.now())
    chain = layout.RECORD_ID.match(args.record)["chain"]
    files = layout.record_files(approval.record)
    print(f"Approved {approval.record} by {approval.approved_by} at {utc_text(approval.approved_at)} "
          f"({layout.RECORDS_DIR}/{chain}/{files['approval']}, signed).")
    print("Next: commit the record's four files" + ("" if chain in layout.SPECIAL_CHAINS else
                                                    f", name the record in Pulumi.{chain}.yaml") + ", and check:")
    print(f"  git add {layout.RECORDS_DIR}/{chain}/{approval.record}.*")
    if chain not in layout.SPECIAL_CHAINS:
        print(f"  pulumi config set change_record {approval.record} --stack {chain}")
        print(f"  envctl check {chain}")
    return status_codes.OK


def verify(args: argparse.Namespace) -> int:
    """Verify one chain, or every chain under change-records/ (and, with --state, the deployed anchor)."""
    report = ecr_report.verify(args.stacks_dir, args.stack, args.state, announced_trust(args))
    print("\n".join(report.lines))
    return status_codes.OK if report.ok else status_codes.PROBLEM


def list_(args: argparse.Namespace) -> int:
    """Table of a chain's records, marking the one that approves the current state."""
    report = ecr_report.listing(args.stacks_dir, args.stack, announced_trust(args), clock.today(), args.changes)
    print("\n".join(report.lines))
    return status_codes.OK if report.ok else status_codes.PROBLEM


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="ecr_command", required=True, metavar="ACTION")

    a = actions.add_parser("new", help="draft the next record (a stack's state, 'tooling' or 'signers'), signed")
    a.add_argument("stack", metavar="CHAIN", help="a controlled stack, or 'tooling', or 'signers'")
    a.add_argument("--title", required=True, help="one line: what changes")
    a.add_argument("--reason", required=True, help="why the change is made")
    a.add_argument("--classification", choices=records.CLASSIFICATIONS, default="standard",
                   help="standard (default), minor or emergency")
    a.add_argument("--key", type=Path, metavar="FILE", help=KEY_HELP)
    a.set_defaults(action=new)

    a = actions.add_parser("approve", help="approve the last, pending record (not by its requester), signed")
    a.add_argument("record", metavar="ID", help="the record id, such as ECR-prod-0002")
    a.add_argument("--key", type=Path, metavar="FILE", help=KEY_HELP)
    a.set_defaults(action=approve)

    a = actions.add_parser("verify", help="verify the chains: files, links, signatures (exit 1 when none or broken)")
    a.add_argument("stack", nargs="?", metavar="CHAIN", help="one chain (default: every chain)")
    a.add_argument("--state", type=Path, metavar="EXPORT.json",
                   help="a `pulumi stack export` of the stack: its deployed record must be in the chain unchanged")
    a.set_defaults(action=verify)

    a = actions.add_parser("list", help="the records of a chain, marking the one approving the current state")
    a.add_argument("stack", metavar="CHAIN")
    a.add_argument("--changes", action="store_true", help="what each record changed against the one before")
    a.set_defaults(action=list_)


def run(args: argparse.Namespace) -> int:
    return args.action(args)
