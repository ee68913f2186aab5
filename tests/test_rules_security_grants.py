"""grants-stay-in-account (issue 8, item 4): bucket policies, key policies and KMS grants allow nothing to
another account; the program's own log-delivery grants reach only this account's log path."""

from __future__ import annotations

import json

import pytest

from components import tokens
from tests.conftest import SHIPPED, altered, of_type
from tests.helpers import only, verdict
from tests.test_rules_security import added, edit

RULE = "grants-stay-in-account"
ACCOUNT = "123456789012"
OTHER = "210987654321"
LOGS_POLICY = "acme-prod-access-logs-policy"


def violations(run):
    return verdict(run, [RULE])


def _statements(run, typ, name, change):
    def edit_document(inputs):
        doc = json.loads(inputs["policy"])
        doc["Statement"] = change(doc["Statement"])
        inputs["policy"] = json.dumps(doc)
    return edit(run, typ, name, edit_document)


@pytest.fixture
def prod(shipped):
    return shipped["prod"]


@pytest.mark.parametrize("stack", SHIPPED)
def test_the_shipped_stacks_grant_nothing_outside_their_account(shipped, stack):
    assert violations(shipped[stack]) == []


def test_the_load_balancer_log_grants_reach_only_this_account_s_log_path(prod):
    doc = json.loads(prod.one(tokens.S3_BUCKET_POLICY, LOGS_POLICY).inputs["policy"])
    elb = [s for s in doc["Statement"] if s["Sid"].startswith("LoadBalancer")]
    assert len(elb) == 2 and all(s["Resource"].endswith(f"/acme-prod/*/AWSLogs/{ACCOUNT}/*") for s in elb)
    service = next(s for s in elb if "Service" in s["Principal"])
    assert service["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_elb_account_on_the_whole_bucket_is_reported(prod):
    def widen(statements):
        for s in statements:
            if s["Sid"] == "LoadBalancerAccessLogs":
                s["Resource"] = s["Resource"].split("/", 1)[0] + "/*"
        return statements
    run, policy = _statements(prod, tokens.S3_BUCKET_POLICY, LOGS_POLICY, widen)
    assert f"outside account {ACCOUNT}" in only(violations(run), RULE, policy.urn).message


@pytest.mark.parametrize("statement, says", [
    ({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}, "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::b/*"}, f"grants arn:aws:iam::{OTHER}:root, outside account"),
    ({"Effect": "Allow", "Principal": {"AWS": OTHER}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
     f"grants {OTHER}, outside account"),
    ({"Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"}, "Action": "s3:PutObject",
      "Resource": "arn:aws:s3:::b/*"}, "with no condition naming account"),
    ({"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "s3:PutObject",
      "Resource": "arn:aws:s3:::b/*", "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}},
     "the service s3.amazonaws.com, which the program does not use here"),
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
     "allows anyone"),
], ids=["other-account-root", "bare-account-id", "service-without-account", "unneeded-service", "anyone"])
def test_a_bucket_policy_grant_outside_the_account_is_reported(prod, statement, says):
    run, policy = _statements(prod, tokens.S3_BUCKET_POLICY, LOGS_POLICY, lambda st: [*st, statement])
    assert says in only(violations(run), RULE, policy.urn).message


def test_a_deny_naming_another_account_is_not_a_grant(prod):
    deny = {"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"}, "Action": "s3:*",
            "Resource": "arn:aws:s3:::b/*"}
    run, _ = _statements(prod, tokens.S3_BUCKET_POLICY, LOGS_POLICY, lambda st: [*st, deny])
    assert violations(run) == []


def test_a_key_policy_granting_another_account_is_reported(prod):
    grant = {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:role/x"},
             "Action": "kms:Decrypt", "Resource": "*"}
    run, key = _statements(prod, tokens.KMS_KEY, "acme-prod-main-key", lambda st: [*st, grant])
    assert "statement 'Partner' grants" in only(violations(run), RULE, key.urn).message


def test_a_kms_grant_to_another_account_is_reported_and_one_to_this_account_is_not(prod):
    key = prod.one(tokens.KMS_KEY, "acme-prod-main-key")
    run, grant = added(prod, key, tokens.KMS_GRANT, "partner", {"keyId": "k", "operations": ["Decrypt"],
                                                                "granteePrincipal": f"arn:aws:iam::{OTHER}:root"})
    only(violations(run), RULE, grant.urn)
    run, _ = added(prod, key, tokens.KMS_GRANT, "own", {"keyId": "k", "operations": ["Decrypt"],
                                                        "granteePrincipal": f"arn:aws:iam::{ACCOUNT}:role/x"})
    assert violations(run) == []


def test_without_the_account_from_the_environment_the_rule_fails_closed(prod):
    run = altered(prod, of_type(tokens.ENVIRONMENT), outputs={tokens.ENVIRONMENT_KEYS.account_id: None})
    assert "account is not known" in only(violations(run), RULE).message
