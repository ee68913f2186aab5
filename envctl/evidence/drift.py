"""Drift: the IQ's comparison at any later time, as a list of what differs from the approved desired state.

Nothing is written unless asked (`out`): a scheduled CI job reads the JSON and fails on exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..aws.session import AwsClients
from ..progress import Progress
from .iq import NOT_VERIFIABLE, CheckResult, Deviation, compare, seal_bundle, utc_text
from .protocol import Protocol
from .readback import Evidence
from .state import InstalledState

DRIFT_KIND = "clinspark-drift-report"


@dataclass
class DriftReport:
    protocol: Protocol
    checked_at: str
    account: str
    region: str
    differences: list[Deviation]  # every deviation of the IQ: failed checks, not installed, not in protocol
    not_verifiable: list[CheckResult]
    checks: int
    bundle_sha256: str | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.differences)

    def to_dict(self) -> dict[str, Any]:
        p = self.protocol
        return {"kind": DRIFT_KIND, "format": 1, "stack": p.stack, "customer": p.customer, "phase": p.phase,
                "release": p.release, "ecr": dict(p.ecr), "checked_at": self.checked_at, "account": self.account,
                "region": self.region, "checks": self.checks, "drifted": self.drifted,
                "differences": [d.to_dict() for d in self.differences],
                "not_verifiable": [{"id": c.requirement.id, "resource": c.requirement.resource, "why": c.actual}
                                   for c in self.not_verifiable],
                "evidence_bundle_sha256": self.bundle_sha256}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def drift(protocol: Protocol, state: InstalledState, clients: AwsClients, clock: Callable[[], datetime],
          progress: Progress | None = None, out: Path | None = None) -> DriftReport:
    """Compare the account with the approved desired state now; with `out`, keep the evidence there."""
    checked_at = utc_text(clock())
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    evidence = Evidence(out)
    account, region, checks, deviations = compare(protocol, state, clients, evidence, progress)
    report = DriftReport(protocol=protocol, checked_at=checked_at, account=account, region=region,
                         differences=deviations, not_verifiable=[c for c in checks if c.result == NOT_VERIFIABLE],
                         checks=len(checks))
    if out is not None:
        report.bundle_sha256 = seal_bundle(out)
    return report


def render_drift(report: DriftReport) -> str:
    p = report.protocol
    lines = [f"drift of {p.stack} ({p.phase}) against {p.ecr.get('id')}, account {report.account}, {report.region}, "
             f"checked {report.checked_at}: {report.checks} checks", ""]
    for d in report.differences:
        lines.append(f"  DRIFT  {d.kind}: {d.resource}: {d.found}")
    for c in report.not_verifiable:
        lines.append(f"  NOT VERIFIABLE  {c.requirement.id}: {c.actual}")
    lines.append("")
    lines.append(f"DRIFTED: {len(report.differences)} differences from the approved desired state." if report.drifted
                 else f"NO DRIFT: {p.stack} is as {p.ecr.get('id')} approved it.")
    return "\n".join(lines)
