"""Issue 9, the database: the engine-version policy (catalog major, offered minors, never a downgrade), storage
headroom after a restore, unique snapshot identifiers and the timeouts of long database operations."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from components import engines
from components.database import (
    COPY_TIMEOUTS,
    DATABASE_TIMEOUTS,
    RESTORED_TIMEOUTS,
    SNAPSHOT_TIMEOUTS,
    max_storage_gb,
)
from components.naming import SNAPSHOT_SUFFIX_LENGTH, Names
from components.phases import DATABASE_ENGINE, PHASES, SIZES
from envctl.mocks import AwsMocks, RunningDatabase
from envctl.monitor import ResourceRejected
from envctl.offline import StackRunError, run_stack
from tests.conftest import (
    NS,
    OPTIONS,
    PROJECT,
    REVIEW,
    SHIPPED,
    stack_config,
    write_stack,
)
from tests.helpers import instances

DB = "aws:rds/instance:Instance"
SNAPSHOT = "aws:rds/snapshot:Snapshot"
COPY = "aws:rds/snapshotCopy:SnapshotCopy"
PIN = stack_config("preprod")[f"{NS}:engine_version"]


def refused(stacks_dir, stack: str, config: dict) -> str:
    write_stack(stacks_dir, stack, config)
    with pytest.raises(StackRunError) as err:
        run_stack(PROJECT, stack, stacks_dir=stacks_dir, options=REVIEW)
    assert err.value.registered == 0, "refused before anything was registered"
    return str(err.value)


# -- the data file and the catalog ------------------------------------------------------------------------
def test_the_offered_versions_are_of_the_catalogs_major_and_say_when_and_how_they_were_checked():
    found = engines.offered()
    assert (found.engine, found.major) == (DATABASE_ENGINE.engine, DATABASE_ENGINE.major)
    assert all(v.startswith(f"{DATABASE_ENGINE.major}.") for v in found.versions)
    assert found.checked_on and found.regions and "describe-db-engine-versions" in found.refresh
    doc = json.loads(engines.OFFERED_FILE.read_text())
    assert "not from a live call" in doc["how_checked"].lower() and "16.4" not in found.versions


def test_versions_compare_by_their_numbers():
    assert engines.is_newer("16.10", "16.9") and not engines.is_newer("16.9", "16.10")


@pytest.mark.parametrize("stack", [s for s in SHIPPED if PHASES[s].controlled])
def test_controlled_databases_run_the_pin_without_automatic_minor_upgrades(shipped, stack):
    databases = shipped[stack].by_type(DB)
    assert databases
    assert all(db.inputs["engineVersion"] == PIN and db.inputs["autoMinorVersionUpgrade"] is False for db in databases)


@pytest.mark.parametrize("stack", [s for s in SHIPPED if not PHASES[s].controlled
                                   and not any(PHASES[s].restore_kind(r) for r in PHASES[s].roles)])
def test_uncontrolled_databases_run_the_major_and_follow_minor_upgrades(shipped, stack):
    databases = shipped[stack].by_type(DB)
    assert databases
    assert all(db.inputs["engineVersion"] == DATABASE_ENGINE.major and db.inputs["autoMinorVersionUpgrade"] is True
               for db in databases)


@pytest.mark.parametrize("stack", ["sandbox", "demo", "migration"])
def test_an_uncontrolled_restore_asks_for_the_snapshots_own_version_never_the_major_alone(shipped, stack):
    """The provider's create calls ModifyDBInstance with engine_version when it differs from what RDS restored;
    the major alone would ask for RDS's default minor, possibly below the snapshot's (a downgrade)."""
    seeds = {s["arn"]: s["engineVersion"] for s in shipped["seed"].outputs["snapshots"].values()}
    iteration = stack_config("migration")[f"{NS}:iteration"]
    sources = {**seeds, iteration["snapshot_arn"]: iteration["engine_version"]}
    copies = {c.inputs["targetDbSnapshotIdentifier"]: c.inputs["sourceDbSnapshotIdentifier"]
              for c in shipped[stack].by_type(COPY)}
    dbs = shipped[stack].by_type(DB)
    assert dbs and all(d.inputs["autoMinorVersionUpgrade"] is True for d in dbs)  # AWS's minor upgrades followed
    for db in dbs:
        source = copies[db.inputs["snapshotIdentifier"].split(":snapshot:")[1]]
        assert db.inputs["engineVersion"] == sources[source] != DATABASE_ENGINE.major


def test_an_uncontrolled_restore_never_asks_below_what_the_database_runs(shipped):
    main = [d for d in _running(shipped["sandbox"], "16.13") if d.identifier.startswith("acme-sandbox-main")]
    run = run_stack(PROJECT, "sandbox", options=replace(OPTIONS, running_databases=tuple(main)))
    versions = {d.name: d.inputs["engineVersion"] for d in run.by_type(DB)}
    assert versions == {"acme-sandbox-main-db": "16.13", "acme-sandbox-test-db": "16.12"}


# -- settings ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "fragment"), [
    (None, "missing; phase prod is change-controlled and pins its database's minor version"),
    ("16.4", "16.4 is not offered by AWS for new instances"),
    ("17.2", "17.2 is not postgres 16, the major the phase catalog pins"),
])
def test_a_controlled_stack_pins_an_offered_minor_of_the_catalogs_major(stacks_dir, value, fragment):
    config = stack_config("prod")
    config.pop(f"{NS}:engine_version")
    if value is not None:
        config[f"{NS}:engine_version"] = value
    message = refused(stacks_dir, "prod", config)
    assert f"{NS}:engine_version: {fragment}" in message and "16.12" in message  # what is accepted


def test_an_uncontrolled_stack_may_not_pin_a_minor(stacks_dir):
    config = {**stack_config("sandbox"), f"{NS}:engine_version": PIN}
    message = refused(stacks_dir, "sandbox", config)
    assert f"{NS}:engine_version: phase sandbox is not change-controlled" in message and "remove the key" in message


# -- never a downgrade ---------------------------------------------------------------------------------------
def _running(run, version: str) -> tuple[RunningDatabase, ...]:
    """The run's databases as already running at `version`, with the tags the program gave them."""
    return tuple(RunningDatabase(db.id, version, db.inputs["tags"]) for db in run.by_type(DB))


