"""The pack's rule table as a whole: every rule of every family states what an engine or an auditor shows of it."""

from __future__ import annotations

import re

import pytest
from pulumi_policy import Severity

from policies.framework import CHECKOV_TAG, FSBP_FRAMEWORK, metadata, to_policy
from policies.pack import RULES
from tests.conftest import PROJECT


def test_every_rule_has_a_severity_and_a_one_line_remediation():
    for rule in RULES:
        assert isinstance(rule.severity, Severity), rule.id
        assert re.fullmatch(r"[A-Z][^\n]{10,160}", rule.remediation), rule.id
        assert not rule.remediation.endswith("."), rule.id


def test_the_references_travel_in_pulumi_policy_s_own_fields():
    for rule in RULES:
        policy = to_policy(rule)
        assert (policy.severity, policy.remediation_steps) == (rule.severity, rule.remediation)
        assert policy.tags == [f"family:{rule.family}", *(CHECKOV_TAG + c for c in rule.checkov_ids)]
        if rule.fsbp:
            assert (policy.framework.name, policy.framework.reference) == (FSBP_FRAMEWORK, rule.fsbp)
        else:
            assert policy.framework is None and policy.url is None
    (sg,) = [r for r in RULES if r.id == "sg-no-open-ingress"]
    assert metadata(sg)["tags"] == ["family:security", "checkov:CKV_AWS_24", "checkov:CKV_AWS_25"]
    assert metadata(sg)["url"] == "https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-18"


def test_the_readme_rule_table_gives_each_rule_s_severity():
    lines = (PROJECT / "README.md").read_text().split("## The policy pack", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    header, _, *rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[start:end]]
    at = header.index("severity")
    assert {row[0].strip("`"): row[at] for row in rows} == {rule.id: rule.severity.value for rule in RULES}


def test_a_rule_that_answers_nothing_explicit_is_an_error_not_a_pass(shipped):
    from pulumi_policy import Severity as S

    from envctl.evaluate import effective_policies, evaluate
    from policies.framework import Rule

    silent = Rule("silent", "security", "answers None", lambda resource, config: None,
                  types=("aws:kms/key:Key",), severity=S.LOW, remediation="Answer COMPLIANT, Violated or NotApplicable")
    with pytest.raises(TypeError, match="rule silent answered None, not COMPLIANT, Violated or NotApplicable"):
        evaluate(shipped["sandbox"], effective_policies([to_policy(silent)], None))
