"""What `envctl ecr verify` and `envctl ecr list` report about chains of records: the lines an engineer
reads, and whether every chain verifies. The records and their verification are :mod:`envctl.ecr`'s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from changecontrol import layout, strictyaml
from changecontrol.records import utc_text
from changecontrol.stackfiles import StackFileError
from changecontrol.trust import TrustRoot
from components.settings import InvalidStackConfig

from . import ecr


@dataclass
class Report:
    """Lines for standard output, and whether what was looked at verifies."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True


def _problem_lines(problems: Sequence[object]) -> list[str]:
    return [f"  - {p}" for p in problems]


def read_anchor(state: Path) -> dict | None:
    """The approval a `pulumi stack export` file says its stack was deployed with."""
    try:
        return ecr.deployed_anchor(strictyaml.loads_json(Path(state).read_bytes(), str(state)))
    except OSError as e:
        raise ecr.EcrError(f"--state {state}: cannot be read ({e.strerror or e})") from None


def verify(stacks_dir: Path, chain: str | None, state: Path | None, trust: TrustRoot) -> Report:
    """Verify one chain, or every chain under change-records/, and with `state` the deployed anchor."""
    report = Report()
    if chain is not None:
        if chain not in ecr.chains_present(stacks_dir):
            ecr.chain_kind(stacks_dir, chain)  # an unknown name is a usage error (exit 2)
            report.lines.append(f"NO CHAIN  {chain}: no records under {layout.RECORDS_DIR}/{chain}/, so nothing is "
                                "approved for it")
            report.ok = False
            return report
        names = [chain]
    else:
        names = ecr.chains_present(stacks_dir)
        if not names:
            report.lines.append(f"NO CHAINS: no records under {Path(stacks_dir) / layout.RECORDS_DIR}; nothing is "
                                "approved here")
            report.ok = False
            return report
    anchor = None
    if state is not None:
        if chain is None:
            raise ecr.EcrError("--state compares one stack's chain with its deployed state: name the stack")
        anchor = read_anchor(state)
    failed = 0
    for name in names:
        loaded, signer_problems = ecr.load(stacks_dir, name, trust)
        problems = [str(p) for p in signer_problems] + [str(p) for p in loaded.problems if str(p) not in signer_problems]
        if state is not None:
            problems += ecr.anchor_problems(loaded, anchor, str(state))
        approved = sum(1 for e in loaded.entries if e.approved)
        if problems:
            failed += 1
            report.lines.append(f"BROKEN  {name}: {len(problems)} problem(s); this chain approves nothing until repaired")
            report.lines += _problem_lines(problems)
        else:
            extra = f"; the deployed state's {anchor['record']} is in it unchanged" if anchor else ""
            lapsed = sum(1 for e in loaded.entries if e.lapsed)
            lapsed_text = f" ({lapsed} approval(s) lapsed: their signer is no longer listed)" if lapsed else ""
            report.lines.append(f"ok      {name}: {len(loaded.entries)} record(s), {approved} approved{lapsed_text}, "
                                f"every signature verifies{extra}")
    if failed:
        report.lines.append(f"\n{failed} of {len(names)} chain(s) do not verify.")
        report.ok = False
    return report


def listing(stacks_dir: Path, chain: str, trust: TrustRoot, today: date, changes: bool = False) -> Report:
    """Table of a chain's records, marking the one that approves the current state."""
    ecr.chain_kind(stacks_dir, chain)
    loaded, signer_problems = ecr.load(stacks_dir, chain, trust)
    try:
        current, why = ecr.current(stacks_dir, chain, today).digest, ""
    except (ecr.EcrError, InvalidStackConfig, StackFileError) as e:
        current, why = None, str(e)
    header = ("ID", "CLASS", "REQUESTED BY", "REQUESTED AT", "APPROVED BY", "APPROVED AT", "STATE", "")
    rows, before = [], None
    for e in loaded.entries:
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
        if changes:
            changed = ecr.changed_keys(before, r.state)
            rows.append(("", "", "changes: " + ", ".join(changed[:6]) + (" ..." if len(changed) > 6 else ""),
                         "", "", "", "", ""))
        before = r.state
    report = Report()
    if rows:
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            report.lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    else:
        report.lines.append(f"No change records for '{chain}'.")
    report.lines.append("")
    report.lines.append(f"Current state: {current}" if current else f"Current state: unknown ({why})")
    problems = signer_problems + [str(p) for p in loaded.problems]
    if problems:
        report.lines.append("\nThe chain does not verify; it approves nothing until repaired:")
        report.lines += _problem_lines(problems)
        report.ok = False
    return report
