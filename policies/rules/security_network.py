"""security_network rules."""

from __future__ import annotations

from ..framework import Rule

RULES: list[Rule] = []
