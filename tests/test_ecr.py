"""Environment Change Records: drafted, approved by a second person, chained; waivers; policy config.

Every test that writes works on a copy of the project in tmp_path; the real repository is only read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from envctl import ecr, ecr_cli

PROJECT = Path(__file__).resolve().parent.parent
CONTROLLED = ("preprod", "val", "prod")
NOW = datetime.now(timezone.utc).replace(microsecond=0)  # val's expiry date is checked against today
TODAY = NOW.date()
LATER = NOW + timedelta(minutes=5)
FAR_FUTURE = (TODAY + timedelta(days=90)).isoformat()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------
@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what the digest and the records depend on; the tests edit only this copy."""
    copy = tmp_path / "project"
    copy.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PROJECT / "components", copy / "components", ignore=ignore)
    for name in ("__main__.py", "Pulumi.yaml", "requirements.txt"):
        shutil.copy(PROJECT / name, copy / name)
    for stack_file in PROJECT.glob("Pulumi.*.yaml"):
        shutil.copy(stack_file, copy / stack_file.name)
    for d in (ecr.RECORDS_DIR, ecr.WAIVERS_DIR):
        if (PROJECT / d).is_dir():
            shutil.copytree(PROJECT / d, copy / d, ignore=ignore)
    return copy


def fresh_chain(project: Path, stack: str) -> None:
    """Forget the copied records of a stack (they may approve an older digest of the code)."""
    shutil.rmtree(project / ecr.RECORDS_DIR / stack, ignore_errors=True)


def draft(project: Path, stack: str = "prod", by: str = "alice", at: datetime = NOW, **kw) -> ecr.ChangeRecord:
    return ecr.draft(project, stack, kw.pop("title", "A change"), kw.pop("reason", "Because it is needed"), by,
                     kw.pop("classification", "standard"), at)


def approved(project: Path, stack: str = "prod", at: datetime = NOW) -> ecr.ChangeRecord:
    rec = draft(project, stack, at=at)
    return ecr.approve(project, rec.id, "bob", at + timedelta(minutes=1))


def set_release(project: Path, stack: str, release: str) -> None:
    path = project / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    old = doc["config"]["clinspark-environments:release"]
    path.write_text(path.read_text().replace(f"release: {old}", f"release: {release}"))


def chain_of_three(project: Path) -> list[ecr.ChangeRecord]:
    """prod with three approved records, each for a different release."""
    fresh_chain(project, "prod")
    records = []
    for i, release in enumerate(("2026.4.2", "2026.4.3", "2026.4.4")):
        set_release(project, "prod", release)
        records.append(approved(project, "prod", at=NOW + timedelta(minutes=10 * i)))
    return records


def rec_path(project: Path, record_id: str) -> Path:
    return ecr.record_path(project, record_id)


def edit_record(project: Path, record_id: str, rehash: bool, **changes) -> None:
    path = rec_path(project, record_id)
    doc = yaml.safe_load(path.read_text())
    doc.update(changes)
    if rehash:
        doc["hash"] = ecr.ChangeRecord.model_validate(doc).computed_hash()
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def messages(problems) -> str:
    return "\n".join(f"{p.path}: {p.message}" for p in problems)


def cli(project: Path, *argv: str) -> int:
    return ecr_cli.main(["--dir", str(project), *argv])


# --------------------------------------------------------------------------------------------
# The shipped records
# --------------------------------------------------------------------------------------------
def test_shipped_chains_verify_and_are_named_by_their_stack_files():
    assert ecr.verify(PROJECT) == []
    for stack in CONTROLLED:
        named = yaml.safe_load((PROJECT / f"Pulumi.{stack}.yaml").read_text())["config"]["clinspark-environments:change_record"]
        records = ecr.list_records(PROJECT, stack)
        assert named in [r.id for r in records]
        first = records[0]
        assert first.approved and not ecr.same_person(first.requested_by, first.approved_by)
        assert ecr.approved_records(PROJECT, stack) == [r.id for r in records if r.approved]


