"""Installation Qualification in the chain: a passed IQ is an entry of its own, signed by who executed it and
approved by Quality; until then `envctl check` says a qualified stack is installed, not qualified.

Every test works on `example_copy` through envctl's own commands, in example mode with the published example
keys (a.berger executes IQs, m.keller approves them). The IQ report has the shape `envctl iq run` writes, built
here from the stack's own protocol (its checks, from its approved plan) with an evidence file per check; the
real run against moto, signed and approved, is the last test of tests/test_iq.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from changecontrol import layout, runcontext
from changecontrol.trust import TrustRoot, divergence, load_chain, signers_in_force
from envctl.evidence.iq import seal_bundle
from envctl.evidence.load import load_protocol
from tests.conftest import (
    APPROVER_KEY,
    EXAMPLE,
    NOW,
    NS,
    PROJECT,
    REQUESTER_KEY,
    set_config,
)
from tests.helpers import envctl

EXECUTOR, QUALITY = "a.berger@clinspark.example", "m.keller@clinspark.example"


def _sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def protocols() -> dict[str, Any]:
    """The shipped stacks' IQ protocols, from their approved plans (example_copy holds the same state)."""
    with runcontext.using(runcontext.RunContext(now=NOW, example=EXAMPLE)):
        return {stack: load_protocol(PROJECT, stack) for stack in ("val", "sandbox")}


def iq_report(protocols, where: Path, stack: str = "val", **changes: Any) -> Path:
    """A passed IQ report as `envctl iq run` writes it, with its evidence bundle beside it: every check of the
    stack's protocol, each citing one response file of the bundle."""
    protocol = protocols[stack]
    bundle = where / "evidence"
    (bundle / "responses").mkdir(parents=True)
    (bundle / "protocol.json").write_text(protocol.to_json() + "\n")
    checks = []
    for n, r in enumerate(protocol.requirements):
        text = json.dumps({"resource": r.resource, "check": r.check}, sort_keys=True)
        file = f"responses/{n:04d}-api.json"
        (bundle / file).write_text(text + "\n")
        checks.append({"id": r.id, "instance": r.instance, "resource": r.resource, "type": r.type, "urn": r.urn,
                       "requirement": r.requirement, "expected": r.expected, "actual": r.expected, "result": "pass",
                       "source": r.source, "evidence": [{"call": "api", "file": file,
                                                         "sha256": hashlib.sha256(text.encode()).hexdigest()}]})
    report = {
        "kind": "clinspark-iq-report", "format": 1, "document_id": f"IQ-{stack}-20261126T000000Z",
        "stack": stack, "customer": protocol.customer, "phase": protocol.phase, "release": protocol.release,
        "ecr": dict(protocol.ecr), "tooling": {"envctl": "0", "packages": {}},
        "executed_by": EXECUTOR, "executed_at": "2026-11-26T00:00:00Z", "account": "123456789012",
        "region": protocol.region,
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


def approve(capsys, directory: Path, report: Path, record: str = "ECR-val-0001", key: Path = APPROVER_KEY):
    return envctl(capsys, directory, "iq", "approve", record, str(report), "--key", str(key))


def qualification_line(capsys, directory: Path, stack: str) -> tuple[int, str]:
    code, out, _ = envctl(capsys, directory, "check", stack, "--no-cache")
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("qualification:")]
    return code, "\n".join(lines)


def iq_files(directory: Path, record: str = "ECR-val-0001") -> list[str]:
    chain = layout.RECORD_ID.match(record)["chain"]
    return sorted(p.name for p in layout.chain_dir(directory, chain).glob(f"{record}.iq*"))


def edited(path: Path, edit) -> Path:
    report = json.loads(path.read_text())
    edit(report)
    path.write_text(json.dumps(report))
    return path


