"""Bad stack configuration stops the run before anything is registered, with one clear message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import timedelta

import pytest

from components.phases import PHASES
from components.settings import InvalidStackConfig, cross_field_problems, load_settings
from envctl.offline import StackRunError, run_stack
from tests.conftest import (
    NS,
    OPTIONS,
    PROJECT,
    REVIEW,
    TODAY,
    stack_config,
    write_stack,
)


def _drop(key):
    return lambda c: c.pop(key)


def _set(key, value):
    return lambda c: c.__setitem__(key, value)


# (case, stack, edit, the offending config key, a fragment of what is wrong, a fragment of what is accepted)
CASES = [
    ("missing customer", "prod", _drop(f"{NS}:customer"), f"{NS}:customer", "missing", "a slug"),
    ("customer on a customer-less phase", "demo", _set(f"{NS}:customer", "acme"), f"{NS}:customer",
     "serves no customer", "a slug"),
    ("malformed customer", "sandbox", _set(f"{NS}:customer", "Acme Corp"), f"{NS}:customer", "'Acme Corp'", "a slug"),
    ("a phase the name does not say", "sandbox", _set(f"{NS}:phase", "staging"), f"{NS}:phase", "'staging'",
     "the phase the stack name says"),
    ("a controlled stack declared uncontrolled", "prod", _set(f"{NS}:phase", "community-dev"), f"{NS}:phase",
     "makes it a prod stack", "the phase the stack name says"),
    ("a customer slug holding a phase name", "sandbox", _set(f"{NS}:customer", "acme-prod"), f"{NS}:customer",
     "contains the phase name prod", "a slug"),
    ("expiry on prod", "prod", _set(f"{NS}:expires_on", (TODAY + timedelta(days=30)).isoformat()), f"{NS}:expires_on",
     "not disposable", "disposable phases only"),
    ("expiry beyond the phase's longest life", "val",
     _set(f"{NS}:expires_on", (TODAY + timedelta(days=PHASES["val"].max_life_days + 1)).isoformat()),
     f"{NS}:expires_on", "beyond the longest life of a val stack", "YYYY-MM-DD"),
    ("expiry in the past", "sandbox", _set(f"{NS}:expires_on", (TODAY - timedelta(days=1)).isoformat()),
     f"{NS}:expires_on", "in the past", "YYYY-MM-DD"),
    ("missing expiry on a disposable phase", "migration", _drop(f"{NS}:expires_on"), f"{NS}:expires_on",
     "needs an expiry date", "YYYY-MM-DD"),
    ("malformed release", "prod", _set(f"{NS}:release", "latest"), f"{NS}:release", "'latest'", "MAJOR.MINOR.PATCH"),
    ("bad CIDR", "sandbox", _set(f"{NS}:network", {"cidr": "10.300.0.0/16"}), f"{NS}:network.cidr",
     "not an IPv4 network", "cidr"),
    ("public CIDR", "sandbox", _set(f"{NS}:network", {"cidr": "8.8.0.0/16"}), f"{NS}:network.cidr",
     "private (RFC 1918)", "cidr"),
    ("unknown key", "prod", _set(f"{NS}:multi_az", True), f"{NS}:multi_az", "unknown key", "Accepted keys"),
    ("wrong type: network as text", "prod", _set(f"{NS}:network", "10.45.0.0/16"), f"{NS}:network",
     "expected a structured value", "an object"),
    ("wrong type: az_count", "prod", _set(f"{NS}:network", {"cidr": "10.45.0.0/16", "az_count": "many"}),
     f"{NS}:network.az_count", "valid integer", "az_count"),
    ("size of a role the phase lacks", "preprod", _set(f"{NS}:sizes", {"main": "large"}), f"{NS}:sizes",
     "roles single, not main", "sizes small"),
    ("unknown size", "prod", _set(f"{NS}:sizes", {"main": "huge"}), f"{NS}:sizes.main", "'huge'", "sizes small"),
    ("missing change record on a controlled phase", "preprod", _drop(f"{NS}:change_record"), f"{NS}:change_record",
     "needs the id of its approved ECR", "ECR id"),
    ("change record on an uncontrolled phase", "sandbox", _set(f"{NS}:change_record", "ECR-sandbox-0001"),
     f"{NS}:change_record", "not change-controlled", "ECR id"),
    ("reserved tag", "sandbox", _set(f"{NS}:tags", {"phase": "prod"}), f"{NS}:tags", "tags not allowed: phase",
     "keys not reserved"),
    ("missing region", "sandbox", _drop("aws:region"), "aws:region", "missing", "an AWS region"),
    ("clone into a phase that may not clone", "sandbox",
     _set(f"{NS}:clone_from", {"stack": "clinspark/clinspark-environments/preprod", "snapshot": "val-2026-11"}),
     f"{NS}:clone_from", "is not cloned from preprod", "for phases that clone"),
    ("clone from a stack of another customer", "val",
     _set(f"{NS}:clone_from", {"stack": "clinspark/clinspark-environments/globex-preprod", "snapshot": "val-2026-11"}),
     f"{NS}:clone_from", "belongs to another customer", "for phases that clone"),
    ("clone from a stack that is not Pre-PROD", "val",
     _set(f"{NS}:clone_from", {"stack": "clinspark/clinspark-environments/sandbox", "snapshot": "val-2026-11"}),
     f"{NS}:clone_from", "is not a preprod stack", "for phases that clone"),
    ("snapshots outside Pre-PROD", "val", _set(f"{NS}:snapshots", [{"name": "x-1", "purpose": "val"}]),
     f"{NS}:snapshots", "only preprod and seed publish snapshots", "a list of"),
    ("stack name of another customer", "acme-prod", lambda c: c.update({f"{NS}:customer": "globex"}),
     f"{NS}:customer", "must be named 'prod' or 'globex-prod'", "a slug"),
]


@pytest.mark.parametrize("case,stack,edit,key,wrong,accepted", CASES, ids=[c[0] for c in CASES])
def test_invalid_configuration_is_refused_clearly_before_anything_is_registered(
    stacks_dir, case, stack, edit, key, wrong, accepted
):
    config = stack_config(stack if stack in PHASES else stack.split("-", 1)[1])
    edit(config)
    write_stack(stacks_dir, stack, config)
    with pytest.raises(StackRunError) as err:
        run_stack(PROJECT, stack, stacks_dir=stacks_dir, options=REVIEW)
    message = str(err.value)
    assert err.value.user_error and err.value.registered == 0
    assert message.startswith(f"stack '{stack}' has invalid configuration (Pulumi.{stack}.yaml)")
    (line,) = [l for l in message.splitlines() if l.startswith(f"  - {key}:")]
    assert wrong in line, line
    assert "Accepted" in line and accepted in line, line
    assert "Traceback" not in message


def test_every_offending_key_is_named_in_one_message(stacks_dir):
    config = stack_config("prod")
    config.pop(f"{NS}:customer")
    config[f"{NS}:release"] = "v1"
    config[f"{NS}:expires_on"] = "2027-01-01"
    config[f"{NS}:colour"] = "blue"
    write_stack(stacks_dir, "prod", config)
    with pytest.raises(StackRunError) as err:
        run_stack(PROJECT, "prod", stacks_dir=stacks_dir, options=REVIEW)
    keys = [l.split(":", 2)[0] + ":" + l.split(":", 2)[1] for l in str(err.value).splitlines()[1:]]
    assert sorted(k.removeprefix("  - ") for k in keys) == sorted(
        f"{NS}:{k}" for k in ("colour", "customer", "expires_on", "release"))


def test_the_phase_comes_from_the_stack_name_alone(stacks_dir):
    config = stack_config("sandbox")
    write_stack(stacks_dir, "acme-sandbox", config)
    assert run_stack(PROJECT, "acme-sandbox", stacks_dir=stacks_dir, options=OPTIONS).outputs["phase"] == "sandbox"
    config[f"{NS}:phase"] = "sandbox"  # a phase key that agrees is redundant, and accepted
    write_stack(stacks_dir, "acme-sandbox", config)
    assert run_stack(PROJECT, "acme-sandbox", stacks_dir=stacks_dir, options=OPTIONS).outputs["phase"] == "sandbox"
    config[f"{NS}:phase"] = "demo"
    write_stack(stacks_dir, "acme-sandbox", config)
    with pytest.raises(StackRunError, match=r"the stack name 'acme-sandbox' makes it a sandbox stack"):
        run_stack(PROJECT, "acme-sandbox", stacks_dir=stacks_dir, options=OPTIONS)
    write_stack(stacks_dir, "demo-2026-3", stack_config("demo"))  # several demos side by side: demo-<label>
    assert run_stack(PROJECT, "demo-2026-3", stacks_dir=stacks_dir, options=OPTIONS).outputs["phase"] == "demo"


@pytest.mark.parametrize("stack, why", [
    ("staging", "does not say its phase"),
    ("acme-demo", "phase demo serves no customer"),
    ("acme-prod-val", "contains the phase name prod"),
    ("Prod", "is not lowercase ASCII"),
    ("\uff50rod", "is not lowercase ASCII"),
])
def test_a_stack_name_that_does_not_say_one_phase_is_refused(stacks_dir, stack, why):
    write_stack(stacks_dir, stack, stack_config("sandbox"))
    with pytest.raises(StackRunError, match=why) as err:
        run_stack(PROJECT, stack, stacks_dir=stacks_dir, options=OPTIONS)
    assert err.value.kind == "invalid" and err.value.registered == 0


def test_envctl_plan_reports_a_bad_stack_with_exit_2_and_no_traceback(stacks_dir):
    config = stack_config("prod")
    config[f"{NS}:release"] = "latest"
    write_stack(stacks_dir, "prod", config)
    done = subprocess.run(
        [sys.executable, "-m", "envctl.cli", "--example", "--dir", str(stacks_dir), "plan", "prod", "sandbox"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "error: stack 'prod' has invalid configuration (Pulumi.prod.yaml)" in done.stderr
    assert f"{NS}:release: String should match pattern" in done.stderr
    assert "Plan of stack 'sandbox'" in done.stdout  # the good stack is still planned


def test_stack_files_are_left_untouched_by_a_refused_run(stacks_dir):
    config = stack_config("prod")
    config[f"{NS}:release"] = "latest"
    path = write_stack(stacks_dir, "prod", config)
    before = path.read_bytes()
    with pytest.raises(StackRunError):
        run_stack(PROJECT, "prod", stacks_dir=stacks_dir, options=REVIEW)
    assert path.read_bytes() == before


def _problems(stack: str, config: dict) -> list[str]:
    with pytest.raises(InvalidStackConfig) as err:
        load_settings(stack, NS, config, today=TODAY, source=f"Pulumi.{stack}.yaml")
    return err.value.problems


def test_the_rules_between_keys_do_not_depend_on_their_order():
    config = stack_config("val")
    config[f"{NS}:customer"] = "globex"
    config[f"{NS}:expires_on"] = (TODAY - timedelta(days=1)).isoformat()
    config[f"{NS}:snapshots"] = [{"name": "x-1", "purpose": "val"}]
    config[f"{NS}:release"] = "latest"
    forward, backward = dict(config), dict(reversed(list(config.items())))
    assert list(forward) != list(backward)
    problems = _problems("acme-val", forward)
    assert problems == _problems("acme-val", backward)
    keys = sorted(p.split(": ", 1)[0] for p in problems)
    assert keys == sorted(f"{NS}:{k}" for k in ("customer", "expires_on", "release", "snapshots"))


def test_an_expired_stack_may_still_retire_whatever_the_order_of_the_keys():
    config = stack_config("val")
    config[f"{NS}:expires_on"] = (TODAY - timedelta(days=1)).isoformat()
    assert any("in the past" in p for p in _problems("val", config))
    for order in (1, -1):
        retiring = dict(list({**config, f"{NS}:retire": True}.items())[::order])
        assert load_settings("val", NS, retiring, today=TODAY).retire is True


def test_the_rules_between_fields_judge_the_validated_values_in_any_order():
    values = {"stack": "prod", "phase": "prod", "customer": None, "expires_on": TODAY, "retire": True,
              "change_record": None}
    problems = cross_field_problems(values, TODAY)
    assert problems == cross_field_problems(dict(reversed(list(values.items()))), TODAY)
    assert [name for name, _ in problems] == ["customer", "expires_on", "change_record"]
    assert cross_field_problems({**values, "phase": "nonsense"}, TODAY) == []


def test_the_benchmarks_generated_fleet_is_valid_stack_by_stack(tmp_path):
    """The fleet benchmark (README figures) generates its stack files itself: a setting the program starts to
    require must reach it too, or the benchmark measures refusals."""
    import importlib.util

    from envctl.stackfile import load_stack_settings

    spec = importlib.util.spec_from_file_location("bench_fleet", PROJECT / "bench" / "fleet.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    shutil.copy(PROJECT / "Pulumi.yaml", tmp_path)
    stacks = bench.generate(tmp_path, 1, TODAY)
    assert stacks[0] == "seed" and len(stacks) == 6  # the vendor's seed stack, one customer's five
    assert all(load_stack_settings(tmp_path, stack, TODAY).stack == stack for stack in stacks)