# --------------------------------------------------------------------------------------------
# Draft and approve
# --------------------------------------------------------------------------------------------
def test_a_drafted_record_names_the_current_state_and_approves_nothing_until_approved(project):
    fresh_chain(project, "prod")
    rec = draft(project, "prod", title="Raise PROD main size", reason="More users after go-live",
                classification="minor")
    assert rec.id == "ECR-prod-0001" and rec.previous is None and not rec.approved
    assert rec.digest == ecr.current_digest(project, "prod", TODAY)
    assert rec_path(project, rec.id).is_file()
    assert ecr.verify(project, "prod") == []
    assert ecr.approved_digests(project, "prod") == []
    assert ecr.approved_records(project, "prod") == []

    done = ecr.approve(project, rec.id, "bob", LATER)
    assert done.approved_by == "bob" and done.approved_at == LATER
    assert done.hash != rec.hash and done.hash == done.computed_hash()
    assert ecr.verify(project, "prod") == []
    assert ecr.approved_digests(project, "prod") == [rec.digest]
    assert ecr.approved_records(project, "prod") == ["ECR-prod-0001"]


def test_records_chain_by_the_previous_hash(project):
    first, second, third = chain_of_three(project)
    assert (first.previous, second.previous, third.previous) == (None, first.hash, second.hash)
    assert [r.id for r in ecr.list_records(project, "prod")] == ["ECR-prod-0001", "ECR-prod-0002", "ECR-prod-0003"]
    assert ecr.verify(project) == []
    assert len(ecr.approved_digests(project, "prod")) == 3


def test_drafting_a_state_that_is_approved_already_is_refused_naming_the_record(project):
    fresh_chain(project, "prod")
    approved(project, "prod")
    with pytest.raises(ecr.EcrError, match="ECR-prod-0001 .*already approves exactly this desired state"):
        draft(project, "prod")


def test_drafting_the_same_state_as_the_pending_record_is_refused(project):
    fresh_chain(project, "prod")
    draft(project, "prod")
    with pytest.raises(ecr.EcrError, match="ECR-prod-0001 .*pending.*envctl ecr approve ECR-prod-0001"):
        draft(project, "prod")


@pytest.mark.parametrize("stack", ["sandbox", "migration", "demo", "community-dev"])
def test_uncontrolled_stacks_need_no_ecr(project, stack):
    with pytest.raises(ecr.EcrError, match="not change-controlled: uncontrolled stacks need no ECR"):
        draft(project, stack)
    assert not (project / ecr.RECORDS_DIR / stack).exists()


def test_drafting_for_an_unknown_stack_names_the_stacks_that_exist(project):
    with pytest.raises(ecr.UnknownStack, match="stacks there: community-dev, demo, migration, preprod, prod"):
        draft(project, "staging")


@pytest.mark.parametrize("approver", ["alice", "Alice", " ALICE "])
def test_the_requester_cannot_approve_their_own_record(project, approver):
    fresh_chain(project, "prod")
    rec = draft(project, "prod", by="alice")
    with pytest.raises(ecr.EcrError, match="requested ECR-prod-0001 and may not approve it: approval needs a second person"):
        ecr.approve(project, rec.id, approver, LATER)
    assert not ecr.list_records(project, "prod")[0].approved


def test_verify_flags_a_record_approved_by_its_requester_even_with_a_consistent_hash(project):
    fresh_chain(project, "prod")
    rec = draft(project, "prod", by="alice")
    doc = yaml.safe_load(rec_path(project, rec.id).read_text())
    doc.update(approved_by="alice", approved_at=ecr.utc_text(LATER))
    content = {k: v for k, v in doc.items() if k != "hash"}
    doc["hash"] = "sha256:" + hashlib.sha256(ecr.canonical_json(content).encode()).hexdigest()
    rec_path(project, rec.id).write_text(yaml.safe_dump(doc, sort_keys=False))
    problems = ecr.verify(project, "prod")
    assert "approved by its own requester 'alice': approval needs a second person" in messages(problems)
    assert ecr.approved_digests(project, "prod") == []


def test_an_approved_record_cannot_be_approved_again(project):
    fresh_chain(project, "prod")
    rec = approved(project, "prod")
    with pytest.raises(ecr.EcrError, match="already approved by bob"):
        ecr.approve(project, rec.id, "carol", LATER + timedelta(hours=1))


