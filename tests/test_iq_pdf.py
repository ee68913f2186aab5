"""The PDF toolkit and the IQ report PDF, read back as a reviewer's PDF reader would: text extracted with pypdf.

The IQ report rendered here is built from the offline plan of the shipped VAL (the program's own resource names,
types and URNs), in the JSON format `envctl iq run` writes (format 1)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from components import tokens
from envctl.evidence import pdf
from envctl.evidence.iq_pdf import IqReportError, chart_series, write_iq_pdf
from envctl.offline import StackRun
from tests.helpers import instances

# What the test's IQ checks per resource type: requirement, input, expected value.
REQUIREMENTS = {
    tokens.RDS_INSTANCE: ("deletion protection on", "deletionProtection"),
    tokens.KMS_KEY: ("key rotation on", "enableKeyRotation"),
    tokens.LOG_GROUP: ("log retention (days)", "retentionInDays"),
    tokens.LISTENER: ("listener port", "port"),
    tokens.ECS_SERVICE: ("desired tasks", "desiredCount"),
}


def pages(path: Path) -> list[str]:
    return [page.extract_text() for page in PdfReader(str(path)).pages]


def bundle_sha256(files: dict[str, bytes]) -> str:
    manifest = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items()))
    return hashlib.sha256(manifest.encode()).hexdigest()


def iq_report(run: StackRun) -> dict:
    """An IQ report of the plan: every managed resource of each instance exists, and the requirements above;
    main's database was found without deletion protection, log groups are not verifiable here, and one resource
    carrying the environment's tags is not in the protocol."""
    checks, evidence_files = [], {}
    for role, inst in instances(run).items():
        regs = [r for r in _below(run, inst) if r.custom]
        for n, reg in enumerate(regs, start=1):
            short = reg.name.removeprefix(inst.name + "-")
            response = f'{{"resource": "{reg.name}"}}'.encode()
            file = f"responses/{role}/{short}.json"
            evidence_files[file] = response
            evidence = [{"call": f"tagging:GetResources {reg.name}", "sha256": hashlib.sha256(response).hexdigest(),
                         "file": file}]
            checks.append({"id": f"IQ-{role}-{short}-{n}", "instance": role, "resource": reg.name, "type": reg.type,
                           "urn": reg.urn, "requirement": "exists with its tags", "expected": "present",
                           "actual": "present", "result": "pass", "source": "program", "evidence": evidence})
            if reg.type in REQUIREMENTS:
                requirement, key = REQUIREMENTS[reg.type]
                expected = reg.inputs[key]
                failed = reg.type == tokens.RDS_INSTANCE and role == "main"
                result = "fail" if failed else "not verifiable" if reg.type == tokens.LOG_GROUP else "pass"
                checks.append({"id": f"IQ-{role}-{short}-{key}", "instance": role, "resource": reg.name,
                               "type": reg.type, "urn": reg.urn, "requirement": requirement, "expected": expected,
                               "actual": (not expected) if failed else None if result != "pass" else expected,
                               "result": result, "source": "program", "evidence": evidence})
    stray = "arn:aws:s3:::acme-val-main-documents-copy"
    deviations = [{"kind": "not in protocol", "resource": stray, "urn": None, "found": "an S3 bucket tagged customer="
                   "acme, phase=val, not created by the program"}]
    deviations += [{"kind": "failed check", "resource": c["resource"], "urn": c["urn"], "found": f"{c['requirement']}:"
                    f" {c['actual']}"} for c in checks if c["result"] == "fail"]
    count = {r: sum(1 for c in checks if c["result"] == r) for r in ("pass", "fail", "not verifiable")}
    return {
        "kind": "clinspark-iq-report", "format": 1, "document_id": "IQ-val-20261126T120000Z",
        "stack": run.stack, "customer": run.outputs["customer"], "phase": run.outputs["phase"],
        "release": run.outputs["release"],
        "ecr": {"id": run.outputs["changeRecord"], "sha256": "3" * 64},
        "tooling": {"envctl": "0.1.0", "packages": {"pulumi": "3.272.0", "pulumi-aws": "7.51.1", "boto3": "1.44.8"}},
        "executed_by": "a.berger@example.com", "executed_at": "2026-11-26T12:00:00Z",
        "account": "123456789012", "region": "eu-central-1",
        "summary": {"checks": len(checks), "passed": count["pass"], "failed": count["fail"],
                    "not_verifiable": count["not verifiable"], "deviations": len(deviations)},
        "checks": checks, "deviations": deviations,
        "evidence_bundle": {"path": "IQ-val-20261126T120000Z.evidence", "sha256": bundle_sha256(evidence_files)},
        "verdict": "failed",
    }


