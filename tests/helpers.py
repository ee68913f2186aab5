"""Helpers shared by the tests (imported, not fixtures): what a registration looks like as plain data."""

from __future__ import annotations

import hashlib
import json

from components import tokens
from components.tokens import INSTANCE_KEYS
from envctl.mocks import Registration, reveal
from envctl.offline import StackRun


def inputs_digest(reg: Registration) -> str:
    """A registration's inputs (secrets marked, never shown) as one short digest: equal digests, equal inputs."""
    text = json.dumps(reveal(reg.inputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def instances(run: StackRun) -> dict[str, Registration]:
    """The run's Instance components by role."""
    return {r.outputs[INSTANCE_KEYS.role]: r for r in run.by_type(tokens.INSTANCE)}


def under(run: StackRun, ancestor: Registration, typ: str) -> list[Registration]:
    """Resources of `typ` anywhere below `ancestor` in the component tree."""
    by_urn = run.by_urn
    found = []
    for reg in run.by_type(typ):
        parent = reg.parent
        while parent and parent in by_urn:
            if parent == ancestor.urn:
                found.append(reg)
                break
            parent = by_urn[parent].parent
    return found


def by_role(run: StackRun, typ: str) -> dict[str, Registration]:
    """The one resource of `typ` in each instance (anywhere in its parts), by the instance's role."""
    return {role: found for role, inst in instances(run).items() for found in under(run, inst, typ)}
