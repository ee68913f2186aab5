"""Where each phase's data comes from: sandboxes and demos start from the seed of their release, the migration
instance shows the current iteration, and only a seed crosses customers."""

from __future__ import annotations

import pytest

from envctl.cli import main
from envctl.offline import StackRunError, run_stack
from policies.framework import INSTANCE_TYPE
from tests.conftest import NS, PROJECT, REVIEW, altered, stack_config, write_stack
from tests.helpers import only, verdict

DB = "aws:rds/instance:Instance"
COPY = "aws:rds/snapshotCopy:SnapshotCopy"
SEED_STACK = "clinspark/clinspark-environments/seed"


def refused(stacks_dir, stack: str, config: dict) -> str:
    write_stack(stacks_dir, stack, config)
    with pytest.raises(StackRunError) as err:
        run_stack(PROJECT, stack, stacks_dir=stacks_dir, options=REVIEW)
    assert err.value.registered == 0, "refused before anything was registered"
    return str(err.value)


def restored_from(run) -> dict[str, dict]:
    return {i.outputs["role"]: i.outputs.get("restoredFrom") for i in run.by_type(INSTANCE_TYPE)}


# -- the seed stack publishes seeds -------------------------------------------------------------------------
def test_the_seed_stack_exports_one_seed_per_release_marked_as_seed_without_customer(shipped):
    seeds = shipped["seed"].outputs["snapshots"]
    assert {s["release"] for s in seeds.values()} == {"2026.3.0", "2026.4.2"}
    assert all(s["seed"] is True and s["customer"] is None and s["purpose"] == "seed" for s in seeds.values())
    tags = {s.inputs["tags"]["snapshot-release"] for s in shipped["seed"].by_type("aws:rds/snapshot:Snapshot")}
    assert tags == {"2026.3.0", "2026.4.2"}
    assert all(s["seed"] is False for s in shipped["preprod"].outputs["snapshots"].values())


@pytest.mark.parametrize(("stack", "release"), [("sandbox", "2026.4.2"), ("demo", "2026.3.0")])
def test_seeded_stacks_restore_each_instance_from_its_own_copy_of_the_seed_of_their_release(shipped, stack, release):
    run = shipped[stack]
    (name, seed), = [(n, s) for n, s in shipped["seed"].outputs["snapshots"].items() if s["release"] == release]
    instances = run.by_type(INSTANCE_TYPE)
    assert len(run.by_type(COPY)) == len(instances) >= 1
    keys = set()
    for inst in instances:
        assert inst.outputs["restoredFrom"] == {"kind": "seed", "snapshot": name, "stack": SEED_STACK,
                                                "release": release}
        copy = run.one(COPY, f"{inst.name}-db-source")
        assert copy.inputs["sourceDbSnapshotIdentifier"] == seed["arn"]
        assert "sourceDbSnapshotIdentifier" in copy.ignore_changes  # pinned, exactly as a clone
        keys.add(copy.inputs["kmsKeyId"])
    assert len(keys) == len(instances)  # each under its own key
    dbs = run.by_type(DB)
    assert all("snapshotIdentifier" in d.ignore_changes and d.inputs["snapshotIdentifier"] for d in dbs)


def test_the_plan_says_where_each_database_comes_from(capsys):
    code = main(["--example", "--dir", str(PROJECT), "plan", "sandbox", "migration"])
    out = capsys.readouterr().out
    assert code == 0
    assert "main: restored from the seed of release 2026.4.2" in out and "pinned: a newer seed" in out
    assert ("single: restored from migration iteration it-03; a new iteration REPLACES this database: nothing of "
            "the previous one is kept") in out


# -- refusals before anything is registered -----------------------------------------------------------------
def test_a_missing_seed_for_the_stacks_release_is_refused_naming_the_release_and_the_seed_stack(stacks_dir):
    config = {**stack_config("sandbox"), f"{NS}:release": "2026.5.0"}
    message = refused(stacks_dir, "sandbox", config)
    assert f"{NS}:seed_from.stack: '{SEED_STACK}' publishes no seed of release 2026.5.0" in message
    assert "release-2026-4-2 (2026.4.2)" in message  # what it has


def test_a_seed_of_another_release_is_refused(stacks_dir):
    config = {**stack_config("sandbox"), f"{NS}:seed_from": {"stack": SEED_STACK, "snapshot": "release-2026-3-0"}}
    message = refused(stacks_dir, "sandbox", config)
    assert "'release-2026-3-0' is the seed of release 2026.3.0, not of this stack's release 2026.4.2" in message


