"""The signers file and the tooling are under change control too (real mode: a team of its own).

A team is this repository's code without the example's records, with its own generated keys:
alice may author records, bob may author and approve. Its first signers file (the genesis) is
signed by both; every later change of it by a requester and an approver the version before lists.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml

from changecontrol import digest as digests
from changecontrol import layout, sshsig, stackfiles
from changecontrol.records import APPROVAL_FORMAT, RECORD_FORMAT, Approval, Record
from changecontrol.trust import GENESIS_ENV, TrustRoot, verify_stack
from envctl import ecr
from tests.conftest import (
    APPROVER,
    AUTHOR,
    NOW,
    NS,
    approve,
    line,
    record,
    set_config,
    without_pins,
    write_stack,
)


def verdict(root: Path, trust: TrustRoot | None = None, stack: str = "prod"):
    project = stackfiles.project_name(root)
    sf = stackfiles.read(root, stack, project)
    return verify_stack(stack, project, sf.config, sf.secret_keys, root, root, trust or TrustRoot(root), tooling=True)


def test_a_team_with_its_own_signers_approves_its_stack(team):
    found = verdict(team)
    assert found.ok, found.problems
    assert found.anchor["record"] == "ECR-prod-0001" and "trust root" in found.trust


# --------------------------------------------------------------------------------------------
# The first signers file
# --------------------------------------------------------------------------------------------
def fresh(team: Path) -> Path:
    shutil.rmtree(team / layout.RECORDS_DIR)
    return team


def test_the_first_signers_file_needs_two_keys_it_lists(team, keys):
    fresh(team)
    rid = record(team, layout.SIGNERS_CHAIN, keys["bob"])
    with pytest.raises(ecr.EcrError, match="may not approve it: approval needs a second person"):
        approve(team, rid, keys["bob"])
    with pytest.raises(ecr.EcrError, match="is not in the signers file in force"):
        approve(team, rid, keys["mallory"])


def test_the_first_signers_file_is_drafted_by_someone_it_lists(team, keys):
    fresh(team)
    with pytest.raises(ecr.EcrError, match="is not in the signers file in force"):
        record(team, layout.SIGNERS_CHAIN, keys["mallory"])


def test_without_a_signers_chain_nothing_is_approved(team):
    shutil.rmtree(team / layout.RECORDS_DIR / layout.SIGNERS_CHAIN)
    found = verdict(team)
    assert not found.ok and any("no signers" in p for p in found.problems)


# --------------------------------------------------------------------------------------------
# Changing the signers file
# --------------------------------------------------------------------------------------------
def test_an_edited_signers_file_stops_every_approval_until_a_current_approver_signs_it(team, keys):
    signers = team / layout.SIGNERS_FILE
    signers.write_text(signers.read_text() + line(keys["carol"], "carol@team.example", *APPROVER))
    found = verdict(team)
    assert not found.ok and any("is not the signers file ECR-signers-0001 approves" in p for p in found.problems)
    rid = record(team, layout.SIGNERS_CHAIN, keys["alice"])
    with pytest.raises(ecr.EcrError, match="is not in the signers file in force"):
        approve(team, rid, keys["carol"])  # carol is only in the version she would approve
    approve(team, rid, keys["bob"])
    assert verdict(team).ok


def test_a_signers_change_signed_only_by_people_it_adds_is_refused(team, keys):
    signers = team / layout.SIGNERS_FILE
    signers.write_text(signers.read_text() + line(keys["mallory"], "mallory@team.example", *APPROVER)
                       + line(keys["carol"], "carol@team.example", *APPROVER))
    rid = "ECR-signers-0002"
    # A forger writes the record files by hand, signed by the two people the change adds.
    first = (team / layout.RECORDS_DIR / "signers" / "ECR-signers-0001.yaml").read_bytes()
    state = digests.signers_document(signers.read_text())
    rec = Record(format=RECORD_FORMAT, id=rid, chain="signers", meaning="authored", title="Add two",
                 classification="standard", reason="More approvers", requested_by="mallory@team.example",
                 requested_at=NOW, previous="sha256:" + hashlib.sha256(first).hexdigest(),
                 digest=digests.digest_of(state), state=state)
    text = rec.to_yaml().encode()
    base = team / layout.RECORDS_DIR / "signers"
    (base / f"{rid}.yaml").write_bytes(text)
    (base / f"{rid}.yaml.sig").write_bytes(sshsig.sign(keys["mallory"], layout.AUTHORED, text))
    app = Approval(format=APPROVAL_FORMAT, record=rid, record_sha256="sha256:" + hashlib.sha256(text).hexdigest(),
                   meaning="approved", approved_by="carol@team.example", approved_at=NOW).to_yaml().encode()
    (base / f"{rid}.approval.yaml").write_bytes(app)
    (base / f"{rid}.approval.yaml.sig").write_bytes(sshsig.sign(keys["carol"], layout.APPROVED, app))
    found = verdict(team)
    assert not found.ok
    assert any("ECR-signers-0002.yaml: the requester's signature does not verify" in p for p in found.problems)


# --------------------------------------------------------------------------------------------
# The trust root anchors the signers
# --------------------------------------------------------------------------------------------
def test_a_candidate_that_rewrites_the_signers_chain_is_refused_by_the_trust_roots_checker(team, tmp_path, keys):
    candidate = tmp_path / "candidate"
    shutil.copytree(team, candidate)
    shutil.rmtree(candidate / layout.RECORDS_DIR)
    (candidate / layout.SIGNERS_FILE).write_text(line(keys["mallory"], "mallory@team.example", *AUTHOR)
                                                 + line(keys["carol"], "carol@team.example", *APPROVER))
    approve(candidate, record(candidate, layout.SIGNERS_CHAIN, keys["mallory"]), keys["carol"])
    approve(candidate, record(candidate, layout.TOOLING_CHAIN, keys["mallory"]), keys["carol"])
    approve(candidate, record(candidate, "prod", keys["mallory"]), keys["carol"])
    assert verdict(candidate).ok  # self-anchored, the rewritten tree approves itself...
    found = verdict(candidate, TrustRoot(team))  # ...the trust root's checker does not
    assert not found.ok and any("diverge from the trust root's" in p for p in found.problems)


def test_a_candidate_extending_the_signers_chain_properly_is_accepted(team, tmp_path, keys):
    candidate = tmp_path / "candidate"
    shutil.copytree(team, candidate)
    signers = candidate / layout.SIGNERS_FILE
    signers.write_text(signers.read_text() + line(keys["carol"], "carol@team.example", *APPROVER))
    approve(candidate, record(candidate, layout.SIGNERS_CHAIN, keys["alice"], TrustRoot(team)), keys["bob"],
            TrustRoot(team))
    found = verdict(candidate, TrustRoot(team))
    assert found.ok, found.problems


def test_a_trust_root_without_signers_does_not_let_a_candidate_bring_its_own(team, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(team, root)
    shutil.rmtree(root / layout.RECORDS_DIR / layout.SIGNERS_CHAIN)
    found = verdict(team, TrustRoot(root))
    assert not found.ok and any("has no signers chain" in p for p in found.problems)


def test_ci_can_pin_the_genesis(team, monkeypatch):
    genesis = team / layout.RECORDS_DIR / "signers" / "ECR-signers-0001.yaml"
    monkeypatch.setenv(GENESIS_ENV, "sha256:" + hashlib.sha256(genesis.read_bytes()).hexdigest())
    assert verdict(team).ok
    monkeypatch.setenv(GENESIS_ENV, "sha256:" + "0" * 64)
    found = verdict(team)
    assert not found.ok and any(f"{GENESIS_ENV} pins" in p for p in found.problems)


# --------------------------------------------------------------------------------------------
# Tooling: approved once for the fleet
# --------------------------------------------------------------------------------------------
def test_a_changed_policy_rule_is_unapproved_tooling_until_a_tooling_record_approves_it(team, keys):
    before = verdict(team).digest
    rule = team / "policies" / "rules" / "change_control.py"
    rule.write_text(rule.read_text().replace("if not r.protect:", "if False:"))
    found = verdict(team)
    assert not found.ok and any(p.startswith("unapproved tooling") for p in found.problems)
    assert found.digest == before  # the stack's own state is unchanged: the fleet's records need no redraft
    approve(team, record(team, layout.TOOLING_CHAIN, keys["alice"]), keys["bob"])
    assert verdict(team).ok


def test_a_stack_change_in_a_team_needs_its_keys(team, keys):
    set_config(team, "prod", f"{NS}:release", "2026.4.1")
    found = verdict(team)
    assert not found.ok and any("approves another desired state" in p for p in found.problems)
    rid = record(team, "prod", keys["alice"])
    approve(team, rid, keys["bob"])
    set_config(team, "prod", f"{NS}:change_record", rid)
    assert verdict(team).ok


# --------------------------------------------------------------------------------------------
# Found by the hostile review
# --------------------------------------------------------------------------------------------
def second_state(team: Path, keys) -> str:
    """preprod's release changed and approved as ECR-preprod-0002, named by the stack file."""
    set_config(team, "preprod", f"{NS}:release", "2026.4.1")
    rid = record(team, "preprod", keys["alice"])
    approve(team, rid, keys["bob"])
    set_config(team, "preprod", f"{NS}:change_record", rid)
    return rid