def test_by_default_no_database_runs_yet_and_the_pin_is_asked_without_a_warning(shipped):
    assert not [w for w in shipped["preprod"].warnings if "engine_version" in w]


def test_after_aws_upgraded_a_controlled_database_the_stack_is_refused_as_drift_never_downgraded(shipped):
    newer = "16.13"
    assert engines.is_newer(newer, PIN) and not engines.offered().accepts(newer)
    options = replace(OPTIONS, running_databases=_running(shipped["preprod"], newer))
    with pytest.raises(StackRunError) as err:
        run_stack(PROJECT, "preprod", options=options)
    assert err.value.kind == "invalid" and err.value.registered == 0
    (db,) = shipped["preprod"].by_type(DB)
    message = str(err.value)
    assert f"{NS}:engine_version: {PIN} is older than what acme-preprod-single's database already runs" in message
    assert f"{db.id} runs {newer}" in message and "moves engine_version to the version it runs" in message


def test_a_decoy_database_under_an_instances_tags_cannot_choose_prods_version(shipped):
    """Another database carrying PROD main's tags and a name like its own, at a newer minor: followed silently,
    it would upgrade the real database to a version nobody approved. The stack is refused instead."""
    real = _running(shipped["prod"], PIN)
    main = next(db for db in real if "-main-" in db.identifier)
    decoy = RunningDatabase("acme-prod-main-db-decoy1", "16.13", main.tags)
    with pytest.raises(StackRunError) as err:
        run_stack(PROJECT, "prod", options=replace(OPTIONS, running_databases=(*real, decoy)))
    assert err.value.registered == 0 and "acme-prod-main-db-decoy1 runs 16.13" in str(err.value)
    assert main.identifier not in str(err.value)  # the real one runs the pin: not what is refused


