"""Environment Change Records: drafted and signed by the requester's key, approved by another key, chained.

Every test that writes works on `example_copy` (the example's stack files and records in a directory
of their own) through envctl's own commands, in example mode with the published example keys. The
repository itself is only read.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from changecontrol import layout, sshsig
from tests.conftest import APPROVER_KEY, NS, PROJECT, REQUESTER_KEY, keypair, set_config
from tests.helpers import envctl

CONTROLLED = ("preprod", "val", "prod")
EXAMPLE_SIGNERS = PROJECT / "tests" / "example" / "allowed_signers"


def new(capsys, directory: Path, stack: str = "prod", key: Path = REQUESTER_KEY) -> tuple[int, str, str]:
    return envctl(capsys, directory, "ecr", "new", stack, "--title", "A change", "--reason", "Because it is needed",
                  "--key", str(key))


def approve(capsys, directory: Path, record: str, key: Path = APPROVER_KEY) -> tuple[int, str, str]:
    return envctl(capsys, directory, "ecr", "approve", record, "--key", str(key))


def path_of(directory: Path, record: str, kind: str = "record") -> Path:
    chain = layout.RECORD_ID.match(record)["chain"]
    return layout.chain_dir(directory, chain) / layout.record_files(record)[kind]


def second_record(capsys, directory: Path) -> str:
    """prod's release changed and approved as ECR-prod-0002, named by the stack file."""
    set_config(directory, "prod", f"{NS}:release", "2026.4.1")
    assert new(capsys, directory)[0] == 0
    assert approve(capsys, directory, "ECR-prod-0002")[0] == 0
    set_config(directory, "prod", f"{NS}:change_record", "ECR-prod-0002")
    return "ECR-prod-0002"


# --------------------------------------------------------------------------------------------
# The shipped example
# --------------------------------------------------------------------------------------------
def test_shipped_chains_verify_and_each_stack_names_the_record_that_approves_it(capsys):
    code, out, err = envctl(capsys, PROJECT, "ecr", "verify")
    assert code == 0, out
    assert out.count("every signature verifies") == 4 and "EXAMPLE MODE" in err
    for stack in CONTROLLED:
        named = yaml.safe_load((PROJECT / f"Pulumi.{stack}.yaml").read_text())["config"][f"{NS}:change_record"]
        record = yaml.safe_load(path_of(PROJECT, named).read_text())
        code, out, _ = envctl(capsys, PROJECT, "digest", stack)
        assert code == 0 and out.strip() == record["digest"]


@pytest.mark.parametrize("stack", CONTROLLED)
def test_a_shipped_record_verifies_with_stock_openssh_without_envctl(stack):
    record, approval = path_of(PROJECT, f"ECR-{stack}-0001"), path_of(PROJECT, f"ECR-{stack}-0001", "approval")
    statement = yaml.safe_load(approval.read_text())
    for signed, namespace, principal in ((record, layout.AUTHORED, "a.berger@clinspark.example"),
                                         (approval, layout.APPROVED, "m.keller@clinspark.example")):
        result = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(EXAMPLE_SIGNERS), "-I", principal, "-n",
                                 namespace, "-s", str(signed) + ".sig"], input=signed.read_bytes(), capture_output=True)
        assert result.returncode == 0 and f'Good "{namespace}" signature for {principal}' in result.stdout.decode()
    assert statement["record_sha256"] == "sha256:" + hashlib.sha256(record.read_bytes()).hexdigest()
    assert statement["meaning"] == "approved" and yaml.safe_load(record.read_text())["meaning"] == "authored"


# --------------------------------------------------------------------------------------------
# Draft and approve: two keys
# --------------------------------------------------------------------------------------------
def test_a_change_is_refused_until_a_second_key_approves_the_record_the_stack_names(capsys, example_copy):
    set_config(example_copy, "prod", f"{NS}:release", "2026.4.1")
    code, out, _ = envctl(capsys, example_copy, "check", "prod")
    assert code == 1 and "untracked change: stack 'prod' would apply desired state" in out
    code, out, _ = new(capsys, example_copy)
    assert code == 0 and "Drafted ECR-prod-0002" in out and "signed by a.berger@clinspark.example" in out
    assert path_of(example_copy, "ECR-prod-0002").exists() and path_of(example_copy, "ECR-prod-0002", "record_sig").exists()
    set_config(example_copy, "prod", f"{NS}:change_record", "ECR-prod-0002")
    code, out, _ = envctl(capsys, example_copy, "check", "prod")
    assert code == 1 and "ECR-prod-0002 is not approved yet" in out
    code, out, _ = approve(capsys, example_copy, "ECR-prod-0002")
    assert code == 0 and "Approved ECR-prod-0002 by m.keller@clinspark.example" in out
    assert envctl(capsys, example_copy, "check", "prod")[0] == 0


