"""The clone-check, seed-check, copy-documents and preflight reports as the engineer reads them in the terminal (and pastes
into the ECR)."""

from __future__ import annotations

from components.phases import CLONE_SOURCE_PHASE

from .clone_check import CloneCheckReport
from .copy_documents import CopyReport
from .preflight import PreflightReport
from .seed_check import SeedCheckReport
from .targets import words


def check_rows(rows) -> list[str]:
    """One line per check, PASS or FAIL, names aligned, and what to do under a failed one."""
    width = max((len(r.name) for r in rows), default=0)
    lines = []
    for row in rows:
        lines.append(f"  {'PASS' if row.passed else 'FAIL'}  {row.name.ljust(width)}  {row.detail}")
        if row.remedy:
            lines.append(f"        {''.ljust(width)}  what to do: {row.remedy}")
    return lines


def _before_up(header: list[str], report: CloneCheckReport | SeedCheckReport, may: str) -> str:
    """The rows under `header`, then whether `pulumi up` of the stack may go ahead (`may`: what it then does)."""
    lines = header + check_rows(report.rows) + [""]
    if report.passed:
        lines.append(f"PASSED: all {len(report.rows)} checks passed; pulumi up -s {report.stack} {may}.")
    else:
        lines.append(f"FAILED: {len(report.failures)} of {len(report.rows)} checks failed; do not run "
                     f"pulumi up -s {report.stack} until they pass.")
    return "\n".join(lines)


def render_clone_check(report: CloneCheckReport) -> str:
    """The report as the engineer reads it in the terminal (and pastes into the ECR)."""
    lines = [
        (f"clone-check of {report.stack} ({words(report.phase)} of {report.customer}) from {report.source_stack}, "
         f"snapshot '{report.snapshot}'"),
        f"  DB snapshot {report.snapshot_identifier} in {report.region}, checked {report.checked_at}",
        "",
    ]
    return _before_up(lines, report, f"may clone {report.snapshot_identifier}")


def render_seed_check(report: SeedCheckReport) -> str:
    """The seed-check report as the engineer reads it in the terminal."""
    whose = f"of {report.customer}" if report.customer else "no customer"
    lines = [
        f"seed-check of {report.stack} ({words(report.phase)}, {whose}, release {report.release}) from "
        f"{report.source_stack}",
        f"  DB snapshot {report.snapshot_identifier} in {report.region}, checked {report.checked_at}",
        "",
    ]
    return _before_up(lines, report, f"may start from {report.snapshot_identifier}")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def render_copy_report(report: CopyReport) -> str:
    """What one copy-documents run did, per restored instance."""
    lines = [
        (f"copy-documents from {report.source_stack} ({words(CLONE_SOURCE_PHASE)} of {report.customer}) "
         f"to {report.target_stack} ({words(report.target_phase)}), {report.started_at} to {report.finished_at}"),
        f"  source  {report.source_bucket}",
    ]
    for t in report.targets:
        replaced = f" ({t.replaced} replaced a changed document)" if t.replaced else ""
        lines.append(f"  {t.role.ljust(6)}  {t.bucket}: {t.documents} documents, {t.copied} copied{replaced}, "
                     f"{t.skipped} already there, {_size(t.bytes_copied)} copied")
    lines.append("")
    lines.append(f"DONE: {report.copied} copied, {report.skipped} already there. Running it again copies only "
                 f"documents that are missing or have changed in {words(CLONE_SOURCE_PHASE)}.")
    return "\n".join(lines)


def render_preflight(report: PreflightReport) -> str:
    """What the account lets the stack create, check by check."""
    lines = [
        f"preflight of {report.stack} ({words(report.phase)}, environment {report.environment}) in {report.region}, "
        f"checked {report.checked_at}",
        "",
    ]
    lines += check_rows(report.rows)
    lines.append("")
    if report.passed:
        lines.append(f"PASSED: all {len(report.rows)} checks passed; the account has room for pulumi up -s {report.stack}.")
    else:
        lines.append(f"FAILED: {len(report.failures)} of {len(report.rows)} checks failed; pulumi up -s {report.stack} "
                     "would stop part-way: fix them first.")
    return "\n".join(lines)
