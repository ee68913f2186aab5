"""envctl policy-config STACK [--output FILE] [--advisory RULE ...]: a stack's --policy-pack-config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from changecontrol import clock

from .. import policy_config, status_codes

NAME = "policy-config"
HELP = "write a stack's --policy-pack-config (levels, project directory)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", metavar="STACK")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write the JSON to FILE (default: standard output)")
    parser.add_argument("--advisory", action="append", metavar="RULE", default=[],
                        help="lower RULE to advisory (repeatable; uncontrolled stacks only)")


def run(args: argparse.Namespace) -> int:
    config = policy_config.policy_config(args.stacks_dir, args.stack, args.advisory or (), clock.today())
    text = policy_config.to_text(config)
    if args.output is None:
        sys.stdout.write(text)
        return status_codes.OK
    policy_config.write(args.output, text)
    print(f"Wrote {args.output}. Next:", file=sys.stderr)
    print(f"  pulumi preview --stack {args.stack} --policy-pack {policy_config.pack_checkout() / 'policies'} "
          f"--policy-pack-config {args.output}", file=sys.stderr)
    return status_codes.OK
