"""VAL and PROD are cloned from Pre-PROD snapshots through a stack reference; nothing else restores."""

from __future__ import annotations

import copy
from datetime import datetime

import pytest

from components.phases import PHASES
from envctl.offline import LocalStacks, StackRunError, run_stack
from tests.conftest import NS, OPTIONS, PROJECT, REVIEW, SHIPPED, stack_config, write_stack
from tests.helpers import by_role


@pytest.mark.parametrize("stack", ["val", "prod"])
def test_restored_roles_restore_from_their_own_copy_of_the_named_preprod_snapshot(shipped, stack):
    run = shipped[stack]
    snapshot = stack_config(stack)[f"{NS}:clone_from"]["snapshot"]
    published = shipped["preprod"].outputs["snapshots"][snapshot]
    copies, dbs, keys = (by_role(run, t) for t in (
        "aws:rds/snapshotCopy:SnapshotCopy", "aws:rds/instance:Instance", "aws:kms/key:Key"))
    restored = {r.value for r in PHASES[stack].restored_roles}
    assert set(copies) == restored
    for role in restored:
        copy_ = copies[role]
        assert copy_.inputs["sourceDbSnapshotIdentifier"] == published["arn"]
        assert copy_.inputs["kmsKeyId"] == keys[role].state["arn"], "each copy is re-encrypted under its own key"
        assert dbs[role].inputs["snapshotIdentifier"] == copy_.state["dbSnapshotArn"]
        assert dbs[role].inputs["kmsKeyId"] == keys[role].state["arn"]
        assert "snapshotIdentifier" in dbs[role].ignore_changes
        assert "sourceDbSnapshotIdentifier" in copy_.ignore_changes
    other_keys = {k.state["arn"] for k in shipped["preprod"].by_type("aws:kms/key:Key")}
    assert not other_keys & {c.inputs["kmsKeyId"] for c in copies.values()}


@pytest.mark.parametrize("stack", [s for s in SHIPPED if s not in ("val",)])
def test_prod_test_and_the_fresh_phases_restore_nothing(shipped, stack):
    run = shipped[stack]
    restored = {r.value for r in PHASES[stack].roles if PHASES[stack].restore_kind(r)}
    for role, db in by_role(run, "aws:rds/instance:Instance").items():
        if role not in restored:
            assert "snapshotIdentifier" not in db.inputs
            assert db.inputs["dbName"] == "edc"  # an empty database of its own
    assert set(by_role(run, "aws:rds/snapshotCopy:SnapshotCopy")) == restored
    if stack == "prod":
        assert restored == {"main"}


def test_preprod_publishes_its_snapshots_as_outputs(shipped):
    run = shipped["preprod"]
    snaps = run.outputs["snapshots"]
    assert set(snaps) == {"val-2026-11", "golive"}
    (db,) = run.by_type("aws:rds/instance:Instance")
    for name, snap in snaps.items():
        assert snap["customer"] == "acme" and snap["phase"] == "preprod"
        assert snap["arn"].endswith(f":snapshot:acme-preprod-{name}")
        assert snap["engineVersion"] == db.inputs["engineVersion"] and snap["kmsKeyId"] == db.inputs["kmsKeyId"]
        assert datetime.fromisoformat(snap["createdAt"].replace("Z", "+00:00")).tzinfo is not None
    assert {s["purpose"] for s in snaps.values()} == {"val", "prod"}
    for snap in run.by_type("aws:rds/snapshot:Snapshot"):
        assert snap.protect and snap.inputs["dbInstanceIdentifier"] == db.id


def test_adding_a_snapshot_never_touches_the_running_preprod_database(shipped, plan_edited):
    before = shipped["preprod"].one("aws:rds/instance:Instance", "acme-preprod-single-db")
    run = plan_edited("preprod", lambda c: c[f"{NS}:snapshots"].append({"name": "val-2027-01", "purpose": "val"}))
    after = run.one("aws:rds/instance:Instance", "acme-preprod-single-db")
    assert after.inputs == before.inputs and after.protect == before.protect
    assert "val-2027-01" in run.outputs["snapshots"]


