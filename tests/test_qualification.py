"""Installation Qualification in the chain: a passed IQ is an entry of its own, signed by who executed it and
approved by Quality; until then `envctl check` says a qualified stack is installed, not qualified.

Every test works on `example_copy` through envctl's own commands, in example mode with the published example
keys (a.berger executes IQs, m.keller approves them). The IQ report is the one `envctl iq run` writes; here it
is built from the VAL stack's own offline plan (its resources, names and types) and its chain.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from changecontrol import layout
from changecontrol.trust import TrustRoot, divergence, load_chain, signers_in_force
from envctl.evidence.iq import seal_bundle
from tests.conftest import APPROVER_KEY, REQUESTER_KEY
from tests.helpers import envctl

EXECUTOR, QUALITY = "a.berger@clinspark.example", "m.keller@clinspark.example"


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def iq_report(shipped, directory: Path, where: Path, stack: str = "val", record: str | None = None,
              **changes: Any) -> Path:
    """An IQ report as `envctl iq run` writes it, with its evidence bundle beside it: one passed check per
    resource the stack's plan registers, of the record that approves the stack now."""
    record = record or f"ECR-{stack}-0001"
    chain = layout.RECORD_ID.match(record)["chain"]
    record_file = layout.chain_dir(directory, chain) / layout.record_files(record)["record"]
    bundle = where / "evidence"
    bundle.mkdir(parents=True)
    checks = []
    for n, reg in enumerate(r for r in shipped[stack].registrations if r.custom and not r.read):
        raw = (bundle / f"{n:04d}.json")
        raw.write_text(json.dumps({"resource": reg.name, "type": reg.type}, sort_keys=True))
        checks.append({"id": f"IQ-{n:04d}-exists", "instance": "", "resource": reg.name, "type": reg.type,
                       "urn": reg.urn, "requirement": "exists with its tags", "expected": "present",
                       "actual": "present", "result": "pass", "source": "program",
                       "evidence": [{"call": "tagging:GetResources", "sha256": _sha(raw), "file": raw.name}]})
    report = {
        "kind": "clinspark-iq-report", "format": 1, "document_id": f"IQ-{stack}-20261126T120000Z",
        "stack": stack, "customer": "acme", "phase": stack, "release": "2026.4.2",
        "ecr": {"id": record, "sha256": _sha(record_file)}, "tooling": {"envctl": "0", "packages": {}},
        "executed_by": EXECUTOR, "executed_at": "2026-11-26T00:00:00Z", "account": "123456789012",
        "region": "eu-central-1",
        "summary": {"checks": len(checks), "passed": len(checks), "failed": 0, "not_verifiable": 0, "deviations": 0},
        "checks": checks, "deviations": [],
        "evidence_bundle": {"path": "evidence", "sha256": seal_bundle(bundle)}, "verdict": "passed",
    }
    report.update(changes)
    path = where / "iq-report.json"
    path.write_text(json.dumps(report, indent=2))
    return path


def sign(capsys, directory: Path, report: Path, key: Path = REQUESTER_KEY, *extra: str):
    return envctl(capsys, directory, "iq", "sign", str(report), "--key", str(key), *extra)


def approve(capsys, directory: Path, record: str = "ECR-val-0001", key: Path = APPROVER_KEY):
    return envctl(capsys, directory, "iq", "approve", record, "--key", str(key))


def qualification_line(capsys, directory: Path, stack: str) -> tuple[int, str]:
    code, out, _ = envctl(capsys, directory, "check", stack, "--no-cache")
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("qualification:")]
    return code, "\n".join(lines)


def iq_files(directory: Path, record: str = "ECR-val-0001") -> list[str]:
    chain = layout.RECORD_ID.match(record)["chain"]
    return sorted(p.name for p in layout.chain_dir(directory, chain).glob(f"{record}.iq*"))


# --------------------------------------------------------------------------------------------
# The way it is meant to go
# --------------------------------------------------------------------------------------------
def test_a_qualified_stack_is_installed_not_qualified_until_quality_approves_its_signed_iq(
        capsys, shipped, example_copy, tmp_path):
    assert qualification_line(capsys, example_copy, "val") == (
        0, "qualification: installed, not qualified: no IQ of ECR-val-0001 yet (envctl iq run val --state "
           "EXPORT.json, then envctl iq sign)")

    report = iq_report(shipped, example_copy, tmp_path)
    pdf = tmp_path / "iq-report.pdf"
    pdf.write_bytes(b"%PDF-1.4 the rendered report")
    code, out, _ = sign(capsys, example_copy, report, REQUESTER_KEY, "--pdf", str(pdf))
    assert code == 0 and "Signed the IQ IQ-val-20261126T120000Z of ECR-val-0001" in out
    assert iq_files(example_copy) == ["ECR-val-0001.iq.yaml", "ECR-val-0001.iq.yaml.sig"]
    entry = yaml.safe_load((layout.chain_dir(example_copy, "val") / "ECR-val-0001.iq.yaml").read_text())
    assert entry["report_sha256"] == _sha(report) and entry["pdf_sha256"] == _sha(pdf)
    assert entry["executed_by"] == EXECUTOR and entry["verdict"] == "passed"
    assert qualification_line(capsys, example_copy, "val")[1] == (
        "qualification: installed, not qualified: the IQ IQ-val-20261126T120000Z of ECR-val-0001 awaits Quality's "
        "approval (envctl iq approve ECR-val-0001)")

    code, out, _ = approve(capsys, example_copy)
    assert code == 0 and f"Approved the IQ of ECR-val-0001 by {QUALITY}" in out
    assert qualification_line(capsys, example_copy, "val") == (
        0, f"qualification: qualified: IQ-val-20261126T120000Z of ECR-val-0001, executed by {EXECUTOR}, approved by "
           f"{QUALITY}")
    assert envctl(capsys, example_copy, "ecr", "verify", "val")[0] == 0


