"""envctl report STACK [--state EXPORT.json] (--pdf FILE | --json) [--attach FILE ...]: the configuration-state report
of one environment (envctl.evidence.config_report). It does not read the application's own settings."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from changecontrol import clock
from changecontrol.records import utc_text
from changecontrol.trust import TrustRoot

from .. import stackfile, status_codes
from ..aws.session import connect
from ..evidence import config_report
from ..evidence.iq import seal_bundle
from ..evidence.readback import Evidence
from ..evidence.state import read_state
from ..progress import Progress
from . import aws_options
from .diff import environments

NAME = "report"
HELP = "the configuration-state report of a stack (PDF or JSON): desired state offline, or an installed state"
AWS_STOPPED = "the report could not read the account back, so nothing was written: {error}"
DESCRIPTION = ("The configuration-state report: phase, settings, ECR history, per-instance configuration and the "
               "inventory. " + config_report.NOT_READ)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", metavar="STACK")
    parser.add_argument("--state", type=Path, metavar="EXPORT.json",
                        help="report what is installed: what this `pulumi stack export` records, and every resource "
                             "read back from the account through boto3 (default: the desired state, offline)")
    parser.add_argument("--no-read-back", action="store_true",
                        help="with --state: only what the export records, without calling AWS")
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument("--pdf", type=Path, metavar="FILE", help="write the report as a PDF")
    out.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--attach", type=Path, action="append", default=[], metavar="APP_EXPORT.pdf",
                        help="the application's own configuration export, listed with its sha256 and bundled")
    aws_options.add(parser, json_flag=False)


def run(args: argparse.Namespace) -> int:
    stacks_dir, (stack,) = stackfile.select(args.stacks_dir, [args.stack])
    print(TrustRoot.own().describe(stacks_dir), file=sys.stderr)  # whose signatures the ECR history is read with
    settings = stackfile.load_stack_settings(stacks_dir, stack)
    for path in args.attach:
        config_report.attachment(path)  # an unreadable attachment is refused before anything is planned
    env = environments(stacks_dir, [stack], {stack: args.state})[stack]
    now = clock.now()
    document_id = f"CSR-{stack}-{now.strftime('%Y%m%dT%H%M%SZ')}"
    live = None
    if args.state is not None and not args.no_read_back:
        state = read_state(args.state, stack)
        clients = connect(args.profile, args.region, args.endpoint_url)
        bundle = args.pdf.parent / f"{args.pdf.stem}.evidence" if args.pdf else None
        evidence = Evidence(bundle)
        live = config_report.read_back(clients, clients.region_for(settings.region), state, evidence,
                                       Progress(what="resource"))
        if bundle is not None:
            live["bundle"] = {"path": bundle.name, "sha256": seal_bundle(bundle)}
    report = config_report.build(stacks_dir, env, settings, document_id, utc_text(now), args.attach, live)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return status_codes.OK
    written = config_report.write_pdf(report, args.pdf)
    bundled = config_report.bundle_attachments(report, args.pdf)
    print(f"Wrote {written} ({document_id}, {report['state']} of {stack}); it does not read the application's own "
          "settings" + (f"; attachments in {bundled}" if bundled else "")
          + (f"; read back from account {live['account']}, evidence in {live['bundle']['path']}" if live else "") + ".",
          file=sys.stderr)
    return status_codes.OK
