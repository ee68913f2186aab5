"""No untracked change reaches a controlled stack: `envctl check` end to end, as an engineer runs it.

Each test works on a copy of the repository and runs the copy's own `envctl` in a subprocess
with the copy first on the import path, so the program, its digest and the records are all the
copy's: a changed component file changes what the program exports, exactly as in a checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from envctl.ecr import ChangeRecord
from tests.conftest import NS, PROJECT

IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".venv", ".git", ".pytest_cache", "*.egg-info")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(PROJECT, copy, ignore=IGNORE)
    return copy


def envctl(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    return subprocess.run([sys.executable, "-m", "envctl.cli", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=180)


def set_config(repo: Path, stack: str, key: str, value) -> None:
    path = repo / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"][key] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def approve_new_state(repo: Path, stack: str = "prod") -> str:
    """The proper path: draft, approve by someone else, name the record in the stack file."""
    drafted = envctl(repo, "ecr", "new", stack, "--title", "Change", "--reason", "Needed", "--by", "alice")
    assert drafted.returncode == 0, drafted.stderr
    record = next(w for w in drafted.stdout.split() if w.startswith(f"ECR-{stack}-"))
    approved = envctl(repo, "ecr", "approve", record, "--by", "bob")
    assert approved.returncode == 0, approved.stderr
    set_config(repo, stack, f"{NS}:change_record", record)
    return record


def assert_untracked(result: subprocess.CompletedProcess, stack: str = "prod") -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[mandatory] change-approved-state" in result.stdout
    assert f"untracked change: stack '{stack}' would apply desired state sha256:" in result.stdout
    assert f"envctl ecr new {stack}" in result.stdout  # the message says what to do


def test_a_changed_setting_is_refused_until_an_ecr_approves_it(repo):
    assert envctl(repo, "check", "prod").returncode == 0
    set_config(repo, "prod", f"{NS}:release", "2026.4.3")
    assert_untracked(envctl(repo, "check", "prod"))
    approve_new_state(repo)
    assert envctl(repo, "check", "prod").returncode == 0


def test_a_changed_component_is_refused_until_an_ecr_approves_it(repo):
    instance = repo / "components" / "instance.py"
    instance.write_text(instance.read_text().replace('TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"',
                                                     'TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"'))
    assert_untracked(envctl(repo, "check", "prod"))
    approve_new_state(repo)
    assert envctl(repo, "check", "prod").returncode == 0


def test_an_unapproved_ecr_approves_nothing(repo):
    set_config(repo, "prod", f"{NS}:release", "2026.4.3")
    drafted = envctl(repo, "ecr", "new", "prod", "--title", "Change", "--reason", "Needed", "--by", "alice")
    assert drafted.returncode == 0
    assert_untracked(envctl(repo, "check", "prod"))


def test_an_ecr_approved_by_its_requester_is_refused_even_when_forged_with_a_consistent_hash(repo):
    set_config(repo, "prod", f"{NS}:release", "2026.4.3")
    envctl(repo, "ecr", "new", "prod", "--title", "Change", "--reason", "Needed", "--by", "alice")
    refused = envctl(repo, "ecr", "approve", "ECR-prod-0002", "--by", "alice")
    assert refused.returncode == 2 and "may not approve it" in refused.stderr
    # A forger bypasses the tool and the model, and seals the record with a matching hash.
    path = repo / "change-records" / "prod" / "ECR-prod-0002.yaml"
    drafted = ChangeRecord.model_validate(yaml.safe_load(path.read_text()))
    forged = drafted.model_copy(update={"approved_by": "Alice", "approved_at": drafted.requested_at})  # no validation
    path.write_text(forged.model_copy(update={"hash": forged.computed_hash()}).to_yaml())
    verify = envctl(repo, "ecr", "verify", "prod")
    assert verify.returncode == 1 and "requester" in verify.stdout + verify.stderr
    assert_untracked(envctl(repo, "check", "prod"))


def test_an_approved_ecr_of_another_stack_does_not_approve_this_one(repo):
    set_config(repo, "prod", f"{NS}:release", "2026.4.3")
    digest = envctl(repo, "digest", "prod").stdout.split()[-1]
    val_chain = repo / "change-records" / "val"
    first = yaml.safe_load((val_chain / "ECR-val-0001.yaml").read_text())
    forged = ChangeRecord.seal(id="ECR-val-0002", stack="val", title="prod change", reason="Release for prod",
                               classification="standard", requested_by="alice", requested_at=first["requested_at"],
                               digest=digest, previous=first["hash"], approved_by="bob",
                               approved_at=first["requested_at"])
    (val_chain / "ECR-val-0002.yaml").write_text(forged.to_yaml())
    assert envctl(repo, "ecr", "verify", "val").returncode == 0  # a valid record of VAL...
    assert_untracked(envctl(repo, "check", "prod"))  # ...never approves PROD


@pytest.mark.parametrize("tamper", ["remove", "edit"])
def test_a_record_removed_from_or_edited_in_the_chain_approves_nothing(repo, tamper):
    set_config(repo, "prod", f"{NS}:release", "2026.4.3")
    approve_new_state(repo)
    assert envctl(repo, "check", "prod").returncode == 0
    first = repo / "change-records" / "prod" / "ECR-prod-0001.yaml"
    if tamper == "remove":
        first.unlink()
    else:
        first.write_text(first.read_text().replace("requested_by: ", "requested_by: x"))
    assert envctl(repo, "ecr", "verify", "prod").returncode == 1
    assert_untracked(envctl(repo, "check", "prod"))


def test_uncontrolled_stacks_need_no_ecr(repo):
    set_config(repo, "sandbox", f"{NS}:release", "2026.4.3")
    result = envctl(repo, "check", "sandbox")
    assert result.returncode == 0, result.stdout
    assert "change-approved-state" not in result.stdout


def test_the_stack_file_must_name_the_record_that_approves_its_state(repo):
    set_config(repo, "prod", f"{NS}:change_record", "ECR-prod-0042")  # no such record
    result = envctl(repo, "check", "prod")
    assert result.returncode == 1 and "names ECR-prod-0042, which is not an approved ECR of this stack" in result.stdout
    set_config(repo, "prod", f"{NS}:change_record", "ECR-prod-0001")
    set_config(repo, "prod", f"{NS}:release", "2026.4.3")
    approve_new_state(repo)  # ECR-prod-0002 approves the new release and is named
    set_config(repo, "prod", f"{NS}:release", "2026.4.2")  # back to the old approved state, still naming 0002
    result = envctl(repo, "check", "prod")
    assert result.returncode == 1 and "names ECR-prod-0002, which approves another desired state" in result.stdout
    assert "set `change_record` to the record that approves this state (ECR-prod-0001" in result.stdout
    set_config(repo, "prod", f"{NS}:change_record", "ECR-prod-0001")  # a rollback names its record
    assert envctl(repo, "check", "prod").returncode == 0