def test_going_back_to_an_earlier_approved_state_needs_a_record_of_its_own(team, keys):
    second_state(team, keys)
    assert verdict(team, stack="preprod").ok
    set_config(team, "preprod", f"{NS}:release", "2026.4.2")
    set_config(team, "preprod", f"{NS}:change_record", "ECR-preprod-0001")  # replays the older approval
    found = verdict(team, stack="preprod")
    assert not found.ok and any("ECR-preprod-0002 is its latest approved record" in p for p in found.problems)
    rid = record(team, "preprod", keys["alice"])  # the rollback is a change like any other
    approve(team, rid, keys["bob"])
    set_config(team, "preprod", f"{NS}:change_record", rid)
    assert verdict(team, stack="preprod").ok


def test_a_candidate_that_drops_records_the_trust_root_holds_is_refused(team, tmp_path, keys):
    second_state(team, keys)
    candidate = tmp_path / "candidate"
    shutil.copytree(team, candidate)
    for f in (candidate / layout.RECORDS_DIR / "preprod").glob("ECR-preprod-0002.*"):
        f.unlink()
    set_config(candidate, "preprod", f"{NS}:release", "2026.4.2")
    set_config(candidate, "preprod", f"{NS}:change_record", "ECR-preprod-0001")
    assert verdict(candidate, stack="preprod").ok  # on its own, the shortened chain looks fine ...
    found = verdict(candidate, TrustRoot(team), stack="preprod")  # ... not to the trust root's checker
    assert not found.ok and any("lack ECR-preprod-0002, which the trust root holds" in p for p in found.problems)