def test_a_newer_preprod_snapshot_does_not_change_a_running_val_database(shipped):
    local = LocalStacks(PROJECT, options=OPTIONS)
    original = local.run("preprod").outputs

    def newer(reference: str):
        outputs = copy.deepcopy(original)
        outputs["snapshots"]["val-2026-11"]["arn"] += "-retaken"
        outputs["snapshots"]["val-2026-11"]["kmsKeyId"] = "arn:aws:kms:eu-central-1:123456789012:key/other"
        return outputs

    rerun = run_stack(PROJECT, "val", stack_outputs=newer, options=OPTIONS)
    for role in ("main", "test"):
        name = f"acme-val-{role}-db"
        assert rerun.one("aws:rds/instance:Instance", name).inputs == shipped["val"].one("aws:rds/instance:Instance", name).inputs
        copy_ = rerun.one("aws:rds/snapshotCopy:SnapshotCopy", f"acme-val-{role}-db-source")
        assert copy_.inputs["sourceDbSnapshotIdentifier"].endswith("-retaken")
        assert copy_.ignore_changes == ["sourceDbSnapshotIdentifier"], "the engine keeps the copy it made"


def _fresh(config):
    """The clone source of a clone made anew: no copies pinned from before identifiers were unique."""
    config[f"{NS}:clone_from"].pop("copies", None)
    return config[f"{NS}:clone_from"]


def _unpinned(snapshots):
    """Pre-PROD's snapshots as a new stack takes them: no identifiers pinned from before they were unique."""
    return [{k: v for k, v in s.items() if k != "identifier"} for s in snapshots]


REFUSALS = [
    ("a source of another customer", "val", lambda c, p: p.update({f"{NS}:customer": "globex", f"{NS}:snapshots": _unpinned(p[f"{NS}:snapshots"])}),
     f"{NS}:clone_from.stack", "belongs to customer 'globex', not 'acme'"),
    ("a missing snapshot", "val", lambda c, p: _fresh(c).update({"snapshot": "val-1999-01"}),
     f"{NS}:clone_from.snapshot", "'val-1999-01' is not published by"),
    ("a val snapshot used for PROD", "prod", lambda c, p: _fresh(c).update({"snapshot": "val-2026-11"}),
     f"{NS}:clone_from.snapshot", "was taken for val, not prod"),
    ("a prod snapshot used for VAL", "val", lambda c, p: _fresh(c).update({"snapshot": "golive"}),
     f"{NS}:clone_from.snapshot", "was taken for prod, not val"),
    ("a source stack that was never planned or deployed", "val",
     lambda c, p: c[f"{NS}:clone_from"].update({"stack": "clinspark/clinspark-environments/acme-preprod"}),
     f"{NS}:clone_from.stack", "has no outputs"),
]


