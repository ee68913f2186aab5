"""The Instance in named parts moved no resource silently: every URN the shipped stacks registered before
(tests/fixtures/urns-before-instance-parts.json) is still registered, or is the alias of exactly one
resource now, with the same physical id and the same inputs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SHIPPED
from tests.helpers import inputs_digest

BEFORE = json.loads((Path(__file__).parent / "fixtures" / "urns-before-instance-parts.json").read_text())
# Inputs changed on purpose since the baseline, each with why; the URN and physical id still may not move.
INTENDED_INPUT_CHANGES = {
    "-access-logs-policy": "issue 8: load-balancer log delivery narrowed to this account's AWSLogs/ path",
    "-db": "issue 9: engine version policy (controlled: the pinned offered minor, an in-place minor upgrade from "
           "16.4; uncontrolled: the major alone) and a unique final snapshot identifier (used only at deletion, "
           "not a replacement); issue 12: sandbox, demo and migration databases are restored (seed, iteration), a "
           "replacement of uncontrolled, disposable stacks only (preprod, val and prod keep theirs)",
    "-service": "issue 9: the ECS service waits for steady state, with a health-check grace period (updated in place)",
}
# Resources added on purpose since the baseline, by type, each with why.
INTENDED_NEW_TYPES = {
    "aws:s3/bucketLogging:BucketLogging": "issue 8: server access logging of the documents and exchange buckets",
    "random:index/randomString:RandomString": "issue 9: the random part of unique snapshot identifiers (final "
                                              "snapshots; new published snapshots and copies)",
    "aws:rds/snapshotCopy:SnapshotCopy": "issue 12: seeded sandboxes and demos and the migration iteration restore "
                                         "from their own copy, under their own key",
    "pulumi:pulumi:StackReference": "issue 12: sandboxes and demos read the seed stack's snapshots",
}
# Stacks shipped since the baseline, each with why: every resource of theirs is new.
NEW_STACKS = {"seed": "issue 12: the vendor's seed stack, which publishes one seed snapshot per release"}
BASELINED = [s for s in SHIPPED if s not in NEW_STACKS]


def test_every_shipped_stack_is_in_the_baseline_or_new_on_purpose():
    assert set(SHIPPED) == set(BEFORE) | set(NEW_STACKS)


@pytest.mark.parametrize("stack", BASELINED)
def test_every_urn_of_before_is_registered_or_the_alias_of_exactly_one_resource(shipped, stack):
    now = {reg.urn: reg for reg in shipped[stack].registrations}
    claimed = Counter(alias for reg in now.values() for alias in reg.aliases)
    lost, ambiguous, changed = [], [], []
    for urn, was in BEFORE[stack].items():
        if urn in now:
            reg = now[urn]
            if claimed[urn]:
                ambiguous.append(urn)  # both still there and claimed by another: two resources, one state
        elif claimed[urn] == 1:
            (reg,) = (r for r in now.values() if urn in r.aliases)
        else:
            (ambiguous if claimed[urn] else lost).append(urn)
            continue
        intended = any(urn.endswith(suffix) for suffix in INTENDED_INPUT_CHANGES)
        if reg.id != was["id"] or (inputs_digest(reg) != was["inputs"] and not intended):
            changed.append(urn)
    assert lost == [], "resources that would be deleted and created anew (no alias to their old URN)"
    assert ambiguous == [], "old URNs claimed by more than one resource"
    assert changed == [], "resources whose physical id or inputs changed"


@pytest.mark.parametrize("stack", BASELINED)
def test_no_resource_appeared_that_was_not_there_before(shipped, stack):
    new = [reg.urn for reg in shipped[stack].registrations
           if reg.urn not in BEFORE[stack] and not any(a in BEFORE[stack] for a in reg.aliases)
           and reg.type not in INTENDED_NEW_TYPES]
    assert all(reg_type_is_component(urn) for urn in new), new


def reg_type_is_component(urn: str) -> bool:
    """New URNs may only be the new named parts themselves (components: nothing in the cloud)."""
    return urn.split("::")[2].rsplit("$", 1)[-1].startswith("clinspark:")
