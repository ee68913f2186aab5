"""Clone VAL / promote PROD from Pre-PROD snapshots: clone-check and copy-documents against moto.

moto runs as a real HTTP server on 127.0.0.1 (tests/moto_server.py). Each test first builds what
`pulumi up` of the Pre-PROD (and the VAL or PROD) stack leaves in the account, with the tags the
program's own settings give, and then looks at what an engineer would see.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from changecontrol import runcontext
from components.phases import PHASES, Role
from components.settings import StackSettings, load_settings
from envctl.aws import copy_documents as copying
from envctl.aws.clone_check import (
    CheckRow,
    CloneCheckReport,
    NotACloneTarget,
    clone_check,
    key_alias,
)
from envctl.aws.copy_documents import CopyRefused, copy_documents
from envctl.aws.render import render_clone_check, render_copy_report
from envctl.aws.session import AwsClients, clients
from envctl.cli import main
from tests.conftest import NOW, TODAY
from tests.moto_server import REGION, MotoAws, aws, moto_endpoint  # noqa: F401  (pytest fixtures)

PROJECT = "clinspark-environments"
CIDRS = {"preprod": "10.43.0.0/16", "val": "10.44.0.0/16", "prod": "10.45.0.0/16", "sandbox": "10.46.0.0/16"}
SNAPSHOTS = [{"name": "val-2026-11", "purpose": "val"}, {"name": "golive", "purpose": "prod"}]
# The minor the shipped controlled stacks pin (their stack files say it).
PIN = yaml.safe_load((Path(__file__).parent.parent / "Pulumi.preprod.yaml").read_text())["config"][
    f"{PROJECT}:engine_version"]

# Documents of acme's Pre-PROD instance: key -> (content, content type, user metadata).
DOCUMENTS = {
    "studies/S-001/protocol.pdf": (
        b"%PDF-1.7 protocol version 3", "application/pdf", {"study": "S-001", "uploaded-by": "jdoe"}),
    "library/forms/adverse-event.xml": (b"<form id='AE' version='12'/>", "application/xml", {"library-version": "12"}),
    "studies/S-001/empty-note.txt": (b"", "text/plain", {}),
}


# --- stacks, built through the program's own settings ---------------------------------------------


def stack_config(customer: str, phase: str, **extra: Any) -> dict[str, Any]:
    """A stack file's config, shaped as in Pulumi.<stack>.yaml."""
    spec = PHASES[phase]
    config: dict[str, Any] = {
        "aws:region": REGION,
        f"{PROJECT}:customer": customer,
        f"{PROJECT}:release": "2026.4.2",
        f"{PROJECT}:network": {"cidr": CIDRS[phase]},
        f"{PROJECT}:domain": {"zone": "onboarding.clinspark.example"},
    }
    if spec.controlled:
        config[f"{PROJECT}:change_record"] = f"ECR-{customer}-{phase}-0001"
        config[f"{PROJECT}:engine_version"] = PIN
    if spec.disposable:
        config[f"{PROJECT}:expires_on"] = (TODAY + timedelta(days=30)).isoformat()
    if spec.seeded:
        config[f"{PROJECT}:seed_from"] = {"stack": "clinspark/clinspark-environments/seed"}
    config.update({f"{PROJECT}:{k}": v for k, v in extra.items()})
    return config


def settings(stack: str, config: dict[str, Any]) -> StackSettings:
    flat = {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in config.items()}
    return load_settings(stack, PROJECT, flat, TODAY)


def preprod_config(customer: str = "acme") -> dict[str, Any]:
    return stack_config(customer, "preprod", snapshots=SNAPSHOTS)


def clone_config(customer: str, phase: str, snapshot: str, source: str, **clone: Any) -> dict[str, Any]:
    return stack_config(customer, phase, clone_from={"stack": f"clinspark/{PROJECT}/{source}", "snapshot": snapshot,
                                                     **clone})


def preprod(customer: str = "acme") -> StackSettings:
    return settings("preprod" if customer == "acme" else f"{customer}-preprod", preprod_config(customer))


