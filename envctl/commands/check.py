"""envctl check [STACK ...|./DIR] [--json] [--policy-config FILE] [--jobs N]: the offline policy check."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from changecontrol.trust import TrustRoot

from .. import stackfile, status_codes
from ..check import StackCheck, check_all, render, to_json
from ..errors import UsageError
from ..runs import read_policy_config, run_options

NAME = "check"
HELP = "offline policy check: plan under mocks and evaluate the policy pack"

# How the results are printed: the one place the check command picks its renderer (a new output format is
# one more entry here and one more choice of the option that names it).
Renderer = Callable[[Sequence[StackCheck], TrustRoot, Path], str]
RENDERERS: dict[str, Renderer] = {
    "text": lambda results, trust, stacks_dir: render(results, trust.describe(stacks_dir)),
    "json": lambda results, trust, stacks_dir: to_json(results, trust, stacks_dir),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stacks", nargs="*", metavar="STACK",
                        help="stacks to check, or one directory of stack files (default: every stack file)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--policy-config", metavar="FILE",
                        help="the policy-pack config to use (default: made from each stack's ECRs and waivers)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel worker processes (default: one per core)")


def output_format(args: argparse.Namespace) -> str:
    return "json" if args.json else "text"


def run(args: argparse.Namespace) -> int:
    stacks_dir, stacks = stackfile.select(args.stacks_dir, args.stacks)
    policy_config = read_policy_config(args.policy_config) if args.policy_config else None
    trust = TrustRoot.own()
    results = check_all(stackfile.program_dir(stacks_dir), stacks_dir, stacks, policy_config, run_options(),
                        jobs=args.jobs)
    print(RENDERERS[output_format(args)](results, trust, stacks_dir))
    unchecked = [r.error for r in results if r.error]
    if unchecked:
        raise UsageError(*unchecked)
    return status_codes.PROBLEM if any(r.mandatory for r in results) else status_codes.OK
