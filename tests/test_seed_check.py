"""seed-check against moto: may a sandbox or a demo start from the seed of its release?

moto runs as a real HTTP server on 127.0.0.1 (tests/moto_server.py). Each test first builds what `pulumi up`
of the vendor's seed stack leaves in the account, with the identifiers and tags of the seed stack's own
offline plan (its database and its published snapshots), and then looks at what an engineer would see.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from components import engines
from components.clone import SEED_RELEASE_TAG
from components.phases import Role
from components.settings import StackSettings
from envctl import stackfile
from envctl.aws.render import render_seed_check
from envctl.aws.seed_check import NotASeededTarget, SeedCheckReport, seed_check
from envctl.aws.session import AwsClients, clients
from envctl.cli import main
from envctl.offline import StackRun
from tests.conftest import NOW, PROJECT
from tests.moto_server import MotoAws, aws, moto_endpoint  # noqa: F401  (pytest fixtures)

DB = "aws:rds/instance:Instance"
SNAPSHOT = "aws:rds/snapshot:Snapshot"
RUNNING = max(engines.offered().versions, key=engines.version_key)  # what RDS reports the seed database runs


def target(stack: str) -> StackSettings:
    """A shipped seeded stack's settings, read from its stack file as envctl reads them."""
    return stackfile.load_stack_settings(PROJECT, stack)


@pytest.fixture
def api(aws: MotoAws) -> AwsClients:
    return clients(aws.session(), aws.endpoint_url)


def seed_database(aws: MotoAws, seed: StackRun, *, encrypted: bool = True, version: str | None = None) -> str:
    """The seed stack's database under the identifier its plan gives it, encrypted under a key of its own."""
    (db,) = seed.by_type(DB)
    extra = {"KmsKeyId": aws.client("kms").create_key(Description="seed key")["KeyMetadata"]["Arn"]} if encrypted else {}
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier=db.state["identifier"], Engine="postgres",
        EngineVersion=version or RUNNING, DBInstanceClass=db.inputs["instanceClass"],
        AllocatedStorage=int(db.inputs["allocatedStorage"]), MasterUsername="edc_admin",
        MasterUserPassword="not-a-real-password-1", StorageEncrypted=encrypted, **extra)
    return db.state["identifier"]


def published(seed: StackRun, release: str) -> tuple[str, dict[str, str]]:
    """(identifier, tags) of the seed snapshot of `release` as the seed stack's plan publishes it."""
    (snap,) = [s for s in seed.by_type(SNAPSHOT) if s.inputs["tags"].get(SEED_RELEASE_TAG) == release]
    return snap.inputs["dbSnapshotIdentifier"], dict(snap.inputs["tags"])