def test_a_database_running_an_older_minor_than_the_pin_is_upgraded_to_the_pin(shipped):
    options = replace(OPTIONS, running_databases=_running(shipped["preprod"], "16.10"))
    run = run_stack(PROJECT, "preprod", options=options)
    assert run.one(DB, "acme-preprod-single-db").inputs["engineVersion"] == PIN
    assert not [w for w in run.warnings if "engine_version" in w]


def test_a_database_of_another_environment_is_not_read_as_this_ones(shipped):
    other = tuple(RunningDatabase(db.id, "16.13", {**db.inputs["tags"], "customer": "globex"})
                  for db in shipped["preprod"].by_type(DB))
    run = run_stack(PROJECT, "preprod", options=replace(OPTIONS, running_databases=other))
    assert run.one(DB, "acme-preprod-single-db").inputs["engineVersion"] == PIN


def test_a_restore_from_a_snapshot_newer_than_the_pin_is_refused_naming_both_versions(shipped, stacks_dir):
    preprod = shipped["preprod"].outputs
    newer = json.loads(json.dumps(preprod))
    newer["snapshots"]["val-2026-11"]["engineVersion"] = "16.13"
    with pytest.raises(StackRunError) as err:
        run_stack(PROJECT, "val", stack_outputs=lambda _ref: newer, options=REVIEW)
    message = str(err.value)
    assert f"{NS}:engine_version: snapshot 'val-2026-11'" in message and "runs 16.13, newer than this stack's pin " \
        f"{PIN}" in message and "move engine_version to 16.13" in message
    assert err.value.registered == 0


def test_a_restore_from_a_snapshot_at_the_pin_plans(shipped):
    assert shipped["preprod"].outputs["snapshots"]["val-2026-11"]["engineVersion"] == PIN
    assert {db.inputs["engineVersion"] for db in shipped["val"].by_type(DB)} == {PIN}


# -- the offline engine --------------------------------------------------------------------------------------
def _db_inputs(**changes) -> dict:
    return {"engineVersion": PIN, "allocatedStorage": 100.0, "maxAllocatedStorage": 1000.0, "storageType": "gp3",
            **changes}


@pytest.mark.parametrize("version", ["16.4", "16.8", "15.7"])
def test_the_offline_engine_refuses_versions_aws_does_not_offer(version):
    with pytest.raises(ResourceRejected, match=f"cannot find version {version} for postgres"):
        AwsMocks("eu-central-1").new_resource(_args(_db_inputs(engineVersion=version)))


def test_the_offline_engine_accepts_an_offered_minor_and_the_major_alone():
    mocks = AwsMocks("eu-central-1")
    assert mocks.new_resource(_args(_db_inputs()))[1]["engineVersionActual"] == PIN
    actual = mocks.new_resource(_args(_db_inputs(engineVersion=DATABASE_ENGINE.major), name="b"))[1]
    assert actual["engineVersionActual"] == max(engines.offered().versions, key=engines.version_key)


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"allocatedStorage": 19.0}, "gp3 storage is 20 to 65536 GiB, not 19"),
    ({"allocatedStorage": 70000.0, "maxAllocatedStorage": 0.0}, "gp3 storage is 20 to 65536 GiB, not 70000"),
    ({"maxAllocatedStorage": 70000.0}, "max_allocated_storage 70000 is above gp3's 65536 GiB"),
    ({"maxAllocatedStorage": 100.0}, "max_allocated_storage 100 must be at least 10% above the allocated 100 GiB"),
    ({"maxAllocatedStorage": 109.0}, "max_allocated_storage 109 must be at least 10% above the allocated 100 GiB"),
])
def test_the_offline_engine_refuses_storage_rds_refuses(changes, fragment):
    with pytest.raises(ResourceRejected, match=fragment.replace("%", "%")):
        AwsMocks("eu-central-1").new_resource(_args(_db_inputs(**changes)))