def test_the_record_it_qualifies_stays_sealed(capsys, shipped, example_copy, tmp_path):
    before = {p.name: p.read_bytes() for p in layout.chain_dir(example_copy, "val").glob("ECR-val-0001.*")}
    assert sign(capsys, example_copy, iq_report(shipped, example_copy, tmp_path))[0] == 0
    assert approve(capsys, example_copy)[0] == 0
    after = {p.name: p.read_bytes() for p in layout.chain_dir(example_copy, "val").glob("ECR-val-0001.*")}
    assert {k: after[k] for k in before} == before


def test_the_signatures_verify_with_stock_openssh(capsys, shipped, example_copy, tmp_path):
    import subprocess

    assert sign(capsys, example_copy, iq_report(shipped, example_copy, tmp_path))[0] == 0
    assert approve(capsys, example_copy)[0] == 0
    signers = Path(__file__).parent / "example" / "allowed_signers"
    for name, principal, namespace in (("ECR-val-0001.iq.yaml", EXECUTOR, layout.IQ_EXECUTED),
                                       ("ECR-val-0001.iq.approval.yaml", QUALITY, layout.IQ_APPROVED)):
        path = layout.chain_dir(example_copy, "val") / name
        with path.open("rb") as message:
            done = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", principal, "-n", namespace,
                                   "-s", f"{path}.sig"], stdin=message, capture_output=True, text=True)
        assert done.returncode == 0 and f'Good "{namespace}" signature for {principal}' in done.stdout


@pytest.mark.parametrize("stack,line", [("prod", "installed, not qualified: no IQ of ECR-prod-0001 yet"),
                                        ("preprod", None)])
def test_only_the_phases_the_catalog_qualifies_are_reported(capsys, example_copy, stack, line):
    code, found = qualification_line(capsys, example_copy, stack)
    assert code == 0
    if line is None:
        assert found == ""  # Pre-PROD: controlled, not qualified (README, The phases)
    else:
        assert found.startswith(f"qualification: {line}")


# --------------------------------------------------------------------------------------------
# Refused before anything is written (exit 2)
# --------------------------------------------------------------------------------------------
def _failed(report: dict[str, Any]) -> dict[str, Any]:
    report["checks"][0]["result"] = "fail"
    return report


REFUSALS = [
    ("a failed check, its summary saying all passed", lambda r: _failed(r), "only a passed IQ is signed"),
    ("a deviation", lambda r: r["deviations"].append({"kind": "not in protocol", "resource": "x", "urn": None,
                                                       "found": "a bucket tagged acme-val"}), "1 deviations"),
    ("a check not verifiable", lambda r: r["checks"][1].update(result="not verifiable"), "checks did not pass"),
    ("another record's hash", lambda r: r["ecr"].update(sha256="sha256:" + "0" * 64), "but the record in the chain"),
    ("a record that does not exist", lambda r: r["ecr"].update(id="ECR-val-0009"), "which is no record of 'val'"),
    ("another executor", lambda r: r.update(executed_by=QUALITY), "it is signed by who executed it"),
    ("a run before the approval", lambda r: r.update(executed_at="2026-11-25T23:59:59Z"), "not between the approval"),
    ("a run in the future", lambda r: r.update(executed_at="2026-11-26T00:00:01Z"), "not between the approval"),
]