def _below(run: StackRun, ancestor) -> list:
    by_urn = run.by_urn
    found = []
    for reg in run.registrations:
        parent = reg.parent
        while parent in by_urn:
            if parent == ancestor.urn:
                found.append(reg)
                break
            parent = by_urn[parent].parent
    return found


@pytest.fixture(scope="module")
def val_report(shipped) -> dict:
    return iq_report(shipped["val"])


@pytest.fixture(scope="module")
def val_pdf(val_report, tmp_path_factory) -> tuple[Path, list[str]]:
    path = write_iq_pdf(val_report, tmp_path_factory.mktemp("iq") / "iq-val.pdf")
    return path, pages(path)


def test_every_page_of_the_iq_report_says_page_x_of_y_and_carries_the_document_id(val_pdf):
    _, texts = val_pdf
    assert len(texts) > 3
    for number, page_text in enumerate(texts, start=1):
        assert f"Page {number} of {len(texts)}" in page_text
        assert "Document IQ-val-20261126T120000Z" in page_text


def compact(texts: list[str]) -> str:
    """The text without any white space: a value a narrow column wrapped over lines reads whole again."""
    return "".join("".join(texts).split())


def test_the_iq_report_heads_with_the_stack_the_ecr_its_digest_who_and_when(val_pdf, val_report):
    lines = val_pdf[1][0].splitlines()
    facts = dict(zip(lines, lines[1:]))  # pypdf reads a two-column table as label line, value line
    assert facts["Stack"] == "val" and facts["Customer"] == "acme" and facts["Phase"] == "val"
    assert facts["Application release"] == "2026.4.2"
    assert facts["Approving ECR"] == val_report["ecr"]["id"] == "ECR-val-0001"
    assert facts["ECR record sha256"] == "3" * 64
    assert facts["Executed by"] == "a.berger@example.com" and facts["Executed at (UTC)"] == "2026-11-26T12:00:00Z"
    assert facts["AWS account"] == "123456789012" and facts["AWS region"] == "eu-central-1"
    assert "pulumi-aws 7.51.1" in facts["Pinned packages"]
    assert "verdict FAILED" in lines[1]


def test_every_check_of_every_instance_is_a_row_with_its_result(val_pdf, val_report):
    text = compact(val_pdf[1])
    for check in val_report["checks"]:
        assert check["id"] in text, check["id"]
    assert "Instancemain" in text and "Instancetest" in text
    failed = next(c for c in val_report["checks"] if c["result"] == "fail")
    assert failed["id"] == "IQ-main-db-deletionProtection"
    start = text.index(failed["id"])
    row = text[start:text.index("IQ-", start + 1)]
    assert "FAIL" in row and "PASS" not in row
    assert "NOTVERIFIABLE" in text
    assert "acme-val-main-documents-copy" in text  # the deviation


def test_the_evidence_bundle_hash_is_printed_whole(val_pdf, val_report):
    assert val_report["evidence_bundle"]["sha256"] in val_pdf[1][0].splitlines()
    assert "sortedbypath" in compact(val_pdf[1])
    for check in val_report["checks"]:
        assert check["evidence"][0]["sha256"] in compact(val_pdf[1])


def test_the_chart_counts_checks_per_instance_and_resource_type(val_report):
    categories, series = chart_series(val_report["checks"])
    assert "main / rds Instance" in categories and "test / kms Key" in categories
    main_db = categories.index("main / rds Instance")
    assert series["fail"][main_db] == 1 and series["pass"][main_db] == 1
    assert sum(series["not verifiable"]) == 2  # a log group in each instance


def test_the_signature_blocks_name_the_executor_and_leave_review_and_approval_to_sign(val_pdf):
    last = val_pdf[1][-1]
    for block in ("Executed by", "Reviewed by", "Approved by"):
        assert block in last
    assert last.count("Signature") >= 3 and "a.berger@example.com" in last