def test_approving_an_older_record_is_refused_because_it_would_break_the_chain(project):
    fresh_chain(project, "prod")
    older = draft(project, "prod")
    set_release(project, "prod", "2026.4.3")
    newer = draft(project, "prod")
    assert newer.previous == older.hash
    with pytest.raises(ecr.EcrError, match="not the last record.*ECR-prod-0002 holds as `previous`.*break the chain"):
        ecr.approve(project, older.id, "bob", LATER)
    ecr.approve(project, newer.id, "bob", LATER)
    assert ecr.verify(project, "prod") == []
    assert ecr.approved_digests(project, "prod") == [newer.digest]


def test_approving_an_unknown_record_says_which_exist(project):
    fresh_chain(project, "prod")
    draft(project, "prod")
    with pytest.raises(ecr.EcrError, match="no record ECR-prod-0007 .*ECR-prod-0001"):
        ecr.approve(project, "ECR-prod-0007", "bob", LATER)
    with pytest.raises(ecr.EcrError, match="not an ECR id"):
        ecr.approve(project, "prod-7", "bob", LATER)


# --------------------------------------------------------------------------------------------
# Tampering is detected, and a broken chain approves nothing
# --------------------------------------------------------------------------------------------
def test_a_removed_record_is_detected_and_the_chain_approves_nothing(project):
    chain_of_three(project)
    rec_path(project, "ECR-prod-0002").unlink()
    problems = ecr.verify(project, "prod")
    assert "ECR-prod-0002 is missing (a record was removed)" in messages(problems)
    assert ecr.approved_digests(project, "prod") == []
    assert ecr.approved_records(project, "prod") == []
    with pytest.raises(ecr.BrokenChain):
        set_release(project, "prod", "2026.4.9")
        draft(project, "prod")


def test_removing_the_first_record_is_detected(project):
    chain_of_three(project)
    rec_path(project, "ECR-prod-0001").unlink()
    assert "the chain starts at ECR-prod-0002: ECR-prod-0001 is missing" in messages(ecr.verify(project, "prod"))


def test_removing_a_record_and_renumbering_the_rest_is_detected(project):
    chain_of_three(project)
    rec_path(project, "ECR-prod-0002").unlink()
    rec_path(project, "ECR-prod-0003").rename(rec_path(project, "ECR-prod-0002"))
    edit_record(project, "ECR-prod-0002", rehash=True, id="ECR-prod-0002")
    assert "previous is sha256:" in messages(ecr.verify(project, "prod"))
    assert ecr.approved_digests(project, "prod") == []


def test_an_edited_record_no_longer_matches_its_hash(project):
    chain_of_three(project)
    edit_record(project, "ECR-prod-0002", rehash=False, approved_by="mallory")
    problems = ecr.verify(project, "prod")
    assert [p.path for p in problems] == ["change-records/prod/ECR-prod-0002.yaml"]
    assert "does not match the record's hash: it was edited" in problems[0].message
    assert "git" in problems[0].fix
    assert ecr.approved_digests(project, "prod") == []


def test_an_edited_and_rehashed_record_breaks_the_next_records_link(project):
    records = chain_of_three(project)
    edit_record(project, "ECR-prod-0002", rehash=True, digest=records[2].digest)
    problems = ecr.verify(project, "prod")
    assert [p.path for p in problems] == ["change-records/prod/ECR-prod-0003.yaml"]
    assert "ECR-prod-0002 was altered (and re-hashed) or replaced" in problems[0].message
    assert ecr.approved_digests(project, "prod") == []


def test_rehashing_the_last_record_is_not_detectable_from_the_chain_alone(project):
    """The documented limit: nothing holds the last hash; git history (or an anchor) must."""
    records = chain_of_three(project)
    edit_record(project, "ECR-prod-0003", rehash=True, approved_by="mallory")
    assert ecr.verify(project, "prod") == []
    assert records[2].hash != ecr.list_records(project, "prod")[-1].hash