def test_a_removed_approver_approves_nothing_any_more_whatever_time_they_state(team, keys):
    signers = team / layout.SIGNERS_FILE
    signers.write_text(signers.read_text() + line(keys["carol"], "carol@team.example", *APPROVER))
    approve(team, record(team, layout.SIGNERS_CHAIN, keys["alice"]), keys["bob"])
    signers.write_text("".join(l for l in signers.read_text().splitlines(keepends=True) if "bob@" not in l))
    approve(team, record(team, layout.SIGNERS_CHAIN, keys["alice"]), keys["carol"])  # bob leaves
    found = verdict(team)  # ECR-prod-0001 was approved by bob: the chain is intact, the approval lapsed
    assert not found.ok and any("signed by bob@team.example, who is no longer in the signers file" in p
                                for p in found.problems)
    rid = record(team, "prod", keys["alice"])  # the state is approved again by someone still listed
    with pytest.raises(ecr.EcrError, match="is not in the signers file in force"):
        approve(team, rid, keys["bob"])
    approve(team, rid, keys["carol"])
    set_config(team, "prod", f"{NS}:change_record", rid)
    assert any(p.startswith("unapproved tooling") for p in verdict(team).problems)  # bob approved it too
    approve(team, record(team, layout.TOOLING_CHAIN, keys["alice"]), keys["carol"])
    assert verdict(team).ok


