"""The Installation Qualification: the protocol's requirements, checked against what the account holds.

For every resource of the protocol the installed state (`pulumi stack export`) says which physical resource it
became; the reader of its type (:mod:`.readback`) reads it back; each requirement is compared with what was
read, and recorded with its expected and actual value, its result and the evidence. Deviations are listed apart:
a resource of the protocol missing from the state ("not installed"), a resource of the state or of the account
(found by the environment's tags through the Resource Groups Tagging API) that the protocol does not name ("not
in protocol"), and every failed check.

The report is the JSON of the shared contract (format 1), written as `iq-report.json` beside its evidence
bundle (`evidence/`: the raw responses and `MANIFEST`). The bundle's SHA-256 is the SHA-256 of its manifest,
which lists `<sha256>  <relative path>` of every file, sorted by path (:func:`bundle_manifest`).
"""

from __future__ import annotations

import getpass
import importlib.metadata
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from components import naming, tokens

from ..aws.session import AwsClients
from ..mocks import ACCOUNT_ID as OFFLINE_ACCOUNT
from ..progress import Progress
from .protocol import Protocol, Requirement
from .readback import (
    Evidence,
    NotVerifiableFact,
    Reading,
    dns_name,
    raise_for,
    read,
    sha256_text,
)
from .state import InstalledResource, InstalledState

REPORT_KIND = "clinspark-iq-report"
REPORT_FORMAT = 1
REPORT_FILE = "iq-report.json"
BUNDLE_DIR = "evidence"
MANIFEST = "MANIFEST"
PASS, FAIL, NOT_VERIFIABLE = "pass", "fail", "not verifiable"
PACKAGES = ("pulumi", "pulumi-aws", "pulumi-random", "boto3", "botocore", "pydantic", "reportlab")

# What AWS makes, with the environment's tags, for resources the stack installed (never installed by it).
MADE_BY_AWS = (
    (":task/", "an ECS task its service started (the service propagates its tags)"),
    (":snapshot:rds:", "an automated RDS backup (the database copies its tags to snapshots)"),
)


@dataclass(frozen=True)
class CheckResult:
    requirement: Requirement
    expected: Any
    actual: Any
    result: str
    evidence: tuple[dict[str, str], ...]

    def to_dict(self) -> dict[str, Any]:
        r = self.requirement
        return {"id": r.id, "instance": r.instance, "resource": r.resource, "type": r.type, "urn": r.urn,
                "requirement": r.requirement, "expected": self.expected, "actual": self.actual,
                "result": self.result, "source": r.source, "evidence": list(self.evidence)}


@dataclass(frozen=True)
class Deviation:
    kind: str  # "not installed" | "not in protocol" | "failed check"
    resource: str
    urn: str | None
    found: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "resource": self.resource, "urn": self.urn, "found": self.found}


@dataclass
class IqReport:
    protocol: Protocol
    executed_by: str
    executed_at: str
    account: str
    region: str
    checks: list[CheckResult]
    deviations: list[Deviation]
    bundle: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.result == PASS for c in self.checks) and not self.deviations

    @property
    def document_id(self) -> str:
        stamp = self.executed_at.replace("-", "").replace(":", "")
        return f"IQ-{self.protocol.stack}-{stamp}"

    def summary(self) -> dict[str, int]:
        counted = [c.result for c in self.checks]
        return {"checks": len(counted), "passed": counted.count(PASS), "failed": counted.count(FAIL),
                "not_verifiable": counted.count(NOT_VERIFIABLE), "deviations": len(self.deviations)}

    def to_dict(self) -> dict[str, Any]:
        p = self.protocol
        return {
            "kind": REPORT_KIND, "format": REPORT_FORMAT, "document_id": self.document_id,
            "stack": p.stack, "customer": p.customer, "phase": p.phase, "release": p.release,
            "ecr": dict(p.ecr), "tooling": tooling(),
            "executed_by": self.executed_by, "executed_at": self.executed_at,
            "account": self.account, "region": self.region, "summary": self.summary(),
            "checks": [c.to_dict() for c in self.checks],
            "deviations": [d.to_dict() for d in self.deviations],
            "evidence_bundle": dict(self.bundle),
            "verdict": "passed" if self.passed else "failed",
        }


def tooling() -> dict[str, Any]:
    """envctl's version and the pinned versions of what it ran with."""
    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None
    packages = {name: version(name) for name in PACKAGES}
    return {"envctl": version("clinspark-environments"), "packages": {k: v for k, v in packages.items() if v}}


def executed_by() -> str:
    """Who runs it: $ENVCTL_EXECUTED_BY, else the login name."""
    return os.environ.get("ENVCTL_EXECUTED_BY") or getpass.getuser()


def utc_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- comparing ---------------------------------------------------------------------------------------------


def _key_id(value: Any) -> str:
    return str(value or "").rsplit("/", 1)[-1]


