"""envctl diff STACK_A STACK_B [--state-a F] [--state-b F] [--pdf FILE] [--json]: compare two environments and say
why each difference is there (envctl.evidence.diff). Exit 0 when every difference is explained by the phase catalog
or the stack settings, 1 when any is unexplained, 2 on bad input."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from changecontrol import clock
from changecontrol.records import utc_text
from changecontrol.trust import TrustRoot

from .. import stackfile, status_codes
from ..errors import UsageError
from ..evidence import diff
from ..evidence.environment import from_plan, read_export
from ..planning import plan_all
from ..progress import Progress
from ..runs import run_options

NAME = "diff"
HELP = "compare two environments; every difference explained by the phase catalog, the settings, or unexplained"
DESCRIPTION = ("Compare two environments (offline plans, or with --state-a/--state-b what `pulumi stack export` "
               "records as installed) after normalising names, ids, account ids and secrets. Exit 1 when any "
               "difference is unexplained.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack_a", metavar="STACK_A", help="the environment compared from, such as preprod")
    parser.add_argument("stack_b", metavar="STACK_B", help="the environment compared with it, such as val")
    parser.add_argument("--state-a", type=Path, metavar="EXPORT.json", help="`pulumi stack export` of STACK_A")
    parser.add_argument("--state-b", type=Path, metavar="EXPORT.json", help="`pulumi stack export` of STACK_B")
    parser.add_argument("--pdf", type=Path, metavar="FILE", help="also write the diff as a PDF for Quality")
    parser.add_argument("--json", action="store_true", help="print the diff as JSON")


def environments(stacks_dir: Path, stacks: list[str], states: dict[str, Path | None]):
    """Each stack's environment: its export where one is given, else its offline plan (an unapproved desired state
    is compared too: a diff reviews a proposed change before it is approved)."""
    exported = {s: read_export(states[s], s) for s in stacks if states.get(s) is not None}  # refused before planning
    planned = [s for s in stacks if s not in exported]
    runs = {}
    if planned:
        for stack, run, error in plan_all(stackfile.program_dir(stacks_dir), stacks_dir,
                                          run_options(review_only=True), planned, progress=Progress()):
            if error is not None:
                raise UsageError(f"stack '{stack}' could not be planned, so there is nothing to compare: {error}")
            runs[stack] = run
    return {s: exported[s] if s in exported else from_plan(runs[s]) for s in stacks}


def run(args: argparse.Namespace) -> int:
    if args.stack_a == args.stack_b:
        raise UsageError(f"diff compares two environments: STACK_A and STACK_B are both '{args.stack_a}'")
    stacks_dir, stacks = stackfile.select(args.stacks_dir, [args.stack_a, args.stack_b])
    print(TrustRoot.own().describe(stacks_dir), file=sys.stderr)  # whose approvals the plans trust
    settings = {s: stackfile.load_stack_settings(stacks_dir, s) for s in stacks}
    found = environments(stacks_dir, stacks, {args.stack_a: args.state_a, args.stack_b: args.state_b})
    report = diff.compare(found[args.stack_a], settings[args.stack_a], found[args.stack_b], settings[args.stack_b])
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
    else:
        print(diff.render_text(report))
    if args.pdf is not None:
        now = clock.now()
        document_id = f"DIFF-{args.stack_a}-{args.stack_b}-{now.strftime('%Y%m%dT%H%M%SZ')}"
        written = diff.write_pdf(report, args.pdf, document_id, utc_text(now))
        print(f"Wrote {written} ({document_id}).", file=sys.stderr)
    return status_codes.PROBLEM if report.unexplained else status_codes.OK