def test_the_same_report_gives_the_same_bytes(val_report, tmp_path):
    a = write_iq_pdf(val_report, tmp_path / "a.pdf").read_bytes()
    b = write_iq_pdf(val_report, tmp_path / "b.pdf").read_bytes()
    assert a == b


def test_a_passed_report_without_deviations_says_so(val_report, tmp_path):
    checks = [{**c, "result": "pass", "actual": c["expected"]} for c in val_report["checks"]]
    passed = {**val_report, "checks": checks, "deviations": [], "verdict": "passed",
              "summary": {**val_report["summary"], "passed": len(checks), "failed": 0, "not_verifiable": 0,
                          "deviations": 0}}
    text = compact(pages(write_iq_pdf(passed, tmp_path / "iq.pdf")))
    assert "verdictPASSED" in text and "0deviation(s)" in text and "FAIL" not in text.replace("FAILED", "")


@pytest.mark.parametrize("change, message", [
    (lambda r: r.update(kind="clinspark-drift"), "kind 'clinspark-drift', format 1: this envctl renders kind "
                                                 "'clinspark-iq-report', format 1"),
    (lambda r: r.pop("evidence_bundle"), "an IQ report without evidence_bundle"),
    (lambda r: r["checks"][0].update(result="passed"), "check result(s) passed; accepted: pass, fail, not verifiable"),
    (lambda r: r.update(deviations="none"), "deviations must be a list of objects"),
])
def test_anything_but_an_iq_report_of_format_1_is_refused_naming_what_is_wrong(val_report, tmp_path, change, message):
    report = {**val_report, "checks": [dict(c) for c in val_report["checks"]]}
    change(report)
    with pytest.raises(IqReportError) as refused:
        write_iq_pdf(report, tmp_path / "iq.pdf")
    assert message in str(refused.value) and str(tmp_path / "iq.pdf") in str(refused.value)
    assert not (tmp_path / "iq.pdf").exists()


# ----------------------------------------------------------------------------------------------------------
# The toolkit
# ----------------------------------------------------------------------------------------------------------
def test_a_long_table_repeats_its_header_on_every_page_it_runs_over(tmp_path):
    doc = pdf.Document(tmp_path / "t.pdf", document_id="DOC-1", title="Toolkit")
    doc.table(["Resource", "Value"], [[f"row-{i:03d}", "x" * 40] for i in range(200)])
    texts = pages(doc.build())
    assert len(texts) >= 4
    for number, page_text in enumerate(texts, start=1):
        assert page_text.count("Resource") == 1 and "Value" in page_text
        assert f"Page {number} of {len(texts)}" in page_text
    assert all(f"row-{i:03d}" in "\n".join(texts) for i in range(200))


def test_a_value_longer_than_its_column_wraps_inside_it(tmp_path):
    urn = "urn:pulumi:val::clinspark-environments::" + "$".join(["clinspark:environment:Instance"] * 6) + "::acme-val"
    doc = pdf.Document(tmp_path / "t.pdf", document_id="DOC-2", title="Toolkit")
    doc.table(["Name", "URN"], [["acme-val-main", urn]], widths=[0.2, 0.8])
    table = doc.story[-2]
    cell = table._cellvalues[1][1]
    width = pdf.WIDTH * 0.8 - 12  # the column less the table's default padding
    cell.wrap(width, 1000)
    assert len(cell.blPara.lines) > 1 and all(line[0] <= width + 0.01 for line in cell.blPara.lines)
    assert urn.replace("$", "") in "".join(pages(doc.build())[0].split()).replace("$", "")


def test_characters_the_standard_fonts_lack_are_spelled_out_or_marked_never_dropped(tmp_path):
    doc = pdf.Document(tmp_path / "t.pdf", document_id="DOC-3", title="Toolkit")
    doc.table(["Requirement", "Expected"], [["retention \u2265 7 days \u2192 kept", "\u65e5\u672c \u00e9t\u00e9 \u2013 ok"]])
    text = pages(doc.build())[0]
    assert "retention >= 7 days -> kept" in text
    assert "?? \u00e9t\u00e9 \u2013 ok" in text  # Latin-1 and the en dash are drawn; CJK is marked


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) is not installed here")
def test_every_page_renders_to_png(val_pdf, tmp_path):
    path, texts = val_pdf
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(path), str(tmp_path / "page")], check=True)
    assert len(list(tmp_path.glob("page-*.png"))) == len(texts)
