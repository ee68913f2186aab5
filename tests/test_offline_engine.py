"""The offline engine's own promises: URNs as the engine builds them, and SDK shortcuts only inside a run."""

from __future__ import annotations

import gc

import pytest
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import stack as runtime_stack

from envctl import offline
from envctl.offline import StackRunError, engine_shortcuts, missing_private_sdk_names
from envctl.offline import run_stack
from tests.conftest import environment


def test_the_private_sdk_names_the_engine_relies_on_exist_in_the_pinned_sdk():
    assert missing_private_sdk_names() == [], (
        "an SDK upgrade removed names envctl/offline.py patches during offline runs: adapt it, or keep the pin")


def test_the_sdk_is_patched_only_inside_an_offline_run():
    original = (runtime_resource._get_stack_trace, runtime_stack.wait_for_rpcs, gc.get_threshold())
    with engine_shortcuts():
        assert runtime_stack.wait_for_rpcs is offline._wait_for_everything
        assert runtime_resource._get_stack_trace is not original[0]
        with engine_shortcuts():  # a run that plans its clone source first nests
            assert runtime_stack.wait_for_rpcs is offline._wait_for_everything
        assert runtime_stack.wait_for_rpcs is offline._wait_for_everything
    assert (runtime_resource._get_stack_trace, runtime_stack.wait_for_rpcs, gc.get_threshold()) == original


def test_a_missing_private_name_stops_the_run_with_a_clear_message(monkeypatch):
    monkeypatch.delattr(runtime_stack, "wait_for_rpcs")
    with pytest.raises(RuntimeError, match="lacks pulumi.runtime.stack.wait_for_rpcs"):
        with engine_shortcuts():
            pass


def test_urns_carry_the_whole_parent_type_chain(shipped):
    run = shipped["prod"]
    key = run.one("aws:kms/key:Key", "acme-prod-main-key")
    assert key.urn == ("urn:pulumi:prod::clinspark-environments::clinspark:environment:Environment$"
                       "clinspark:environment:InstancePair$clinspark:environment:Instance$aws:kms/key:Key::"
                       "acme-prod-main-key")
    assert environment(run).urn == "urn:pulumi:prod::clinspark-environments::clinspark:environment:Environment::acme-prod"


def test_a_duplicate_urn_is_refused_as_the_engine_refuses_it(tmp_path):
    program = tmp_path / "project"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: dup\nruntime: python\n")
    (program / "Pulumi.dev.yaml").write_text("config: {}\n")
    (program / "__main__.py").write_text(
        "import pulumi_aws as aws\n"
        "aws.s3.Bucket('same', bucket='one')\n"
        "aws.s3.Bucket('same', bucket='two')\n")
    with pytest.raises(StackRunError, match="Duplicate resource URN 'urn:pulumi:dev::dup::aws:s3/bucket:Bucket::same'"):
        run_stack(program, "dev")