def test_the_seed_of_the_stacks_own_release_named_explicitly_is_taken(stacks_dir):
    config = {**stack_config("sandbox"), f"{NS}:seed_from": {"stack": SEED_STACK, "snapshot": "release-2026-4-2"}}
    write_stack(stacks_dir, "sandbox", config)
    run = run_stack(PROJECT, "sandbox", stacks_dir=stacks_dir, options=REVIEW)
    assert {s["release"] for s in restored_from(run).values()} == {"2026.4.2"}


def test_a_customer_snapshot_named_as_seed_is_refused(stacks_dir):
    config = {**stack_config("sandbox"), f"{NS}:seed_from": {"stack": SEED_STACK, "snapshot": "golive"}}
    message = refused(stacks_dir, "sandbox", config)
    assert "'golive' is not published by" in message


def test_a_seed_source_that_is_not_the_seed_stack_is_refused(stacks_dir):
    config = {**stack_config("demo"), f"{NS}:seed_from": {"stack": "clinspark/clinspark-environments/preprod"}}
    message = refused(stacks_dir, "demo", config)
    assert "source stack 'clinspark/clinspark-environments/preprod' is not a seed stack" in message


def test_a_seeded_phase_without_seed_from_is_refused_and_other_phases_may_not_name_one(stacks_dir):
    sandbox = stack_config("sandbox")
    sandbox.pop(f"{NS}:seed_from")
    assert f"{NS}:seed_from: missing; sandbox instances start from the seed" in refused(stacks_dir, "sandbox", sandbox)
    migration = {**stack_config("migration"), f"{NS}:seed_from": {"stack": SEED_STACK}}
    assert "phase migration does not start from the seed" in refused(stacks_dir, "migration", migration)


def test_a_seed_of_a_release_newer_than_the_seed_database_is_refused(stacks_dir):
    config = stack_config("seed")
    config[f"{NS}:snapshots"] = [*config[f"{NS}:snapshots"], {"name": "release-2027-1-0", "purpose": "seed",
                                                              "release": "2027.1.0"}]
    assert "release 2027.1.0 is newer than the release 2026.4.2" in refused(stacks_dir, "seed", config)


def test_a_seed_of_an_older_release_is_kept_by_its_identifier_never_taken_anew(shipped, stacks_dir):
    """A new snapshot holds what the seed database runs now: it cannot be the seed of an older release."""
    older = {"name": "release-2026-1-0", "purpose": "seed", "release": "2026.1.0"}
    config = stack_config("seed")
    config[f"{NS}:snapshots"] = [*config[f"{NS}:snapshots"], older]
    message = refused(stacks_dir, "seed", config)
    assert "a new snapshot is taken from the database as it runs now, release 2026.4.2, so it cannot be the seed " \
           "of release 2026.1.0" in message and "identifier: seed-release-2026-1-0" in message
    pinned = shipped["seed"].one("aws:rds/snapshot:Snapshot", "seed-snapshot-release-2026-3-0")
    assert pinned.inputs["dbSnapshotIdentifier"] == "seed-release-2026-3-0"  # the shipped one, kept by its name
    assert all(s.protect for s in shipped["seed"].by_type("aws:rds/snapshot:Snapshot")), "seeds are protected"


def test_a_seed_in_another_region_is_refused_before_anything_is_registered(stacks_dir):
    config = {**stack_config("demo"), "aws:region": "eu-west-1"}
    assert "is in region eu-central-1, not this stack's region eu-west-1" in refused(stacks_dir, "demo", config)


# -- iterations -------------------------------------------------------------------------------------------------
def test_the_migration_database_is_the_current_iteration_and_is_not_pinned(shipped):
    run = shipped["migration"]
    iteration = stack_config("migration")[f"{NS}:iteration"]
    assert restored_from(run) == {"single": {"kind": "iteration", "snapshot": "it-03", "customer": "acme"}}
    (copy,), (db,) = run.by_type(COPY), run.by_type(DB)
    assert copy.inputs["sourceDbSnapshotIdentifier"] == iteration["snapshot_arn"]
    assert db.ignore_changes == [] and copy.ignore_changes == []  # a new iteration replaces both
    assert db.inputs["allocatedStorage"] == iteration["allocated_storage"]