# --------------------------------------------------------------------------------------------
# The way it is meant to go
# --------------------------------------------------------------------------------------------
def test_a_qualified_stack_is_installed_not_qualified_until_quality_approves_its_signed_iq(
        capsys, protocols, example_copy, tmp_path):
    assert qualification_line(capsys, example_copy, "val") == (
        0, "qualification: installed, not qualified: no IQ of ECR-val-0001 yet (envctl iq run val --state "
           "EXPORT.json, then envctl iq sign)")
    report = iq_report(protocols, tmp_path)
    pdf = tmp_path / "iq-report.pdf"
    pdf.write_bytes(b"%PDF-1.4 the rendered report")
    code, out, err = sign(capsys, example_copy, report)
    assert code == 0 and "Signed the IQ IQ-val-20261126T000000Z of ECR-val-0001" in out, err
    assert iq_files(example_copy) == ["ECR-val-0001.iq.yaml", "ECR-val-0001.iq.yaml.sig"]
    entry = yaml.safe_load((layout.chain_dir(example_copy, "val") / "ECR-val-0001.iq.yaml").read_text())
    assert entry["report_sha256"] == _sha(report) and entry["pdf_sha256"] == _sha(pdf)  # the PDF beside it
    assert entry["executed_by"] == EXECUTOR and entry["checks"] == len(protocols["val"].requirements)
    assert qualification_line(capsys, example_copy, "val")[1] == (
        "qualification: installed, not qualified: the IQ IQ-val-20261126T000000Z of ECR-val-0001 awaits Quality's "
        "approval (envctl iq approve ECR-val-0001)")
    code, out, _ = approve(capsys, example_copy, report)
    assert code == 0 and f"Approved the IQ of ECR-val-0001 by {QUALITY}" in out
    qualified = (f"qualified: IQ-val-20261126T000000Z of ECR-val-0001, executed by {EXECUTOR}, approved by "
                 f"{QUALITY}")
    assert f"val: {qualified}" in out
    assert qualification_line(capsys, example_copy, "val") == (0, f"qualification: {qualified}")
    assert envctl(capsys, example_copy, "ecr", "verify", "val")[0] == 0


def test_the_record_it_qualifies_stays_sealed_and_the_signatures_verify_with_stock_openssh(
        capsys, protocols, example_copy, tmp_path):
    directory = layout.chain_dir(example_copy, "val")
    before = {p.name: p.read_bytes() for p in directory.glob("ECR-val-0001.*")}
    report = iq_report(protocols, tmp_path)
    assert sign(capsys, example_copy, report)[0] == 0 and approve(capsys, example_copy, report)[0] == 0
    after = {p.name: p.read_bytes() for p in directory.glob("ECR-val-0001.*")}
    assert {k: after[k] for k in before} == before
    signers = PROJECT / "tests" / "example" / "allowed_signers"
    for name, principal, namespace in (("ECR-val-0001.iq.yaml", EXECUTOR, layout.IQ_EXECUTED),
                                       ("ECR-val-0001.iq.approval.yaml", QUALITY, layout.IQ_APPROVED)):
        with (directory / name).open("rb") as message:
            done = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(signers), "-I", principal, "-n", namespace,
                                   "-s", f"{directory / name}.sig"], stdin=message, capture_output=True, text=True)
        assert done.returncode == 0 and f'Good "{namespace}" signature for {principal}' in done.stdout


def test_only_the_phases_the_catalog_qualifies_are_reported(capsys, example_copy):
    assert qualification_line(capsys, example_copy, "prod") == (
        0, "qualification: installed, not qualified: no IQ of ECR-prod-0001 yet (envctl iq run prod --state "
           "EXPORT.json, then envctl iq sign)")
    assert qualification_line(capsys, example_copy, "preprod") == (0, "")  # controlled, not qualified (README)


# --------------------------------------------------------------------------------------------
# Refused before anything is written (exit 2)
# --------------------------------------------------------------------------------------------
def _failed(report: dict[str, Any]) -> None:
    report["checks"][0]["result"] = "fail"


def _made_up(report: dict[str, Any]) -> None:
    """The attack of the review: a short report written by hand, every row 'pass'."""
    report["checks"] = [{**report["checks"][0], "id": "IQ-made-up"}]