def val(customer: str = "acme", snapshot: str = "val-2026-11", *, pin: str | None = None, **clone: Any) -> StackSettings:
    source = "preprod" if customer == "acme" else f"{customer}-preprod"
    config = clone_config(customer, "val", snapshot, source, **clone)
    if pin:
        config[f"{PROJECT}:engine_version"] = pin
    return settings("val" if customer == "acme" else f"{customer}-val", config)


def prod(snapshot: str = "golive") -> StackSettings:
    return settings("prod", clone_config("acme", "prod", snapshot, "preprod"))


# --- what `pulumi up` leaves in the account --------------------------------------------------------


def instance_key(aws: MotoAws, settings_: StackSettings, role: Role) -> str:
    kms = aws.client("kms")
    arn = kms.create_key(Description=f"{settings_.env_name}-{role.value}-key")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=key_alias(settings_, role), TargetKeyId=arn)
    return arn


def preprod_database(aws: MotoAws, customer: str = "acme", *, encrypted: bool = True, version: str = PIN) -> str:
    """Pre-PROD's PostgreSQL database, named the way Pulumi names it, running `version`."""
    identifier = f"{customer}-preprod-single-db-1a2b3c4"
    extra = {"KmsKeyId": instance_key(aws, preprod(customer), Role.SINGLE)} if encrypted else {}
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier=identifier, Engine="postgres", EngineVersion=version, DBInstanceClass="db.t4g.large",
        AllocatedStorage=50, MasterUsername="edc_admin", MasterUserPassword="not-a-real-password-1",
        StorageEncrypted=encrypted, **extra,
    )
    return identifier


def publish_snapshot(aws: MotoAws, name: str, purpose: str, database: str, suffix: str | None = "k3v9x2q7",
                     **tags: str) -> str:
    """A snapshot as Pre-PROD's stack publishes it (components/clone.py): its identifier ends in a random part
    (`suffix`; None: a snapshot taken before identifiers were unique), with optional wrong tags."""
    source = preprod()
    wanted = {**source.tags_for(Role.SINGLE), "snapshot": name, "snapshot-purpose": purpose, **tags}
    identifier = source.names.published_snapshot(name, suffix)
    aws.client("rds").create_db_snapshot(
        DBSnapshotIdentifier=identifier, DBInstanceIdentifier=database,
        Tags=[{"Key": k, "Value": v} for k, v in wanted.items()],
    )
    return identifier


def documents_bucket(aws: MotoAws, settings_: StackSettings, role: Role) -> tuple[str, str]:
    """An instance's versioned, SSE-KMS document bucket, tagged as the program tags it: (name, key ARN)."""
    key = instance_key(aws, settings_, role)
    name = f"{settings_.env_name}-{role.value}-documents-5f3e2d1"
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
         "BucketKeyEnabled": True}]})
    tags = {**settings_.tags_for(role), "purpose": "documents"}
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
    return name, key


def put_documents(aws: MotoAws, bucket: str, documents: dict[str, tuple[bytes, str, dict[str, str]]]) -> None:
    s3 = aws.client("s3")
    for key, (body, content_type, metadata) in documents.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata)


def versions(aws: MotoAws, bucket: str) -> list[tuple[str, str]]:
    listed = aws.client("s3").list_object_versions(Bucket=bucket).get("Versions", [])
    return sorted((v["Key"], v["VersionId"]) for v in listed)


def row(report: CloneCheckReport, starts: str) -> CheckRow:
    found = [r for r in report.rows if r.name.startswith(starts)]
    assert len(found) == 1, [r.name for r in report.rows]
    return found[0]


@pytest.fixture
def api(aws: MotoAws) -> AwsClients:
    """The library's clients, pointed at moto as `--endpoint-url` would."""
    return clients(aws.session(), aws.endpoint_url)


# --- clone-check ---------------------------------------------------------------------------------


def test_a_val_clone_of_a_good_preprod_snapshot_passes_every_check(aws: MotoAws, api: AwsClients) -> None:
    publish_snapshot(aws, "val-2026-11", "val", preprod_database(aws))
    report = clone_check(api, val())

    assert report.passed, render_clone_check(report)
    assert report.snapshot_identifier == "acme-preprod-val-2026-11-k3v9x2q7"  # found by its tags, not rebuilt
    # VAL restores both instances: each gets its own copy and its own key checked.
    assert {r.name for r in report.rows} >= {
        "main: copy can be made", "test: copy can be made", "main: its own key usable", "test: its own key usable",
        "engine version restorable",
    }
    assert datetime.fromisoformat(report.checked_at) == NOW  # the one clock, injected
    text = render_clone_check(report)
    assert "FAIL" not in text and text.rstrip().splitlines()[-1].startswith("PASSED")
    assert json.loads(report.to_json())["passed"] is True