def _same(check: str, expected: Any, actual: Any) -> bool:
    if check == "tags":
        return isinstance(actual, dict) and all(actual.get(k) == v for k, v in (expected or {}).items())
    if check in ("kms-key", "sse-key"):
        return bool(expected) and _key_id(expected) == _key_id(actual)
    if check == "engine-version":
        return actual == expected or str(actual).startswith(f"{expected}.") and "." not in str(expected)
    if check == "alias":
        return bool(expected) and dns_name(expected) == dns_name(actual)
    return actual == expected


def live_image(image: Any, account: str, region: str) -> Any:
    """The plan names the deploying account's own repository with the offline engine's stand-in account."""
    planned = naming.default_image_repository(OFFLINE_ACCOUNT, region)
    if isinstance(image, str) and image.startswith(planned + ":"):
        return naming.default_image_repository(account, region) + image[len(planned):]
    return image


def expected_value(requirement: Requirement, state: InstalledState, account: str, region: str) -> Any:
    if requirement.refers_to is None:
        return live_image(requirement.expected, account, region) if requirement.check == "image" \
            else requirement.expected
    referred = state.get(requirement.refers_to)
    if referred is None:
        return None
    return referred.output(requirement.refers_output) or (referred.id if requirement.refers_output == "id" else None)


def judge(requirement: Requirement, reading: Reading | None, installed: InstalledResource | None,
          state: InstalledState, account: str, region: str) -> CheckResult:
    expected = expected_value(requirement, state, account, region)
    evidence = tuple(reading.evidence) if reading else ()
    if installed is None:
        return CheckResult(requirement, expected, "not in the state", FAIL, evidence)
    assert reading is not None
    if reading.not_verifiable:
        return CheckResult(requirement, expected, f"not verifiable here: {reading.not_verifiable}", NOT_VERIFIABLE,
                           evidence)
    if requirement.check == "exists":
        return CheckResult(requirement, True, reading.found if reading.found else f"no {installed.id} in the account",
                           PASS if reading.found else FAIL, evidence)
    if not reading.found:
        return CheckResult(requirement, expected, "the resource is not in the account", FAIL, evidence)
    actual = reading.facts.get(requirement.check)
    if isinstance(actual, NotVerifiableFact):
        return CheckResult(requirement, expected, f"not verifiable here: {actual.reason}", NOT_VERIFIABLE, evidence)
    if requirement.check not in reading.facts:
        return CheckResult(requirement, expected, "not read: envctl's reader gives no such fact", NOT_VERIFIABLE,
                           evidence)
    return CheckResult(requirement, expected, actual, PASS if _same(requirement.check, expected, actual) else FAIL,
                       evidence)


# --- deviations ------------------------------------------------------------------------------------------


def _known(state: InstalledState) -> tuple[set[str], set[str]]:
    arns, ids = set(), set()
    for r in state.resources.values():
        for value in (r.output("arn"), r.id):
            if isinstance(value, str) and value.startswith("arn:"):
                arns.add(value.removesuffix(":*"))
        if r.id:
            ids.add(r.id)
    return arns, ids


def tagged_in_account(clients: AwsClients, region: str, evidence: Evidence, tags: dict[str, str]) -> list[str]:
    """The ARNs the Resource Groups Tagging API finds with every one of the environment's tags."""
    filters = [{"Key": k, "Values": [v]} for k, v in sorted(tags.items())]
    arns: list[str] = []
    token = ""
    while True:
        params: dict[str, Any] = {"TagFilters": filters}
        if token:
            params["PaginationToken"] = token
        response, _ = evidence.call(clients, region, "resourcegroupstaggingapi", "get_resources", **params)
        raise_for(response, "tag:GetResources")
        arns += [m["ResourceARN"] for m in response.get("ResourceTagMappingList", [])]
        token = response.get("PaginationToken") or ""
        if not token:
            return arns


def unexpected_in_account(arns: list[str], state: InstalledState) -> list[Deviation]:
    known_arns, known_ids = _known(state)
    found = []
    for arn in sorted(set(arns)):
        plain = arn.removesuffix(":*")
        tail = plain.replace(":", "/").rsplit("/", 1)[-1]
        if plain in known_arns or tail in known_ids or any(mark in plain for mark, _ in MADE_BY_AWS):
            continue
        found.append(Deviation("not in protocol", plain.rsplit(":", 1)[-1], None,
                               f"{plain} carries this environment's tags but is neither in the protocol nor in the "
                               "state"))
    return found


# --- the run -----------------------------------------------------------------------------------------------


