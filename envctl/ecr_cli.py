"""envctl commands around change control: `ecr new|approve|verify|list`, `digest`, `policy-config`.

``register(subparsers)`` adds them to envctl's parser. Each command returns an exit code:
0 success; 1 a check found a problem (a chain that does not verify, a deployed record that is no
longer the one in the chain); 2 a refused request (unknown stack, invalid stack config, approval
by the requester, a key the signers file does not list, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from changecontrol import clock, layout, strictyaml
from changecontrol.records import utc_text
from changecontrol.sshsig import SignatureError
from changecontrol.stackfiles import StackFileError
from changecontrol.trust import TrustRoot
from components.settings import InvalidStackConfig

from . import ecr, stackfile

EXIT_OK, EXIT_PROBLEM, EXIT_INVALID = 0, 1, 2


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
        except (ecr.EcrError, StackFileError, SignatureError, strictyaml.StrictYamlError) as e:
            _err(str(e))
            return EXIT_INVALID

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def _trust(args: argparse.Namespace) -> TrustRoot:
    trust = TrustRoot.own()
    print(trust.describe(args.dir), file=sys.stderr)
    return trust


def _print_problems(problems: Sequence[object]) -> None:
    for p in problems:
        print(f"  - {p}")


# --------------------------------------------------------------------------------------------
# ecr new | approve | verify | list
# --------------------------------------------------------------------------------------------
@_refusals
def cmd_ecr_new(args: argparse.Namespace) -> int:
    """Draft the next record of a chain, approving its current state, signed with your key."""
    trust = _trust(args)
    key = ecr.signing_key(args.key)
    record = ecr.draft(args.dir, args.stack, args.title, args.reason, args.classification, key, trust, clock.now())
    files = layout.record_files(record.id)
    print(f"Drafted {record.id} ({layout.RECORDS_DIR}/{record.chain}/{files['record']}), signed by "
          f"{record.requested_by}; pending approval.")
    print(f"  approves: {record.digest}")
    print(f"  requested by {record.requested_by} at {utc_text(record.requested_at)}")
    print("Next: someone else, with their own key, reviews and approves it:")
    print(f"  envctl ecr approve {record.id} --key <approver's key>")
    return EXIT_OK


@_refusals
def cmd_ecr_approve(args: argparse.Namespace) -> int:
    """Approve the last, pending record of a chain, signed with your key (not the requester's)."""
    trust = _trust(args)
    key = ecr.signing_key(args.key)
    approval = ecr.approve(args.dir, args.record, key, trust, clock.now())
    chain = layout.RECORD_ID.match(args.record)["chain"]
    files = layout.record_files(approval.record)
    print(f"Approved {approval.record} by {approval.approved_by} at {utc_text(approval.approved_at)} "
          f"({layout.RECORDS_DIR}/{chain}/{files['approval']}, signed).")
    print("Next: commit the record's four files" + ("" if chain in layout.SPECIAL_CHAINS else
                                                    f", name the record in Pulumi.{chain}.yaml") + ", and check:")
    print(f"  git add {layout.RECORDS_DIR}/{chain}/{approval.record}.*")
    if chain not in layout.SPECIAL_CHAINS:
        print(f"  pulumi config set change_record {approval.record} --stack {chain}")
        print(f"  envctl check {chain}")
    return EXIT_OK


@_refusals
def cmd_ecr_verify(args: argparse.Namespace) -> int:
    """Verify one chain, or every chain under change-records/ (and, with --state, the deployed anchor)."""
    trust = _trust(args)
    if args.stack is not None:
        if args.stack not in ecr.chains_present(args.dir):
            ecr.chain_kind(args.dir, args.stack)  # an unknown name is a usage error (exit 2)
            print(f"NO CHAIN  {args.stack}: no records under {layout.RECORDS_DIR}/{args.stack}/, so nothing is "
                  "approved for it")
            return EXIT_PROBLEM
        names = [args.stack]
    else:
        names = ecr.chains_present(args.dir)
        if not names:
            print(f"NO CHAINS: no records under {args.dir / layout.RECORDS_DIR}; nothing is approved here")
            return EXIT_PROBLEM
    anchor = None
    if args.state is not None:
        if args.stack is None:
            raise ecr.EcrError("--state compares one stack's chain with its deployed state: name the stack")
        try:
            anchor = ecr.deployed_anchor(strictyaml.loads_json(Path(args.state).read_bytes(), str(args.state)))
        except OSError as e:
            raise ecr.EcrError(f"--state {args.state}: cannot be read ({e.strerror or e})") from None
    failed = 0
    for name in names:
        chain, signer_problems = ecr.load(args.dir, name, trust)
        problems = [str(p) for p in signer_problems] + [str(p) for p in chain.problems if str(p) not in signer_problems]
        if args.state is not None:
            problems += ecr.anchor_problems(chain, anchor, str(args.state))
        approved = sum(1 for e in chain.entries if e.approved)
        if problems:
            failed += 1
            print(f"BROKEN  {name}: {len(problems)} problem(s); this chain approves nothing until repaired")
            _print_problems(problems)
        else:
            extra = f"; the deployed state's {anchor['record']} is in it unchanged" if anchor else ""
            lapsed = sum(1 for e in chain.entries if e.lapsed)
            lapsed_text = f" ({lapsed} approval(s) lapsed: their signer is no longer listed)" if lapsed else ""
            print(f"ok      {name}: {len(chain.entries)} record(s), {approved} approved{lapsed_text}, every signature "
                  f"verifies{extra}")
    if failed:
        print(f"\n{failed} of {len(names)} chain(s) do not verify.")
        return EXIT_PROBLEM
    return EXIT_OK


@_refusals
def cmd_ecr_list(args: argparse.Namespace) -> int:
    """Table of a chain's records, marking the one that approves the current state."""
    trust = _trust(args)
    ecr.chain_kind(args.dir, args.stack)
    chain, signer_problems = ecr.load(args.dir, args.stack, trust)
    try:
        now = ecr.current(args.dir, args.stack, clock.today())
        current, why = now.digest, ""
    except (ecr.EcrError, InvalidStackConfig, StackFileError) as e:
        current, why = None, str(e)
    header = ("ID", "CLASS", "REQUESTED BY", "REQUESTED AT", "APPROVED BY", "APPROVED AT", "STATE", "")
    rows, before = [], None
    for e in chain.entries:
        r, a = e.record, e.approval
        if r is None:
            rows.append((e.id, "?", "?", "?", "?", "?", "?", "unreadable"))
            continue
        mark = ""
        if current and r.digest == current:
            mark = "<= approves the current state" if e.approved else "<= names the current state (pending)"
        approver = (a.approved_by if e.approved else f"{a.approved_by} (LAPSED: no longer a signer)") if a else "PENDING"
        rows.append((e.id, r.classification, r.requested_by, utc_text(r.requested_at), approver,
                     utc_text(a.approved_at) if a else "-", r.digest[:len("sha256:") + 12], mark))
        if args.changes:
            changed = ecr.changed_keys(before, r.state)
            rows.append(("", "", "changes: " + ", ".join(changed[:6]) + (" ..." if len(changed) > 6 else ""),
                         "", "", "", "", ""))
        before = r.state
    if rows:
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    else:
        print(f"No change records for '{args.stack}'.")
    print()
    print(f"Current state: {current}" if current else f"Current state: unknown ({why})")
    problems = signer_problems + [str(p) for p in chain.problems]
    if problems:
        print("\nThe chain does not verify; it approves nothing until repaired:")
        _print_problems(problems)
        return EXIT_PROBLEM
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# digest | policy-config
# --------------------------------------------------------------------------------------------
@_refusals
def cmd_digest(args: argparse.Namespace) -> int:
    """Print what a record of the chain would approve now (a stack's desired state, the tooling, the signers)."""
    print(ecr.current(args.dir, args.stack, clock.today()).digest)
    return EXIT_OK


@_refusals
def cmd_policy_config(args: argparse.Namespace) -> int:
    """Write the stack's --policy-pack-config JSON: enforcement levels and, when needed, where the project is."""
    from policies.facts import PROJECT_DIR_KEY
    from policies.pack import RULE_IDS

    if ecr.chain_kind(args.dir, args.stack) != "stack":
        raise ecr.EcrError(f"'{args.stack}' is a chain of its own, not a stack: it has no policy config")
    settings = stackfile.load_stack_settings(args.dir, args.stack, clock.today())
    controlled = settings.phase_spec.controlled
    advisory = list(dict.fromkeys(args.advisory or ()))
    if advisory and controlled:
        raise ecr.EcrError(f"stack '{args.stack}' is change-controlled (phase {settings.phase}): every rule stays "
                           "mandatory and --advisory is refused. Fix the finding, or waive it for one resource in "
                           f"{layout.WAIVERS_DIR}/{args.stack}.yaml (approved with the stack's state)")
    unknown = [r for r in advisory if r not in RULE_IDS]
    if unknown:
        raise ecr.EcrError(f"--advisory names unknown rules: {', '.join(unknown)}; rules: {', '.join(RULE_IDS)}")
    config: dict[str, object] = {"all": "mandatory"}
    own = TrustRoot.own().directory.resolve()
    for rule in RULE_IDS:
        entry: dict[str, object] = {}
        if rule in advisory:
            entry["enforcementLevel"] = "advisory"
        if Path(args.dir).resolve() != own:
            entry[PROJECT_DIR_KEY] = str(Path(args.dir).resolve())
        if entry:
            config[rule] = entry
    text = json.dumps(config, indent=2) + "\n"
    if args.output is not None:
        try:  # never through a link the checked tree may have planted
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise ecr.EcrError(f"--output {args.output}: cannot be written ({e.strerror or e}; a link is never "
                               "followed)") from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"Wrote {args.output}. Next:", file=sys.stderr)
        print(f"  pulumi preview --stack {args.stack} --policy-pack {own / 'policies'} --policy-pack-config "
              f"{args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# Wiring
# --------------------------------------------------------------------------------------------
KEY_HELP = (f"your SSH key: a private key file, or a .pub whose private key is in ssh-agent (default: "
            f"${ecr.KEY_ENV}, else {ecr.DEFAULT_KEY})")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `ecr`, `digest` and `policy-config` to envctl's subcommands."""
    p = subparsers.add_parser("ecr", help="Environment Change Records: draft, approve, verify, list (signed)",
                              description="Environment Change Records, kept in change-records/<chain>/, chained by "
                                          "hash and signed with SSH keys the signers file lists.")
    actions = p.add_subparsers(dest="ecr_command", required=True, metavar="ACTION")

    a = actions.add_parser("new", help="draft the next record (a stack's state, 'tooling' or 'signers'), signed")
    a.add_argument("stack", metavar="CHAIN", help="a controlled stack, or 'tooling', or 'signers'")
    a.add_argument("--title", required=True, help="one line: what changes")
    a.add_argument("--reason", required=True, help="why the change is made")
    a.add_argument("--classification", choices=ecr.CLASSIFICATIONS, default="standard",
                   help="standard (default), minor or emergency")
    a.add_argument("--key", type=Path, metavar="FILE", help=KEY_HELP)
    a.set_defaults(func=cmd_ecr_new)

    a = actions.add_parser("approve", help="approve the last, pending record (not by its requester), signed")
    a.add_argument("record", metavar="ID", help="the record id, such as ECR-prod-0002")
    a.add_argument("--key", type=Path, metavar="FILE", help=KEY_HELP)
    a.set_defaults(func=cmd_ecr_approve)

    a = actions.add_parser("verify", help="verify the chains: files, links, signatures (exit 1 when none or broken)")
    a.add_argument("stack", nargs="?", metavar="CHAIN", help="one chain (default: every chain)")
    a.add_argument("--state", type=Path, metavar="EXPORT.json",
                   help="a `pulumi stack export` of the stack: its deployed record must be in the chain unchanged")
    a.set_defaults(func=cmd_ecr_verify)

    a = actions.add_parser("list", help="the records of a chain, marking the one approving the current state")
    a.add_argument("stack", metavar="CHAIN")
    a.add_argument("--changes", action="store_true", help="what each record changed against the one before")
    a.set_defaults(func=cmd_ecr_list)

    p = subparsers.add_parser("digest", help="print what a record would approve now (stack, 'tooling' or 'signers')")
    p.add_argument("stack", metavar="CHAIN")
    p.set_defaults(func=cmd_digest)

    p = subparsers.add_parser("policy-config", help="write a stack's --policy-pack-config (levels, project directory)")
    p.add_argument("stack", metavar="STACK")
    p.add_argument("--output", type=Path, metavar="FILE", help="write the JSON to FILE (default: standard output)")
    p.add_argument("--advisory", action="append", metavar="RULE", default=[],
                   help="lower RULE to advisory (repeatable; uncontrolled stacks only)")
    p.set_defaults(func=cmd_policy_config)