def test_promoting_prod_checks_the_golive_snapshot_for_prod_main_only(aws: MotoAws, api: AwsClients) -> None:
    publish_snapshot(aws, "golive", "prod", preprod_database(aws))

    report = clone_check(api, prod())

    assert report.passed, render_clone_check(report)
    assert not [r for r in report.rows if r.name.startswith("test:")]  # PROD test is never restored
    assert row(report, "main: copy").name == "main: copy can be made"


def test_a_missing_snapshot_fails_and_says_how_to_take_it(aws: MotoAws, api: AwsClients) -> None:
    preprod_database(aws)

    report = clone_check(api, val())

    assert not report.passed
    missing = row(report, "snapshot exists")
    assert not missing.passed
    assert "acme-preprod-val-2026-11-*" in missing.detail
    assert missing.remedy == (
        "take the snapshot in Pre-PROD: add {name: val-2026-11, purpose: val} to clinspark-environments:snapshots "
        "in Pulumi.preprod.yaml, draft an ECR, pulumi up -s preprod"
    )
    assert "what to do: take the snapshot in Pre-PROD" in render_clone_check(report)


def test_an_unencrypted_snapshot_fails(aws: MotoAws, api: AwsClients) -> None:
    publish_snapshot(aws, "val-2026-11", "val", preprod_database(aws, encrypted=False))

    report = clone_check(api, val())

    assert not report.passed
    assert [r.name for r in report.failures] == ["snapshot encrypted"]
    assert report.failures[0].remedy


def test_another_customers_snapshot_fails(aws: MotoAws, api: AwsClients) -> None:
    publish_snapshot(aws, "val-2026-11", "val", preprod_database(aws, "globex"), customer="globex")

    report = clone_check(api, val())

    assert not report.passed
    failed = {r.name: r for r in report.failures}
    assert set(failed) == {"snapshot is acme's", "taken from acme's Pre-PROD database"}
    assert "customer=globex" in failed["snapshot is acme's"].detail
    assert "globex-preprod-single-db-1a2b3c4" in failed["taken from acme's Pre-PROD database"].detail
    assert "do not clone" in (failed["snapshot is acme's"].remedy or "")


def test_a_snapshot_taken_for_prod_does_not_clone_val(aws: MotoAws, api: AwsClients) -> None:
    publish_snapshot(aws, "golive", "prod", preprod_database(aws))

    report = clone_check(api, val(snapshot="golive"))

    assert [r.name for r in report.failures] == ["taken for VAL"]
    assert "snapshot-purpose=prod" in report.failures[0].detail
    assert "purpose: val" in (report.failures[0].remedy or "")


def test_a_phase_that_starts_empty_is_refused(api: AwsClients) -> None:
    sandbox = settings("acme-sandbox", stack_config("acme", "sandbox"))

    with pytest.raises(NotACloneTarget, match="'acme-sandbox' is a sandbox stack, which is never cloned from Pre-PROD"):
        clone_check(api, sandbox)
    with pytest.raises(NotACloneTarget, match="is a Pre-PROD stack"):
        clone_check(api, preprod())


def test_an_existing_copy_passes_only_if_it_is_a_copy_of_the_same_snapshot(
    aws: MotoAws, api: AwsClients
) -> None:
    database = preprod_database(aws)
    source = publish_snapshot(aws, "val-2026-11", "val", database, suffix=None)
    older = publish_snapshot(aws, "val-2026-10", "val", database, suffix=None)
    rds = aws.client("rds")
    rds.copy_db_snapshot(SourceDBSnapshotIdentifier=source, TargetDBSnapshotIdentifier="acme-val-main-from-val-2026-11")
    rds.copy_db_snapshot(SourceDBSnapshotIdentifier=older, TargetDBSnapshotIdentifier="acme-val-test-from-val-2026-11")
    pinned = {"main": "acme-val-main-from-val-2026-11", "test": "acme-val-test-from-val-2026-11"}

    report = clone_check(api, val(copies=pinned))  # copies made before identifiers were unique, pinned

    assert row(report, "main: copy").passed
    stale = row(report, "test: copy")
    assert not stale.passed
    assert "aws rds delete-db-snapshot --db-snapshot-identifier acme-val-test-from-val-2026-11" in (stale.remedy or "")


