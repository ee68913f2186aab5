"""envctl: the platform team's command line around the Pulumi program.

Exit codes: 0 success; 1 a check found a mandatory violation; 2 invalid configuration or usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from . import stackfile
from .aws_ops import register as register_aws_ops
from .ecr_cli import register as register_ecr
from .offline import LocalStacks, StackRun, StackRunError
from .plan import plan_json, render_tree

EXIT_OK, EXIT_VIOLATION, EXIT_INVALID = 0, 1, 2


class UsageError(Exception):
    pass


def _stacks(args: argparse.Namespace) -> list[str]:
    """The STACK arguments; with none, every stack file. A directory argument means all its stack files."""
    if len(args.stacks) == 1 and Path(args.stacks[0]).is_dir():
        args.dir = Path(args.stacks[0]).resolve()
        args.stacks = []
    where = args.dir
    found = stackfile.discover(where)
    if not args.stacks:
        if not found:
            raise UsageError(f"no stack files (Pulumi.<stack>.yaml) in {where}")
        return found
    missing = [s for s in args.stacks if s not in found]
    if missing:
        raise UsageError(
            f"no stack file for {', '.join(missing)} in {where}; stacks there: {', '.join(found) or 'none'}"
        )
    return list(args.stacks)


def run_all(stacks_dir: Path, stacks: Sequence[str]) -> list[tuple[str, StackRun | None, str | None]]:
    """Plan each stack offline; a stack that fails carries its error instead of a run."""
    local = LocalStacks(stackfile.program_dir(stacks_dir), stacks_dir)
    results: list[tuple[str, StackRun | None, str | None]] = []
    for stack in stacks:
        try:
            results.append((stack, local.run(stack), None))
        except StackRunError as e:
            results.append((stack, None, str(e)))
    return results


def cmd_plan(args: argparse.Namespace) -> int:
    stacks = _stacks(args)
    results = run_all(args.dir, stacks)
    if args.json:
        print(plan_json(results))
    else:
        for i, (stack, run, error) in enumerate(results):
            if i:
                print("\n" + "=" * 100 + "\n")
            print(render_tree(run) if run is not None else f"Plan of stack '{stack}' failed.")
            for warning in run.warnings if run is not None else ():
                print(f"  {warning}")
    failed = [(s, e) for s, _, e in results if e]
    for _, error in failed:
        print(f"error: {error}", file=sys.stderr)
    return EXIT_INVALID if failed else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from .check import check_all, render, to_json

    stacks = _stacks(args)
    policy_config = None
    if args.policy_config:
        try:
            policy_config = json.loads(Path(args.policy_config).read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"--policy-config {args.policy_config}: not a readable JSON file ({e})") from None
        if not isinstance(policy_config, dict):
            raise UsageError(f"--policy-config {args.policy_config}: expected a JSON object")
    today = datetime.now(timezone.utc).date()
    results = check_all(stackfile.program_dir(args.dir), args.dir, stacks, policy_config, today, jobs=args.jobs)
    print(to_json(results) if args.json else render(results))
    if any(r.error for r in results):
        return EXIT_INVALID
    return EXIT_VIOLATION if any(r.mandatory for r in results) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="envctl", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path.cwd(),
                        help="where the stack files, change-records/ and waivers/ are (default: the current "
                             "directory); the program is that directory's Pulumi project, or this repository's")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plan", help="offline plan: run the program under mocks and print the resource tree")
    p.add_argument("stacks", nargs="*", metavar="STACK", help="stacks to plan (default: every stack file)")
    p.add_argument("--json", action="store_true", help="print every registered resource as JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("check", help="offline policy check: plan under mocks and evaluate the policy pack")
    p.add_argument("stacks", nargs="*", metavar="STACK",
                   help="stacks to check, or one directory of stack files (default: every stack file)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--policy-config", metavar="FILE",
                   help="the policy-pack config to use (default: made from each stack's ECRs and waivers)")
    p.add_argument("--jobs", type=int, default=None, help="parallel worker processes (default: one per core)")
    p.set_defaults(func=cmd_check)

    register_ecr(sub)
    register_aws_ops(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse prints its own usage message
        return EXIT_INVALID if e.code else EXIT_OK
    args.dir = args.dir.resolve()
    try:
        return args.func(args)
    except (UsageError, stackfile.StackFileError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
