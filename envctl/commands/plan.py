"""envctl plan [STACK ...|./DIR] [--json]: the offline plan of each stack, as `pulumi preview` shows it.

What only the whole directory shows (envctl.fleet: overlapping networks, one environment twice) refuses
the stacks concerned, as `envctl check` does: their plans are printed, and the command ends in exit 2."""

from __future__ import annotations

import argparse

from changecontrol.trust import TrustRoot

from .. import stackfile, status_codes
from ..errors import UsageError
from ..fleet import refusals
from ..plan import plan_json, render_tree
from ..runs import plan_all

NAME = "plan"
HELP = "offline plan: run the program under mocks and print the resource tree"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stacks", nargs="*", metavar="STACK", help="stacks to plan (default: every stack file)")
    parser.add_argument("--json", action="store_true", help="print every registered resource as JSON")


def run(args: argparse.Namespace) -> int:
    stacks_dir, stacks = stackfile.select(args.stacks_dir, args.stacks)
    trust = TrustRoot.own().describe(stacks_dir)
    refused = refusals(stacks_dir, stacks)  # read from the stack files alone, before anything is planned
    results = plan_all(stacks_dir, stacks)
    if args.json:
        print(plan_json([(s, r, "; ".join(filter(None, (str(e) if e else None, refused.get(s)))) or None)
                         for s, r, e in results]))
    else:
        print(trust + "\n")
        for i, (stack, run_, error) in enumerate(results):
            if i:
                print("\n" + "=" * 100 + "\n")
            if run_ is not None:
                print(render_tree(run_))
            elif error is not None and error.kind == "unapproved":
                print(f"Plan of stack '{stack}' REFUSED by the program: {error}")
            else:
                print(f"Plan of stack '{stack}' failed.")
            for warning in run_.warnings if run_ is not None else ():
                print(f"  {warning}")
            if stack in refused:
                print(f"Stack '{stack}' REFUSED by the directory: {refused[stack]}")
    failed = [str(e) for _, _, e in results if e is not None and e.kind != "unapproved"]
    failed += [refused[s] for s, _, _ in results if s in refused]
    if failed:
        raise UsageError(*failed)
    return status_codes.PROBLEM if any(e is not None for _, _, e in results) else status_codes.OK
