"""Helpers shared by the tests (imported, not fixtures): what a registration looks like as plain data."""

from __future__ import annotations

import hashlib
import json

from envctl.mocks import Registration, reveal


def inputs_digest(reg: Registration) -> str:
    """A registration's inputs (secrets marked, never shown) as one short digest: equal digests, equal inputs."""
    text = json.dumps(reveal(reg.inputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