def test_the_requesters_key_cannot_approve(capsys, example_copy):
    set_config(example_copy, "prod", f"{NS}:release", "2026.4.1")
    assert new(capsys, example_copy, key=APPROVER_KEY)[0] == 0  # m.keller asks ...
    code, _, err = approve(capsys, example_copy, "ECR-prod-0002", key=APPROVER_KEY)  # ... and may not approve
    assert code == 2 and "requested ECR-prod-0002 and may not approve it" in err
    assert not path_of(example_copy, "ECR-prod-0002", "approval").exists()


def test_a_key_that_may_only_author_cannot_approve(capsys, example_copy):
    set_config(example_copy, "prod", f"{NS}:release", "2026.4.1")
    assert new(capsys, example_copy, key=APPROVER_KEY)[0] == 0
    code, _, err = approve(capsys, example_copy, "ECR-prod-0002", key=REQUESTER_KEY)
    assert code == 2 and "may not approve records" in err and layout.APPROVED in err


def test_a_key_the_signers_file_does_not_list_can_neither_draft_nor_approve(capsys, example_copy, tmp_path):
    stranger = keypair(tmp_path, "mallory")
    set_config(example_copy, "prod", f"{NS}:release", "2026.4.1")
    code, _, err = new(capsys, example_copy, key=stranger)
    assert code == 2 and "is not in the signers file in force" in err
    assert new(capsys, example_copy)[0] == 0
    code, _, err = approve(capsys, example_copy, "ECR-prod-0002", key=stranger)
    assert code == 2 and "is not in the signers file in force" in err


@pytest.mark.parametrize("spelling", [
    "m.keller@clinspark.example.",  # a trailing dot
    "m.keller+qa@clinspark.example",  # a +alias
    "m.kel\u200bler@clinspark.example",  # a zero-width space
    "m.k\u0435ller@clinspark.example",  # a Cyrillic e
    "\uff4d.keller@clinspark.example",  # a fullwidth m
    "m.keller",  # the bare local part
    "M.Keller@clinspark.example",  # letter case
])
def test_an_approval_in_another_spelling_of_the_approver_is_no_approval(capsys, example_copy, spelling):
    set_config(example_copy, "prod", f"{NS}:release", "2026.4.1")
    assert new(capsys, example_copy)[0] == 0
    record = path_of(example_copy, "ECR-prod-0002")
    statement = ("format: clinspark-ecr-approval/2\nrecord: ECR-prod-0002\n"
                 f"record_sha256: sha256:{hashlib.sha256(record.read_bytes()).hexdigest()}\nmeaning: approved\n"
                 f"approved_by: {json.dumps(spelling)}\napproved_at: '2026-11-26T12:00:00Z'\n").encode()
    approval = path_of(example_copy, "ECR-prod-0002", "approval")
    approval.write_bytes(statement)  # signed with the approver's real key: only the name is off
    approval.with_name(approval.name + ".sig").write_bytes(sshsig.sign(APPROVER_KEY, layout.APPROVED, statement))
    set_config(example_copy, "prod", f"{NS}:change_record", "ECR-prod-0002")
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and "BROKEN  prod" in out
    code, out, _ = envctl(capsys, example_copy, "check", "prod")
    assert code == 1 and "untracked change" in out


# --------------------------------------------------------------------------------------------
# History: rewriting it needs the signers' keys
# --------------------------------------------------------------------------------------------
def test_an_edited_record_no_longer_verifies(capsys, example_copy):
    record = path_of(example_copy, "ECR-prod-0001")
    record.write_text(record.read_text().replace("title: Create", "title: Created"))
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and "the requester's signature does not verify" in out
    assert envctl(capsys, example_copy, "check", "prod")[0] == 1


