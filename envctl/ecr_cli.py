"""envctl commands around change control: `ecr new|approve|verify|list`, `digest`, `policy-config`.

``register(subparsers)`` adds them to envctl's parser. Each command returns an exit code:
0 success; 1 a check found a problem (a chain that does not verify); 2 invalid configuration or a
refused request (unknown stack, invalid stack config, approval by the requester, ...).

Also runnable on its own: ``python -m envctl.ecr_cli [--dir DIR] COMMAND ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from components.settings import InvalidStackConfig

from . import ecr, stackfile

EXIT_OK, EXIT_PROBLEM, EXIT_INVALID = 0, 1, 2


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _err(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _refusals(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Refused requests and invalid stacks print their message and exit 2, without a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except InvalidStackConfig as e:
            print(str(e), file=sys.stderr)
            return EXIT_INVALID
        except (ecr.EcrError, stackfile.StackFileError) as e:
            _err(str(e))
            return EXIT_INVALID

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def _require_stack(project_dir: Path, stack: str, *, records_suffice: bool = False) -> None:
    known = stackfile.discover(project_dir)
    if stack in known or (records_suffice and stack in ecr.stacks_with_records(project_dir)):
        return
    raise ecr.UnknownStack(stack, known, project_dir)


def _print_problems(problems: Sequence[ecr.Problem]) -> None:
    for p in problems:
        print(f"  {p.path}\n      wrong: {p.message}\n      to do: {p.fix}")


def _policy_names() -> list[str]:
    try:
        from policies.pack import RULE_IDS  # lazily: only policy-config needs the pack
    except ImportError as e:
        raise ecr.EcrError(f"cannot load the policy pack (policies.pack): {e}") from None
    return list(RULE_IDS)


# --------------------------------------------------------------------------------------------
# ecr new | approve | verify | list
# --------------------------------------------------------------------------------------------
@_refusals
def cmd_ecr_new(args: argparse.Namespace) -> int:
    """Draft the next record of a controlled stack, approving its current desired state."""
    record = ecr.draft(args.dir, args.stack, args.title, args.reason, args.by, args.classification, _now())
    print(f"Drafted {record.id} ({ecr.RECORDS_DIR}/{record.stack}/{record.id}.yaml), pending approval.")
    print(f"  desired state: {record.digest}")
    print(f"  requested by:  {record.requested_by} at {ecr.utc_text(record.requested_at)}")
    print("Next: someone other than the requester approves it, then commit the record:")
    print(f"  envctl ecr approve {record.id} --by <someone else>")
    return EXIT_OK


@_refusals
def cmd_ecr_approve(args: argparse.Namespace) -> int:
    """Approve the last, pending record of a chain."""
    record = ecr.approve(args.dir, args.record, args.by, _now())
    stack = record.stack
    print(f"Approved {record.id} by {record.approved_by} at {ecr.utc_text(record.approved_at)}.")
    print(f"  desired state: {record.digest}")
    print(f"  record hash:   {record.hash}")
    try:
        current = ecr.current_digest(args.dir, stack, _now().date())
    except (ecr.EcrError, stackfile.StackFileError, InvalidStackConfig):
        current = None
    if current is not None and current != record.digest:
        _note(f"stack '{stack}' now computes desired state {current}, not the one {record.id} approves "
              "(a setting or the code changed since it was drafted): pulumi preview will refuse the current state "
              f"until a record approves it (envctl ecr new {stack} ...)")
    print("Next: commit the record, name it in the stack file and check the change:")
    print(f"  git add {ecr.RECORDS_DIR}/{stack}/{record.id}.yaml")
    print(f"  pulumi config set change_record {record.id} --stack {stack}")
    print(f"  envctl policy-config {stack} --output policy-config.{stack}.json")
    print(f"  pulumi preview --stack {stack} --policy-pack policies --policy-pack-config policy-config.{stack}.json")
    return EXIT_OK


@_refusals
def cmd_ecr_verify(args: argparse.Namespace) -> int:
    """Verify one chain, or every chain under change-records/."""
    if args.stack is not None:
        _require_stack(args.dir, args.stack, records_suffice=True)
        stacks = [args.stack]
    else:
        stacks = ecr.stacks_with_records(args.dir)
        if not stacks:
            print(f"No change records under {ecr.RECORDS_DIR}/.")
            return EXIT_OK
    failed = 0
    for stack in stacks:
        chain = ecr.load_chain(args.dir, stack)
        if chain.ok:
            approved = sum(1 for r in chain.records if r.approved)
            print(f"ok      {stack}: {len(chain.records)} record(s), {approved} approved, chain intact")
        else:
            failed += 1
            print(f"BROKEN  {stack}: {len(chain.problems)} problem(s); this chain approves nothing until repaired")
            _print_problems(chain.problems)
    if failed:
        print(f"\n{failed} of {len(stacks)} chain(s) do not verify.")
        return EXIT_PROBLEM
    return EXIT_OK


def _named_record(project_dir: Path, stack: str) -> str | None:
    try:
        project = stackfile.project_name(stackfile.program_dir(project_dir))
        return stackfile.read(project_dir, stack, project).config.get(f"{project}:change_record")
    except stackfile.StackFileError:
        return None


@_refusals
def cmd_ecr_list(args: argparse.Namespace) -> int:
    """Table of a stack's records, marking the one that approves the current desired state."""
    _require_stack(args.dir, args.stack, records_suffice=True)
    chain = ecr.load_chain(args.dir, args.stack)
    current: str | None = None
    why_no_current = ""
    try:
        current = ecr.current_digest(args.dir, args.stack, _now().date())
    except InvalidStackConfig as e:
        why_no_current = f"the stack's configuration is invalid:\n{e}"
    except (ecr.UnknownStack, stackfile.StackFileError) as e:
        why_no_current = str(e)
    approving = chain.approving(current) if current else None

    header = ("ID", "CLASS", "REQUESTED BY", "REQUESTED AT", "APPROVED BY", "APPROVED AT", "DIGEST", "")
    rows = []
    for r in chain.records:
        mark = ""
        if approving is not None and r.id == approving.id:
            mark = "<= approves the current state"
        elif current and r.digest == current and not r.approved:
            mark = "<= names the current state (pending)"
        rows.append((
            r.id, r.classification, r.requested_by, ecr.utc_text(r.requested_at),
            r.approved_by or "PENDING", ecr.utc_text(r.approved_at) if r.approved_at else "-",
            r.digest[:len("sha256:") + 12], mark,
        ))
    if rows:
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    else:
        print(f"No change records for stack '{args.stack}'.")

    print()
    if current:
        print(f"Current desired state: {current}")
        if approving is not None:
            print(f"  approved by {approving.id}.")
        elif chain.ok and chain.last is not None and not chain.last.approved and chain.last.digest == current:
            print(f"  NOT approved yet; {chain.last.id} names it and is pending: "
                  f"envctl ecr approve {chain.last.id} --by <someone other than {chain.last.requested_by}>")
        elif chain.ok:
            print(f"  NOT approved by any record: envctl ecr new {args.stack} --title ... --reason ... --by ...")
    else:
        print(f"Current desired state: unknown ({why_no_current})")
    named = _named_record(args.dir, args.stack)
    if named:
        state = "approved" if named in chain.approved_records else (
            "pending" if chain.get(named) else "NOT a record of this chain")
        print(f"Pulumi.{args.stack}.yaml names {named} ({state}).")
    if not chain.ok:
        print("\nThe chain does not verify; it approves nothing until repaired:")
        _print_problems(chain.problems)
        return EXIT_PROBLEM
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# digest | policy-config
# --------------------------------------------------------------------------------------------
@_refusals
def cmd_digest(args: argparse.Namespace) -> int:
    """Print the stack's current desired-state digest (what an ECR approves)."""
    print(ecr.current_digest(args.dir, args.stack, _now().date()))
    return EXIT_OK


