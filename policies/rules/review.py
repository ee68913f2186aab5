"""reviewed-types-only: a resource of a type nobody reviewed is refused in every stack.

The list is :data:`policies.reviewed.REVIEWED`: each type with the rules that judge it, or why none is
needed. A new type (an SQS queue, an OpenSearch domain) is not judged by any rule until someone reviews
it, so until then it is a violation, never a silent pass. The rule belongs to change control: it cannot
be waived, and reviewing a type is a change of the pack that needs an approved tooling record.
"""

from __future__ import annotations

from typing import Any, Mapping

from pulumi_policy import Severity

from ..framework import COMPLIANT, Resource, ResourceResult, Rule, Violated
from ..reviewed import review_of


def reviewed_types_only(r: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if review_of(r.type) is None:
        return Violated(f"{r.label} is of type {r.type}, which no one has reviewed, so no rule judges it: review it "
                        f"in policies/reviewed.py (name the rules that judge it, writing them first if none fits, or "
                        f"say why none is needed) under an approved tooling record, or build it from reviewed types")
    return COMPLIANT


RULES: list[Rule] = [
    Rule("reviewed-types-only", "change-control", "Every resource is of a reviewed type",
         reviewed_types_only, severity=Severity.HIGH,
         remediation="Review the type in policies/reviewed.py with the rules that judge it, under a tooling record"),
]
