"""The configuration-state report (`envctl report STACK`): an environment's infrastructure configuration at a point
in time, as JSON and as a PDF for Quality.

Offline (no export) it reports the desired state, from the offline plan of the stack; with a `pulumi stack export`
it reports what the export records as installed. It holds the phase and its catalog attributes, every setting, the
ECR history of the stack's chain (read-only), per instance the database, compute, storage, keys, network boundaries
and entry, and an inventory of every resource. It does NOT read the application's own settings: the application
exports those itself, and such an export can be attached (listed with its sha256, copied beside the report).
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from changecontrol.records import utc_text
from changecontrol.trust import TrustRoot
from components import tokens
from components.phases import Phase
from components.settings import StackSettings

from .. import ecr
from ..aws.session import AwsClients
from ..errors import UsageError
from ..monitor import Registration
from ..progress import Progress
from . import pdf, readback
from .environment import ENVIRONMENT_GROUP, Environment, plain
from .readback import Evidence
from .state import InstalledState

KIND, FORMAT = "clinspark-configuration-report", 1
NOT_READ = ("This report covers the infrastructure only. It does not read the application's own settings (its "
            "system configuration, studies, users, master library): the application exports those itself. Such an "
            "export, given with --attach, is listed here with its sha256 and bundled beside the report.")

# What each per-instance table shows: resource types and the properties a reviewer reads (engine input names).
SECTIONS: Mapping[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "Network": ((tokens.VPC, ("cidrBlock", "enableDnsSupport", "enableDnsHostnames")),
                (tokens.SUBNET, ("cidrBlock", "availabilityZone", "mapPublicIpOnLaunch")),
                (tokens.FLOW_LOG, ("trafficType", "logDestinationType"))),
    "Database": ((tokens.RDS_INSTANCE, ("engine", "engineVersion", "instanceClass", "allocatedStorage",
                                        "maxAllocatedStorage", "storageType", "multiAz", "backupRetentionPeriod",
                                        "storageEncrypted", "deletionProtection", "publiclyAccessible",
                                        "iamDatabaseAuthenticationEnabled", "snapshotIdentifier")),),
    "Compute": ((tokens.ECS_TASK_DEFINITION, ("family", "cpu", "memory", "containerDefinitions.0.image")),
                (tokens.ECS_SERVICE, ("desiredCount", "launchType")),
                (tokens.LOG_GROUP, ("name", "retentionInDays"))),
    "Storage": ((tokens.S3_BUCKET, ("forceDestroy",)),
                (tokens.S3_BUCKET_VERSIONING, ("versioningConfiguration.status",)),
                (tokens.S3_BUCKET_ENCRYPTION, ("rules.0.applyServerSideEncryptionByDefault.sseAlgorithm",)),
                (tokens.S3_BUCKET_PUBLIC_ACCESS_BLOCK, ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                                        "restrictPublicBuckets"))),
    "Keys and secrets": ((tokens.KMS_KEY, ("enableKeyRotation", "deletionWindowInDays")),
                         (tokens.SECRET, ("recoveryWindowInDays",))),
    "Entry": ((tokens.DNS_RECORD, ("name", "type")),
              (tokens.CERTIFICATE, ("domainName", "validationMethod")),
              (tokens.LISTENER, ("port", "protocol", "sslPolicy")),
              (tokens.LOAD_BALANCER, ("internal", "enableDeletionProtection", "dropInvalidHeaderFields"))),
}
RULE_TYPES = {tokens.INGRESS_RULE: "in", tokens.EGRESS_RULE: "out"}


def _get(values: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(values, list) and part.isdigit() and int(part) < len(values):
            values = values[int(part)]
        elif isinstance(values, dict):
            values = values.get(part)
        else:
            return None
    return values


def resource_values(env: Environment, reg: Registration) -> dict[str, Any]:
    """The values the per-instance tables show for a resource: the desired inputs of the plan, or what the export
    recorded. What the account answers now is a section of its own (:func:`read_back`)."""
    return plain(reg.state if env.installed else reg.inputs)


def _flat(facts: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(facts, Mapping) and facts:
        return [row for k in sorted(facts) for row in _flat(facts[k], f"{prefix}{k}.")]
    return [(prefix.rstrip("."), facts)]


def read_back(clients: AwsClients, region: str, state: InstalledState, evidence: Evidence,
              progress: Progress | None = None) -> dict[str, Any]:
    """Every resource of the export read back through boto3 (the IQ's readers, :mod:`.readback`): what the account
    answers now, fact by fact, with the API calls that said so. A resource the account does not hold is listed as
    missing; one envctl cannot read here, as not verifiable (never as read)."""
    resources = sorted((r for r in state.resources.values() if r.custom and r.id), key=lambda r: (r.type, r.urn))
    if progress is not None:
        progress.start(len(resources))
    identity, _ = evidence.call(clients, region, "sts", "get_caller_identity")
    rows = []
    for resource in resources:
        reading = readback.read(clients, region, evidence, state, resource)
        name = resource.urn.rsplit("::", 1)[-1]
        if reading.not_verifiable:
            rows.append([name, resource.type, "not verifiable here", reading.not_verifiable])
        elif not reading.found:
            rows.append([name, resource.type, "MISSING", "the account does not hold it"])
        else:
            rows += [[name, resource.type, fact, value] for fact, value in _flat(reading.facts)]
        if progress is not None:
            progress.advance()
    if progress is not None:
        progress.finish()
    return {"account": str(identity.get("Account", "")), "region": region, "rows": rows, "calls": len(evidence.items)}


def _catalog(phase: Phase) -> dict[str, Any]:
    row = {}
    for f in dataclasses.fields(phase):
        value = getattr(phase, f.name)
        if isinstance(value, (frozenset, set)):
            value = sorted(str(v) for v in value)
        elif isinstance(value, Mapping):
            value = {str(k): v for k, v in value.items()}
        row[f.name] = value if not hasattr(value, "value") else value.value
    return row


def _history(stacks_dir: Path, stack: str) -> list[dict[str, Any]]:
    if stack not in ecr.chains_present(stacks_dir):
        return []
    chain, _problems = ecr.load(stacks_dir, stack, TrustRoot.own())
    rows = []
    for e in chain.entries:
        r, a = e.record, e.approval
        if r is None:
            rows.append({"id": e.id, "title": "(unreadable)"})
            continue
        rows.append({"id": e.id, "title": r.title, "classification": r.classification, "purpose": r.reason,
                     "requested_by": r.requested_by, "requested_at": utc_text(r.requested_at),
                     "approved_by": a.approved_by if a else None, "approved_at": utc_text(a.approved_at) if a else None,
                     "approved": e.approved, "digest": r.digest})
    return rows


def _sections(env: Environment, regs: list[Registration]) -> dict[str, list[list[Any]]]:
    found: dict[str, list[list[Any]]] = {}
    for title, types in SECTIONS.items():
        rows = []
        for typ, props in types:
            for reg in sorted((r for r in regs if r.type == typ), key=lambda r: r.name):  # the order of a plan varies
                values = resource_values(env, reg)
                rows += [[reg.name, prop, _get(values, prop)] for prop in props]
        found[title] = rows
    rules = []
    named = {r.id: r.name for r in env.resources if r.id}  # a peer security group by its resource name
    for reg in sorted((r for r in regs if r.type in RULE_TYPES), key=lambda r: r.name):
        v = resource_values(env, reg)
        peer = v.get("cidrIpv4") or v.get("cidrIpv6") or v.get("referencedSecurityGroupId") or v.get("prefixListId")
        peer = f"{named[peer]} ({peer})" if peer in named else peer
        ports = v.get("fromPort") if v.get("fromPort") == v.get("toPort") else f"{v.get('fromPort')}-{v.get('toPort')}"
        rules.append([reg.name, RULE_TYPES[reg.type], v.get("ipProtocol"), ports, peer, v.get("description")])
    found["Network boundaries"] = rules
    return found


def attachment(path: Path) -> dict[str, Any]:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"--attach {path}: cannot be read ({e.strerror or e}); give the application's own "
                         "configuration export (a PDF)") from None
    return {"file": Path(path).name, "path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def build(stacks_dir: Path, env: Environment, settings: StackSettings, document_id: str, made_at: str,
          attachments: list[Path], live: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report as JSON data (`live`: what :func:`read_back` found in the account)."""
    groups = env.groups()
    return {"read_back": dict(live) if live is not None else None, **{
        "kind": KIND, "format": FORMAT, "document_id": document_id, "stack": env.stack, "made_at": made_at,
        "state": "installed (pulumi stack export)" if env.installed else "desired (offline plan)",
        "source": env.source, "application_settings": NOT_READ,
        "phase": {"name": settings.phase, "catalog": _catalog(settings.phase_spec)},
        "settings": settings.model_dump(mode="json", exclude={"project"}),
        "ecr_history": _history(stacks_dir, env.stack),
        "instances": {group: _sections(env, groups[group])
                      for group in sorted(groups, key=lambda g: (g != ENVIRONMENT_GROUP, g))},
        "inventory": [{"type": r.type, "name": r.name, "urn": r.urn, "protect": r.protect}  # registration order varies
                      for r in sorted(env.resources, key=lambda r: (r.type, r.name, r.urn))],
        "attachments": [attachment(p) for p in attachments],
    }}


def bundle_attachments(report: Mapping[str, Any], pdf_path: Path) -> Path | None:
    """Copy the attachments beside the PDF, in `<pdf stem>.attachments/`, so one bundle holds both."""
    if not report["attachments"]:
        return None
    target = pdf_path.parent / f"{pdf_path.stem}.attachments"
    target.mkdir(parents=True, exist_ok=True)
    for item in report["attachments"]:
        shutil.copyfile(item["path"], target / item["file"])
    return target


def write_pdf(report: Mapping[str, Any], path: Path | str) -> Path:
    doc = pdf.Document(path, document_id=report["document_id"], title="Configuration-state report",
                       subject=f"configuration of stack {report['stack']}")
    doc.story.append(pdf.para(f"Configuration-state report: {report['stack']}", "title"))
    doc.facts([("Document id", report["document_id"]), ("Stack", report["stack"]),
               ("Made at (UTC)", report["made_at"]), ("State reported", report["state"]), ("Source", report["source"]),
               ("Phase", report["phase"]["name"])])
    doc.heading("What this report does not read")
    doc.paragraph(report["application_settings"])
    doc.table(["Attached file", "sha256", "Bytes"], [[a["file"], a["sha256"], a["bytes"]] for a in report["attachments"]],
              widths=[0.3, 0.55, 0.15])
    doc.heading("Phase and its catalog attributes")
    doc.table(["Column", "Value"], list(report["phase"]["catalog"].items()), widths=[0.3, 0.7])
    doc.heading("Settings")
    doc.table(["Setting", "Value"], [[k, v] for k, v in report["settings"].items()], widths=[0.3, 0.7])
    doc.heading("ECR history")
    doc.table(["Id", "Title and purpose", "Requested", "Approved", "Digest"],
              [[h["id"], f"{h.get('title')}: {h.get('purpose', '')}", f"{h.get('requested_by')} {h.get('requested_at')}",
                f"{h.get('approved_by') or 'PENDING'} {h.get('approved_at') or ''}", h.get("digest")]
               for h in report["ecr_history"]], widths=[0.15, 0.3, 0.18, 0.18, 0.19])
    for group, sections in report["instances"].items():
        doc.heading("Environment-wide resources" if group == ENVIRONMENT_GROUP else f"Instance {group}")
        for title, rows in sections.items():
            if not rows:
                continue
            doc.heading(title, level=2)
            if title == "Network boundaries":
                doc.table(["Rule", "In/out", "Protocol", "Ports", "Peer", "Description"], rows,
                          widths=[0.22, 0.07, 0.1, 0.09, 0.28, 0.24])
            else:
                doc.table(["Resource", "Property", "Value"], rows, widths=[0.3, 0.3, 0.4])
    live = report.get("read_back")
    if live:
        doc.heading("Read back from the account (boto3)")
        doc.paragraph(f"Account {live['account']}, region {live['region']}: every resource of the export read back "
                      f"through {live['calls']} API calls, whose raw responses and their SHA-256 are in the evidence "
                      f"bundle {live.get('bundle', {}).get('path', '(not written)')} (SHA-256 "
                      f"{live.get('bundle', {}).get('sha256', '-')}).")
        doc.table(["Resource", "Type", "Fact", "Value"], live["rows"], widths=[0.25, 0.25, 0.25, 0.25])
    doc.heading("Inventory")
    doc.table(["Type", "Name", "URN"], [[r["type"], r["name"], r["urn"]] for r in report["inventory"]],
              widths=[0.28, 0.22, 0.5])
    return doc.build()