@pytest.mark.parametrize("case,stack,edit,key,fragment", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_wrong_clone_source_is_refused_before_anything_is_registered(stacks_dir, case, stack, edit, key, fragment):
    config, preprod = stack_config(stack), stack_config("preprod")
    edit(config, preprod)
    write_stack(stacks_dir, stack, config)
    write_stack(stacks_dir, "preprod", preprod)
    with pytest.raises(StackRunError) as err:
        run_stack(PROJECT, stack, stacks_dir=stacks_dir, options=REVIEW)
    message = str(err.value)
    assert message.startswith(f"stack '{stack}' has invalid configuration")
    assert f"  - {key}: " in message and fragment in message, message
    managed = err.value.registered
    assert managed == 0, "only the stack reference may have been read"


def test_a_pinned_source_lets_prod_plan_after_preprod_is_retired(shipped, stacks_dir):
    published = shipped["preprod"].outputs["snapshots"]["golive"]
    config = stack_config("prod")
    config[f"{NS}:clone_from"].update(snapshot_arn=published["arn"], allocated_storage=published["allocatedStorage"])
    write_stack(stacks_dir, "prod", config)
    (stacks_dir / "Pulumi.preprod.yaml").unlink()  # Pre-PROD retired
    run = run_stack(PROJECT, "prod", stacks_dir=stacks_dir, options=REVIEW)
    assert not any(r.read for r in run.registrations), "no stack reference once the source is pinned"
    for name in ("acme-prod-main-db", "acme-prod-main-db-source"):
        typ = "aws:rds/instance:Instance" if name.endswith("-db") else "aws:rds/snapshotCopy:SnapshotCopy"
        assert run.one(typ, name).inputs == shipped["prod"].one(typ, name).inputs


def test_a_pinned_source_of_another_customer_is_refused(stacks_dir):
    config = stack_config("prod")
    config[f"{NS}:clone_from"].update(
        snapshot_arn="arn:aws:rds:eu-central-1:123456789012:snapshot:globex-preprod-golive", allocated_storage=50)
    write_stack(stacks_dir, "prod", config)
    with pytest.raises(StackRunError, match="snapshot_arn is not customer 'acme''s preprod snapshot 'golive'"):
        run_stack(PROJECT, "prod", stacks_dir=stacks_dir, options=REVIEW)


def test_a_restored_database_is_at_least_as_large_as_its_snapshot(plan_edited, shipped):
    preprod = plan_edited("preprod", lambda c: c.update({f"{NS}:sizes": {"single": "large"}}))
    local = {"preprod": preprod.outputs}
    run = run_stack(PROJECT, "val", stack_outputs=lambda ref: local[ref.rsplit("/", 1)[-1]], options=OPTIONS)
    source = preprod.outputs["snapshots"]["val-2026-11"]["allocatedStorage"]
    for db in run.by_type("aws:rds/instance:Instance"):
        assert db.inputs["allocatedStorage"] == source > 50


# -- pins name only what they pin: never another customer's snapshot, never another snapshot -------------------
def _refusal(stacks_dir, stack, config) -> str:
    write_stack(stacks_dir, stack, config)
    with pytest.raises(StackRunError) as err:
        run_stack(PROJECT, stack, stacks_dir=stacks_dir, options=REVIEW)
    assert err.value.registered == 0
    return str(err.value)


@pytest.mark.parametrize("identifier", ["acme-preprod-golive-v2", "acme-val-main-from-golive", "zeta-preprod-golive"])
def test_a_preprod_snapshot_identifier_pins_only_its_own_name_from_before(stacks_dir, identifier):
    """Otherwise another customer's Pre-PROD could publish a snapshot under acme's names, for acme's VAL to pin."""
    config = stack_config("preprod")
    config[f"{NS}:snapshots"][1]["identifier"] = identifier
    message = _refusal(stacks_dir, "preprod", config)
    assert (f"{NS}:snapshots: the identifier of snapshot 'golive' may only pin its name from before identifiers "
            f"were unique, 'acme-preprod-golive', not '{identifier}'") in message


@pytest.mark.parametrize("identifier", [
    "acme-preprod-golive-v2",             # a name another stack could publish under acme's prefix
    "acme-preprod-val-2026-11",           # acme's own, but the VAL snapshot, not the go-live one
    "acme-preprod-golive-ab12cd34-x",     # merely starting alike
])
def test_a_pinned_snapshot_arn_is_exactly_the_named_snapshot_of_the_customers_preprod(stacks_dir, identifier):
    config = stack_config("prod")
    config[f"{NS}:clone_from"].update(snapshot_arn=f"arn:aws:rds:eu-central-1:123456789012:snapshot:{identifier}",
                                      allocated_storage=50)
    assert "snapshot_arn is not customer 'acme''s preprod snapshot 'golive'" in _refusal(stacks_dir, "prod", config)


@pytest.mark.parametrize("identifier", ["acme-preprod-golive", "acme-preprod-golive-ab12cd34"])
def test_a_pinned_snapshot_arn_of_the_named_snapshot_plans(stacks_dir, identifier):
    config = stack_config("prod")
    config[f"{NS}:clone_from"].update(snapshot_arn=f"arn:aws:rds:eu-central-1:123456789012:snapshot:{identifier}",
                                      allocated_storage=50)
    write_stack(stacks_dir, "prod", config)
    run = run_stack(PROJECT, "prod", stacks_dir=stacks_dir, options=REVIEW)
    (copy,) = run.by_type("aws:rds/snapshotCopy:SnapshotCopy")
    assert copy.inputs["sourceDbSnapshotIdentifier"].endswith(f":snapshot:{identifier}")


def test_a_copy_pin_names_only_the_copy_of_this_snapshot_from_before(stacks_dir):
    config = stack_config("val")
    config[f"{NS}:clone_from"]["copies"]["test"] = "acme-val-main-from-val-2026-11"
    assert (f"copies.test may only pin the copy's name from before identifiers were unique, "
            f"'acme-val-test-from-val-2026-11', not 'acme-val-main-from-val-2026-11'") in _refusal(stacks_dir, "val", config)
