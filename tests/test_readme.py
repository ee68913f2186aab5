"""The README is the front door: what it states about the phases and rules must be the code's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from components.phases import PHASES
from policies.pack import RULES
from tests.conftest import PROJECT

README = (PROJECT / "README.md").read_text()


def _table_after(heading: str) -> list[list[str]]:
    section = README.split(heading, 1)[1]
    rows = [l for l in section.splitlines() if l.startswith("|")]
    block = []
    for line in section.splitlines()[section.splitlines().index(rows[0]):]:
        if not line.startswith("|"):
            break
        block.append([c.strip() for c in line.strip("|").split("|")])
    return block[2:]


def test_the_readme_phase_table_is_the_phase_catalog():
    rows = {r[0]: r for r in _table_after("## The phases")}
    assert set(rows) == set(PHASES)
    for name, p in PHASES.items():
        row = rows[name]
        assert row[1] == p.topology.value
        assert row[2] == ("yes" if p.controlled else "no") and row[3] == ("yes" if p.qualified else "no")
        assert row[4] == (f"yes, {p.max_life_days} days" if p.disposable else "no")
        assert row[5] == "/".join(p.sizes[r] for r in p.roles)
        assert row[6] == str(p.backup_retention_days) and row[8] == str(p.log_retention_days)
        assert row[7] == (", ".join(sorted(r.value for r in p.multi_az_roles)) or "no")
        assert row[9] == _restored_from(p) and row[10] == (", ".join(sorted(p.publishes)) or "–")
        assert row[11] == p.data


def _restored_from(phase) -> str:
    """Where each role's database comes from, as the catalog says: `main/test: seed`, `main: clone`, `empty`."""
    parts = []
    for kind in ("clone", "seed", "iteration"):
        roles = [r.value for r in phase.roles if phase.restore_kind(r) == kind]
        if roles:
            parts.append(f"{'/'.join(roles)}: {kind}")
    return "; ".join(parts) or "empty"


def test_the_readme_phase_table_says_where_the_data_comes_from():
    rows = {r[0]: r for r in _table_after("## The phases")}
    assert rows["sandbox"][9] == "main/test: seed" and rows["demo"][9] == "single: seed"
    assert rows["migration"][9] == "single: iteration" and rows["val"][9] == "main/test: clone"
    assert rows["prod"][9] == "main: clone" and rows["seed"][10] == "seed" and rows["preprod"][10] == "prod, val"


def test_the_readme_lists_every_rule_of_the_pack_and_no_other():
    listed = [re.sub(r"`", "", r[0]) for r in _table_after("## The policy pack")]
    assert sorted(listed) == sorted(rule.id for rule in RULES)
    assert len(listed) == len(set(listed))


def test_the_change_control_walkthrough_runs_as_written(tmp_path):
    """The README's ECR walk-through, keys included, in a copy of the repository (with its own git)."""
    block = README.split("### The walk-through", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    copy = tmp_path / "repo"
    shutil.copytree(PROJECT, copy, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc",
                                                                  ".pytest_cache", "*.egg-info"))
    (copy / ".venv").symlink_to(PROJECT / ".venv")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run([*git, *args], cwd=copy, check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(copy)}  # envctl of the copy itself: the engineer's own checkout
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=copy, capture_output=True, text=True,
                          timeout=900, env=env)
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "exit 1: untracked change" in out and "untracked change: stack 'prod' would apply" in out
    assert "Drafted ECR-prod-0002" in out and "signed by a.berger@clinspark.example" in out
    assert "refused: a.berger may not approve" in out
    assert "Approved ECR-prod-0002 by m.keller@clinspark.example" in out
    assert "ok      prod: 2 record(s), 2 approved, every signature verifies" in out
    assert "changes: config: clinspark-environments:release" in out
    assert out.rstrip().endswith("0 not checkable")  # the last check: clean
    status = subprocess.run([*git, "status", "--porcelain"], cwd=copy, capture_output=True, text=True)
    assert status.stdout == "", "the walk-through undoes its example change"
