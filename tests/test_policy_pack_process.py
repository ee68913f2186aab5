"""The policy pack as the Pulumi CLI runs it: `python -u -m pulumi.policy <engine> <pack dir>`, over gRPC.

The CLI starts the pack in its own directory, reads the port from the first line of its stdout and
speaks the Analyzer service to it. This test does the same, so the pack's entry point, its imports
from the project root and every rule's registration are exercised outside pytest's process.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from envctl.monitor import reveal
from envctl.offline import RunOptions
from envctl.planning import stacks_for
from policies.framework import FSBP_FRAMEWORK
from policies.pack import PACK_NAME, RULES
from tests.conftest import NOW, NS, altered, set_config

PROJECT = Path(__file__).resolve().parent.parent
PACK_DIR = PROJECT / "policies"
DUMMY_ENGINE = "127.0.0.1:0"  # the pack never calls the engine back while analyzing
STARTUP_SECONDS = 60


def launch(pack_dir: Path) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """Start a pack exactly as the CLI does and yield a stub talking to it."""
    stderr = tempfile.TemporaryFile()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", DUMMY_ENGINE, str(pack_dir)],
        cwd=pack_dir, stdout=subprocess.PIPE, stderr=stderr, env=env,
    )
    channel = None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], STARTUP_SECONDS)
        line = proc.stdout.readline().decode().strip() if ready else ""
        if not line.isdigit():
            proc.kill()
            proc.wait(timeout=10)
            stderr.seek(0)
            pytest.fail(f"the pack printed no port (got {line!r}); stderr:\n{stderr.read().decode()}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=STARTUP_SECONDS)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        if channel is not None:
            channel.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        stderr.close()


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """This repository's pack: its trust root holds the example, whose keys a real engine never trusts."""
    yield from launch(PACK_DIR)


