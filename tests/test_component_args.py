"""Each component gets args of only what it uses, with secure defaults a caller can tighten but not loosen."""

from __future__ import annotations

import dataclasses

import pytest

from components import application, database, environment, https_entry, instance, pair
from components.naming import Names
from components.phases import PHASES, SIZES, Role
from components.refs import Lifecycle

ARGS = (environment.EnvironmentArgs, pair.InstancePairArgs, instance.InstanceSpec, instance.InstanceArgs,
        database.DatabaseArgs, application.ApplicationArgs, https_entry.HttpsEntryArgs)


@pytest.mark.parametrize("args", ARGS, ids=lambda a: a.__name__)
def test_no_component_is_handed_the_whole_stack_settings(args):
    assert dataclasses.is_dataclass(args) and args.__dataclass_params__.frozen
    annotations = {f.name: str(f.type) for f in dataclasses.fields(args)}
    assert not any("StackSettings" in hint or "settings" == name for name, hint in annotations.items()), annotations


def test_the_lifecycle_defaults_are_the_strictest_and_cannot_contradict_themselves():
    strict = Lifecycle()
    assert (strict.protected, strict.destroyable, strict.final_snapshot) == (True, False, True)
    with pytest.raises(ValueError, match="protected resource cannot also be destroyable"):
        Lifecycle(protected=True, destroyable=True)
    with pytest.raises(ValueError, match="only a destroyable stack may skip the final snapshot"):
        Lifecycle(protected=False, destroyable=False, final_snapshot=False)
    assert Lifecycle(protected=False, destroyable=True, final_snapshot=False).destroyable


def _spec(**changes):
    base = {"customer": "acme", "phase": "prod", "role": Role.MAIN, "release": "2026.4.2", "size": SIZES["small"],
            "names": Names("acme-prod"), "hostname": "acme-prod.example", "backup_retention_days": 35,
            "log_retention_days": 2557}
    return instance.InstanceSpec(**{**base, **changes})


def test_an_instance_spec_says_only_what_it_loosens_nothing_by_default():
    spec = _spec()
    assert spec.lifecycle == Lifecycle() and spec.auto_minor_version_upgrade is False and spec.restore is None


def test_a_database_without_backups_cannot_be_asked_for():
    with pytest.raises(ValueError, match="keeps backups for at least one day"):
        database.DatabaseArgs(instance_name="acme-prod-main", names=Names("acme-prod"), role=Role.MAIN,
                              size=SIZES["small"], key_arn="arn:key", subnet_ids=["subnet-1"],
                              security_group_id="sg-1", backup_retention_days=0)


def test_a_pair_is_main_and_test_and_an_environment_has_its_phases_roles():
    args = instance.InstanceArgs(spec=_spec(), account=None, network=None, logs_bucket_name="logs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a pair is main and test, not main"):
        pair.InstancePairArgs(customer="acme", phase="prod", names=Names("acme-prod"), account=None,  # type: ignore[arg-type]
                              instances={Role.MAIN: args})
    with pytest.raises(ValueError, match="phase prod has roles main, test, not single"):
        environment.EnvironmentArgs(stack="prod", customer="acme", phase=PHASES["prod"], release="2026.4.2",
                                    region="eu-central-1", zone="example", network=None,  # type: ignore[arg-type]
                                    names=Names("acme-prod"), instances={Role.SINGLE: _spec(role=Role.SINGLE)})