@_refusals
def cmd_policy_config(args: argparse.Namespace) -> int:
    """Write the stack's --policy-pack-config JSON (approvals from its verified chain, its waivers)."""
    _require_stack(args.dir, args.stack)
    today = _now().date()
    names = _policy_names()
    config = ecr.policy_config(args.dir, args.stack, names, advisory=args.advisory or (), today=today)
    text = json.dumps(config, indent=2) + "\n"
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
        print(f"Wrote {args.output}. Next:", file=sys.stderr)
        print(f"  pulumi preview --stack {args.stack} --policy-pack policies --policy-pack-config {args.output}",
              file=sys.stderr)
    else:
        sys.stdout.write(text)

    settings = ecr.stack_settings(args.dir, args.stack, today)
    chain = ecr.load_chain(args.dir, args.stack)
    if ecr.APPROVED_STATE_RULE not in names and settings.phase_spec.controlled:
        _note(f"the policy pack has no rule {ecr.APPROVED_STATE_RULE}: nothing compares the deployed state "
              "with the approved digests")
    if settings.phase_spec.controlled and chain.ok:
        current = ecr.current_digest(args.dir, args.stack, today)
        if chain.approving(current) is None:
            _note(f"the current desired state {current} of stack '{args.stack}' is approved by no record: "
                  f"{ecr.APPROVED_STATE_RULE} will refuse it (envctl ecr new {args.stack} ...)")
    for w in ecr.load_waivers(args.dir, args.stack, settings.phase_spec.controlled, names):
        if w.expires < today:
            _note(f"waiver of {w.rule} on {w.resource} expired on {w.expires}: the pack refuses it; remove or renew it")
        if w.ecr and w.ecr not in chain.approved_records:
            _note(f"waiver of {w.rule} on {w.resource} names {w.ecr}, which is not an approved record of "
                  f"'{args.stack}': the pack refuses it")
    if not chain.ok:
        _err(f"the change records of stack '{args.stack}' do not verify, so this config approves nothing "
             "(fail closed):")
        for p in chain.problems:
            print(f"  - {p.path}: {p.message} ({p.fix})", file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# Wiring
# --------------------------------------------------------------------------------------------
def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `ecr`, `digest` and `policy-config` to envctl's subcommands."""
    p = subparsers.add_parser("ecr", help="Environment Change Records: draft, approve, verify, list",
                              description="Environment Change Records of the change-controlled stacks, kept in "
                                          f"{ecr.RECORDS_DIR}/<stack>/ and chained by hash.")
    actions = p.add_subparsers(dest="ecr_command", required=True, metavar="ACTION")

    a = actions.add_parser("new", help="draft the next record, approving the stack's current desired state")
    a.add_argument("stack", metavar="STACK")
    a.add_argument("--title", required=True, help="one line: what changes")
    a.add_argument("--reason", required=True, help="why the change is made")
    a.add_argument("--by", required=True, metavar="WHO", help="who requests it")
    a.add_argument("--classification", choices=ecr.CLASSIFICATIONS, default="standard",
                   help="standard (default), minor or emergency")
    a.set_defaults(func=cmd_ecr_new)

    a = actions.add_parser("approve", help="approve the last, pending record (not by its requester)")
    a.add_argument("record", metavar="ID", help="the record id, such as ECR-prod-0002")
    a.add_argument("--by", required=True, metavar="WHO", help="who approves it (not the requester)")
    a.set_defaults(func=cmd_ecr_approve)

    a = actions.add_parser("verify", help="verify the chains (edited, removed or misfiled records)")
    a.add_argument("stack", nargs="?", metavar="STACK", help="one stack (default: every chain)")
    a.set_defaults(func=cmd_ecr_verify)

    a = actions.add_parser("list", help="the records of a stack, marking the one approving the current state")
    a.add_argument("stack", metavar="STACK")
    a.set_defaults(func=cmd_ecr_list)

    p = subparsers.add_parser("digest", help="print a stack's desired-state digest (what an ECR approves)")
    p.add_argument("stack", metavar="STACK")
    p.set_defaults(func=cmd_digest)

    p = subparsers.add_parser("policy-config", help="write a stack's --policy-pack-config (approvals, waivers)")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("--output", type=Path, metavar="FILE", help="write the JSON to FILE (default: standard output)")
    p.add_argument("--advisory", action="append", metavar="RULE", default=[],
                   help="lower RULE to advisory (repeatable; uncontrolled stacks only)")
    p.set_defaults(func=cmd_policy_config)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point (envctl's own parser normally carries these commands)."""
    parser = argparse.ArgumentParser(prog="python -m envctl.ecr_cli", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="the Pulumi project directory")
    register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return EXIT_INVALID if e.code else EXIT_OK
    args.dir = args.dir.resolve()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