def test_the_offline_engine_accepts_storage_within_the_limits():
    assert AwsMocks("eu-central-1").new_resource(_args(_db_inputs(maxAllocatedStorage=110.0)))[0]


def _args(inputs: dict, name: str = "a-db"):
    from pulumi.runtime.mocks import MockResourceArgs
    return MockResourceArgs(typ=DB, name=name, inputs=inputs, provider="", resource_id="", custom=True)


# -- storage headroom after a restore ------------------------------------------------------------------------
@pytest.mark.parametrize("snapshot_gb", [50, 180, 199, 200, 1000, 60000])
def test_the_autoscaling_ceiling_is_more_than_ten_percent_above_a_restored_size(snapshot_gb):
    size = SIZES["medium"]
    allocated = max(size.db_storage_gb, snapshot_gb)
    ceiling = max_storage_gb(size, allocated)
    assert ceiling <= 65536 and (ceiling >= allocated * 1.1 or allocated * 1.1 > 65536)


def test_a_val_restored_from_a_large_snapshot_gets_room_to_grow(shipped):
    outputs = json.loads(json.dumps(shipped["preprod"].outputs))
    outputs["snapshots"]["val-2026-11"]["allocatedStorage"] = 195  # the medium size's ceiling is 200
    run = run_stack(PROJECT, "val", stack_outputs=lambda _ref: outputs, options=OPTIONS)
    for db in run.by_type(DB):
        assert db.inputs["allocatedStorage"] == 195 and db.inputs["maxAllocatedStorage"] >= 195 * 1.26


# -- unique snapshot identifiers ------------------------------------------------------------------------------
def test_the_shipped_controlled_stacks_keep_their_snapshot_and_copy_identifiers(shipped):
    assert sorted(s.inputs["dbSnapshotIdentifier"] for s in shipped["preprod"].by_type(SNAPSHOT)) == [
        "acme-preprod-golive", "acme-preprod-val-2026-11"]
    assert sorted(c.inputs["targetDbSnapshotIdentifier"] for c in shipped["val"].by_type(COPY)) == [
        "acme-val-main-from-val-2026-11", "acme-val-test-from-val-2026-11"]
    assert [c.inputs["targetDbSnapshotIdentifier"] for c in shipped["prod"].by_type(COPY)] == ["acme-prod-main-from-golive"]


def test_new_snapshots_and_copies_get_identifiers_with_a_random_part_replaced_with_what_replaces_them(stacks_dir):
    preprod = stack_config("preprod")
    preprod[f"{NS}:snapshots"] = [{"name": "val-2027-01", "purpose": "val"}]
    write_stack(stacks_dir, "preprod", preprod)
    val = stack_config("val")
    val[f"{NS}:clone_from"] = {"stack": val[f"{NS}:clone_from"]["stack"], "snapshot": "val-2027-01"}
    write_stack(stacks_dir, "val", val)
    run = run_stack(PROJECT, "val", stacks_dir=stacks_dir, options=REVIEW)
    source = run_stack(PROJECT, "preprod", stacks_dir=stacks_dir, options=REVIEW)
    (snap,) = source.by_type(SNAPSHOT)
    (suffix_of_snap,) = [r for r in source.by_type("random:index/randomString:RandomString")
                         if r.name == "acme-preprod-snapshot-val-2027-01-id"]
    assert snap.inputs["dbSnapshotIdentifier"] == Names("acme-preprod").published_snapshot(
        "val-2027-01", suffix_of_snap.state["result"])
    assert len(suffix_of_snap.state["result"]) == SNAPSHOT_SUFFIX_LENGTH
    assert set(suffix_of_snap.inputs["keepers"]) == {"database"}  # a new database: a new snapshot, a new id
    copies = {c.inputs["targetDbSnapshotIdentifier"] for c in run.by_type(COPY)}
    assert len(copies) == 2 and all(c.startswith("acme-val-") and "-from-val-2027-01-" in c for c in copies)
    # the clone restores from the identifier Pre-PROD exported, not one rebuilt from a naming rule
    assert {c.inputs["sourceDbSnapshotIdentifier"] for c in run.by_type(COPY)} == {snap.state["dbSnapshotArn"]}


