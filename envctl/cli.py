"""envctl: the platform team's command line around the Pulumi program.

Exit codes: 0 success; 1 a check found a mandatory violation (an untracked change among them); 2 invalid
configuration or usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Sequence

from changecontrol import runcontext, strictyaml
from changecontrol.trust import ExampleError, TrustRoot, load_example

from . import stackfile
from .aws_ops import register as register_aws_ops
from .check import now_of
from .ecr_cli import register as register_ecr
from .offline import RunOptions, StackRun, StackRunError
from .plan import plan_json, render_tree
from .planning import stacks_for

EXIT_OK, EXIT_VIOLATION, EXIT_INVALID = 0, 1, 2


class UsageError(Exception):
    pass


def _is_directory_argument(arg: str) -> bool:
    """A directory is written as a path (`./fleet`, `/srv/fleet`, `.`); a bare word is always a stack."""
    return "/" in arg or arg in (".", "..")


def _stacks(args: argparse.Namespace) -> list[str]:
    """The STACK arguments; with none, every stack file. One path argument means all its stack files."""
    if len(args.stacks) == 1 and _is_directory_argument(args.stacks[0]):
        path = Path(args.stacks[0])
        if not path.is_dir():
            raise UsageError(f"{args.stacks[0]}: not a directory")
        args.dir = path.resolve()
        args.stacks = []
    where = args.dir
    found = stackfile.discover(where)
    if not args.stacks:
        if not found:
            raise UsageError(f"no stack files (Pulumi.<stack>.yaml) in {where}")
        return found
    paths = [s for s in args.stacks if _is_directory_argument(s)]
    if paths:
        raise UsageError(f"give either stack names or one directory, not both ({', '.join(paths)})")
    decoys = [s for s in args.stacks if (Path(where) / s).exists() and not (Path(where) / s).is_file()]
    if decoys:
        raise UsageError(f"{', '.join(decoys)}: a directory in {where} is named like the stack; a stack is only ever "
                         "its stack file Pulumi.<stack>.yaml: rename the directory (a directory of stack files is "
                         "given as a path, such as ./fleet)")
    missing = [s for s in args.stacks if s not in found]
    if missing:
        raise UsageError(
            f"no stack file for {', '.join(missing)} in {where}; stacks there: {', '.join(found) or 'none'}"
        )
    return list(args.stacks)


def _options(review_only: bool = False) -> RunOptions:
    context = runcontext.current()
    return RunOptions(now=context.now, example=context.example, review_only=review_only)


def run_all(stacks_dir: Path, stacks: Sequence[str]) -> list[tuple[str, StackRun | None, StackRunError | None]]:
    """Plan each stack offline; a stack that fails carries its error instead of a run."""
    local = stacks_for(stackfile.program_dir(stacks_dir), stacks_dir, _options(), list(stacks))
    results: list[tuple[str, StackRun | None, StackRunError | None]] = []
    for stack in stacks:
        try:
            results.append((stack, local.run(stack), None))
        except StackRunError as e:
            results.append((stack, None, e))
    return results


def cmd_plan(args: argparse.Namespace) -> int:
    stacks = _stacks(args)
    trust = TrustRoot.own().describe(args.dir)
    results = run_all(args.dir, stacks)
    if args.json:
        print(plan_json([(s, r, str(e) if e else None) for s, r, e in results]))
    else:
        print(trust + "\n")
        for i, (stack, run, error) in enumerate(results):
            if i:
                print("\n" + "=" * 100 + "\n")
            if run is not None:
                print(render_tree(run))
            elif error is not None and error.kind == "unapproved":
                print(f"Plan of stack '{stack}' REFUSED by the program: {error}")
            else:
                print(f"Plan of stack '{stack}' failed.")
            for warning in run.warnings if run is not None else ():
                print(f"  {warning}")
    for _, _, error in results:
        if error is not None and error.kind != "unapproved":
            print(f"error: {error}", file=sys.stderr)
    if any(e is not None and e.kind != "unapproved" for _, _, e in results):
        return EXIT_INVALID
    return EXIT_VIOLATION if any(e is not None for _, _, e in results) else EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from .check import check_all, render, to_json

    stacks = _stacks(args)
    policy_config = None
    if args.policy_config:
        try:
            policy_config = strictyaml.loads_json(Path(args.policy_config).read_bytes(), args.policy_config)
        except OSError as e:
            raise UsageError(f"--policy-config {args.policy_config}: not a readable JSON file ({e.strerror or e})") from None
        except strictyaml.StrictYamlError as e:
            raise UsageError(f"--policy-config {e}") from None
        if not isinstance(policy_config, dict):
            raise UsageError(f"--policy-config {args.policy_config}: expected a JSON object")
    trust = TrustRoot.own()
    results = check_all(stackfile.program_dir(args.dir), args.dir, stacks, policy_config, _options(), jobs=args.jobs)
    print(to_json(results, trust, args.dir) if args.json else render(results, trust.describe(args.dir)))
    if any(r.error for r in results):
        return EXIT_INVALID
    return EXIT_VIOLATION if any(r.mandatory for r in results) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="envctl", description=__doc__.splitlines()[0])
    parser.add_argument("--example", action="store_true",
                        help="example mode: trust the published example keys (tests/example) for the shipped example "
                             "stacks only, and check them as of the date pinned there; never for a real stack")
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


def _safe_import_path() -> None:
    """No process of envctl imports from the working directory, which in CI is the checkout under check:
    a planted `multiprocessing.py` or `json.py` there would otherwise run in envctl's worker processes
    (spawned as `python -c`, which puts the working directory first) or in envctl itself."""
    os.environ["PYTHONSAFEPATH"] = "1"  # inherited by every child envctl starts
    if not sys.flags.safe_path and sys.path and sys.path[0] in ("", ".", os.getcwd()):
        del sys.path[0]  # the entry `python -m`/`-c` adds implicitly; an explicit PYTHONPATH entry stays


def main(argv: Sequence[str] | None = None) -> int:
    _safe_import_path()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse prints its own usage message
        return EXIT_INVALID if e.code else EXIT_OK
    args.dir = args.dir.resolve()
    try:
        context = runcontext.RunContext()
        if args.example:
            example = load_example(TrustRoot.own().directory)
            context = runcontext.RunContext(now=now_of(TrustRoot(TrustRoot.own().directory, example)), example=example)
        with runcontext.using(context):
            return args.func(args)
    except (UsageError, stackfile.StackFileError, ExampleError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INVALID
    except (RecursionError, MemoryError, OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        if os.environ.get("ENVCTL_DEBUG"):
            raise
        print(f"error: envctl could not handle this input ({type(e).__name__}: {str(e)[:300]}); nothing was "
              "changed. This is a defect of envctl: please report it (ENVCTL_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