@pytest.mark.parametrize("option", ['valid-before="20270101"', 'valid-after="20260101"'])
def test_time_bounds_on_a_key_are_refused(team, keys, option):
    signers = team / layout.SIGNERS_FILE
    signers.write_text(signers.read_text().replace('namespaces="', f'{option},namespaces="', 1))
    with pytest.raises(ecr.EcrError, match="a signature's time is its signer's word"):
        record(team, layout.SIGNERS_CHAIN, keys["alice"])


def test_the_test_pins_and_the_makefile_are_tooling(team, keys):
    reqs = team / "requirements-dev.txt"
    reqs.write_text(reqs.read_text() + "# a new pin\n")
    found = verdict(team)
    assert not found.ok and any(p.startswith("unapproved tooling") for p in found.problems)


def test_a_departed_approvers_backdated_approval_proves_history_but_approves_nothing(team, keys):
    signers = team / layout.SIGNERS_FILE
    signers.write_text(signers.read_text() + line(keys["carol"], "carol@team.example", *APPROVER))
    approve(team, record(team, layout.SIGNERS_CHAIN, keys["alice"]), keys["bob"])
    signers.write_text("".join(l for l in signers.read_text().splitlines(keepends=True) if "bob@" not in l))
    approve(team, record(team, layout.SIGNERS_CHAIN, keys["alice"]), keys["carol"])  # bob leaves
    set_config(team, "preprod", f"{NS}:release", "2099.9.9")
    rid = record(team, "preprod", keys["alice"])
    # bob, gone, signs an approval by hand, stating a time before he left
    path = layout.chain_dir(team, "preprod") / layout.record_files(rid)["record"]
    statement = Approval(format=APPROVAL_FORMAT, record=rid, record_sha256=digests.sha256_bytes(path.read_bytes()),
                         meaning="approved", approved_by="bob@team.example",
                         approved_at=NOW).to_yaml().encode()
    target = path.with_name(layout.record_files(rid)["approval"])
    target.write_bytes(statement)
    target.with_name(target.name + ".sig").write_bytes(sshsig.sign(keys["bob"], layout.APPROVED, statement))
    set_config(team, "preprod", f"{NS}:change_record", rid)
    found = verdict(team, stack="preprod")
    assert not found.ok and any("who is no longer in the signers file" in p for p in found.problems)


# --------------------------------------------------------------------------------------------
# Found by the second hostile review
# --------------------------------------------------------------------------------------------
def test_when_the_approver_of_the_latest_record_leaves_nothing_falls_back_to_an_earlier_state(team, keys):
    signers = team / layout.SIGNERS_FILE
    signers.write_text(signers.read_text() + line(keys["carol"], "carol@team.example", *APPROVER))
    approve(team, record(team, layout.SIGNERS_CHAIN, keys["alice"]), keys["bob"])
    set_config(team, "preprod", f"{NS}:release", "2026.4.1")
    rid = record(team, "preprod", keys["alice"])
    approve(team, rid, keys["carol"])  # ECR-preprod-0002, approved by carol
    signers.write_text("".join(l for l in signers.read_text().splitlines(keepends=True) if "carol@" not in l))
    approve(team, record(team, layout.SIGNERS_CHAIN, keys["alice"]), keys["bob"])  # carol leaves
    set_config(team, "preprod", f"{NS}:release", "2026.4.2")  # back to the state ECR-preprod-0001 approved
    set_config(team, "preprod", f"{NS}:change_record", "ECR-preprod-0001")
    found = verdict(team, stack="preprod")
    assert not found.ok
    assert any(f"but {rid} is its latest approved record (its approval lapsed" in p for p in found.problems)


