"""kms-own-keys (issue 8, item 3): where a customer key is required it is one of this stack's own keys,
known from the engine's property dependencies, whatever form the reference takes."""

from __future__ import annotations

import dataclasses

import pytest

from components import tokens
from tests.conftest import SHIPPED
from tests.helpers import only, verdict

RULE = "kms-own-keys"
FOREIGN = "arn:aws:kms:eu-central-1:210987654321:key/11111111-2222-3333-4444-555555555555"


def violations(run):
    return verdict(run, [RULE])


def written_by_hand(run, typ, name, key, value):
    """`run` with one key input replaced by a value written by hand: no longer derived from a key of the stack."""
    old = run.one(typ, name)
    inputs = {**old.inputs, key: value}
    deps = {k: v for k, v in old.property_dependencies.items() if k != key}
    new = dataclasses.replace(old, inputs=inputs, property_dependencies=deps)
    return dataclasses.replace(run, registrations=[new if r is old else r for r in run.registrations]), new


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_shipped_key_reference_comes_from_a_key_of_the_stack(shipped, stack):
    assert violations(shipped[stack]) == []


def test_the_quiet_case_is_not_vacuous(shipped):
    db = shipped["prod"].one(tokens.RDS_INSTANCE, "acme-prod-main-db")
    keys = {r.urn for r in shipped["prod"].by_type(tokens.KMS_KEY)}
    assert set(db.property_dependencies["kmsKeyId"]) & keys


@pytest.mark.parametrize("value, says", [
    (FOREIGN, "not one of this stack's own KMS keys"),
    ("alias/acme-prod-main", "not one of this stack's own KMS keys"),
    ("11111111-2222-3333-4444-555555555555", "not one of this stack's own KMS keys"),
    ("alias/aws/rds", "the AWS-managed key alias/aws/rds"),
    ("arn:aws:kms:eu-central-1:123456789012:alias/aws/rds", "AWS-managed key"),
], ids=["foreign-arn", "alias", "key-id", "aws-managed", "aws-managed-alias-arn"])
def test_a_database_key_written_by_hand_is_refused(shipped, value, says):
    run, db = written_by_hand(shipped["prod"], tokens.RDS_INSTANCE, "acme-prod-main-db", "kmsKeyId", value)
    assert says in only(violations(run), RULE, db.urn).message


def test_a_nested_bucket_key_written_by_hand_is_refused(shipped):
    prod = shipped["prod"]
    enc = prod.one(tokens.S3_BUCKET_ENCRYPTION, "acme-prod-main-documents-encryption")
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": FOREIGN}}]
    run, enc = written_by_hand(prod, tokens.S3_BUCKET_ENCRYPTION, enc.name, "rules", rules)
    assert FOREIGN in only(violations(run), RULE, enc.urn).message


def test_a_secret_under_another_stack_s_key_is_refused(shipped):
    run, secret = written_by_hand(shipped["prod"], tokens.SECRET, "acme-prod-main-db-master", "kmsKeyId", FOREIGN)
    only(violations(run), RULE, secret.urn)