def test_editing_an_old_record_and_relinking_every_later_one_breaks_their_signatures(capsys, example_copy):
    second_record(capsys, example_copy)
    first, second = path_of(example_copy, "ECR-prod-0001"), path_of(example_copy, "ECR-prod-0002")
    first.write_text(first.read_text().replace("title: Create", "title: Created"))
    digest = "sha256:" + hashlib.sha256(first.read_bytes()).hexdigest()
    doc = second.read_text()
    old = yaml.safe_load(doc)["previous"]
    second.write_text(doc.replace(old, digest))  # the link now matches the edited first record
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1
    assert out.count("the requester's signature does not verify") == 2  # both rewritten records
    assert envctl(capsys, example_copy, "check", "prod")[0] == 1


def test_a_removed_record_leaves_a_gap_and_the_chain_approves_nothing(capsys, example_copy):
    second_record(capsys, example_copy)
    set_config(example_copy, "prod", f"{NS}:release", "2026.4.0")
    assert new(capsys, example_copy)[0] == 0
    for f in path_of(example_copy, "ECR-prod-0002").parent.glob("ECR-prod-0002.*"):
        f.unlink()
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and "ECR-prod-0002 missing before it: a record was removed" in out


@pytest.mark.parametrize("name", [
    "ECR-prod-\uff10\uff10\uff10\uff12.yaml",  # fullwidth digits
    "ECR-prod-0002.yml",
    "ECR-pr\u043ed-0002.yaml",  # a Cyrillic o
    "ECR-val-0002.yaml",  # a record of another chain filed here
    "notes.txt",
])
def test_a_file_named_unlike_a_record_is_a_decoy_and_refused(capsys, example_copy, name):
    source = path_of(example_copy, "ECR-prod-0001")
    shutil.copy(source, source.with_name(name))
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and "unexpected entry in the records of 'prod'" in out
    assert envctl(capsys, example_copy, "check", "prod")[0] == 1


def test_a_directory_named_like_a_record_is_refused(capsys, example_copy):
    (path_of(example_copy, "ECR-prod-0001").parent / "ECR-prod-0002.yaml").mkdir()
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and "unexpected entry" in out


@pytest.mark.parametrize("trick, refusal", [
    (lambda text: text.replace("chain: prod\n", "chain: prod\nchain: val\n"), "duplicate key 'chain'"),
    (lambda text: text.replace("classification: standard", "classification: !!str standard"), "tags are not accepted"),
    (lambda text: text.replace("meaning: authored", "meaning: &m authored"), "anchors and aliases are not accepted"),
])
def test_a_signed_record_that_is_not_plain_yaml_is_refused(capsys, example_copy, trick, refusal):
    record = path_of(example_copy, "ECR-prod-0001")
    text = trick(record.read_text()).encode()
    record.write_bytes(text)  # re-signed with the requester's key: the signature is good, the YAML is not plain
    record.with_name(record.name + ".sig").write_bytes(sshsig.sign(REQUESTER_KEY, layout.AUTHORED, text))
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and refusal in out


def test_a_superseded_or_approved_record_cannot_be_approved_and_an_approved_state_not_drafted_again(capsys, example_copy):
    code, _, err = new(capsys, example_copy)
    assert code == 2 and "ECR-prod-0001" in err and "approves exactly this state" in err
    code, _, err = approve(capsys, example_copy, "ECR-prod-0001")
    assert code == 2 and "was already approved" in err
    set_config(example_copy, "prod", f"{NS}:release", "2026.4.1")
    assert new(capsys, example_copy)[0] == 0
    code, _, err = new(capsys, example_copy)
    assert code == 2 and "is pending and names exactly this state" in err
    set_config(example_copy, "prod", f"{NS}:release", "2026.4.0")
    assert new(capsys, example_copy)[0] == 0
    code, _, err = approve(capsys, example_copy, "ECR-prod-0002")
    assert code == 2 and "is not the last record of 'prod'" in err


# --------------------------------------------------------------------------------------------
# ecr verify: no chain is not a pass; the deployed state anchors the chain
# --------------------------------------------------------------------------------------------
def test_verify_of_a_directory_without_chains_fails(capsys, tmp_path):
    code, out, _ = envctl(capsys, tmp_path, "ecr", "verify")
    assert code == 1 and "NO CHAINS" in out


def test_verify_of_a_stack_without_records_fails(capsys, example_copy):
    shutil.rmtree(example_copy / "change-records" / "prod")
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and "NO CHAIN  prod" in out