def test_a_snapshot_newer_than_the_targets_pin_fails_as_a_downgrade(aws: MotoAws, api: AwsClients) -> None:
    publish_snapshot(aws, "val-2026-11", "val", preprod_database(aws, version="16.13"))

    report = clone_check(api, val())

    assert [r.name for r in report.failures] == ["engine version restorable"]
    failed = report.failures[0]
    assert f"postgres 16.13, newer than val's pin {PIN}" in failed.detail and "downgrade" in failed.detail
    assert "move clinspark-environments:engine_version to 16.13" in (failed.remedy or "")


def test_a_snapshot_older_than_the_pin_is_restored_and_upgraded(aws: MotoAws, api: AwsClients) -> None:
    publish_snapshot(aws, "val-2026-11", "val", preprod_database(aws, version="16.10"))

    report = clone_check(api, val())

    assert report.passed, render_clone_check(report)
    assert row(report, "engine version restorable").detail == f"postgres 16.10; val asks for {PIN}"


def test_a_snapshot_of_another_major_fails(aws: MotoAws, api: AwsClients) -> None:
    publish_snapshot(aws, "val-2026-11", "val", preprod_database(aws, version="15.8"))

    report = clone_check(api, val())

    assert [r.name for r in report.failures] == ["engine version restorable"]
    assert "another major than 16" in report.failures[0].detail


def test_two_snapshots_tagged_with_the_same_name_are_ambiguous_and_a_pinned_arn_decides(
    aws: MotoAws, api: AwsClients
) -> None:
    database = preprod_database(aws)
    first = publish_snapshot(aws, "val-2026-11", "val", database, suffix="aaaa1111")
    publish_snapshot(aws, "val-2026-11", "val", database, suffix="bbbb2222")

    ambiguous = row(clone_check(api, val()), "snapshot exists")
    assert not ambiguous.passed and "2 snapshots" in ambiguous.detail and first in ambiguous.detail
    assert "clone_from.snapshot_arn" in (ambiguous.remedy or "")

    arn = aws.client("rds").describe_db_snapshots(DBSnapshotIdentifier=first)["DBSnapshots"][0]["DBSnapshotArn"]
    pinned = clone_check(api, val(snapshot_arn=arn, allocated_storage=50))
    assert pinned.passed, render_clone_check(pinned)
    assert pinned.snapshot_identifier == first


def test_a_disabled_preprod_key_fails(aws: MotoAws, api: AwsClients) -> None:
    publish_snapshot(aws, "val-2026-11", "val", preprod_database(aws))
    kms = aws.client("kms")
    kms.disable_key(KeyId=kms.describe_key(KeyId="alias/clinspark/acme-preprod-single-key")["KeyMetadata"]["KeyId"])

    report = clone_check(api, val())

    assert [r.name for r in report.failures] == ["snapshot's key usable"]
    assert "aws kms enable-key" in (report.failures[0].remedy or "")


# --- copy-documents ------------------------------------------------------------------------------


def val_with_documents(aws: MotoAws) -> dict[Role, tuple[str, str]]:
    """acme's Pre-PROD with its documents, and an empty VAL pair: role -> (bucket, key ARN)."""
    source, _ = documents_bucket(aws, preprod(), Role.SINGLE)
    put_documents(aws, source, DOCUMENTS)
    return {Role.SINGLE: (source, ""), **{r: documents_bucket(aws, val(), r) for r in (Role.MAIN, Role.TEST)}}


