"""The policy pack as the Pulumi CLI runs it: `python -u -m pulumi.policy <engine> <pack dir>`, over gRPC.

The CLI starts the pack in its own directory, reads the port from the first line of its stdout and
speaks the Analyzer service to it. This test does the same, so the pack's entry point, its imports
from the project root and every rule's registration are exercised outside pytest's process.
"""

from __future__ import annotations

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

from policies.pack import PACK_NAME, RULES

PROJECT = Path(__file__).resolve().parent.parent
PACK_DIR = PROJECT / "policies"
DUMMY_ENGINE = "127.0.0.1:0"  # the pack never calls the engine back while analyzing
STARTUP_SECONDS = 60


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    stderr = tempfile.TemporaryFile()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", DUMMY_ENGINE, str(PACK_DIR)],
        cwd=PACK_DIR, stdout=subprocess.PIPE, stderr=stderr, env=env,
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


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


def test_the_pack_lists_every_rule_as_mandatory(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == PACK_NAME and info.supportsConfig
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert set(levels) == {rule.id for rule in RULES}
    assert set(levels.values()) == {analyzer_pb2.MANDATORY}
    schema = next(p for p in info.policies if p.name == "change-approved-state").configSchema
    assert {"approvedDigests", "stack", "waivers", "approvedRecords"} <= set(schema.properties.keys())


URN = "urn:pulumi:prod::clinspark-environments::"
STACK_URN = URN + "pulumi:pulumi:Stack::clinspark-environments-prod"
ENV_URN = URN + "pulumi:pulumi:Stack$clinspark:environment:Environment::acme-prod"
KEY_URN = URN + "clinspark:environment:Environment$aws:kms/key:Key::acme-prod-key"
DIGEST = "sha256:" + "1" * 64


def stack_resources(deletion_window: float) -> list[analyzer_pb2.AnalyzerResource]:
    """A controlled Environment (as the engine presents a component: its registered outputs) and one key."""
    env = analyzer_pb2.AnalyzerResource(
        type="clinspark:environment:Environment", urn=ENV_URN, name="acme-prod", parent=STACK_URN,
        properties=struct({"customer": "acme", "phase": "prod", "controlled": True, "disposable": False,
                           "retiring": False, "expiresOn": None, "stack": "prod", "desiredStateDigest": DIGEST,
                           "environmentName": "acme-prod", "topology": "pair", "roles": ["main", "test"]}),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=False, parent=STACK_URN),
    )
    key = analyzer_pb2.AnalyzerResource(
        type="aws:kms/key:Key", urn=KEY_URN, name="acme-prod-key", parent=ENV_URN,
        properties=struct({"enableKeyRotation": True, "deletionWindowInDays": deletion_window,
                           "tags": {"customer": "acme", "phase": "prod", "role": "environment", "controlled": "true",
                                    "disposable": "false", "expires-on": "never",
                                    "managed-by": "pulumi:clinspark-environments"}}),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=True, parent=ENV_URN),
    )
    return [env, key]


def configure(analyzer, approved: list[str]) -> None:
    config = {rule.id: analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY) for rule in RULES}
    config["change-approved-state"] = analyzer_pb2.PolicyConfig(
        enforcementLevel=analyzer_pb2.MANDATORY, properties=struct({"approvedDigests": approved, "stack": "prod"}))
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=config), timeout=30)
    analyzer.ConfigureStack(analyzer_pb2.AnalyzerStackConfigureRequest(
        stack="prod", project="clinspark-environments", organization="clinspark", dry_run=True), timeout=30)


def analyze_stack(analyzer, deletion_window: float) -> dict[str, list[analyzer_pb2.AnalyzeDiagnostic]]:
    response = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=stack_resources(deletion_window)),
                                     timeout=60)
    found: dict[str, list[analyzer_pb2.AnalyzeDiagnostic]] = {}
    for d in response.diagnostics:
        found.setdefault(d.policyName, []).append(d)
    return found


def test_the_pack_reports_change_control_violations_over_grpc(analyzer):
    configure(analyzer, approved=[])
    found = analyze_stack(analyzer, deletion_window=7.0)

    (untracked,) = found["change-approved-state"]
    assert untracked.urn == ENV_URN and untracked.enforcementLevel == analyzer_pb2.MANDATORY
    assert DIGEST in untracked.message and "envctl ecr new prod" in untracked.message
    assert untracked.policyPackName == PACK_NAME

    (window,) = found["change-key-deletion-window"]
    assert window.urn == KEY_URN and "deletionWindowInDays=30" in window.message
    assert window.enforcementLevel == analyzer_pb2.MANDATORY
    assert "change-stateful-protected" not in found  # the key is protected


def test_an_approved_digest_and_a_30_day_window_quiet_those_rules(analyzer):
    configure(analyzer, approved=[DIGEST])
    found = analyze_stack(analyzer, deletion_window=30.0)
    assert "change-approved-state" not in found and "change-key-deletion-window" not in found


def test_the_pack_analyzes_single_resources_too(analyzer):
    configure(analyzer, approved=[DIGEST])
    key = stack_resources(7.0)[1]
    response = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(type=key.type, properties=key.properties, urn=key.urn,
                                                            name=key.name, options=key.options), timeout=30)
    # Resource rules answer per resource; whatever they report must be one of the pack's mandatory rules.
    assert {d.policyName for d in response.diagnostics} <= {rule.id for rule in RULES}
    assert all(d.enforcementLevel == analyzer_pb2.MANDATORY for d in response.diagnostics)