REFUSALS = [
    ("a failed check, its summary saying all passed", _failed, "only a passed IQ is signed"),
    ("a deviation", lambda r: r["deviations"].append({"kind": "not in protocol", "resource": "x", "urn": None,
                                                       "found": "a bucket tagged acme-val"}), "1 deviations"),
    ("a check not verifiable", lambda r: r["checks"][1].update(result="not verifiable"), "checks did not pass"),
    ("rows written by hand", _made_up, "its checks are not the protocol's"),
    ("a row of another requirement", lambda r: r["checks"][2].update(requirement="exists"), "not the protocol's"),
    ("a check without evidence", lambda r: r["checks"][3].update(evidence=[]), "passed with no evidence"),
    ("evidence the bundle does not hold", lambda r: r["checks"][3]["evidence"][0].update(file="../iq-report.json"),
     "that its bundle does not hold"),
    ("a bundle outside the report's directory", lambda r: r["evidence_bundle"].update(path="/tmp"),
     "is not a directory beside the report"),
    ("another record's hash", lambda r: r["ecr"].update(sha256="sha256:" + "0" * 64), "but the record in the chain"),
    ("a record that does not exist", lambda r: r["ecr"].update(id="ECR-val-0009"), "which is no record of 'val'"),
    ("another executor", lambda r: r.update(executed_by=QUALITY), "it is signed by who executed it"),
    ("another region", lambda r: r.update(region="us-east-1"), "not the stack's eu-central-1"),
    ("another document id", lambda r: r.update(document_id="IQ-prod-20261126T000000Z"), "is not IQ-val-"),
    ("a run before the approval", lambda r: r.update(executed_at="2026-11-25T23:59:59Z",
                                                     document_id="IQ-val-20261125T235959Z"), "not between the approval"),
    ("a run in the future", lambda r: r.update(executed_at="2026-11-26T00:00:01Z",
                                               document_id="IQ-val-20261126T000001Z"), "not between the approval"),
    ("a malformed bundle", lambda r: r.update(evidence_bundle="evidence"), "evidence_bundle must be {path, sha256}"),
    ("a time that is no text", lambda r: r.update(executed_at=1795000000), "executed_at a UTC time"),
]


@pytest.mark.parametrize("case,edit,fragment", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_report_that_is_not_a_passed_iq_of_the_approved_record_is_refused(capsys, protocols, example_copy, tmp_path,
                                                                            case, edit, fragment):
    code, out, err = sign(capsys, example_copy, edited(iq_report(protocols, tmp_path), edit))
    assert code == 2 and fragment in err and "Traceback" not in err and "defect" not in err, err
    assert iq_files(example_copy) == []


def test_evidence_changed_after_the_run_is_refused(capsys, protocols, example_copy, tmp_path):
    report = iq_report(protocols, tmp_path)
    (tmp_path / "evidence" / "responses" / "0000-api.json").write_text('{"resource": "something else"}\n')
    code, _, err = sign(capsys, example_copy, report)
    assert code == 2 and "does not list exactly the files of the evidence bundle" in err
    seal_bundle(tmp_path / "evidence")  # the manifest rewritten to match: the bundle's hash is not the report's
    code, _, err = sign(capsys, example_copy, report)
    assert code == 2 and "the report names: evidence was changed after the IQ ran" in err
    assert iq_files(example_copy) == []


def test_only_an_executor_signs_and_only_another_person_with_quality_rights_approves(capsys, protocols, example_copy,
                                                                                     tmp_path):
    report = iq_report(protocols, tmp_path)
    code, _, err = sign(capsys, example_copy, report, APPROVER_KEY)  # m.keller may not sign IQ executions
    assert code == 2 and "lacks namespace clinspark-iq-executed" in err
    assert sign(capsys, example_copy, report)[0] == 0
    code, _, err = approve(capsys, example_copy, report, key=REQUESTER_KEY)  # the executor's key
    assert code == 2 and "lacks namespace clinspark-iq-approved" in err
    assert iq_files(example_copy) == ["ECR-val-0001.iq.yaml", "ECR-val-0001.iq.yaml.sig"]
    code, _, err = sign(capsys, example_copy, report)
    assert code == 2 and "has an IQ entry already; an entry is never replaced" in err


def test_quality_approves_only_the_report_the_entry_names(capsys, protocols, example_copy, tmp_path):
    report = iq_report(protocols, tmp_path)
    assert sign(capsys, example_copy, report)[0] == 0
    edited(report, lambda r: r["checks"][0].update(result="fail"))  # changed after it was signed
    code, _, err = approve(capsys, example_copy, report)
    assert code == 2 and f"the report {report} is not the one the entry names" in err
    assert iq_files(example_copy) == ["ECR-val-0001.iq.yaml", "ECR-val-0001.iq.yaml.sig"]


def test_an_uncontrolled_stack_and_a_superseded_record_are_never_qualified(capsys, protocols, example_copy, tmp_path):
    code, _, err = sign(capsys, example_copy, iq_report(protocols, tmp_path / "sandbox", stack="sandbox"))
    assert code == 2 and "sandbox is a sandbox stack, which has no change records" in err
    report = iq_report(protocols, tmp_path / "val")
    set_config(example_copy, "val", f"{NS}:expires_on", "2027-02-01")  # a second record, approved: in force
    assert envctl(capsys, example_copy, "ecr", "new", "val", "--title", "Longer", "--reason", "Validation runs longer",
                  "--key", str(REQUESTER_KEY))[0] == 0
    assert envctl(capsys, example_copy, "ecr", "approve", "ECR-val-0002", "--key", str(APPROVER_KEY))[0] == 0
    set_config(example_copy, "val", f"{NS}:change_record", "ECR-val-0002")
    code, _, err = sign(capsys, example_copy, report)
    assert code == 2 and "ECR-val-0001 is superseded by ECR-val-0002" in err


# --------------------------------------------------------------------------------------------
# Attacks on the files: each breaks the chain, which then approves nothing (fail closed)
# --------------------------------------------------------------------------------------------
def _signed(capsys, protocols, example_copy, tmp_path, approved: bool = True) -> Path:
    report = iq_report(protocols, tmp_path)
    assert sign(capsys, example_copy, report)[0] == 0
    if approved:
        assert approve(capsys, example_copy, report)[0] == 0
    return layout.chain_dir(example_copy, "val")


def test_an_edited_iq_entry_breaks_the_chain(capsys, protocols, example_copy, tmp_path):
    entry = _signed(capsys, protocols, example_copy, tmp_path) / "ECR-val-0001.iq.yaml"
    entry.write_text(entry.read_text().replace("checks: ", "checks: 1"))
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "val")
    assert code == 1 and "the executor's signature does not verify" in out
    code, line = qualification_line(capsys, example_copy, "val")
    assert code == 1 and line.startswith("qualification: not qualified:")