def test_documents_arrive_intact_in_val_main_and_test(aws: MotoAws, api: AwsClients) -> None:
    buckets = val_with_documents(aws)
    s3 = aws.client("s3")
    s3.put_object_tagging(Bucket=buckets[Role.SINGLE][0], Key="studies/S-001/protocol.pdf",
                          Tagging={"TagSet": [{"Key": "retention", "Value": "25y"}]})

    report = copy_documents(api, preprod(), val())

    for role in (Role.MAIN, Role.TEST):
        bucket, key = buckets[role]
        for name, (body, content_type, metadata) in DOCUMENTS.items():
            got = s3.get_object(Bucket=bucket, Key=name)
            assert got["Body"].read() == body
            assert got["ContentType"] == content_type
            assert {k: v for k, v in got["Metadata"].items() if k != "source-etag"} == metadata
            assert got["ServerSideEncryption"] == "aws:kms"
        tags = s3.get_object_tagging(Bucket=bucket, Key="studies/S-001/protocol.pdf")["TagSet"]
        assert tags == [{"Key": "retention", "Value": "25y"}]
    assert [(t.role, t.copied, t.skipped, t.bytes_copied) for t in report.targets] == [
        ("main", 3, 0, sum(len(b) for b, _, _ in DOCUMENTS.values())),
        ("test", 3, 0, sum(len(b) for b, _, _ in DOCUMENTS.values())),
    ]
    assert "DONE: 6 copied, 0 already there" in render_copy_report(report)


def test_a_second_run_copies_nothing_again(aws: MotoAws, api: AwsClients) -> None:
    buckets = val_with_documents(aws)
    copy_documents(api, preprod(), val())
    before = {r: versions(aws, buckets[r][0]) for r in (Role.MAIN, Role.TEST)}

    again = copy_documents(api, preprod(), val())

    assert (again.copied, again.skipped, again.bytes_copied) == (0, 6, 0)
    assert {r: versions(aws, buckets[r][0]) for r in (Role.MAIN, Role.TEST)} == before  # no new object versions


def test_an_interrupted_or_outdated_copy_is_completed_on_the_next_run(aws: MotoAws, api: AwsClients) -> None:
    buckets = val_with_documents(aws)
    copy_documents(api, preprod(), val())
    s3 = aws.client("s3")
    s3.delete_object(Bucket=buckets[Role.MAIN][0], Key="library/forms/adverse-event.xml")  # never arrived
    put_documents(aws, buckets[Role.SINGLE][0], {  # changed in Pre-PROD since, same size
        "studies/S-001/protocol.pdf": (b"%PDF-1.7 protocol version 4", "application/pdf", {"study": "S-001"})})

    report = copy_documents(api, preprod(), val())

    main, test = report.targets
    assert (main.copied, main.replaced, main.skipped) == (2, 1, 1)
    assert (test.copied, test.replaced, test.skipped) == (1, 1, 2)
    for role in (Role.MAIN, Role.TEST):
        got = s3.get_object(Bucket=buckets[role][0], Key="studies/S-001/protocol.pdf")
        assert got["Body"].read() == b"%PDF-1.7 protocol version 4"
        assert got["Metadata"]["study"] == "S-001" and "uploaded-by" not in got["Metadata"]
    assert s3.head_object(Bucket=buckets[Role.MAIN][0], Key="library/forms/adverse-event.xml")["ContentLength"] > 0


def test_a_document_too_large_for_one_copy_goes_in_parts_with_its_metadata(
    aws: MotoAws, api: AwsClients
) -> None:
    buckets = val_with_documents(aws)
    large = os.urandom(6 * 1024 * 1024 + 7)
    s3 = aws.client("s3")
    s3.put_object(Bucket=buckets[Role.SINGLE][0], Key="scans/site-042.tiff", Body=large, ContentType="image/tiff",
                  Metadata={"site": "042"}, Tagging="retention=25y")
    threshold = 5 * 1024 * 1024  # stands in for CopyObject's 5 GiB limit

    copy_documents(api, preprod(), val(), roles=[Role.MAIN], multipart_threshold=threshold)
    again = copy_documents(api, preprod(), val(), roles=[Role.MAIN], multipart_threshold=threshold)

    got = s3.get_object(Bucket=buckets[Role.MAIN][0], Key="scans/site-042.tiff")
    assert got["ETag"].strip('"').endswith("-2")  # really copied in two parts
    assert got["Body"].read() == large
    assert got["ContentType"] == "image/tiff" and got["Metadata"]["site"] == "042"
    assert s3.get_object_tagging(Bucket=buckets[Role.MAIN][0], Key="scans/site-042.tiff")["TagSet"] == [
        {"Key": "retention", "Value": "25y"}]
    assert (again.copied, again.skipped) == (0, 4)


