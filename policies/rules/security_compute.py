"""security_compute rules."""

from __future__ import annotations

from ..framework import Rule

RULES: list[Rule] = []
