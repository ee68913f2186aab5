"""The pack: every rule of every family, bound once. Rules never know which pack uses them."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel

from .framework import Rule, to_policy
from .rules import (
    change_control,
    lifecycle,
    review,
    security_compute,
    security_data,
    security_grants,
    security_iam,
    security_keys,
    security_network,
    security_paths,
    security_rds,
    security_s3,
    security_workloads,
)

PACK_NAME = "clinspark-environments"

RULES: list[Rule] = [
    *change_control.RULES,
    *lifecycle.RULES,
    *review.RULES,
    *security_s3.RULES,
    *security_rds.RULES,
    *security_network.RULES,
    *security_paths.RULES,
    *security_compute.RULES,
    *security_iam.RULES,
    *security_keys.RULES,
    *security_data.RULES,
    *security_grants.RULES,
    *security_workloads.RULES,
]

RULE_IDS = [rule.id for rule in RULES]
FAMILIES = {rule.id: rule.family for rule in RULES}
ADVISORY_RULES = [rule.id for rule in RULES if rule.level == EnforcementLevel.ADVISORY]  # rules that only warn
POLICIES = [to_policy(rule, FAMILIES) for rule in RULES]