def test_a_copy_into_another_customers_val_is_refused(aws: MotoAws, api: AwsClients) -> None:
    buckets = val_with_documents(aws)
    globex = val("globex")
    globex_main, _ = documents_bucket(aws, globex, Role.MAIN)

    with pytest.raises(CopyRefused) as refused:
        copy_documents(api, preprod(), globex)

    message = str(refused.value)
    assert "from stack 'preprod' to stack 'globex-val'" in message
    assert "documents never cross customers" in message
    assert aws.client("s3").list_objects_v2(Bucket=globex_main).get("KeyCount", 0) == 0
    assert aws.client("s3").list_objects_v2(Bucket=buckets[Role.MAIN][0]).get("KeyCount", 0) == 0


def test_a_val_bucket_tagged_for_another_customer_gets_nothing(aws: MotoAws, api: AwsClients) -> None:
    buckets = val_with_documents(aws)
    s3 = aws.client("s3")
    test = buckets[Role.TEST][0]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=test)["TagSet"]}
    s3.put_bucket_tagging(Bucket=test, Tagging={"TagSet": [
        {"Key": k, "Value": "globex" if k == "customer" else v} for k, v in tags.items()]})

    with pytest.raises(CopyRefused, match="no documents bucket of VAL test of 'val' found"):
        copy_documents(api, preprod(), val())

    for role in (Role.MAIN, Role.TEST):  # nothing half-done
        assert s3.list_objects_v2(Bucket=buckets[role][0]).get("KeyCount", 0) == 0


def test_a_bucket_retagged_since_the_tagging_index_saw_it_is_refused(
    aws: MotoAws, api: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tagging API's index lags behind a bucket's own tags in AWS: the bucket's own tags decide."""
    buckets = val_with_documents(aws)
    index = {role: copying.documents_buckets(api, val(), role) for role in (Role.MAIN, Role.TEST)}
    s3 = aws.client("s3")
    main = buckets[Role.MAIN][0]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=main)["TagSet"]}
    s3.put_bucket_tagging(Bucket=main, Tagging={"TagSet": [
        {"Key": k, "Value": "globex" if k == "customer" else v} for k, v in tags.items()]})
    real = copying.documents_buckets
    monkeypatch.setattr(copying, "documents_buckets",
                        lambda a, s, r: index[r] if s.phase == "val" else real(a, s, r))

    with pytest.raises(CopyRefused, match=f"bucket {main} was found as the documents of VAL main of 'val', "
                                          "but its tags say customer=globex"):
        copy_documents(api, preprod(), val())

    for role in (Role.MAIN, Role.TEST):
        assert s3.list_objects_v2(Bucket=buckets[role][0]).get("KeyCount", 0) == 0


def test_prod_copies_into_main_only_and_refuses_prod_test(aws: MotoAws, api: AwsClients) -> None:
    source, _ = documents_bucket(aws, preprod(), Role.SINGLE)
    put_documents(aws, source, DOCUMENTS)
    main, _ = documents_bucket(aws, prod(), Role.MAIN)
    test, _ = documents_bucket(aws, prod(), Role.TEST)
    s3 = aws.client("s3")

    with pytest.raises(CopyRefused) as refused:
        copy_documents(api, preprod(), prod(), roles=[Role.TEST])
    assert "PROD test is never restored from Pre-PROD" in str(refused.value)
    assert "real documents go only into PROD main" in str(refused.value)
    assert s3.list_objects_v2(Bucket=test).get("KeyCount", 0) == 0

    report = copy_documents(api, preprod(), prod())

    assert [t.role for t in report.targets] == ["main"]
    assert s3.list_objects_v2(Bucket=main)["KeyCount"] == len(DOCUMENTS)
    assert s3.list_objects_v2(Bucket=test).get("KeyCount", 0) == 0


