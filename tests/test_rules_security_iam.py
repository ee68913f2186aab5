"""IAM and KMS policy-document rules, evaluated on the shipped plans the way the engine evaluates them.

Quiet: the shipped stacks. Firing: one registration's document altered, in each form the provider
accepts (a JSON string, single values instead of lists, NotAction, NotPrincipal).
"""

from __future__ import annotations

import json

import pytest

from envctl.evaluate import effective_policies, evaluate
from policies.framework import to_policy
from policies.rules import security_iam
from tests.conftest import SHIPPED
from tests.test_rules_security import (
    added,
    edit,
    not_applicable,
    only,
    violations,
)

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KEY = "aws:kms/key:Key"


def _document(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture
def prod(shipped):
    return shipped["prod"]


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_shipped_stacks_violate_no_iam_or_key_policy_rule(shipped, stack):
    found = evaluate(shipped[stack], effective_policies([to_policy(r) for r in security_iam.RULES], None)).violations
    assert found == []


# --------------------------------------------------------------------------------------------
# iam-no-admin
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("statement", [
    {"Effect": "Allow", "Action": "*", "Resource": "*"},
    {"Effect": "Allow", "Action": ["s3:GetObject", "*:*"], "Resource": ["*"]},
    {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
    {"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:s3:::x"},
], ids=["star-string", "star-colon-in-list", "not-action", "not-resource"])
def test_an_inline_policy_allowing_everything_is_reported(prod, statement):
    run, policy = edit(prod, ROLE_POLICY, "acme-prod-main-task-data",
                       lambda inputs: inputs.update(policy=_document(statement)))
    v = only(violations(run, "iam-no-admin"), policy.urn)
    assert "allows every action on every resource" in v.message and "name the actions" in v.message


def test_a_deny_of_everything_or_a_wildcard_on_named_resources_stays_quiet(prod):
    run, _ = edit(prod, ROLE_POLICY, "acme-prod-main-task-data", lambda inputs: inputs.update(policy=_document(
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::acme-prod-main-documents/*"})))
    assert violations(run, "iam-no-admin") == []


@pytest.mark.parametrize("managed", ["AdministratorAccess", "PowerUserAccess", "IAMFullAccess"])
def test_attaching_an_administrator_managed_policy_is_reported(prod, managed):
    run, attachment = edit(prod, ATTACHMENT, "acme-prod-main-execution-managed",
                           lambda inputs: inputs.update(policyArn=f"arn:aws:iam::aws:policy/{managed}"))
    assert managed in only(violations(run, "iam-no-admin"), attachment.urn).message


def test_an_inline_role_policy_is_judged_and_a_role_without_one_is_not_applicable(prod):
    role = prod.one(ROLE, "acme-prod-main-task")
    assert role.urn in not_applicable(prod, "iam-no-admin")
    run, role = edit(prod, ROLE, "acme-prod-main-task", lambda inputs: inputs.update(
        inlinePolicies=[{"name": "all", "policy": _document({"Effect": "Allow", "Action": "*", "Resource": "*"})}]))
    assert "inline policy 'all'" in only(violations(run, "iam-no-admin"), role.urn).message


def test_an_unreadable_policy_is_reported_not_a_crash(prod):
    run, policy = edit(prod, ROLE_POLICY, "acme-prod-main-task-data", lambda inputs: inputs.update(policy="{not json"))
    assert "cannot be read" in only(violations(run, "iam-no-admin"), policy.urn).message


# --------------------------------------------------------------------------------------------
# iam-trust-not-open
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::123456789012:root", "*"]}])
def test_a_role_anyone_may_assume_is_reported(prod, principal):
    run, role = edit(prod, ROLE, "acme-prod-main-task", lambda inputs: inputs.update(assumeRolePolicy=_document(
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})))
    assert "lets anyone assume it" in only(violations(run, "iam-trust-not-open"), role.urn).message


def test_not_principal_in_an_allow_is_anyone_else_and_reported(prod):
    run, role = edit(prod, ROLE, "acme-prod-main-task", lambda inputs: inputs.update(assumeRolePolicy=_document(
        {"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"})))
    only(violations(run, "iam-trust-not-open"), role.urn)


def test_a_named_service_or_a_deny_for_anyone_stays_quiet(prod):
    run, _ = edit(prod, ROLE, "acme-prod-main-task", lambda inputs: inputs.update(assumeRolePolicy=_document(
        {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"})))
    assert violations(run, "iam-trust-not-open") == []


# --------------------------------------------------------------------------------------------
# kms-policy-not-open and kms-rotation-period
# --------------------------------------------------------------------------------------------
def _key_statements(run, name, *extra):
    def change(inputs):
        doc = json.loads(inputs["policy"])
        doc["Statement"] = [*doc["Statement"], *extra]
        inputs["policy"] = json.dumps(doc)
    return edit(run, KEY, name, change)


def test_a_key_policy_open_to_anyone_without_condition_is_reported(prod):
    run, key = _key_statements(prod, "acme-prod-main-key",
                               {"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt",
                                "Resource": "*"})
    assert "statement 'Everyone'" in only(violations(run, "kms-policy-not-open"), key.urn).message


def test_a_key_policy_open_to_anyone_under_a_condition_stays_quiet(prod):
    run, _ = _key_statements(prod, "acme-prod-main-key",
                             {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:Decrypt", "Resource": "*",
                              "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}}})
    assert violations(run, "kms-policy-not-open") == []


def test_a_key_without_a_policy_is_not_applicable(prod):
    run, key = edit(prod, KEY, "acme-prod-main-key", lambda inputs: inputs.pop("policy"))
    assert violations(run, "kms-policy-not-open") == []
    assert "AWS's default" in not_applicable(run, "kms-policy-not-open")[key.urn]


@pytest.mark.parametrize("days", [366, "2560"])
def test_a_rotation_period_over_a_year_is_reported(prod, days):
    run, key = edit(prod, KEY, "acme-prod-main-key", lambda inputs: inputs.update(rotationPeriodInDays=days))
    assert "at most 365" in only(violations(run, "kms-rotation-period"), key.urn).message


@pytest.mark.parametrize("days", [90, 365, "365"])
def test_a_rotation_period_up_to_a_year_stays_quiet(prod, days):
    run, _ = edit(prod, KEY, "acme-prod-main-key", lambda inputs: inputs.update(rotationPeriodInDays=days))
    assert violations(run, "kms-rotation-period") == []


def test_the_period_of_a_key_that_does_not_rotate_is_not_applicable(prod):
    run, key = edit(prod, KEY, "acme-prod-main-key",
                    lambda inputs: inputs.update(enableKeyRotation=False, rotationPeriodInDays=2000))
    assert violations(run, "kms-rotation-period") == []
    assert "kms-rotation judges" in not_applicable(run, "kms-rotation-period")[key.urn]


def test_a_standalone_key_policy_resource_is_judged(prod):
    template = prod.one(KEY, "acme-prod-main-key")
    run, policy = added(prod, template, "aws:kms/keyPolicy:KeyPolicy", "acme-prod-open-policy",
                        {"keyId": "k", "policy": _document({"Effect": "Allow", "Principal": "*", "Action": "kms:*",
                                                            "Resource": "*"})})
    only(violations(run, "kms-policy-not-open"), policy.urn)


def test_a_rotation_period_not_known_yet_is_left_to_the_update():
    """In `pulumi preview` a period computed from another resource is unknown: not a violation, not a pass."""
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError

    from policies.framework import NotApplicable, Resource

    class Preview(dict):
        def get(self, key, default=None):
            if key == "rotationPeriodInDays":
                raise UnknownValueError(UNKNOWN_STRING_VALUE, [key])
            return super().get(key, default)

    key = Resource(type=KEY, name="k", urn="urn:k", props=Preview(enableKeyRotation=True))
    assert isinstance(security_iam.kms_rotation_period(key, {}), NotApplicable)
