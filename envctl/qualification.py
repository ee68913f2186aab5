"""Installation Qualification in the stack's chain: a passed IQ report becomes an entry of its own.

After the record that approved a deployment (which stays sealed), ``envctl iq sign`` writes
``ECR-<stack>-NNNN.iq.yaml``: the record and its approval by their SHA-256, the state digest, and the IQ
report, its PDF and its evidence bundle by theirs, signed by who executed the IQ (namespace
``clinspark-iq-executed``). Quality reviews the report and approves the entry with ``envctl iq approve``
(``.iq.approval.yaml``, namespace ``clinspark-iq-approved``, another person). The chain verifies both
(:mod:`changecontrol.chain`); ``envctl check`` says where each stack of a qualified phase stands.

What a signature cannot prove: that the responses in the evidence bundle came from AWS. The executor's
signature says they ran it and the bundle is what they saw; Quality's approval says a second person reviewed
it (README, Threat model).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from changecontrol import layout
from changecontrol.chain import Chain, Entry
from changecontrol.digest import sha256_bytes
from changecontrol.records import (
    QUALIFICATION_APPROVAL_FORMAT,
    QUALIFICATION_FORMAT,
    Qualification,
    QualificationApproval,
    utc_text,
    validation_message,
)
from changecontrol.trust import TrustRoot, load_chain, signers_in_force
from components.phases import StackNameError, parse_stack_name

from .ecr import EcrError, principal_of, write_signed
from .evidence.iq import MANIFEST, REPORT_FORMAT, REPORT_KIND, bundle_manifest
from .evidence.load import load_protocol
from .evidence.readback import response_file_sha256, sha256_text


class QualificationError(EcrError):
    """A refused IQ signature or approval (exit 2): the message says what was wrong and what to do."""


def evidence_bundle_sha256(directory: Path) -> str:
    """The bundle's hash as :mod:`envctl.evidence.iq` defines it (the SHA-256 of its manifest), recomputed from the
    files; a MANIFEST that does not list exactly them is refused."""
    manifest = bundle_manifest(directory)
    written = directory / MANIFEST
    if not written.is_file() or written.read_text(encoding="utf-8") != manifest:
        raise QualificationError(f"{written}: does not list exactly the files of the evidence bundle with their "
                                 "SHA-256: evidence was changed after the IQ ran")
    return "sha256:" + sha256_text(manifest)


def _hex(value: Any) -> str:
    text = str(value or "")
    return text if text.startswith("sha256:") else f"sha256:{text}"


def _read_report(path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        data = Path(path).read_bytes()
        report = json.loads(data)
    except OSError as e:
        raise QualificationError(f"{path}: cannot be read ({e.strerror or e})") from None
    except ValueError as e:
        raise QualificationError(f"{path}: not JSON ({e}); give the iq-report.json that envctl iq run wrote") from None
    if not isinstance(report, dict) or report.get("kind") != REPORT_KIND or report.get("format") != REPORT_FORMAT:
        raise QualificationError(f"{path}: not an IQ report (kind {REPORT_KIND}, format {REPORT_FORMAT}); give the "
                                 "iq-report.json that envctl iq run wrote")
    need = ("stack", "document_id", "ecr", "executed_by", "executed_at", "account", "region", "checks", "deviations",
            "evidence_bundle", "verdict")
    missing = [k for k in need if k not in report]
    if missing:
        raise QualificationError(f"{path}: the IQ report lacks {', '.join(missing)}")
    return data, report


def _passed(path: Path, report: dict[str, Any]) -> int:
    """The number of checks of a report that passed every check with no deviation, counted from its rows (never
    from its own summary); refused otherwise."""
    checks, deviations = report["checks"], report["deviations"]
    if not isinstance(checks, list) or not isinstance(deviations, list):
        raise QualificationError(f"{path}: checks and deviations must be lists")
    results = [c.get("result") if isinstance(c, dict) else None for c in checks]
    not_passed = [f"{c.get('id')}: {c.get('result')}" for c in checks if isinstance(c, dict) and c.get("result") != "pass"]
    problems = []
    if not checks:
        problems.append("it has no checks")
    if not_passed or None in results:
        problems.append(f"{len(not_passed) or results.count(None)} checks did not pass ({'; '.join(not_passed[:5])})")
    if deviations:
        problems.append(f"{len(deviations)} deviations")
    if report["verdict"] != "passed":
        problems.append(f"its verdict is {report['verdict']!r}")
    if problems:
        raise QualificationError(f"{path}: only a passed IQ is signed into the chain, and this one is not: "
                                 f"{', '.join(problems)}. Resolve the deviations (each through an ECR where the "
                                 "desired state must change), run envctl iq run again, and sign the passed report")
    return len(checks)


def _in_order(protocol: Any) -> Any:
    """A protocol document with its requirements sorted by id (a plan registers in no fixed order)."""
    if isinstance(protocol, dict) and isinstance(protocol.get("requirements"), list):
        return {**protocol, "requirements": sorted(protocol["requirements"], key=lambda r: json.dumps(r, sort_keys=True))}
    return protocol


def verify_report(stacks_dir: Path, stack: str, report_path: Path, report: dict[str, Any], entry: Entry) -> str:
    """Everything of a report that can be checked without AWS, against what is trusted: the protocol the record's
    approved desired state gives (recomputed here, never read from the report), the evidence files each row cites,
    the bundle, the stack's region and the document id. Returns the bundle's SHA-256. A report assembled by hand
    must now cite real responses for every check of the real protocol; that the responses came from AWS is the
    executor's attestation (README, Threat model)."""
    where = str(report_path)
    bundle_doc, ecr = report.get("evidence_bundle"), report.get("ecr")
    if not isinstance(bundle_doc, dict) or not isinstance(bundle_doc.get("path"), str) \
            or not isinstance(bundle_doc.get("sha256"), str) or not isinstance(ecr, dict) \
            or not isinstance(report.get("executed_at"), str):
        raise QualificationError(f"{where}: evidence_bundle must be {{path, sha256}}, ecr {{id, sha256}} and "
                                 "executed_at a UTC time: give the iq-report.json that envctl iq run wrote")
    base = report_path.parent.resolve()
    bundle = (base / bundle_doc["path"]).resolve()
    if not bundle.is_relative_to(base) or bundle == base or not bundle.is_dir():
        raise QualificationError(f"{where}: its evidence bundle {bundle_doc['path']!r} is not a directory beside the "
                                 "report: sign the report where envctl iq run wrote it, with its evidence")
    found = evidence_bundle_sha256(bundle)
    if found != _hex(bundle_doc["sha256"]):
        raise QualificationError(f"{where}: the evidence bundle {bundle} has SHA-256 {found}, not the "
                                 f"{bundle_doc['sha256']} the report names: evidence was changed after the IQ ran")
    protocol = load_protocol(stacks_dir, stack)  # the approved desired state's own: an unapproved one is refused
    if protocol.ecr.get("id") != entry.id:
        raise QualificationError(f"{where}: the IQ qualifies {entry.id}, but the state in force is approved by "
                                 f"{protocol.ecr.get('id')}: only the deployment of the record in force is qualified")
    try:
        recorded = json.loads((bundle / "protocol.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        recorded = None
    if _in_order(recorded) != _in_order(json.loads(protocol.to_json())):
        raise QualificationError(f"{where}: the protocol in its evidence bundle is not the protocol of {entry.id}'s "
                                 f"desired state (envctl iq protocol {stack}): the IQ did not verify what was approved")
    rows = {c.get("id"): c for c in report["checks"] if isinstance(c, dict)}
    wanted = {r.id: r for r in protocol.requirements}
    missing, extra = sorted(set(wanted) - set(rows)), sorted(set(rows) - set(wanted))
    if missing or extra or len(rows) != len(report["checks"]):
        raise QualificationError(f"{where}: its checks are not the protocol's ({len(missing)} missing, e.g. "
                                 f"{missing[:3]}; {len(extra)} not in the protocol, e.g. {extra[:3]}; or a check twice)")
    for rid, requirement in wanted.items():
        row = rows[rid]
        if (row.get("urn"), row.get("requirement")) != (requirement.urn, requirement.requirement):
            raise QualificationError(f"{where}: check {rid} says {row.get('requirement')!r} of {row.get('urn')}, not "
                                     f"the protocol's {requirement.requirement!r} of {requirement.urn}")
        items = row.get("evidence")
        if not isinstance(items, list) or not items:
            raise QualificationError(f"{where}: check {rid} passed with no evidence: every check cites the API "
                                     "responses it was judged on")
        for item in items:
            file = (bundle / str(item.get("file", "") if isinstance(item, dict) else "")).resolve()
            if not file.is_relative_to(bundle) or not file.is_file() or \
                    response_file_sha256(file) != str(item.get("sha256", "")).removeprefix("sha256:"):
                raise QualificationError(f"{where}: check {rid} cites evidence {item!r} that its bundle does not "
                                         "hold with that SHA-256")
    if report.get("region") != protocol.region:
        raise QualificationError(f"{where}: ran in region {report.get('region')!r}, not the stack's {protocol.region}")
    stamp = report["executed_at"].replace("-", "").replace(":", "")
    if report.get("document_id") != f"IQ-{stack}-{stamp}":
        raise QualificationError(f"{where}: document id {report.get('document_id')!r} is not IQ-{stack}-{stamp}, the "
                                 "id of an IQ of this stack executed when the report says")
    return found


def _chain(stacks_dir: Path, stack: str, trust: TrustRoot) -> Chain:
    chain = load_chain(stacks_dir, stack, signers_in_force(trust, stacks_dir))
    if not chain.ok:
        raise QualificationError(*([f"the records of '{stack}' do not verify; nothing is signed on a broken chain:"]
                                   + [f"  - {p}" for p in chain.problems]))
    return chain


def sign(stacks_dir: Path, report_path: Path, key: Path, trust: TrustRoot, now: datetime,
         pdf: Path | None = None) -> Qualification:
    """Write the IQ entry of a passed report after the record it qualifies, signed by who executed the IQ."""
    stacks_dir, report_path = Path(stacks_dir), Path(report_path)
    data, report = _read_report(report_path)
    checks = _passed(report_path, report)
    stack = str(report["stack"])
    try:
        phase = parse_stack_name(stack).phase
    except StackNameError as e:
        raise QualificationError(f"{report_path}: stack {stack!r} is not a stack name ({e})") from None
    if not phase.controlled:
        raise QualificationError(f"{report_path}: {stack} is a {phase.name} stack, which has no change records: its "
                                 "IQ report is evidence as it is, never an entry of a chain")
    chain = _chain(stacks_dir, stack, trust)
    ecr = report["ecr"] if isinstance(report["ecr"], dict) else {}
    entry: Entry | None = chain.get(str(ecr.get("id")))
    if entry is None or entry.record is None:
        raise QualificationError(f"{report_path}: the IQ qualifies {ecr.get('id')}, which is no record of '{stack}' "
                                 f"(records: {', '.join(e.id for e in chain.entries) or 'none'})")
    if not entry.approved or entry.approval is None:
        raise QualificationError(f"{report_path}: {entry.id} is not approved: only the deployment of an approved "
                                 "record is qualified")
    if _hex(ecr.get("sha256")) != entry.sha256:
        raise QualificationError(f"{report_path}: the IQ ran against {entry.id} with SHA-256 {ecr.get('sha256')}, but "
                                 f"the record in the chain has {entry.sha256}")
    if entry.qualification_bytes:
        raise QualificationError(f"{entry.id} has an IQ entry already; an entry is never replaced: a new deployment "
                                 "is a new record, qualified by its own IQ")
    if entry is not chain.latest_decided:
        raise QualificationError(f"{report_path}: {entry.id} is superseded by {chain.latest_decided.id if chain.latest_decided else '?'}: only the "
                                 "deployment of the record in force is qualified")
    found = verify_report(stacks_dir, stack, report_path, report, entry)
    signers = signers_in_force(trust, stacks_dir)
    executor = principal_of(signers.signers, "; ".join(signers.problems), key, layout.IQ_EXECUTED, "sign IQ executions")
    if executor != report["executed_by"]:
        raise QualificationError(f"{report_path}: the IQ was executed by {report['executed_by']!r}; it is signed by who "
                                 f"executed it, not by {executor}")
    try:
        iq = Qualification(
            format=QUALIFICATION_FORMAT, record=entry.id, chain=stack, meaning="executed", record_sha256=entry.sha256,
            approval_sha256=entry.approval_sha256, digest=entry.record.digest, document_id=report["document_id"],
            verdict="passed", checks=checks, account=report["account"], region=report["region"],
            report_sha256=sha256_bytes(data), pdf_sha256=sha256_bytes(Path(pdf).read_bytes()) if pdf else None,
            evidence_sha256=found, executed_by=executor, executed_at=report["executed_at"])
    except ValidationError as e:
        raise QualificationError(f"{report_path}: {validation_message(e)}") from None
    except OSError as e:
        raise QualificationError(f"{pdf}: cannot be read ({e.strerror or e})") from None
    if iq.executed_at < entry.approval.approved_at or iq.executed_at > now:
        raise QualificationError(f"{report_path}: executed at {utc_text(iq.executed_at)}, not between the approval of "
                                 f"{entry.id} ({utc_text(entry.approval.approved_at)}) and now ({utc_text(now)})")
    path = layout.chain_dir(stacks_dir, stack) / layout.record_files(entry.id)["iq"]
    write_signed(path, iq.to_yaml(), key, layout.IQ_EXECUTED)
    return iq


def approve(stacks_dir: Path, record_id: str, report_path: Path, key: Path, trust: TrustRoot, now: datetime,
            pdf: Path | None = None) -> QualificationApproval:
    """Quality's approval of the IQ entry of a record, by another person than who executed it, for the report they
    reviewed: it, its PDF and its evidence must be exactly what the entry names, and verify again."""
    m = layout.RECORD_ID.match(record_id)
    if m is None:
        raise QualificationError(f"'{record_id}' is not a record id: expected ASCII ECR-<stack>-NNNN, such as "
                                 "ECR-val-0001")
    chain = _chain(Path(stacks_dir), m["chain"], trust)
    entry = chain.get(record_id)
    if entry is None or entry.qualification is None:
        raise QualificationError(f"{record_id} has no IQ entry to approve: envctl iq sign REPORT.json writes it")
    if entry.qualification_approval is not None:
        qa = entry.qualification_approval
        raise QualificationError(f"the IQ of {record_id} was approved already by {qa.approved_by} at "
                                 f"{utc_text(qa.approved_at)}; an approval is never changed")
    iq = entry.qualification
    data, report = _read_report(Path(report_path))
    checks = [(sha256_bytes(data) == iq.report_sha256, f"the report {report_path} is not the one the entry names")]
    if iq.pdf_sha256 is not None:
        try:
            checks.append((pdf is not None and sha256_bytes(Path(pdf).read_bytes()) == iq.pdf_sha256,
                           f"the PDF {pdf} is not the one the entry names ({iq.pdf_sha256})"))
        except OSError as e:
            raise QualificationError(f"{pdf}: cannot be read ({e.strerror or e})") from None
    failed = [why for ok, why in checks if not ok]
    if failed:
        raise QualificationError(*[f"{why}: approve what you reviewed, the files envctl iq sign recorded"
                                   for why in failed])
    _passed(Path(report_path), report)
    if verify_report(Path(stacks_dir), m["chain"], Path(report_path), report, entry) != iq.evidence_sha256:
        raise QualificationError(f"{report_path}: its evidence bundle is not the one the entry names")
    signers = signers_in_force(trust, Path(stacks_dir))
    approver = principal_of(signers.signers, "; ".join(signers.problems), key, layout.IQ_APPROVED, "approve IQs")
    if approver == entry.qualification.executed_by:
        raise QualificationError(f"{approver} executed the IQ of {record_id} and may not approve it: Quality's "
                                 "approval needs a second person with another key")
    if now < entry.qualification.executed_at:
        raise QualificationError(f"approval time {utc_text(now)} is before the IQ was executed "
                                 f"({utc_text(entry.qualification.executed_at)}): check the clock")
    qa = QualificationApproval(format=QUALIFICATION_APPROVAL_FORMAT, record=record_id,
                               iq_sha256=sha256_bytes(entry.qualification_bytes), meaning="approved",
                               approved_by=approver, approved_at=now)
    path = layout.chain_dir(Path(stacks_dir), m["chain"]) / layout.record_files(record_id)["iq_approval"]
    write_signed(path, qa.to_yaml(), key, layout.IQ_APPROVED)
    return qa


def standing(stacks_dir: Path, stack: str, trust: TrustRoot) -> str | None:
    """Where a stack of a qualified phase (the catalog's `qualified`: VAL, PROD) stands, for the record whose state
    is in force: qualified, awaiting Quality's approval, or installed and not qualified. None: its phase needs no
    IQ."""
    if not parse_stack_name(stack).phase.qualified:
        return None
    chain = load_chain(stacks_dir, stack, signers_in_force(trust, stacks_dir))
    if not chain.ok:
        return f"not qualified: the records of '{stack}' do not verify (envctl ecr verify {stack})"
    latest = chain.latest_decided
    if latest is None:
        return "not qualified: no approved record to install yet"
    iq, approval = latest.qualification, latest.qualification_approval
    if iq is None:
        return (f"installed, not qualified: no IQ of {latest.id} yet (envctl iq run {stack} --state EXPORT.json, then "
                "envctl iq sign)")
    if approval is None:
        return (f"installed, not qualified: the IQ {iq.document_id} of {latest.id} awaits Quality's approval "
                f"(envctl iq approve {latest.id})")
    if latest.qualified:
        return (f"qualified: {iq.document_id} of {latest.id}, executed by {iq.executed_by}, approved by "
                f"{approval.approved_by}")
    return (f"installed, not qualified: the approval of the IQ of {latest.id} no longer counts (a signer left the "
            "signers file); qualify it again")
