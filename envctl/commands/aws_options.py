"""The options of every command that calls AWS (not a command: the registry lists no module without NAME)."""

from __future__ import annotations

import argparse


def add(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument("--endpoint-url", dest="endpoint_url", metavar="URL",
                        help="send every AWS call to this endpoint (a local moto server, a VPC endpoint)")
    parser.add_argument("--profile", metavar="NAME", help="AWS profile to use (default: the usual credential chain)")
    parser.add_argument("--region", metavar="REGION", help="AWS region (default: each stack's aws:region)")
    if json_flag:  # a command with its own output choice (report: --pdf or --json) declares --json itself
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
