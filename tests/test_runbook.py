"""The runbook's commands, exactly as the README gives them, on the shipped stacks against moto.

What `pulumi up` of acme's Pre-PROD, VAL and PROD leaves in the account is built in moto with the
names and tags the program gives; then the engineer's commands run through envctl's own entry.
"""

from __future__ import annotations

import json

import pytest

from components.phases import Role
from envctl.cli import main
from envctl.stackfile import load_stack_settings
from tests.conftest import PROJECT
from tests.moto_server import MotoAws, aws, moto_endpoint  # noqa: F401  (pytest fixtures)
from tests.test_aws_ops import DOCUMENTS, documents_bucket, preprod_database, publish_snapshot, put_documents


def envctl(aws: MotoAws, *args: str) -> int:
    return main(["--example", "--dir", str(PROJECT), *args, "--endpoint-url", aws.endpoint_url])  # the example: its pinned date


@pytest.fixture
def preprod_deployed(aws: MotoAws) -> str:
    """acme's Pre-PROD as `pulumi up` leaves it: database, both published snapshots, documents."""
    database = preprod_database(aws)
    publish_snapshot(aws, "val-2026-11", "val", database)
    publish_snapshot(aws, "golive", "prod", database)
    preprod = load_stack_settings(PROJECT, "preprod")
    bucket = f"{preprod.env_name}-single-documents-0a1b2c3"
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    tags = {**preprod.tags_for(Role.SINGLE), "purpose": "documents"}
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    put_documents(aws, bucket, DOCUMENTS)
    return bucket


def test_fresh_val_runbook(aws, preprod_deployed, capsys):
    assert envctl(aws, "clone-check", "val") == 0
    assert "snapshot exists" in capsys.readouterr().out
    val = load_stack_settings(PROJECT, "val")
    targets = {role: documents_bucket(aws, val, role)[0] for role in (Role.MAIN, Role.TEST)}
    assert envctl(aws, "copy-documents", "--from", "preprod", "--to", "val") == 0
    s3 = aws.client("s3")
    for bucket in targets.values():
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
        assert keys == sorted(DOCUMENTS)
    capsys.readouterr()
    assert envctl(aws, "copy-documents", "--from", "preprod", "--to", "val", "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert again["copied"] == 0 and again["skipped"] == 2 * len(DOCUMENTS)  # a second run copies nothing again


def test_go_live_runbook_copies_into_prod_main_only(aws, preprod_deployed, capsys):
    assert envctl(aws, "clone-check", "prod") == 0
    prod = load_stack_settings(PROJECT, "prod")
    main_bucket, _ = documents_bucket(aws, prod, Role.MAIN)
    test_bucket, _ = documents_bucket(aws, prod, Role.TEST)
    assert envctl(aws, "copy-documents", "--from", "preprod", "--to", "prod") == 0
    s3 = aws.client("s3")
    assert s3.list_objects_v2(Bucket=main_bucket)["KeyCount"] == len(DOCUMENTS)
    assert s3.list_objects_v2(Bucket=test_bucket)["KeyCount"] == 0
    assert envctl(aws, "copy-documents", "--from", "preprod", "--to", "prod", "--role", "test") == 1


def test_clone_check_refuses_before_pulumi_up_when_the_snapshot_is_missing(aws, capsys):
    preprod_database(aws)
    assert envctl(aws, "clone-check", "val") == 1
    out = capsys.readouterr().out
    assert "val-2026-11" in out and "take the snapshot in Pre-PROD" in out