def export_of(run, directory: Path) -> Path:
    """A `pulumi stack export` (DeploymentV3) holding the Environment with the outputs it registered."""
    env = run.by_type("clinspark:environment:Environment")[0]
    doc = {"version": 3, "deployment": {"manifest": {"time": "2026-11-26T12:00:00Z", "magic": "x", "version": "v3"},
                                        "resources": [{"urn": env.urn, "custom": False, "type": env.type,
                                                       "outputs": env.outputs}]}}
    path = directory / "export.json"
    path.write_text(json.dumps(doc))
    return path


def test_verify_against_the_deployed_state_finds_a_replaced_record(capsys, example_copy, plan_in):
    second_record(capsys, example_copy)
    export = export_of(plan_in(example_copy, "prod"), example_copy.parent)
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod", "--state", str(export))
    assert code == 0 and "the deployed state's ECR-prod-0002 is in it unchanged" in out
    # The last record (which no trust root holds yet) replaced by a properly signed one: the chain verifies ...
    for f in path_of(example_copy, "ECR-prod-0002").parent.glob("ECR-prod-0002.*"):
        f.unlink()
    assert envctl(capsys, example_copy, "ecr", "new", "prod", "--title", "Another second", "--reason", "Rewritten",
                  "--key", str(REQUESTER_KEY))[0] == 0
    assert approve(capsys, example_copy, "ECR-prod-0002")[0] == 0
    assert envctl(capsys, example_copy, "ecr", "verify", "prod")[0] == 0
    # ... but not against what was deployed
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod", "--state", str(export))
    assert code == 1 and "ECR-prod-0002 is not the record that was deployed" in out


def test_a_record_the_trust_root_holds_cannot_be_replaced(capsys, example_copy):
    for f in path_of(example_copy, "ECR-prod-0001").parent.glob("ECR-prod-0001.*"):
        f.unlink()
    assert envctl(capsys, example_copy, "ecr", "new", "prod", "--title", "Another first", "--reason", "Rewritten",
                  "--key", str(REQUESTER_KEY))[0] == 0
    assert approve(capsys, example_copy, "ECR-prod-0001")[0] == 0  # properly signed, with the keys at hand
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and "diverge from the trust root's at ECR-prod-0001" in out
    assert envctl(capsys, example_copy, "check", "prod")[0] == 1


def test_times_only_move_forward_along_a_chain(capsys, example_copy):
    set_config(example_copy, "prod", f"{NS}:release", "2026.4.1")
    assert new(capsys, example_copy)[0] == 0
    record = path_of(example_copy, "ECR-prod-0002")
    text = record.read_text().replace("requested_at: '2026-11-26T00:00:00Z'", "requested_at: '2026-11-25T00:00:00Z'")
    record.write_text(text)  # backdated before the record it follows, and re-signed by its requester
    record.with_name(record.name + ".sig").write_bytes(sshsig.sign(REQUESTER_KEY, layout.AUTHORED, text.encode()))
    code, out, _ = envctl(capsys, example_copy, "ecr", "verify", "prod")
    assert code == 1 and "before the record it follows" in out


# --------------------------------------------------------------------------------------------
# policy-config: enforcement levels and a location, never an approval
# --------------------------------------------------------------------------------------------
def test_policy_config_carries_no_approval(capsys, example_copy):
    code, out, _ = envctl(capsys, example_copy, "policy-config", "prod")
    config = json.loads(out)
    assert code == 0 and config["all"] == "mandatory"
    assert config["change-approved-state"] == {"projectDir": str(example_copy.resolve())}
    assert "approvedDigests" not in out and "waivers" not in out and "approvals" not in out


def test_policy_config_may_lower_a_rule_of_an_uncontrolled_stack_only(capsys, example_copy):
    code, out, _ = envctl(capsys, example_copy, "policy-config", "sandbox", "--advisory", "s3-versioning")
    assert code == 0 and json.loads(out)["s3-versioning"]["enforcementLevel"] == "advisory"
    code, _, err = envctl(capsys, example_copy, "policy-config", "prod", "--advisory", "s3-versioning")
    assert code == 2 and "--advisory is refused" in err


def test_policy_config_of_the_project_itself_needs_no_location(capsys):
    code, out, _ = envctl(capsys, PROJECT, "policy-config", "prod")
    assert code == 0 and json.loads(out) == {"all": "mandatory"}