def publish(aws: MotoAws, database: str, identifier: str, tags: dict[str, str]) -> str:
    aws.client("rds").create_db_snapshot(DBSnapshotIdentifier=identifier, DBInstanceIdentifier=database,
                                         Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return identifier


def publish_seed(aws: MotoAws, seed: StackRun, database: str, release: str, **changed: str) -> str:
    identifier, tags = published(seed, release)
    return publish(aws, database, identifier, {**tags, **changed})


def row(report: SeedCheckReport, starts: str):
    found = [r for r in report.rows if r.name.startswith(starts)]
    assert len(found) == 1, [r.name for r in report.rows]
    return found[0]


def test_the_shipped_seed_stack_publishes_one_tagged_seed_per_release(shipped):
    releases = {s.inputs["tags"][SEED_RELEASE_TAG] for s in shipped["seed"].by_type(SNAPSHOT)}
    assert releases == {"2026.3.0", "2026.4.2"}
    assert target("sandbox").release in releases and target("demo").release in releases


@pytest.mark.parametrize("stack", ["sandbox", "demo"])
def test_a_seeded_stack_with_its_releases_seed_passes_every_check(shipped, aws, api, stack):
    database = seed_database(aws, shipped["seed"])
    for release in ("2026.3.0", "2026.4.2"):
        publish_seed(aws, shipped["seed"], database, release)
    settings = target(stack)
    report = seed_check(api, settings)

    assert report.passed, render_seed_check(report)
    assert report.snapshot_identifier == published(shipped["seed"], settings.release)[0]  # found by its tags
    roles = {r.value for r in settings.roles}
    assert {r.name for r in report.rows} == {
        f"seed of release {settings.release} exists", "seed available", "seed encrypted", "a seed: no customer's data",
        f"holds release {settings.release}", "engine version restorable", "seed's key usable",
        *(f"{role}: its own key usable" for role in roles)}
    assert datetime.fromisoformat(report.checked_at) == NOW
    text = render_seed_check(report)
    assert "FAIL" not in text and text.rstrip().splitlines()[-1].startswith("PASSED")


def test_a_missing_seed_for_the_release_fails_and_says_how_to_publish_it(shipped, aws, api):
    publish_seed(aws, shipped["seed"], seed_database(aws, shipped["seed"]), "2026.3.0")  # only the older release
    report = seed_check(api, target("sandbox"))

    assert not report.passed and len(report.rows) == 1
    missing = row(report, "seed of release 2026.4.2 exists")
    assert "no snapshot of clinspark/clinspark-environments/seed" in missing.detail
    assert "release: 2026.4.2}" in missing.remedy and "Pulumi.seed.yaml" in missing.remedy


def test_a_seed_of_another_release_named_by_the_stack_fails(shipped, aws, api, tmp_path):
    database = seed_database(aws, shipped["seed"])
    publish_seed(aws, shipped["seed"], database, "2026.3.0")
    settings = target("sandbox")
    older = settings.model_copy(update={"seed_from": settings.seed_from.model_copy(
        update={"snapshot": "release-2026-3-0"})})
    report = seed_check(api, older)

    assert not report.passed and row(report, "seed of release").passed
    assert row(report, "holds release 2026.4.2").detail.startswith(f"{SEED_RELEASE_TAG}=2026.3.0")


def test_a_customers_snapshot_dressed_as_a_seed_fails(shipped, aws, api):
    """A snapshot under the seed's name and tags, taken from acme's Pre-PROD database: acme's data would spread."""
    (preprod_db,) = shipped["preprod"].by_type(DB)
    aws.client("rds").create_db_instance(
        DBInstanceIdentifier=preprod_db.state["identifier"], Engine="postgres",
        EngineVersion=preprod_db.inputs["engineVersion"], DBInstanceClass="db.t4g.large", AllocatedStorage=50,
        MasterUsername="edc_admin", MasterUserPassword="not-a-real-password-1", StorageEncrypted=True,
        KmsKeyId=aws.client("kms").create_key()["KeyMetadata"]["Arn"])
    publish_seed(aws, shipped["seed"], preprod_db.state["identifier"], "2026.4.2", customer="acme")
    report = seed_check(api, target("sandbox"))

    failed = row(report, "a seed: no customer's data")
    assert not report.passed and not failed.passed
    assert "tagged customer=acme" in failed.detail and f"not from database '{preprod_db.state['identifier']}'" not in failed.detail
    assert f"taken from database '{preprod_db.state['identifier']}'" in failed.detail
    assert failed.remedy.startswith("do not start from it: only a seed may cross customers")


def test_a_snapshot_the_seed_stack_took_for_another_purpose_is_not_a_seed(shipped, aws, api):
    database = seed_database(aws, shipped["seed"])
    publish_seed(aws, shipped["seed"], database, "2026.4.2", **{"snapshot-purpose": "val"})
    report = seed_check(api, target("sandbox"))
    # found by its tags only when it says it is a seed: a snapshot for VAL is no seed of any release
    assert not report.passed and not row(report, "seed of release").passed


def test_a_seed_named_by_the_stack_but_taken_for_another_purpose_fails_as_no_seed(shipped, aws, api):
    database = seed_database(aws, shipped["seed"])
    publish_seed(aws, shipped["seed"], database, "2026.4.2", **{"snapshot-purpose": "val"})
    settings = target("sandbox")
    named = settings.model_copy(update={"seed_from": settings.seed_from.model_copy(
        update={"snapshot": "release-2026-4-2"})})
    failed = row(seed_check(api, named), "a seed: no customer's data")
    assert not failed.passed and "tagged snapshot-purpose=val, not seed" in failed.detail


def test_two_seeds_of_one_release_are_ambiguous(shipped, aws, api):
    database = seed_database(aws, shipped["seed"])
    identifier, tags = published(shipped["seed"], "2026.4.2")
    publish(aws, database, identifier, tags)
    publish(aws, database, f"{identifier}x", tags)
    failed = row(seed_check(api, target("sandbox")), "seed of release 2026.4.2 exists")
    assert not failed.passed and failed.detail.startswith("2 snapshots of") and "seed_from.snapshot" in failed.remedy


def test_an_unencrypted_seed_and_a_seed_of_another_major_fail(shipped, aws, api):
    publish_seed(aws, shipped["seed"], seed_database(aws, shipped["seed"], encrypted=False, version="15.8"), "2026.4.2")
    report = seed_check(api, target("sandbox"))
    assert not row(report, "seed encrypted").passed
    assert not row(report, "engine version restorable").passed
    assert "15.8: not the major 16" in row(report, "engine version restorable").detail


def test_a_disabled_seed_key_fails(shipped, aws, api):
    publish_seed(aws, shipped["seed"], seed_database(aws, shipped["seed"]), "2026.4.2")
    (key,) = aws.client("kms").list_keys()["Keys"]  # the seed database's, which its snapshot is encrypted under
    aws.client("kms").disable_key(KeyId=key["KeyId"])
    failed = row(seed_check(api, target("sandbox")), "seed's key usable")
    assert not failed.passed and "is Disabled" in failed.detail and "aws kms enable-key" in failed.remedy


def test_a_stack_that_does_not_start_from_the_seed_is_refused(api):
    for stack in ("val", "preprod", "migration", "community-dev"):
        with pytest.raises(NotASeededTarget, match="only sandbox, demo stacks do"):
            seed_check(api, target(stack))


def _envctl(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_exits_0_1_and_2(shipped, aws, capsys):
    endpoint = ("--endpoint-url", aws.endpoint_url, "--region", aws.region)
    code, out, _ = _envctl(capsys, "--example", "seed-check", "sandbox", *endpoint)
    assert code == 1 and "FAIL  seed of release 2026.4.2 exists" in out

    publish_seed(aws, shipped["seed"], seed_database(aws, shipped["seed"]), "2026.4.2")
    code, out, _ = _envctl(capsys, "--example", "seed-check", "sandbox", "--json", *endpoint)
    found: dict[str, Any] = json.loads(out)
    assert code == 0 and found["passed"] is True and found["release"] == "2026.4.2"
    assert {r["name"] for r in found["rows"]} >= {f"{r.value}: its own key usable" for r in (Role.MAIN, Role.TEST)}

    code, out, err = _envctl(capsys, "--example", "seed-check", "val", *endpoint)
    assert code == 2 and out == "" and "error: stack 'val' is a VAL stack, which does not start from the seed" in err
    assert "Traceback" not in err