def test_a_record_that_is_not_yaml_or_not_a_record_is_reported(project):
    chain_of_three(project)
    rec_path(project, "ECR-prod-0001").write_text("id: [unclosed\n")
    rec_path(project, "ECR-prod-0003").write_text(
        rec_path(project, "ECR-prod-0003").read_text() + "note: looks harmless\n")
    text = messages(ecr.verify(project, "prod"))
    assert "ECR-prod-0001.yaml: not readable YAML" in text
    assert "ECR-prod-0003.yaml: not a valid record: note: unknown field" in text


def test_an_ecr_of_another_stack_never_approves_this_one(project):
    fresh_chain(project, "prod")
    fresh_chain(project, "val")
    val = approved(project, "val")
    prod_dir = project / ecr.RECORDS_DIR / "prod"
    prod_dir.mkdir(parents=True)
    # Filed under its own name, and disguised under a prod name: neither approves prod.
    shutil.copy(rec_path(project, val.id), prod_dir / "ECR-val-0001.yaml")
    assert ecr.approved_digests(project, "prod") == []
    assert "unexpected entry" in messages(ecr.verify(project, "prod"))
    (prod_dir / "ECR-val-0001.yaml").rename(prod_dir / "ECR-prod-0001.yaml")
    text = messages(ecr.verify(project, "prod"))
    assert "a record of stack 'val' filed under 'prod'" in text
    assert ecr.approved_digests(project, "prod") == []
    assert ecr.approved_records(project, "prod") == []
    assert ecr.approved_records(project, "val") == [val.id]


def test_a_chain_without_records_approves_nothing(project):
    fresh_chain(project, "prod")
    assert ecr.verify(project, "prod") == []
    assert ecr.approved_digests(project, "prod") == []


# --------------------------------------------------------------------------------------------
# The desired-state digest
# --------------------------------------------------------------------------------------------
def test_the_digest_changes_with_a_setting(project):
    before = ecr.current_digest(project, "prod", TODAY)
    set_release(project, "prod", "2026.4.3")
    assert ecr.current_digest(project, "prod", TODAY) != before


def test_the_digest_changes_with_a_component_file(project):
    before = ecr.current_digest(project, "prod", TODAY)
    with (project / "components" / "phases.py").open("a") as f:
        f.write("\n# a harmless-looking line is still a change of the program\n")
    assert ecr.current_digest(project, "prod", TODAY) != before


def test_the_digest_changes_with_a_new_component_file(project):
    before = ecr.current_digest(project, "prod", TODAY)
    (project / "components" / "extra.py").write_text("X = 1\n")
    assert ecr.current_digest(project, "prod", TODAY) != before


def test_the_digest_changes_with_a_pinned_dependency(project):
    before = ecr.current_digest(project, "prod", TODAY)
    req = project / "requirements.txt"
    req.write_text(req.read_text().replace("pulumi_aws==", "pulumi_aws==0.0.0\n# was "))
    assert ecr.current_digest(project, "prod", TODAY) != before


def test_the_digest_ignores_the_change_record_id_and_yaml_comments(project):
    before = ecr.current_digest(project, "prod", TODAY)
    path = project / "Pulumi.prod.yaml"
    path.write_text("# a new comment\n" + path.read_text().replace("ECR-prod-0001", "ECR-prod-0042")
                    .replace("az_count: 3", "az_count: 3   # three AZs"))
    assert "ECR-prod-0042" in path.read_text()
    assert ecr.current_digest(project, "prod", TODAY) == before


def test_the_digest_is_the_same_on_two_runs():
    code = (f"import sys; from datetime import date; from pathlib import Path; from envctl import ecr; "
            f"print(ecr.current_digest(Path({str(PROJECT)!r}), 'prod', date.fromisoformat({TODAY.isoformat()!r})))")
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outs.append(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                   cwd=PROJECT, env=env).stdout.strip())
    assert outs[0] == outs[1] and outs[0].startswith("sha256:")


def test_the_digest_is_the_one_the_program_exports(project):
    from components.digest import desired_state_digest
    settings = ecr.stack_settings(PROJECT, "prod", TODAY)
    assert ecr.current_digest(PROJECT, "prod", TODAY) == desired_state_digest(settings)


