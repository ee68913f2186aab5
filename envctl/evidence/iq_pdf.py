"""The IQ report as a PDF for Quality: `write_iq_pdf(report, path)` renders the IQ report JSON (format 1, the
contract between `envctl iq run` and this module: /tmp/brief/iq-schema.md, README "Installation Qualification").

Reading order: the title block (document id, stack, customer, phase, release, the ECR that approved the state and
its digest, who executed it and when, account and region, the tooling's pinned versions), the summary and verdict,
a chart of pass/fail per instance and resource type, the checks grouped by instance and resource, the deviations,
the evidence (each API call and the sha256 of its raw response; the bundle's sha256), and the signature blocks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from ..errors import UsageError
from . import pdf

KIND, FORMAT = "clinspark-iq-report", 1
REQUIRED = ("document_id", "stack", "phase", "release", "ecr", "tooling", "executed_by", "executed_at", "account",
            "region", "summary", "checks", "deviations", "evidence_bundle", "verdict")
RESULTS = (pdf.PASS, pdf.FAIL, pdf.NOT_VERIFIABLE)
BUNDLE_RULE = ("The bundle's sha256 is the sha256 of its manifest: one line `<sha256>  <relative path>` per file of "
               "the bundle, sorted by path.")


class IqReportError(UsageError):
    """Not an IQ report of the format this module renders (exit 2)."""


def _checked(report: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(report, Mapping):
        raise IqReportError(f"{where}: not an IQ report (expected a JSON object with kind '{KIND}')")
    if report.get("kind") != KIND or report.get("format") != FORMAT:
        raise IqReportError(f"{where}: kind {report.get('kind')!r}, format {report.get('format')!r}: this envctl "
                            f"renders kind '{KIND}', format {FORMAT}")
    missing = [k for k in REQUIRED if k not in report]
    if missing:
        raise IqReportError(f"{where}: an IQ report without {', '.join(missing)}")
    for key in ("checks", "deviations"):
        if not isinstance(report[key], list) or not all(isinstance(c, Mapping) for c in report[key]):
            raise IqReportError(f"{where}: {key} must be a list of objects")
    bad = sorted({str(c.get("result")) for c in report["checks"] if c.get("result") not in RESULTS})
    if bad:
        raise IqReportError(f"{where}: check result(s) {', '.join(bad)}; accepted: {', '.join(RESULTS)}")
    return report


def short_type(token: str) -> str:
    """`aws:rds/instance:Instance` -> `rds Instance`: how a resource type reads in a chart or heading."""
    parts = token.split(":")
    if len(parts) == 3:
        return f"{parts[1].split('/')[0]} {parts[2]}"
    return token


def _grouped(checks: list[Mapping[str, Any]]) -> dict[str, dict[str, list[Mapping[str, Any]]]]:
    """Checks by instance, then by resource, each in the order of the report."""
    groups: dict[str, dict[str, list[Mapping[str, Any]]]] = {}
    for check in checks:
        groups.setdefault(str(check.get("instance") or "-"), {}).setdefault(str(check.get("resource") or "-"),
                                                                         []).append(check)
    return groups


def chart_series(checks: list[Mapping[str, Any]]) -> tuple[list[str], dict[str, list[int]]]:
    """Categories `<instance> / <resource type>` and, per result, how many checks of each had it."""
    counts: dict[str, Counter] = {}
    for check in checks:
        category = f"{check.get('instance') or '-'} / {short_type(str(check.get('type') or '-'))}"
        counts.setdefault(category, Counter())[check["result"]] += 1
    categories = list(counts)
    return categories, {result: [counts[c][result] for c in categories] for result in RESULTS}


def write_iq_pdf(report: Mapping[str, Any], path: Path | str) -> Path:
    """Render the IQ report JSON into a PDF at `path`; raises IqReportError for anything else."""
    report = _checked(report, str(path))
    ecr = report["ecr"] or {}
    tooling = report["tooling"] or {}
    summary = report["summary"] or {}
    bundle = report["evidence_bundle"] or {}
    verdict = str(report["verdict"]).upper()
    doc = pdf.Document(path, document_id=str(report["document_id"]), title="Installation Qualification report",
                       subject=f"IQ of stack {report['stack']}")

    doc.story.append(pdf.para("Installation Qualification report", "title"))
    doc.markup(f"Stack <b>{escape(str(report['stack']))}</b>: verdict <b>{escape(verdict)}</b>. "
               "What is installed in the account, read back through the AWS APIs, compared check by check with the "
               "specification derived from the desired state that the ECR below approved.")
    doc.facts([
        ("Document id", report["document_id"]),
        ("Stack", report["stack"]),
        ("Customer", report.get("customer")),
        ("Phase", report["phase"]),
        ("Application release", report["release"]),
        ("Approving ECR", ecr.get("id")),
        ("ECR record sha256", ecr.get("sha256")),
        ("Executed by", report["executed_by"]),
        ("Executed at (UTC)", report["executed_at"]),
        ("AWS account", report["account"]),
        ("AWS region", report["region"]),
        ("envctl version", tooling.get("envctl")),
        ("Pinned packages", ", ".join(f"{k} {v}" for k, v in sorted((tooling.get("packages") or {}).items()))),
        ("Evidence bundle", bundle.get("path")),
        ("Evidence bundle sha256", bundle.get("sha256")),
    ])

    doc.heading("Summary")
    doc.table(["Checks", "Passed", "Failed", "Not verifiable here", "Deviations", "Verdict"],
              [[summary.get("checks"), summary.get("passed"), summary.get("failed"), summary.get("not_verifiable"),
                summary.get("deviations"), verdict]],
              tints=[pdf.PASS if report["verdict"] == "passed" else pdf.FAIL])
    doc.paragraph("A check that the account's API cannot answer here is 'not verifiable', never passed: the verdict "
                  "is passed only when every check passed and nothing deviates.", "small")
    categories, series = chart_series(list(report["checks"]))
    doc.charts(pdf.stacked_bars(categories, series, "Checks per instance and resource type"))

    doc.heading("Checks by instance and resource")
    doc.paragraph("Per instance, the checks of each resource together; the evidence of every check (the API call and "
                  "the sha256 of its response) is listed under Evidence, the URN of every resource under Resources "
                  "checked.", "small")
    for instance, resources in _grouped(list(report["checks"])).items():
        doc.heading(f"Instance {instance}", level=2)
        checks = [c for group in resources.values() for c in group]
        doc.table(
            ["Id", "Resource", "Requirement", "Expected", "Actual", "Result", "Source"],
            [[c.get("id"), f"{c.get('resource')} ({short_type(str(c.get('type') or '-'))})", c.get("requirement"),
              c.get("expected"), c.get("actual"), str(c["result"]).upper(), c.get("source")] for c in checks],
            widths=[0.2, 0.19, 0.18, 0.12, 0.12, 0.08, 0.11],
            tints=[c["result"] for c in checks],
        )

    doc.heading("Deviations")
    deviations = list(report["deviations"])
    doc.paragraph(f"{len(deviations)} deviation(s): resources in the protocol but not installed, resources carrying "
                  "this environment's tags that the protocol does not list, and failed checks.")
    doc.table(["Kind", "Resource", "URN", "Found"],
              [[d.get("kind"), d.get("resource"), d.get("urn"), d.get("found")] for d in deviations],
              widths=[0.14, 0.2, 0.36, 0.3], tints=[pdf.FAIL] * len(deviations))

    doc.heading("Evidence")
    doc.paragraph(f"Every API response is kept, unchanged, in the evidence bundle {bundle.get('path', '-')}. "
                  + BUNDLE_RULE)
    doc.facts([("Evidence bundle", bundle.get("path")), ("Evidence bundle sha256", bundle.get("sha256"))])
    evidence = [(c.get("id"), e) for c in report["checks"] for e in (c.get("evidence") or [])]
    doc.table(["Check", "API call", "File in bundle", "sha256 of the response"],
              [[cid, e.get("call"), e.get("file"), e.get("sha256")] for cid, e in evidence],
              widths=[0.17, 0.3, 0.2, 0.33])

    doc.heading("Resources checked")
    resources = {(c.get("resource"), c.get("type"), c.get("urn")) for c in report["checks"]}
    doc.table(["Resource", "Type", "URN"], [list(r) for r in sorted(resources, key=lambda r: tuple(map(str, r)))],
              widths=[0.22, 0.25, 0.53])

    doc.signatures({"Executed by": str(report["executed_by"])})
    return doc.build()
