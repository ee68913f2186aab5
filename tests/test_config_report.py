"""`envctl report`: the configuration-state report of one environment, desired (offline plan) or installed (a
`pulumi stack export`), as JSON and as a PDF with "Page x of y" on every page."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from changecontrol import runcontext
from changecontrol.trust import TrustRoot
from components import tokens
from components.phases import PHASES
from components.settings import StackSettings
from envctl import ecr
from envctl.cli import main
from envctl.evidence.config_report import NOT_READ
from envctl.evidence.environment import SECRET_SIG
from tests.conftest import EXAMPLE, NOW, PROJECT
from tests.helpers import envctl, instances, stack_export, under


def report_json(capsys, *argv: str) -> dict:
    code, out, err = envctl(capsys, PROJECT, "report", *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def val_report() -> dict:
    """`envctl report val --json`, once for the module (in the example's context: module fixtures run before the
    per-test one)."""
    out = io.StringIO()
    with runcontext.using(runcontext.RunContext(now=NOW, example=EXAMPLE)), contextlib.redirect_stdout(out):
        assert main(["--example", "--dir", str(PROJECT), "report", "val", "--json"]) == 0
    return json.loads(out.getvalue())


def test_the_report_holds_the_phase_and_its_catalog_row(val_report):
    assert val_report["phase"]["name"] == "val"
    catalog = val_report["phase"]["catalog"]
    assert catalog["backup_retention_days"] == PHASES["val"].backup_retention_days
    assert catalog["qualified"] is True and catalog["restored_roles"] == ["main", "test"]


def test_the_report_holds_every_setting(val_report):
    assert set(val_report["settings"]) == set(StackSettings.model_fields) - {"project"}
    assert val_report["settings"]["network"]["cidr"] == "10.44.0.0/16"
    assert val_report["settings"]["change_record"] == "ECR-val-0001"


def test_the_report_holds_the_ecr_history_of_the_stacks_chain(val_report):
    chain, _ = ecr.load(PROJECT, "val", TrustRoot.own())
    assert [h["id"] for h in val_report["ecr_history"]] == [e.id for e in chain.entries] == ["ECR-val-0001"]
    (first,) = val_report["ecr_history"]
    record, approval = chain.entries[0].record, chain.entries[0].approval
    assert (first["requested_by"], first["approved_by"]) == (record.requested_by, approval.approved_by)
    assert first["purpose"] == record.reason and first["digest"] == record.digest and first["approved"] is True


def test_the_report_holds_each_instances_configuration_in_tables(val_report, shipped):
    run = shipped["val"]
    assert set(val_report["instances"]) == {"environment", "main", "test"}
    for role, instance in instances(run).items():
        sections = val_report["instances"][role]
        (db,) = under(run, instance, tokens.RDS_INSTANCE)
        assert [db.name, "backupRetentionPeriod", 7] in sections["Database"]
        assert [db.name, "multiAz", False] in sections["Database"]
        (key,) = under(run, instance, tokens.KMS_KEY)
        assert [key.name, "enableKeyRotation", True] in sections["Keys and secrets"]
        listeners = {r.name for r in under(run, instance, tokens.LISTENER)}
        assert {row[0] for row in sections["Entry"]} >= listeners
        rules = under(run, instance, tokens.INGRESS_RULE) + under(run, instance, tokens.EGRESS_RULE)
        assert sorted(row[0] for row in sections["Network boundaries"]) == sorted(r.name for r in rules)
    https_in = next(row for row in val_report["instances"]["main"]["Network boundaries"]
                    if row[0] == "acme-val-main-lb-in-https-ipv4")
    assert https_in[1:5] == ["in", "tcp", 443, "0.0.0.0/0"]
    db_in = next(row for row in val_report["instances"]["main"]["Network boundaries"]
                 if row[0] == "acme-val-main-db-in-app")
    assert db_in[4].startswith("acme-val-main-app-sg (sg-")  # the peer by its name


def test_the_inventory_lists_every_resource(val_report, shipped):
    assert [(r["type"], r["name"], r["urn"]) for r in val_report["inventory"]] == sorted(
        (r.type, r.name, r.urn) for r in shipped["val"].registrations)


def test_the_report_says_it_does_not_read_the_applications_settings(val_report):
    assert val_report["application_settings"] == NOT_READ
    assert "does not read the application's own settings" in NOT_READ
    assert val_report["state"] == "desired (offline plan)" and val_report["attachments"] == []


def test_an_uncontrolled_stack_has_no_ecr_history(capsys):
    report = report_json(capsys, "sandbox")
    assert report["ecr_history"] == [] and report["settings"]["change_record"] is None


def test_the_pdf_numbers_every_page_and_bundles_an_attached_application_export(capsys, tmp_path):
    app = tmp_path / "edc-system-configuration.pdf"
    app.write_bytes(b"%PDF-1.7 the application's own export")
    code, out, err = envctl(capsys, PROJECT, "report", "val", "--pdf", str(tmp_path / "out" / "val.pdf"),
                            "--attach", str(app))
    assert code == 0, err
    assert "does not read the application's own settings" in err
    texts = [p.extract_text() for p in PdfReader(str(tmp_path / "out" / "val.pdf")).pages]
    assert len(texts) > 3
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {len(texts)}" in text and "Document CSR-val-" in text
    whole = "".join("".join(texts).split())
    assert hashlib.sha256(app.read_bytes()).hexdigest() in whole and "edc-system-configuration.pdf" in whole
    assert "Itdoesnotreadtheapplication'sownsettings" in whole
    for heading in ("Phaseanditscatalogattributes", "Settings", "ECRhistory", "Instancemain", "Instancetest",
                    "Database", "Compute", "Storage", "Keysandsecrets", "Networkboundaries", "Entry", "Inventory"):
        assert heading in whole, heading
    assert (tmp_path / "out" / "val.attachments" / app.name).read_bytes() == app.read_bytes()


def test_with_an_export_the_report_shows_what_is_installed(capsys, tmp_path, shipped):
    def shortened(reg):
        return reg.type == tokens.RDS_INSTANCE and reg.name == "acme-val-test-db" and (
            lambda values: {**values, "backupRetentionPeriod": 1})

    (tmp_path / "val.json").write_text(json.dumps(stack_export(shipped["val"], shortened)))
    report = report_json(capsys, "val", "--state", str(tmp_path / "val.json"), "--no-read-back")
    assert report["state"] == "installed (pulumi stack export)" and report["source"] == str(tmp_path / "val.json")
    assert report["read_back"] is None  # offline: what the export records only (read back: tests/test_iq.py)
    assert ["acme-val-test-db", "backupRetentionPeriod", 1] in report["instances"]["test"]["Database"]
    assert ["acme-val-main-db", "backupRetentionPeriod", 7] in report["instances"]["main"]["Database"]
    shown = json.dumps(report)
    assert SECRET_SIG[0] not in shown and "ciphertext" not in shown  # secrets stay opaque


def test_the_secret_mark_is_the_one_the_pulumi_sdk_writes():
    from pulumi.runtime import rpc

    assert SECRET_SIG == (rpc._special_sig_key, rpc._special_secret_sig)


@pytest.mark.parametrize("argv, message", [
    (["val"], "one of the arguments --pdf --json is required"),
    (["val", "--json", "--attach", "{missing}"], "--attach {missing}: cannot be read"),
    (["val", "--json", "--state", "{not_export}"], "not the output of `pulumi stack export`"),
    (["staging", "--json"], "no stack file for staging"),
])
def test_bad_input_is_refused_with_exit_2(capsys, tmp_path, argv, message):
    files = {"missing": str(tmp_path / "app.pdf"), "not_export": str(tmp_path / "x.json")}
    Path(files["not_export"]).write_text("[]")
    argv = [a.format(**files) for a in argv]
    message = message.format(**files)
    code, out, err = envctl(capsys, PROJECT, "report", *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert out == ""