@pytest.fixture(scope="module")
def team_analyzer(team_template) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack of a real team's checkout: its trust root holds the team's own signers."""
    yield from launch(team_template / "policies")


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(json.loads(json.dumps(values, default=str)))
    return s


def resources(run) -> list[analyzer_pb2.AnalyzerResource]:
    """A plan as AnalyzeStack presents it: custom resources with their inputs, components with their outputs,
    each with the resources it depends on and, per input, those its value came from."""
    out = []
    for reg in run.registrations:
        props = reveal(reg.inputs) if reg.custom else (reg.outputs or {})
        out.append(analyzer_pb2.AnalyzerResource(
            type=reg.type, urn=reg.urn, name=reg.name, parent=reg.parent, properties=struct(props),
            options=analyzer_pb2.AnalyzerResourceOptions(protect=reg.protect, parent=reg.parent),
            dependencies=reg.dependencies,
            propertyDependencies={key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
                                  for key, urns in reg.property_dependencies.items()}))
    return out


def configure(analyzer, stack_name: str, **change_approved_state: Any) -> None:
    config = {rule.id: analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY) for rule in RULES}
    config["change-approved-state"] = analyzer_pb2.PolicyConfig(
        enforcementLevel=analyzer_pb2.MANDATORY, properties=struct(change_approved_state))
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=config), timeout=30)
    analyzer.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
        stack=stack_name, project="clinspark-environments", organization="clinspark", dry_run=True), timeout=30)


def analyze_stack(analyzer, run) -> dict[str, list[analyzer_pb2.AnalyzeDiagnostic]]:
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources(run)), timeout=120)
    found: dict[str, list[analyzer_pb2.AnalyzeDiagnostic]] = {}
    for d in response.diagnostics:
        found.setdefault(d.policyName, []).append(d)
    return found


def test_the_pack_lists_every_rule_as_mandatory_but_the_warning_and_its_config_approves_nothing(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME and info.supportsConfig
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert set(levels) == {rule.id for rule in RULES}
    assert {name for name, level in levels.items() if level != analyzer_pb2.MANDATORY} == {"lifecycle-release-latest"}
    assert levels["lifecycle-release-latest"] == analyzer_pb2.ADVISORY
    settings = {"lifecycle-release-behind-limit": {"projectDir", "maxReleasesBehind"}}
    for policy in info.policies:
        assert set(policy.configSchema.properties.keys()) == settings.get(policy.name, {"projectDir"}), policy.name
    (limit,) = [p for p in info.policies if p.name == "lifecycle-release-behind-limit"]
    assert limit.configSchema.properties["maxReleasesBehind"]["default"] == 2


def test_under_a_real_engine_the_pack_never_trusts_the_example_keys(analyzer, shipped):
    configure(analyzer, "prod")
    found = analyze_stack(analyzer, shipped["prod"])
    messages = [d.message for d in found["change-approved-state"]]
    assert any("no signers" in m and "example mode only" in m for m in messages), messages
    assert all(d.enforcementLevel == analyzer_pb2.MANDATORY for d in found["change-approved-state"])


def test_a_teams_pack_verifies_the_signed_approval_itself(team_analyzer, team_template):
    run = stacks_for(team_template, team_template, RunOptions(now=NOW), ["prod"]).run("prod")  # the team's program
    configure(team_analyzer, "prod")
    found = analyze_stack(team_analyzer, run)
    assert "change-approved-state" not in found, found.get("change-approved-state")
    assert found == {}


def test_a_teams_pack_refuses_an_edited_state_whatever_its_config_claims(team_analyzer, team, keys):
    set_config(team, "prod", f"{NS}:release", "2026.4.1")
    run = stacks_for(team, team, RunOptions(now=NOW, review_only=True), ["prod"]).run("prod")
    digest = run.by_type("clinspark:environment:Environment")[0].outputs["desiredStateDigest"]
    configure(team_analyzer, "prod", projectDir=str(team), approvedDigests=[digest], stack="prod",
              approvals={"ECR-prod-0001": digest})
    (untracked,) = analyze_stack(team_analyzer, run)["change-approved-state"]
    assert untracked.enforcementLevel == analyzer_pb2.MANDATORY and untracked.policyPackName == PACK_NAME
    assert f"would apply desired state {digest}" in untracked.message and "envctl ecr new prod" in untracked.message


def test_the_pack_judges_a_protected_key_window_over_grpc(analyzer, shipped):
    configure(analyzer, "prod")
    quiet = analyze_stack(analyzer, shipped["prod"])
    assert "change-key-deletion-window" not in quiet
    key = shipped["prod"].one("aws:kms/key:Key", "acme-prod-exchange-key")
    short = altered(shipped["prod"], lambda r: r.urn == key.urn, inputs={"deletionWindowInDays": 7.0})
    (window,) = analyze_stack(analyzer, short)["change-key-deletion-window"]
    assert window.urn == key.urn and "deletionWindowInDays=30" in window.message


@pytest.mark.parametrize("rotation, fires", [(False, True), (True, False)])
def test_the_pack_analyzes_single_resources_too(analyzer, shipped, rotation, fires):
    configure(analyzer, "sandbox")
    key = shipped["sandbox"].one("aws:kms/key:Key", "acme-sandbox-main-key")
    props = {**key.inputs, "enableKeyRotation": rotation}
    response = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
        type=key.type, properties=struct(props), urn=key.urn, name=key.name,
        options=analyzer_pb2.AnalyzerResourceOptions(protect=key.protect, parent=key.parent)), timeout=30)
    names = [d.policyName for d in response.diagnostics]
    assert names == (["kms-rotation"] if fires else []), names


SEVERITIES = {"low": analyzer_pb2.POLICY_SEVERITY_LOW, "medium": analyzer_pb2.POLICY_SEVERITY_MEDIUM,
              "high": analyzer_pb2.POLICY_SEVERITY_HIGH, "critical": analyzer_pb2.POLICY_SEVERITY_CRITICAL}


def test_the_engine_is_told_each_rule_s_severity_remediation_fsbp_control_and_checkov_ids(analyzer):
    info = {p.name: p for p in analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30).policies}
    for rule in RULES:
        policy = info[rule.id]
        assert policy.severity == SEVERITIES[rule.severity.value], rule.id
        assert policy.remediation_steps == rule.remediation and policy.remediation_steps, rule.id
        assert f"family:{rule.family}" in policy.tags
        assert [t.removeprefix("checkov:") for t in policy.tags if t.startswith("checkov:")] == rule.checkov_ids
        if rule.fsbp:
            assert (policy.framework.name, policy.framework.reference) == (FSBP_FRAMEWORK, rule.fsbp), rule.id
            assert policy.url.startswith("https://docs.aws.amazon.com/securityhub/"), rule.id
        else:
            assert not policy.HasField("framework") and policy.url == "", rule.id
    rds = info["rds-encrypted-cmk"]
    assert (rds.framework.reference, list(rds.tags)) == ("RDS.3", ["family:security", "checkov:CKV_AWS_16"])
    assert rds.url == "https://docs.aws.amazon.com/securityhub/latest/userguide/rds-controls.html#rds-3"


def test_a_violation_reaches_the_engine_with_its_rule_s_severity(analyzer, shipped):
    configure(analyzer, "prod")
    key = shipped["prod"].one("aws:kms/key:Key", "acme-prod-exchange-key")
    short = altered(shipped["prod"], lambda r: r.urn == key.urn, inputs={"deletionWindowInDays": 7.0})
    (window,) = analyze_stack(analyzer, short)["change-key-deletion-window"]
    assert window.severity == analyzer_pb2.POLICY_SEVERITY_MEDIUM


def test_the_engine_hears_which_rules_do_not_apply_and_why(analyzer, shipped):
    configure(analyzer, "sandbox")
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources(shipped["sandbox"])),
                                     timeout=120)
    reasons = {n.policy_name: n.reason for n in response.not_applicable}
    assert reasons["change-approved-state"] == ("stack 'sandbox' is not change-controlled; the rule is for "
                                                "change-controlled stacks only")
    assert reasons["lifecycle-iteration-migration-only"] == ("no instance of this sandbox stack is restored from a "
                                                             "migration iteration")
    assert "lifecycle-restore-allowed" not in reasons  # a seeded sandbox is judged
    assert "lifecycle-topology" not in reasons and "s3-versioning" not in reasons
    key = shipped["sandbox"].one("aws:kms/key:Key", "acme-sandbox-main-key")
    single = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
        type=key.type, properties=struct(key.inputs), urn=key.urn, name=key.name,
        options=analyzer_pb2.AnalyzerResourceOptions(protect=key.protect, parent=key.parent)), timeout=30)
    said = {n.policy_name: n.reason for n in single.not_applicable}
    assert said["rds-encrypted-cmk"] == "not a resource it checks (aws:rds/instance:Instance)"
    assert said["rds-no-auto-minor-upgrade"] == "not a resource it checks (aws:rds/instance:Instance)"
    assert "kms-rotation" not in said and list(single.diagnostics) == []