def test_a_copy_before_the_val_stack_is_up_is_refused(aws: MotoAws, api: AwsClients) -> None:
    source, _ = documents_bucket(aws, preprod(), Role.SINGLE)
    put_documents(aws, source, DOCUMENTS)

    with pytest.raises(CopyRefused, match="run pulumi up -s val first"):
        copy_documents(api, preprod(), val())


def test_documents_are_never_copied_from_anything_but_preprod(api: AwsClients) -> None:
    with pytest.raises(CopyRefused, match="documents are copied only from Pre-PROD"):
        copy_documents(api, val(), prod())


# --- the envctl subcommands -----------------------------------------------------------------------


def project_dir(tmp_path: Path, stacks: dict[str, dict[str, Any]]) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(f"name: {PROJECT}\nruntime: python\n")
    for stack, config in stacks.items():
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


def envctl(directory: Path, *arguments: str) -> int:
    """envctl as the engineer runs it, on the day the tests are pinned to."""
    with runcontext.using(runcontext.RunContext(now=NOW)):
        return main(["--dir", str(directory), *arguments])


def test_envctl_clone_check_exit_codes(aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = project_dir(tmp_path, {
        "preprod": preprod_config(), "val": clone_config("acme", "val", "val-2026-11", "preprod"),
        "acme-sandbox": stack_config("acme", "sandbox"),
        "prod": {**clone_config("acme", "prod", "golive", "preprod"), f"{PROJECT}:expires_on": "2027-01-01"},
    })
    endpoint = ["--endpoint-url", aws.endpoint_url]

    assert envctl(directory, "clone-check", "val", *endpoint) == 1
    assert "FAIL  snapshot exists" in capsys.readouterr().out

    publish_snapshot(aws, "val-2026-11", "val", preprod_database(aws))
    assert envctl(directory, "clone-check", "val", "--json", *endpoint) == 0
    assert json.loads(capsys.readouterr().out)["passed"] is True

    assert envctl(directory, "clone-check", "acme-sandbox", *endpoint) == 2
    assert "is never cloned from Pre-PROD" in capsys.readouterr().err
    assert envctl(directory, "clone-check", "prod", *endpoint) == 2
    assert "clinspark-environments:expires_on" in capsys.readouterr().err


def test_envctl_copy_documents_exit_codes(aws: MotoAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    val_with_documents(aws)
    documents_bucket(aws, prod(), Role.MAIN)
    directory = project_dir(tmp_path, {
        "preprod": preprod_config(), "val": clone_config("acme", "val", "val-2026-11", "preprod"),
        "prod": clone_config("acme", "prod", "golive", "preprod"),
    })
    endpoint = ["--endpoint-url", aws.endpoint_url, "--region", REGION]

    assert envctl(directory, "copy-documents", "--from", "preprod", "--to", "val", *endpoint) == 0
    assert "DONE: 6 copied" in capsys.readouterr().out
    code = envctl(directory, "copy-documents", "--from", "preprod", "--to", "prod", "--role", "test", "--json", *endpoint)
    out, err = capsys.readouterr()
    assert code == 1
    assert json.loads(out)["refused"] is True
    assert err.startswith("error: refused to copy documents from stack 'preprod' to stack 'prod':")
    assert envctl(directory, "copy-documents", "--from", "preprod", "--to", "nope", *endpoint) == 2
    assert "no stack file" in capsys.readouterr().err


def test_an_aws_call_that_fails_stops_the_command_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a configuration mistake but the account answering no: the command says what did not happen."""
    directory = project_dir(tmp_path, {
        "preprod": preprod_config(), "val": clone_config("acme", "val", "val-2026-11", "preprod"),
    })

    def denied(*_: Any, **__: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not for you"}}, "DescribeDBSnapshots")

    monkeypatch.setattr("envctl.commands.clone_check.clone_check", denied)
    monkeypatch.setattr("envctl.commands.copy_documents.copy_documents", denied)
    offline = ["--endpoint-url", "http://127.0.0.1:9", "--region", REGION]

    assert envctl(directory, "clone-check", "val", *offline) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: could not complete the checks, so the clone may not go ahead: ")
    assert "AccessDenied" in err and len(err.splitlines()) == 1
    assert envctl(directory, "copy-documents", "--from", "preprod", "--to", "val", *offline) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the copy stopped: ") and "Run it again" in err and len(err.splitlines()) == 1