@pytest.mark.parametrize("case,edit,fragment", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_report_that_is_not_a_passed_iq_of_the_approved_record_is_refused(capsys, shipped, example_copy, tmp_path,
                                                                            case, edit, fragment):
    path = iq_report(shipped, example_copy, tmp_path)
    report = json.loads(path.read_text())
    edit(report)
    path.write_text(json.dumps(report))
    code, out, err = sign(capsys, example_copy, path)
    assert code == 2 and fragment in err and "Traceback" not in err, err
    assert iq_files(example_copy) == []


def test_evidence_changed_after_the_run_is_refused(capsys, shipped, example_copy, tmp_path):
    report = iq_report(shipped, example_copy, tmp_path)
    (tmp_path / "evidence" / "0000.json").write_text('{"resource": "something else"}')
    code, _, err = sign(capsys, example_copy, report)
    assert code == 2 and "evidence was changed after the IQ ran" in err and iq_files(example_copy) == []
    seal_bundle(tmp_path / "evidence")  # the manifest rewritten to match: the bundle's hash is no longer the report's
    code, _, err = sign(capsys, example_copy, report)
    assert code == 2 and "not the sha256:" in err and "evidence was changed after the IQ ran" in err


def test_only_an_executor_signs_and_only_another_person_with_quality_rights_approves(capsys, shipped, example_copy,
                                                                                     tmp_path):
    report = iq_report(shipped, example_copy, tmp_path)
    code, _, err = sign(capsys, example_copy, report, APPROVER_KEY)  # m.keller may not sign IQ executions
    assert code == 2 and "lacks namespace clinspark-iq-executed" in err
    assert sign(capsys, example_copy, report)[0] == 0
    code, _, err = approve(capsys, example_copy, key=REQUESTER_KEY)  # the executor's key
    assert code == 2 and "lacks namespace clinspark-iq-approved" in err
    assert iq_files(example_copy) == ["ECR-val-0001.iq.yaml", "ECR-val-0001.iq.yaml.sig"]
    code, _, err = sign(capsys, example_copy, report)
    assert code == 2 and "has an IQ entry already; an entry is never replaced" in err


def test_an_uncontrolled_stack_and_a_pending_record_are_never_qualified_in_a_chain(capsys, shipped, example_copy,
                                                                                   tmp_path):
    sandbox = iq_report(shipped, example_copy, tmp_path / "sandbox", stack="sandbox", record="ECR-val-0001")
    code, _, err = sign(capsys, example_copy, sandbox)
    assert code == 2 and "sandbox is a sandbox stack, which has no change records" in err


# --------------------------------------------------------------------------------------------
# Attacks on the files: each breaks the chain, which then approves nothing (fail closed)
# --------------------------------------------------------------------------------------------
def _signed(capsys, shipped, example_copy, tmp_path, approved: bool = True) -> Path:
    assert sign(capsys, example_copy, iq_report(shipped, example_copy, tmp_path))[0] == 0
    if approved:
        assert approve(capsys, example_copy)[0] == 0
    return layout.chain_dir(example_copy, "val")


def test_an_edited_iq_entry_breaks_the_chain(capsys, shipped, example_copy, tmp_path):
    directory = _signed(capsys, shipped, example_copy, tmp_path)
    entry = directory / "ECR-val-0001.iq.yaml"
    entry.write_text(entry.read_text().replace("checks: ", "checks: 1"))
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "val")
    assert code == 1 and "the executor's signature does not verify" in out
    assert envctl(capsys, example_copy, "check", "val", "--no-cache")[0] == 1


def test_a_hand_written_iq_entry_and_approval_are_no_qualification(capsys, shipped, example_copy, tmp_path):
    """An engineer writes a qualification without running anything and signs it with a key that may not."""
    directory = _signed(capsys, shipped, example_copy, tmp_path, approved=False)
    approval = directory / "ECR-val-0001.iq.approval.yaml"
    approval.write_text(yaml.safe_dump({
        "format": "clinspark-iq-approval/1", "record": "ECR-val-0001",
        "iq_sha256": _sha(directory / "ECR-val-0001.iq.yaml"), "meaning": "approved", "approved_by": QUALITY,
        "approved_at": "2026-11-26T00:00:00Z"}, sort_keys=False))
    import subprocess
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(REQUESTER_KEY), "-n", layout.IQ_APPROVED,
                    str(approval)], check=True, capture_output=True)
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "val")
    assert code == 1 and "the IQ approver's signature does not verify" in out


def test_an_iq_entry_moved_to_another_record_is_refused(capsys, shipped, example_copy, tmp_path):
    directory = _signed(capsys, shipped, example_copy, tmp_path)
    prod = layout.chain_dir(example_copy, "prod")
    for f in directory.glob("ECR-val-0001.iq*"):
        f.rename(prod / f.name.replace("ECR-val-0001", "ECR-prod-0001"))
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and "qualifies ECR-val-0001 of 'val', not ECR-prod-0001" in out


def test_removing_or_changing_an_iq_entry_the_trust_root_holds_is_divergence(capsys, shipped, example_copy, tmp_path):
    import shutil

    _signed(capsys, shipped, example_copy, tmp_path)
    root = tmp_path / "root"
    shutil.copytree(example_copy, root)
    signers = signers_in_force(TrustRoot.own(), example_copy)
    trusted = load_chain(root, "val", signers)
    for f in layout.chain_dir(example_copy, "val").glob("ECR-val-0001.iq.approval.yaml*"):
        f.unlink()
    assert divergence(trusted, load_chain(example_copy, "val", signers), "records of 'val'") == [
        "the records of 'val' of the checked tree diverge from the trust root's at ECR-val-0001: records change only "
        "by new records appended to the trusted chain (and an approval or IQ entry, once there, never changes)"]
