"""The README is the front door: what it states about the phases and rules must be the code's."""

from __future__ import annotations

import re

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


def test_the_readme_lists_every_rule_of_the_pack_and_no_other():
    listed = [re.sub(r"`", "", r[0]) for r in _table_after("## The policy pack")]
    assert sorted(listed) == sorted(rule.id for rule in RULES)
    assert len(listed) == len(set(listed))