def fleet_in(team: Path, keys) -> Path:
    """A fleet directory inside the team's repository: one customer's Pre-PROD with two approved records."""
    fleet = team / "fleet"
    fleet.mkdir()
    for chain in (layout.SIGNERS_CHAIN, layout.TOOLING_CHAIN):
        shutil.copytree(layout.chain_dir(team, chain), layout.chain_dir(fleet, chain))
    (fleet / "signers").mkdir()
    shutil.copy(team / layout.SIGNERS_FILE, fleet / layout.SIGNERS_FILE)
    write_stack(fleet, "c1-preprod", without_pins(yaml.safe_load((team / "Pulumi.preprod.yaml").read_text())["config"]))
    set_config(fleet, "c1-preprod", f"{NS}:customer", "c1")
    set_config(fleet, "c1-preprod", f"{NS}:change_record", "ECR-c1-preprod-0001")
    approve(fleet, record(fleet, "c1-preprod", keys["alice"], TrustRoot(team)), keys["bob"], TrustRoot(team))
    set_config(fleet, "c1-preprod", f"{NS}:release", "2026.4.1")
    approve(fleet, record(fleet, "c1-preprod", keys["alice"], TrustRoot(team)), keys["bob"], TrustRoot(team))
    set_config(fleet, "c1-preprod", f"{NS}:change_record", "ECR-c1-preprod-0002")
    return fleet


def fleet_verdict(program: Path, fleet: Path, trust: TrustRoot):
    project = stackfiles.project_name(program)
    sf = stackfiles.read(fleet, "c1-preprod", project)
    return verify_stack("c1-preprod", project, sf.config, sf.secret_keys, program, fleet, trust, tooling=True)


def test_a_fleets_chains_are_compared_with_the_trusted_copy_of_the_fleet(team, keys, tmp_path):
    fleet = fleet_in(team, keys)
    assert fleet_verdict(team, fleet, TrustRoot(team)).ok
    candidate = tmp_path / "candidate"
    shutil.copytree(team, candidate)
    for f in layout.chain_dir(candidate / "fleet", "c1-preprod").glob("ECR-c1-preprod-0002.*"):
        f.unlink()  # the security fix dropped, the older state named again
    set_config(candidate / "fleet", "c1-preprod", f"{NS}:release", "2026.4.2")
    set_config(candidate / "fleet", "c1-preprod", f"{NS}:change_record", "ECR-c1-preprod-0001")
    found = fleet_verdict(candidate, candidate / "fleet", TrustRoot(team))
    assert not found.ok and any("lack ECR-c1-preprod-0002, which the trust root holds" in p for p in found.problems)


def test_a_fleet_stays_compared_with_its_trusted_copy_when_the_candidate_deletes_its_project_file(team, keys,
                                                                                                  tmp_path):
    fleet_in(team, keys)
    candidate = tmp_path / "candidate"
    shutil.copytree(team, candidate)
    (candidate / "Pulumi.yaml").unlink()  # no project above the fleet any more; the checkout root remains
    for f in layout.chain_dir(candidate / "fleet", "c1-preprod").glob("ECR-c1-preprod-0002.*"):
        f.unlink()
    set_config(candidate / "fleet", "c1-preprod", f"{NS}:release", "2026.4.2")
    set_config(candidate / "fleet", "c1-preprod", f"{NS}:change_record", "ECR-c1-preprod-0001")
    found = fleet_verdict(team, candidate / "fleet", TrustRoot(team))
    assert not found.ok and any("lack ECR-c1-preprod-0002, which the trust root holds" in p for p in found.problems)