@pytest.mark.parametrize("stack", ["preprod", "val", "prod", "community-dev"])
def test_final_snapshots_end_in_a_random_part_kept_for_the_databases_key(shipped, stack):
    run = shipped[stack]
    suffixes = {r.name: r for r in run.by_type("random:index/randomString:RandomString")}
    for role, inst in instances(run).items():
        (db,) = [d for d in run.by_type(DB) if d.parent == inst.urn or d.name.startswith(inst.name)]
        random = suffixes[f"{inst.outputs['instanceName']}-db-final-id"]
        assert db.inputs["finalSnapshotIdentifier"] == f"{inst.outputs['instanceName']}-final-{random.state['result']}"
        assert set(random.inputs["keepers"]) == {"key", "restoredFrom"}


# -- timeouts ------------------------------------------------------------------------------------------------
def _timeouts(t) -> dict[str, str]:
    return {op: getattr(t, op) for op in ("create", "update", "delete") if getattr(t, op)}


def test_long_database_operations_have_timeouts_sized_for_hundreds_of_gb(shipped):
    assert {s.custom_timeouts["create"] for s in shipped["preprod"].by_type(SNAPSHOT)} == {SNAPSHOT_TIMEOUTS.create}
    for stack in ("val", "prod"):
        assert all(c.custom_timeouts == _timeouts(COPY_TIMEOUTS) for c in shipped[stack].by_type(COPY))
        restored = [d for d in shipped[stack].by_type(DB) if d.inputs.get("snapshotIdentifier")]
        assert restored and all(d.custom_timeouts == _timeouts(RESTORED_TIMEOUTS) for d in restored)
    # Pre-PROD's database (built by hand to hundreds of GB) and every other: created empty in the provider's time,
    # updated and deleted (with its final snapshot) as long as a restored one
    fresh = [d for s in ("preprod", "community-dev") for d in shipped[s].by_type(DB)]
    assert len(fresh) == 2 and all(d.custom_timeouts == _timeouts(DATABASE_TIMEOUTS) for d in fresh)
    assert _timeouts(DATABASE_TIMEOUTS) == {"update": "6h", "delete": "3h"}


# -- the output for the IQ ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["preprod", "sandbox"])
def test_each_instance_exports_the_engine_version_rds_runs(shipped, stack):
    run = shipped[stack]
    exported = run.outputs["instances"]
    for role, inst in instances(run).items():
        db = [d for d in run.by_type(DB) if d.name == f"{inst.outputs['instanceName']}-db"][0]
        assert exported[role]["engineVersionActual"] == db.state["engineVersionActual"] == inst.outputs["engineVersionActual"]
        assert inst.outputs["engineVersion"] == db.inputs["engineVersion"]


def test_a_broken_offered_versions_file_is_bad_input_naming_the_file_and_its_format(tmp_path, monkeypatch, capsys):
    from envctl.cli import main

    broken = tmp_path / engines.OFFERED_FILE.name
    broken.write_text('{"engine": "postgres", "major": "16", "offered": [')  # cut short
    monkeypatch.setattr(engines, "OFFERED_FILE", broken)
    engines.offered.cache_clear()
    try:
        code = main(["--example", "plan", "prod"])
    finally:
        engines.offered.cache_clear()
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "defect" not in err
    assert f"components/data/{broken.name}: not readable as the offered engine versions" in err
    assert "expected a JSON object with engine, major, offered" in err