# --------------------------------------------------------------------------------------------
# Waivers
# --------------------------------------------------------------------------------------------
def write_waivers(project: Path, stack: str, entries) -> Path:
    path = project / ecr.WAIVERS_DIR / f"{stack}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(entries if isinstance(entries, str) else yaml.safe_dump(entries, sort_keys=False))
    return path


def waiver(**kw):
    return {"rule": "s3-versioning", "resource": "acme-prod-main-documents", "reason": "Replaced by object lock",
            "expires": FAR_FUTURE, "ecr": "ECR-prod-0001", **kw}


def test_no_waivers_file_means_no_waivers(project):
    shutil.rmtree(project / ecr.WAIVERS_DIR, ignore_errors=True)
    assert ecr.load_waivers(project, "prod", controlled=True) == []


def test_waivers_parse(project):
    write_waivers(project, "prod", [waiver()])
    (w,) = ecr.load_waivers(project, "prod", controlled=True, rules=["s3-versioning"])
    assert w.expires == date.fromisoformat(FAR_FUTURE) and w.ecr == "ECR-prod-0001"
    assert w.policy_entry() == {"resource": "acme-prod-main-documents", "reason": "Replaced by object lock",
                                "expires": FAR_FUTURE, "ecr": "ECR-prod-0001"}


@pytest.mark.parametrize(
    ("stack", "entry", "expected"),
    [
        ("prod", waiver(owner="me"), "entry 1 (rule s3-versioning, resource acme-prod-main-documents): unknown key 'owner'; "
                                     "accepted keys: rule, resource, reason, expires, ecr"),
        ("prod", waiver(ecr=None), "ecr: missing; stack 'prod' is change-controlled"),
        ("prod", waiver(ecr="ECR-val-0001"), "ecr: ECR-val-0001 is a record of stack 'val', not 'prod'"),
        ("prod", waiver(ecr="CR-1"), "ecr: not an ECR id"),
        ("prod", waiver(expires="31.12.2027"), "expires: give a date YYYY-MM-DD (got '31.12.2027')"),
        ("prod", waiver(reason=""), "reason: String should have at least 3 characters"),
        ("prod", waiver(rule="s3-versionning"), "rule: 's3-versionning' is not a rule of the policy pack"),
        ("prod", waiver(rule="change-approved-state"), "change-approved-state cannot be waived"),
        ("sandbox", waiver(), "ecr: stack 'sandbox' is not change-controlled and has no ECRs: remove the key"),
    ],
)
def test_waiver_errors_name_the_file_the_entry_and_the_fix(project, stack, entry, expected):
    write_waivers(project, stack, [entry])
    with pytest.raises(ecr.WaiverFileError) as err:
        ecr.load_waivers(project, stack, controlled=stack == "prod",
                         rules=["s3-versioning", "change-approved-state"])
    assert str(err.value).startswith(f"waivers/{stack}.yaml: invalid waivers")
    assert expected in str(err.value)


def test_waiver_file_errors_list_every_bad_entry(project):
    entry = waiver()
    del entry["resource"]
    write_waivers(project, "prod", [waiver(), waiver(), entry, "just text"])
    with pytest.raises(ecr.WaiverFileError) as err:
        ecr.load_waivers(project, "prod", controlled=True)
    text = str(err.value)
    assert "entry 2 (rule s3-versioning, resource acme-prod-main-documents): duplicate: entry 1" in text
    assert "entry 3 (rule s3-versioning, resource ?): resource: missing" in text
    assert "entry 4: expected a mapping" in text


def test_a_waivers_file_that_is_not_a_list_is_refused(project):
    write_waivers(project, "prod", "rule: s3-versioning\n")
    with pytest.raises(ecr.WaiverFileError, match="expected a list of waivers"):
        ecr.load_waivers(project, "prod", controlled=True)
    write_waivers(project, "prod", "- [unclosed\n")
    with pytest.raises(ecr.WaiverFileError, match="not readable YAML"):
        ecr.load_waivers(project, "prod", controlled=True)


# --------------------------------------------------------------------------------------------
# Policy config
# --------------------------------------------------------------------------------------------
RULES = ["change-approved-state", "s3-versioning", "rds-multi-az-prod-main"]