def compare(protocol: Protocol, state: InstalledState, clients: AwsClients, evidence: Evidence,
            progress: Progress | None = None) -> tuple[str, str, list[CheckResult], list[Deviation]]:
    """(account, region, checks, deviations): the comparison that the IQ and drift share."""
    region = clients.region_for(protocol.region)
    identity, _ = evidence.call(clients, region, "sts", "get_caller_identity")
    account = str(identity.get("Account", ""))
    by_urn: dict[str, list[Requirement]] = {}
    for requirement in protocol.requirements:
        by_urn.setdefault(requirement.urn, []).append(requirement)
    progress = progress or Progress(what="resource")
    progress.start(len(protocol.urns))
    checks: list[CheckResult] = []
    deviations: list[Deviation] = []
    try:
        for urn in protocol.urns:
            installed = state.get(urn)
            reading = read(clients, region, evidence, state, installed) if installed is not None else None
            if installed is None:
                deviations.append(Deviation("not installed", urn.rsplit("::", 1)[-1], urn,
                                            "in the protocol, but not in the state: never installed or deleted"))
            for requirement in by_urn.get(urn, []):
                checks.append(judge(requirement, reading, installed, state, account, region))
            progress.advance()
    finally:
        progress.finish()
    for c in checks:
        if c.result == FAIL:
            deviations.append(Deviation("failed check", c.requirement.resource, c.requirement.urn,
                                        f"{c.requirement.id}: {c.requirement.requirement}; expected "
                                        f"{_short(c.expected)}, found {_short(c.actual)}"))
    planned = set(protocol.urns)
    for r in state.resources.values():
        if r.custom and r.urn not in planned and r.type.startswith("aws:") \
                and not r.type.startswith(tokens.PROVIDER_PREFIX):
            deviations.append(Deviation("not in protocol", r.name, r.urn,
                                        f"{r.type} {r.id} is in the state, but the approved desired state has no "
                                        "such resource"))
    deviations += unexpected_in_account(
        tagged_in_account(clients, region, evidence, protocol.environment_tags), state)
    return account, region, checks, deviations


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 300 else text[:297] + "..."


def bundle_manifest(directory: Path) -> str:
    """The manifest of an evidence bundle: `<sha256>  <relative path>` of every file but itself, sorted by path."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
    return "".join(f"{sha256_text(p.read_bytes())}  {p.relative_to(directory).as_posix()}\n" for p in files)


def seal_bundle(directory: Path) -> str:
    """Write the bundle's MANIFEST; its SHA-256 is the bundle's."""
    text = bundle_manifest(directory)
    (directory / MANIFEST).write_text(text, encoding="utf-8")
    return sha256_text(text)


def run_iq(protocol: Protocol, state: InstalledState, clients: AwsClients, clock: Callable[[], datetime],
           executed_by: str, progress: Progress | None = None, out: Path | None = None) -> IqReport:
    """Execute the IQ; with `out`, write `iq-report.json` and the evidence bundle there."""
    started = clock()
    bundle_dir = out / BUNDLE_DIR if out is not None else None
    if bundle_dir is not None:
        bundle_dir.mkdir(parents=True, exist_ok=True)
    evidence = Evidence(bundle_dir)
    account, region, checks, deviations = compare(protocol, state, clients, evidence, progress)
    report = IqReport(protocol=protocol, executed_by=executed_by, executed_at=utc_text(started), account=account,
                      region=region, checks=checks, deviations=deviations)
    if out is not None and bundle_dir is not None:
        (bundle_dir / "protocol.json").write_text(protocol.to_json() + "\n", encoding="utf-8")
        report.bundle = {"path": BUNDLE_DIR, "sha256": seal_bundle(bundle_dir)}
        (out / REPORT_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    return report


def render_iq(report: IqReport, written: list[str] | None = None) -> str:
    """The IQ as the engineer reads it in the terminal: the summary, then every check that did not pass."""
    s = report.summary()
    p = report.protocol
    lines = [f"IQ {report.document_id} of {p.stack} ({p.phase} of {p.customer or 'no customer'}), release "
             f"{p.release}, approved by {p.ecr.get('id')}; account {report.account}, {report.region}, executed by "
             f"{report.executed_by} at {report.executed_at}",
             f"  {s['checks']} checks: {s['passed']} passed, {s['failed']} failed, {s['not_verifiable']} not "
             f"verifiable here; {s['deviations']} deviations", ""]
    for c in report.checks:
        if c.result != PASS:
            lines.append(f"  {c.result.upper():14}  {c.requirement.id}: {c.requirement.requirement}; expected "
                         f"{_short(c.expected)}, found {_short(c.actual)}")
    for d in report.deviations:
        if d.kind != "failed check":
            lines.append(f"  DEVIATION       {d.kind}: {d.resource}: {d.found}")
    lines += [f"  wrote {w}" for w in written or []]
    lines.append("")
    lines.append(f"PASSED: every check of {p.stack} passed." if report.passed
                 else f"FAILED: {s['failed']} failed, {s['not_verifiable']} not verifiable, {s['deviations']} "
                      "deviations.")
    return "\n".join(lines)