def test_a_hand_written_iq_approval_is_no_qualification(capsys, protocols, example_copy, tmp_path):
    """An engineer writes Quality's approval and signs it with a key that may not."""
    directory = _signed(capsys, protocols, example_copy, tmp_path, approved=False)
    approval = directory / "ECR-val-0001.iq.approval.yaml"
    approval.write_text(yaml.safe_dump({
        "format": "clinspark-iq-approval/1", "record": "ECR-val-0001",
        "iq_sha256": _sha(directory / "ECR-val-0001.iq.yaml"), "meaning": "approved", "approved_by": QUALITY,
        "approved_at": "2026-11-26T00:00:00Z"}, sort_keys=False))
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(REQUESTER_KEY), "-n", layout.IQ_APPROVED,
                    str(approval)], check=True, capture_output=True)
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "val")
    assert code == 1 and "the IQ approver's signature does not verify" in out


def test_an_iq_entry_moved_to_another_record_is_refused(capsys, protocols, example_copy, tmp_path):
    directory = _signed(capsys, protocols, example_copy, tmp_path)
    prod = layout.chain_dir(example_copy, "prod")
    for f in directory.glob("ECR-val-0001.iq*"):
        f.rename(prod / f.name.replace("ECR-val-0001", "ECR-prod-0001"))
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and "qualifies ECR-val-0001 of 'val', not ECR-prod-0001" in out


def test_iq_files_beside_a_record_not_approved_break_the_chain(capsys, example_copy):
    set_config(example_copy, "val", f"{NS}:expires_on", "2027-02-01")
    assert envctl(capsys, example_copy, "ecr", "new", "val", "--title", "Longer", "--reason", "Validation runs longer",
                  "--key", str(REQUESTER_KEY))[0] == 0
    (layout.chain_dir(example_copy, "val") / "ECR-val-0002.iq.yaml").write_text("junk: 1\n")
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "val")
    assert code == 1 and "qualifies ECR-val-0002, which is not approved" in out


def test_a_stack_whose_state_is_not_the_approved_one_is_not_qualified(capsys, protocols, example_copy, tmp_path):
    _signed(capsys, protocols, example_copy, tmp_path)
    set_config(example_copy, "val", f"{NS}:expires_on", "2027-02-01")  # an untracked change
    code, line = qualification_line(capsys, example_copy, "val")
    assert code == 1 and line.startswith("qualification: not qualified:") and "mandatory violations" in line


def test_removing_or_changing_an_iq_entry_the_trust_root_holds_is_divergence(capsys, protocols, example_copy,
                                                                              tmp_path):
    _signed(capsys, protocols, example_copy, tmp_path)
    root = tmp_path / "root"
    shutil.copytree(example_copy, root)
    signers = signers_in_force(TrustRoot.own(), example_copy)
    trusted = load_chain(root, "val", signers)
    for f in layout.chain_dir(example_copy, "val").glob("ECR-val-0001.iq.approval.yaml*"):
        f.unlink()
    assert divergence(trusted, load_chain(example_copy, "val", signers), "records of 'val'") == [
        "the records of 'val' of the checked tree diverge from the trust root's at ECR-val-0001: records change only "
        "by new records appended to the trusted chain (and an approval or IQ entry, once there, never changes)"]