def test_policy_config_carries_the_approved_digests_records_and_waivers(project):
    chain_of_three(project)
    write_waivers(project, "prod", [waiver(ecr="ECR-prod-0002")])
    config = ecr.policy_config(project, "prod", RULES, today=TODAY)
    digests = [r.digest for r in ecr.list_records(project, "prod")]
    records = ["ECR-prod-0001", "ECR-prod-0002", "ECR-prod-0003"]
    assert config == {
        "all": "mandatory",
        "change-approved-state": {"approvedDigests": digests, "stack": "prod", "approvedRecords": records,
                                  "approvals": dict(zip(records, digests))},
        "s3-versioning": {
            "waivers": [{"resource": "acme-prod-main-documents", "reason": "Replaced by object lock",
                         "expires": FAR_FUTURE, "ecr": "ECR-prod-0002"}],
            "approvedRecords": records,
        },
    }


def test_policy_config_of_a_broken_chain_approves_nothing(project):
    chain_of_three(project)
    rec_path(project, "ECR-prod-0002").unlink()
    config = ecr.policy_config(project, "prod", RULES, today=TODAY)
    assert config["change-approved-state"] == {"approvedDigests": [], "stack": "prod", "approvedRecords": [],
                                               "approvals": {}}


def test_policy_config_is_accepted_by_the_pack_as_the_cli_would_read_it(project):
    from envctl.evaluate import effective_policies
    from policies.pack import POLICIES, RULES as PACK_RULES

    names = [r.id for r in PACK_RULES]
    fresh_chain(project, "prod")
    approved(project, "prod")
    write_waivers(project, "prod", [waiver(rule=names[-1])])
    config = ecr.policy_config(project, "prod", names, today=TODAY)
    effective = {e.policy.name: e for e in effective_policies(POLICIES, config)}
    assert all(e.level.value == "mandatory" for e in effective.values())
    if "change-approved-state" in effective:
        assert effective["change-approved-state"].config["approvedDigests"] == ecr.approved_digests(project, "prod")
    assert effective[names[-1]].config["waivers"][0]["resource"] == "acme-prod-main-documents"


def test_advisory_is_refused_for_a_controlled_stack(project):
    with pytest.raises(ecr.EcrError, match="change-controlled.*--advisory is refused"):
        ecr.policy_config(project, "prod", RULES, advisory=["s3-versioning"], today=TODAY)


def test_advisory_lowers_a_rule_of_an_uncontrolled_stack(project):
    config = ecr.policy_config(project, "sandbox", RULES, advisory=["s3-versioning"], today=TODAY)
    assert config["all"] == "mandatory"
    assert config["s3-versioning"] == {"enforcementLevel": "advisory"}
    assert "enforcementLevel" not in config["change-approved-state"]
    with pytest.raises(ecr.EcrError, match="unknown rules: s3-nope"):
        ecr.policy_config(project, "sandbox", RULES, advisory=["s3-nope"], today=TODAY)


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------
def test_cli_new_approve_list_verify(project, capsys):
    fresh_chain(project, "prod")
    assert cli(project, "ecr", "new", "prod", "--title", "Go live", "--reason", "Customer go-live",
               "--by", "alice", "--classification", "emergency") == 0
    out = capsys.readouterr().out
    digest = ecr.current_digest(project, "prod", TODAY)
    assert "Drafted ECR-prod-0001" in out and digest in out
    assert "envctl ecr approve ECR-prod-0001 --by <someone else>" in out

    assert cli(project, "ecr", "approve", "ECR-prod-0001", "--by", "alice") == 2
    assert "approval needs a second person" in capsys.readouterr().err
    assert cli(project, "ecr", "approve", "ECR-prod-0001", "--by", "bob") == 0
    assert "Approved ECR-prod-0001 by bob" in capsys.readouterr().out

    assert cli(project, "ecr", "list", "prod") == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("ECR-prod-0001"))
    assert "emergency" in line and "bob" in line and "<= approves the current state" in line
    assert "Pulumi.prod.yaml names ECR-prod-0001 (approved)" in out

    assert cli(project, "ecr", "verify") == 0
    assert "ok      prod: 1 record(s), 1 approved" in capsys.readouterr().out
    assert cli(project, "digest", "prod") == 0
    assert capsys.readouterr().out.strip() == digest


