"""envctl check [STACK ...|./DIR] [--format text|json|sarif|junit] [--policy-config FILE] [--jobs N]: the offline
policy check."""

from __future__ import annotations

import argparse

from changecontrol.trust import TrustRoot
from policies import releases

from .. import cache, stackfile, status_codes
from ..check import check_all, with_fleet_refusals, with_qualification
from ..errors import UsageError
from ..fleet import refusals
from ..formats import FORMATS, render
from ..progress import Progress
from ..runs import read_policy_config, run_options

NAME = "check"
HELP = "offline policy check: plan under mocks and evaluate the policy pack"



def positive(text: str) -> int:
    """A count of one or more (argparse turns the ValueError into a usage error, exit 2)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a number of workers: give 1 or more")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stacks", nargs="*", metavar="STACK",
                        help="stacks to check, or one directory of stack files (default: every stack file)")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="how to print the result: text (default), json, sarif (SARIF 2.1.0 for code scanning) "
                             "or junit (JUnit XML for CI test reports)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (the same as --format json)")
    parser.add_argument("--policy-config", metavar="FILE",
                        help="the policy-pack config to use (default: made from each stack's ECRs and waivers)")
    parser.add_argument("--jobs", type=positive, default=None, help="parallel worker processes (default: one per core)")
    parser.add_argument("--no-cache", action="store_true",
                        help="check every stack afresh; by default a stack's result is reused when nothing it reads "
                             "has changed (kept in $ENVCTL_CACHE_DIR, else $XDG_CACHE_HOME/envctl or ~/.cache/envctl)")


def output_format(args: argparse.Namespace) -> str:
    """The one place the check command picks its output format."""
    if args.json and args.format not in (None, "json"):
        raise UsageError(f"--json and --format {args.format} ask for two formats: give one")
    return "json" if args.json else args.format or "text"


def run(args: argparse.Namespace) -> int:
    stacks_dir, stacks = stackfile.select(args.stacks_dir, args.stacks)
    policy_config = read_policy_config(args.policy_config) if args.policy_config else None
    project = stackfile.program_dir(stacks_dir)
    stackfile.project_name(project)  # the project file first: a broken one is refused as such
    try:  # what the pack's release rules read, refused before anything is planned
        releases.load(project)
    except releases.ReleasesError as e:
        raise UsageError(f"{e} (in {project}); nothing was checked") from None
    fmt = output_format(args)
    trust = TrustRoot.own()
    results = check_all(stackfile.program_dir(stacks_dir), stacks_dir, stacks, policy_config, run_options(),
                        jobs=args.jobs, cache_dir=None if args.no_cache else cache.default_dir(), progress=Progress())
    results = with_qualification(with_fleet_refusals(results, refusals(stacks_dir, stacks)), stacks_dir, trust)
    print(render(fmt, results, trust=trust, checked=stacks_dir))
    unchecked = [r.error for r in results if r.error]
    if unchecked:
        raise UsageError(*unchecked)
    return status_codes.PROBLEM if any(r.mandatory for r in results) else status_codes.OK