def test_a_new_iteration_replaces_the_database(shipped, stacks_dir):
    config = stack_config("migration")
    config[f"{NS}:iteration"] = {**config[f"{NS}:iteration"], "label": "it-04",
                                 "snapshot_arn": config[f"{NS}:iteration"]["snapshot_arn"].replace("it-03", "it-04")}
    write_stack(stacks_dir, "migration", config)
    run = run_stack(PROJECT, "migration", stacks_dir=stacks_dir, options=REVIEW)
    before, after = shipped["migration"].by_type(DB)[0], run.by_type(DB)[0]
    # snapshotIdentifier forces a new database, and it is not ignored: the new iteration's copy replaces it
    assert after.inputs["snapshotIdentifier"] != before.inputs["snapshotIdentifier"]
    assert "it-04" in after.inputs["snapshotIdentifier"] and after.ignore_changes == []


@pytest.mark.parametrize(("change", "fragment"), [
    ({"snapshot_arn": "arn:aws:rds:eu-central-1:123456789012:snapshot:globex-migration-it-03"},
     "is not one of customer 'acme''s migration snapshots"),
    ({"snapshot_arn": "arn:aws:rds:eu-west-1:123456789012:snapshot:acme-migration-it-03"},
     "is in region 'eu-west-1', not the stack's region 'eu-central-1'"),
    ({"label": "It 03"}, "iteration.label: String should match pattern"),
    ({"engine_version": "15.8"}, "engine_version 15.8 is not postgres 16"),
    ({"engine_version": "16.99"}, "engine_version 16.99 is not a version RDS offers"),
])
def test_a_wrong_iteration_is_refused(stacks_dir, change, fragment):
    config = stack_config("migration")
    config[f"{NS}:iteration"] = {**config[f"{NS}:iteration"], **change}
    assert fragment in refused(stacks_dir, "migration", config)


def test_an_iteration_outside_the_migration_phase_is_refused(stacks_dir):
    config = {**stack_config("sandbox"), f"{NS}:iteration": stack_config("migration")[f"{NS}:iteration"]}
    assert "only migration is restored from migration iterations, not sandbox" in refused(stacks_dir, "sandbox", config)


# -- the pack ------------------------------------------------------------------------------------------------------
def test_a_restore_of_another_customers_snapshot_is_refused_and_a_seed_is_not(shipped):
    rule = "lifecycle-cross-customer-restore"
    assert verdict(shipped["sandbox"], [rule]) == [] and verdict(shipped["val"], [rule]) == []
    inst = next(i for i in shipped["sandbox"].by_type(INSTANCE_TYPE) if i.outputs["role"] == "main")
    foreign = {"kind": "clone", "snapshot": "golive", "customer": "globex",
               "stack": "clinspark/clinspark-environments/globex-preprod"}
    changed = altered(shipped["sandbox"], lambda r: r.urn == inst.urn, outputs={"restoredFrom": foreign})
    v = only(verdict(changed, [rule]), rule)
    assert v.urn == inst.urn and "only a seed may cross customers" in v.message and "'globex'" in v.message


def test_a_seed_that_holds_a_customers_data_is_refused(shipped):
    rule = "lifecycle-cross-customer-restore"
    inst = shipped["demo"].by_type(INSTANCE_TYPE)[0]
    tainted = {**inst.outputs["restoredFrom"], "customer": "acme"}
    v = only(verdict(altered(shipped["demo"], lambda r: r.urn == inst.urn, outputs={"restoredFrom": tainted}), [rule]),
             rule)
    assert "a seed holds no customer's data" in v.message


def test_an_iteration_restore_outside_migration_is_refused_by_the_pack(shipped):
    rule = "lifecycle-iteration-migration-only"
    assert verdict(shipped["migration"], [rule]) == []
    inst = next(i for i in shipped["sandbox"].by_type(INSTANCE_TYPE) if i.outputs["role"] == "test")
    iteration = {"kind": "iteration", "snapshot": "it-03", "customer": "acme"}
    changed = altered(shipped["sandbox"], lambda r: r.urn == inst.urn, outputs={"restoredFrom": iteration})
    v = only(verdict(changed, [rule]), rule)
    assert v.urn == inst.urn and "only migration shows iterations" in v.message
    found = verdict(changed, ["lifecycle-restore-allowed"])
    assert found and all("no instance of a sandbox stack is restored from an iteration" in f.message for f in found)