def test_cli_list_shows_pending_records(project, capsys):
    fresh_chain(project, "prod")
    draft(project, "prod")
    assert cli(project, "ecr", "list", "prod") == 0
    out = capsys.readouterr().out
    assert "PENDING" in out and "names the current state (pending)" in out
    assert "NOT approved yet; ECR-prod-0001 names it and is pending" in out


def test_cli_verify_lists_each_problem_and_fails(project, capsys):
    chain_of_three(project)
    edit_record(project, "ECR-prod-0001", rehash=False, title="Something else")
    assert cli(project, "ecr", "verify") == 1
    out = capsys.readouterr().out
    assert "BROKEN  prod" in out
    assert "change-records/prod/ECR-prod-0001.yaml" in out and "wrong:" in out and "to do:" in out
    assert cli(project, "ecr", "verify", "prod") == 1


def test_cli_unknown_stack_names_the_stacks_that_exist(project, capsys):
    for argv in (("digest", "nope"), ("policy-config", "nope"), ("ecr", "new", "nope", "--title", "abc",
                                                                   "--reason", "abc", "--by", "x"),
                 ("ecr", "list", "nope"), ("ecr", "verify", "nope")):
        assert cli(project, *argv) == 2
        assert "stacks there: community-dev, demo, migration, preprod, prod, sandbox, val" in capsys.readouterr().err


def test_cli_invalid_stack_config_prints_the_message(project, capsys):
    set_release(project, "prod", "latest")
    assert cli(project, "digest", "prod") == 2
    err = capsys.readouterr().err
    assert "stack 'prod' has invalid configuration" in err and "clinspark-environments:release" in err
    assert cli(project, "policy-config", "prod") == 2
    assert cli(project, "ecr", "new", "prod", "--title", "abc", "--reason", "abc", "--by", "x") == 2


def test_cli_policy_config_writes_the_file(project, tmp_path, capsys):
    fresh_chain(project, "prod")
    rec = approved(project, "prod")
    out_file = tmp_path / "policy-config.prod.json"
    assert cli(project, "policy-config", "prod", "--output", str(out_file)) == 0
    config = json.loads(out_file.read_text())
    if "change-approved-state" in config:
        assert config["change-approved-state"]["approvedDigests"] == [rec.digest]
    assert config["all"] == "mandatory"
    assert "--policy-pack-config" in capsys.readouterr().err


def test_cli_policy_config_to_stdout_and_advisory_refused(project, capsys):
    assert cli(project, "policy-config", "sandbox") == 0
    assert json.loads(capsys.readouterr().out)["all"] == "mandatory"
    from policies.pack import RULES as PACK_RULES
    rule = PACK_RULES[-1].id
    assert cli(project, "policy-config", "prod", "--advisory", rule) == 2
    captured = capsys.readouterr()
    assert "--advisory is refused" in captured.err and captured.out == ""


def test_cli_policy_config_of_a_broken_chain_fails_closed(project, tmp_path, capsys):
    chain_of_three(project)
    rec_path(project, "ECR-prod-0002").unlink()
    out_file = tmp_path / "pc.json"
    assert cli(project, "policy-config", "prod", "--output", str(out_file)) == 1
    assert "approves nothing (fail closed)" in capsys.readouterr().err
    config = json.loads(out_file.read_text())
    assert config.get("change-approved-state", {}).get("approvedDigests", []) == []


def test_register_adds_the_commands_to_a_parser():
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, default=Path.cwd())
    ecr_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["policy-config", "sandbox", "--advisory", "a", "--advisory", "b"])
    assert args.func is ecr_cli.cmd_policy_config and args.advisory == ["a", "b"]
    args = parser.parse_args(["ecr", "approve", "ECR-prod-0002", "--by", "bob"])
    assert args.func is ecr_cli.cmd_ecr_approve and args.record == "ECR-prod-0002"
