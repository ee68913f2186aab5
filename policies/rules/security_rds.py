"""security_rds rules."""

from __future__ import annotations

from ..framework import Rule

RULES: list[Rule] = []
