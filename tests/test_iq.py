"""The Installation Qualification and drift, against the shipped VAL and PROD installed into moto.

tests/installer.py installs a stack's OFFLINE PLAN (the program's own names, tags and inputs) into a moto server of
its own, in a child process on 127.0.0.1 (the other tests' resets never reach it), and writes the export `pulumi
stack export` would. VAL and PROD are installed once per test session into the default account; the live changes
are made to a second VAL installed into another account, so that the clean installs stay clean whatever the order
of the tests.

What moto 5.2.5 lacks is listed in tests/installer.py; every API the IQ reads is implemented there, so "not
verifiable here" is shown with one API answered as moto answers an action it does not implement.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from components import tokens
from envctl.aws.session import AwsClients, clients
from envctl.cli import main
from envctl.evidence.drift import drift
from envctl.evidence.iq import (
    MANIFEST,
    NOT_VERIFIABLE,
    REPORT_FILE,
    bundle_manifest,
    run_iq,
)
from envctl.evidence.protocol import (
    Requirement,
    installed_resources,
    protocol_for,
)
from envctl.evidence.readback import READERS
from envctl.evidence.state import InstalledState, read_state
from envctl.progress import Progress
from envctl.stackfile import load_stack_settings
from tests.conftest import NOW, PROJECT, TODAY, set_config
from tests.installer import MOTO_SETTINGS, install, moto_process

REGION = "eu-central-1"
DRIFTED_ACCOUNT = "222233334444"
QUALIFIED = ("val", "prod")


def session(account: str | None = None) -> boto3.Session:
    made = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    if account:
        made.events.register("before-send", lambda request, **_: request.headers.__setitem__(
            "x-moto-account-id", account))
    return made


@pytest.fixture(scope="session")
def iq_moto() -> Iterator[str]:
    with moto_process(**MOTO_SETTINGS) as endpoint:
        yield endpoint


class Installed:
    """One stack installed into moto: its plan's protocol, its export, and clients of its account."""

    def __init__(self, endpoint: str, stack: str, run, path: Path, account: str | None = None):
        self.endpoint, self.stack, self.account = endpoint, stack, account
        self.settings = load_stack_settings(PROJECT, stack, TODAY)
        self.protocol = protocol_for(run, self.settings)
        self.session = session(account)
        made: dict[str, Any] = {}

        def client(service: str) -> Any:
            if service not in made:
                made[service] = self.session.client(service, region_name=REGION, endpoint_url=endpoint)
            return made[service]

        self.client = client
        self.path = install(client, run, REGION, self.settings.domain.zone, path, another=account or "")
        self.state = read_state(self.path, stack)

    def api(self) -> AwsClients:
        return clients(self.session, self.endpoint)

    def requirement(self, typ: str, instance: str, check: str) -> Requirement:
        found = [r for r in self.protocol.requirements if r.type == typ and r.instance == instance and r.check == check]
        assert len(found) == 1, [r.id for r in found]
        return found[0]

    def id_of(self, requirement: Requirement) -> str:
        return self.state.resources[requirement.urn].id


class _Installations(dict):
    """Each stack installed on first use only (an xdist worker installs only what its tests need)."""

    def __init__(self, endpoint: str, shipped, directory: Path):
        super().__init__()
        self.endpoint, self.shipped, self.directory = endpoint, shipped, directory

    def __missing__(self, stack: str) -> Installed:
        self[stack] = Installed(self.endpoint, stack, self.shipped[stack], self.directory / f"{stack}.json")
        return self[stack]


@pytest.fixture(scope="session")
def installed(iq_moto, shipped, tmp_path_factory) -> dict[str, Installed]:
    return _Installations(iq_moto, shipped, tmp_path_factory.mktemp("installed"))


@pytest.fixture
def fake_credentials(monkeypatch) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


def iq(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--example", "--dir", str(PROJECT), *args])
    out, err = capsys.readouterr()
    return code, out, err


# --- the protocol: derived from the plan ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", QUALIFIED)
def test_the_protocol_checks_every_resource_the_plan_installs_and_says_where_each_value_comes_from(shipped, stack):
    run = shipped[stack]
    protocol = protocol_for(run, load_stack_settings(PROJECT, stack, TODAY))
    resources = list(installed_resources(run))
    exists = {r.urn for r in protocol.requirements if r.check == "exists"}
    assert exists == {r.urn for r in resources} == set(protocol.urns)
    assert {r.type for r in resources} <= set(READERS)  # every type the plan installs is read back
    tagged = [r for r in resources if r.inputs.get("tags")]
    assert {r.urn for r in protocol.requirements if r.check == "tags"} == {r.urn for r in tagged}
    assert len({r.id for r in protocol.requirements}) == len(protocol.requirements)
    assert all(r.source == "program" or r.source.split(":")[0] in ("setting", "catalog", "rule")
               for r in protocol.requirements)
    env = run.outputs
    assert protocol.ecr == {"id": env["approval"]["record"], "sha256": env["approval"]["recordSha256"]}
    assert protocol.qualified and protocol.release == env["release"]


def test_iq_runs_on_any_stack_every_type_a_shipped_stack_installs_is_read_back(shipped):
    """The catalog's `qualified` column says where the IQ is required, not where it can run."""
    for stack, run in shipped.items():
        settings = load_stack_settings(PROJECT, stack, TODAY)
        protocol = protocol_for(run, settings)
        assert {r.type for r in installed_resources(run)} <= set(READERS), stack
        assert protocol.qualified is settings.phase_spec.qualified
        assert protocol.environment_tags == {k: settings.tags_for(None)[k] for k in ("customer", "phase", "managed-by")}
    assert [s for s in shipped if load_stack_settings(PROJECT, s, TODAY).phase_spec.qualified] == list(QUALIFIED)


def test_the_protocol_expects_the_catalogs_and_the_settings_values(shipped):
    settings = load_stack_settings(PROJECT, "prod", TODAY)
    protocol = protocol_for(shipped["prod"], settings)
    by = {(r.instance, r.type, r.check): r for r in protocol.requirements}
    phase = settings.phase_spec
    for role in ("main", "test"):
        retention = by[(role, tokens.RDS_INSTANCE, "backup-retention")]
        assert (retention.expected, retention.source) == (phase.backup_retention_days, "catalog:backup_retention_days")
        multi_az = by[(role, tokens.RDS_INSTANCE, "multi-az")]
        assert multi_az.expected is (role == "main") and multi_az.source == "catalog:multi_az_roles"
        version = by[(role, tokens.RDS_INSTANCE, "engine-version")]
        assert (version.expected, version.source) == (settings.engine_version, "setting:engine_version")
        assert by[(role, tokens.LOG_GROUP, "retention")].expected == phase.log_retention_days
        image = by[(role, tokens.ECS_SERVICE, "image")]
        assert image.expected.endswith(f":{settings.release}") and image.source == "setting:release"
        key = by[(role, tokens.RDS_INSTANCE, "kms-key")]
        assert key.refers_to is not None and shipped["prod"].by_urn[key.refers_to].type == tokens.KMS_KEY
        assert by[(role, tokens.LISTENER, "tls-policy")].source == "rule:lb-tls-policy"


def test_envctl_iq_protocol_prints_for_people_and_json_for_machines(capsys, shipped):
    code, out, _ = iq(capsys, "iq", "protocol", "val")
    assert code == 0 and "IQ protocol of val" in out and "approved by ECR-val-0001" in out
    assert "IQ-acme-val-main-key-rotation: automatic key rotation is on: true  [rule:kms-rotation]" in out
    code, out, _ = iq(capsys, "iq", "protocol", "val", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["kind"] == "clinspark-iq-protocol" and doc["ecr"]["id"] == "ECR-val-0001"
    assert len(doc["requirements"]) == len(protocol_for(shipped["val"], load_stack_settings(PROJECT, "val", TODAY))
                                           .requirements)


# --- the IQ of the shipped VAL and PROD passes -------------------------------------------------------------


@pytest.mark.parametrize("stack", QUALIFIED)
def test_the_iq_of_the_shipped_stack_passes_on_its_installation(installed, stack, tmp_path):
    target = installed[stack]
    report = run_iq(target.protocol, target.state, target.api(), lambda: NOW, "a.tester", out=tmp_path)
    doc = json.loads((tmp_path / REPORT_FILE).read_text())
    assert report.passed and doc["verdict"] == "passed", [c for c in doc["checks"] if c["result"] != "pass"][:3]
    assert doc["summary"] == {"checks": len(target.protocol.requirements), "passed": len(target.protocol.requirements),
                              "failed": 0, "not_verifiable": 0, "deviations": 0}
    assert doc["document_id"] == f"IQ-{stack}-20261126T120000Z" and doc["executed_at"] == "2026-11-26T12:00:00Z"
    assert doc["ecr"]["id"] == f"ECR-{stack}-0001" and doc["account"] == "123456789012"
    assert {"pulumi", "pulumi-aws", "boto3"} <= set(doc["tooling"]["packages"])
    # every check carries evidence whose file is in the bundle with the SHA-256 it names
    bundle = tmp_path / doc["evidence_bundle"]["path"]
    for check in doc["checks"]:
        assert check["evidence"], check["id"]
        for item in check["evidence"]:
            assert hashlib.sha256((bundle / item["file"]).read_text().strip().encode()).hexdigest() == item["sha256"]
    manifest = (bundle / MANIFEST).read_text()
    assert manifest == bundle_manifest(bundle)
    assert hashlib.sha256(manifest.encode()).hexdigest() == doc["evidence_bundle"]["sha256"]


def test_envctl_iq_run_exits_0_and_writes_the_report_and_its_bundle(installed, capsys, tmp_path, fake_credentials):
    target = installed["val"]
    code, out, _ = iq(capsys, "iq", "run", "val", "--state", str(target.path), "--endpoint-url", target.endpoint,
                      "--region", REGION, "--out", str(tmp_path / "iq"))
    assert code == 0 and "PASSED: every check of val passed." in out
    assert json.loads((tmp_path / "iq" / REPORT_FILE).read_text())["verdict"] == "passed"
    assert (tmp_path / "iq" / "evidence" / MANIFEST).is_file()


# --- live changes are reported, each with its resource and requirement ----------------------------------------


@pytest.fixture(scope="session")
def drifted(iq_moto, shipped, tmp_path_factory) -> tuple[Installed, dict[str, Requirement]]:
    """VAL installed into another account, then changed by hand through boto3, seven ways."""
    target = Installed(iq_moto, "val", shipped["val"], tmp_path_factory.mktemp("drifted") / "val.json",
                       DRIFTED_ACCOUNT)
    c = target.client
    changed = {
        "rotation off": target.requirement(tokens.KMS_KEY, "main", "rotation"),
        "versioning suspended": target.requirement(tokens.S3_BUCKET_VERSIONING, "test", "versioning"),
        "security group opened": next(r for r in target.protocol.requirements if r.check == "ingress"
                                      and r.instance == "main" and r.resource.endswith("-db-sg")),
        "tag changed": target.requirement(tokens.LOAD_BALANCER, "main", "tags"),
        "database made public": target.requirement(tokens.RDS_INSTANCE, "test", "not-public"),
        "image changed": target.requirement(tokens.ECS_SERVICE, "main", "image"),
        "resource deleted": target.requirement(tokens.LOG_GROUP, "test", "exists"),
    }
    c("kms").disable_key_rotation(KeyId=target.id_of(changed["rotation off"]))
    c("s3").put_bucket_versioning(Bucket=target.id_of(changed["versioning suspended"]),
                                  VersioningConfiguration={"Status": "Suspended"})
    c("ec2").authorize_security_group_ingress(GroupId=target.id_of(changed["security group opened"]), IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    c("elbv2").add_tags(ResourceArns=[target.id_of(changed["tag changed"])],
                        Tags=[{"Key": "expires-on", "Value": "2099-12-31"}])
    db = target.state.resources[changed["database made public"].urn]
    c("rds").modify_db_instance(DBInstanceIdentifier=db.output("identifier"), PubliclyAccessible=True,
                                ApplyImmediately=True)
    service = target.state.resources[changed["image changed"].urn]
    task = c("ecs").describe_task_definition(taskDefinition=service.inputs["taskDefinition"])["taskDefinition"]
    containers = [{**d, "image": d["image"].rsplit(":", 1)[0] + ":2099.1.1"} for d in task["containerDefinitions"]]
    revision = c("ecs").register_task_definition(
        family=task["family"], containerDefinitions=containers, cpu=task["cpu"], memory=task["memory"],
        networkMode=task["networkMode"], requiresCompatibilities=task["requiresCompatibilities"],
        executionRoleArn=task["executionRoleArn"], taskRoleArn=task["taskRoleArn"])["taskDefinition"]
    c("ecs").update_service(cluster=service.inputs["cluster"], service=service.id,
                            taskDefinition=revision["taskDefinitionArn"])
    c("logs").delete_log_group(logGroupName=target.id_of(changed["resource deleted"]))
    return target, changed


def test_each_live_change_is_reported_with_its_resource_and_requirement(drifted, tmp_path):
    target, changed = drifted
    report = run_iq(target.protocol, target.state, target.api(), lambda: NOW, "a.tester", out=tmp_path)
    doc = report.to_dict()
    assert doc["verdict"] == "failed" and doc["account"] == DRIFTED_ACCOUNT
    failed = {c["id"]: c for c in doc["checks"] if c["result"] == "fail"}
    for what, requirement in changed.items():
        assert requirement.id in failed, what
        check = failed[requirement.id]
        assert check["resource"] == requirement.resource and check["requirement"] == requirement.requirement
        reported = [d for d in doc["deviations"] if d["kind"] == "failed check" and d["urn"] == requirement.urn
                    and d["found"].startswith(requirement.id)]
        assert reported, what
    assert failed[changed["rotation off"].id]["actual"] is False
    assert failed[changed["versioning suspended"].id]["actual"] == "Suspended"
    assert {"protocol": "tcp", "from": 5432, "to": 5432, "peer": "0.0.0.0/0"} in \
        failed[changed["security group opened"].id]["actual"]
    assert failed[changed["tag changed"].id]["actual"]["expires-on"] == "2099-12-31"
    assert failed[changed["database made public"].id]["actual"] is True
    assert failed[changed["image changed"].id]["actual"].endswith(":2099.1.1")
    assert failed[changed["resource deleted"].id]["actual"].startswith("no ")
    # nothing else failed: the other checks of the changed resources, and every other resource, still pass
    changed_urns = {r.urn for r in changed.values()}
    assert {c["urn"] for c in failed.values()} == changed_urns


def test_drift_finds_the_same_changes_and_exits_1_with_json_for_ci(drifted, capsys, fake_credentials, monkeypatch):
    target, changed = drifted
    report = drift(target.protocol, target.state, target.api(), lambda: NOW)
    assert report.drifted
    found = {d.found.split(":", 1)[0] for d in report.differences if d.kind == "failed check"}
    assert {r.id for r in changed.values()} <= found
    # the command line, as a scheduled CI job runs it (the account's credentials select the drifted account)
    from envctl.commands import drift as command

    monkeypatch.setattr(command, "connect", lambda *a: target.api())
    code, out, _ = iq(capsys, "drift", "val", "--state", str(target.path), "--endpoint-url", target.endpoint, "--json")
    doc = json.loads(out)
    assert code == 1 and doc["drifted"] is True and doc["kind"] == "clinspark-drift-report"
    assert {r.id for r in changed.values()} <= {d["found"].split(":", 1)[0] for d in doc["differences"]}


def test_no_drift_on_the_clean_installation_exits_0(installed, capsys, fake_credentials):
    target = installed["prod"]
    code, out, _ = iq(capsys, "drift", "prod", "--state", str(target.path), "--endpoint-url", target.endpoint,
                      "--region", REGION)
    assert code == 0 and "NO DRIFT: prod is as ECR-prod-0001 approved it." in out


# --- deviations: not installed, not in the protocol --------------------------------------------------------


def _without(state: InstalledState, urn: str) -> InstalledState:
    resources = dict(state.resources)
    del resources[urn]
    return InstalledState(path=state.path, stack=state.stack, project=state.project, time=state.time,
                          resources=resources)


def test_a_resource_of_the_protocol_missing_from_the_state_is_a_deviation(installed):
    target = installed["prod"]
    missing = target.requirement(tokens.SECRET, "test", "exists")
    terminal = io.StringIO()
    progress = Progress(terminal, is_terminal=lambda: True, clock=lambda: 0.0, what="resource")
    report = run_iq(target.protocol, _without(target.state, missing.urn), target.api(), lambda: NOW, "a.tester",
                    progress)
    (deviation,) = [d for d in report.deviations if d.kind == "not installed"]
    assert deviation.urn == missing.urn and "not in the state" in deviation.found
    assert not report.passed
    failed = [c for c in report.checks if c.result == "fail"]
    assert failed and {c.requirement.urn for c in failed} == {missing.urn}
    assert all(c.actual == "not in the state" for c in failed)
    # a long run shows its progress on a terminal, resource by resource
    assert f"resource {len(target.protocol.urns)} of {len(target.protocol.urns)}, done" in terminal.getvalue()


def test_a_resource_with_the_environments_tags_outside_the_protocol_is_a_deviation(installed):
    target = installed["prod"]
    tags = [{"Key": k, "Value": v} for k, v in target.protocol.environment_tags.items()]
    other = target.client("ec2").create_vpc(CidrBlock="10.250.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": tags}])["Vpc"]["VpcId"]
    try:
        report = run_iq(target.protocol, target.state, target.api(), lambda: NOW, "a.tester")
    finally:
        target.client("ec2").delete_vpc(VpcId=other)
    (deviation,) = [d for d in report.deviations if d.kind == "not in protocol"]
    assert other in deviation.found and deviation.urn is None
    assert all(c.result == "pass" for c in report.checks) and not report.passed
    # (quiet when there is none: the clean installations' IQ has no deviation)


# --- an API the endpoint lacks is "not verifiable here", never a pass ----------------------------------------


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


# What a moto server sends for an action it does not implement: werkzeug's page for an unhandled exception.
MOTO_NOT_IMPLEMENTED = (b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server "
                        b"Error</h1>\n<p>The server encountered an internal error and was unable to complete your "
                        b"request.</p>\n")


@pytest.mark.parametrize("service, operation, affected", [
    ("kms", "GetKeyRotationStatus", lambda r: r.check == "rotation"),  # JSON protocol: a ClientError named "500"
    ("rds", "DescribeDBInstances", lambda r: r.type == tokens.RDS_INSTANCE),  # query protocol: unparseable XML
])
def test_an_api_the_endpoint_does_not_implement_makes_its_checks_not_verifiable(installed, service, operation,
                                                                                 affected):
    """moto implements every call the IQ makes; this client gets, for one operation, the answer a moto server
    gives for an action it does not implement (an HTML page, HTTP 500), and does not retry it."""
    target = installed["val"]
    api = target.api()
    client = target.session.client(service, region_name=REGION, endpoint_url=target.endpoint,
                                   config=Config(retries={"total_max_attempts": 1}))
    client.meta.events.register(f"before-send.{service}.{operation}", lambda request, **_: AWSResponse(
        request.url, 500, {"Content-Type": "text/html"}, _Raw(MOTO_NOT_IMPLEMENTED)))
    api._made[(service, REGION)] = client
    report = run_iq(target.protocol, target.state, api, lambda: NOW, "a.tester")
    hit = [c for c in report.checks if affected(c.requirement)]
    assert hit and all(c.result == NOT_VERIFIABLE and c.actual.startswith("not verifiable here") for c in hit)
    assert all(c.result == "pass" for c in report.checks if not affected(c.requirement))
    assert not report.passed and report.summary()["not_verifiable"] == len(hit)


# --- refusals and exit codes --------------------------------------------------------------------------------


@pytest.fixture
def export(installed) -> dict[str, Any]:
    return json.loads(installed["val"].path.read_text())


@pytest.mark.parametrize("command", ["iq", "drift"])
def test_a_missing_state_file_is_refused_before_any_aws_call(capsys, tmp_path, command):
    args = ("iq", "run", "val") if command == "iq" else ("drift", "val")
    code, out, err = iq(capsys, *args, "--state", str(tmp_path / "nope.json"), "--endpoint-url", "http://127.0.0.1:9")
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"error: state file {tmp_path / 'nope.json'} does not exist" in err and "pulumi stack export" in err


def test_the_state_of_another_stack_is_refused(installed, capsys):
    code, _, err = iq(capsys, "iq", "run", "prod", "--state", str(installed["val"].path),
                      "--endpoint-url", "http://127.0.0.1:9")
    assert code == 2 and "is the export of stack 'val', not of 'prod'" in err


@pytest.mark.parametrize("break_it, says", [
    (lambda doc: "{not json", "is not JSON"),
    (lambda doc: {**doc, "version": 2}, "key 'version' is 2, not 3"),
    (lambda doc: {"version": 3}, "has no key 'deployment'"),
    (lambda doc: {**doc, "deployment": {**doc["deployment"], "resources": {}}}, "'deployment.resources' is not a list"),
    (lambda doc: {**doc, "deployment": {**doc["deployment"], "resources": [{"urn": "x", "type": "t"}]}},
     "deployment.resources[0].urn 'x' is not a Pulumi URN"),
    (lambda doc: {**doc, "deployment": {**doc["deployment"], "resources": []}}, "lists no resources"),
])
def test_a_malformed_export_is_refused_naming_the_file_and_what_is_accepted(export, capsys, tmp_path, break_it, says):
    path = tmp_path / "export.json"
    broken = break_it(copy.deepcopy(export))
    path.write_text(broken if isinstance(broken, str) else json.dumps(broken))
    code, out, err = iq(capsys, "iq", "run", "val", "--state", str(path), "--endpoint-url", "http://127.0.0.1:9")
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"state file {path}" in err and says in err
    if says != "lists no resources":
        assert "accepted: the output of `pulumi stack export" in err


def test_the_real_export_is_accepted(installed):
    state = read_state(installed["val"].path, "val")
    assert state.stack == "val" and state.project == "clinspark-environments"
    db = next(r for r in state.resources.values() if r.type == tokens.RDS_INSTANCE)
    assert db.id.startswith("db-") and db.output("identifier") != db.id  # pulumi-aws: id is the DbiResourceId
    assert db.output("password") is None  # a secret stays opaque


def test_an_unknown_stack_is_refused(capsys, tmp_path):
    code, _, err = iq(capsys, "iq", "protocol", "nope")
    assert code == 2 and "no stack file for nope" in err
    code, _, err = iq(capsys, "drift", "nope", "--state", str(tmp_path / "x.json"))
    assert code == 2 and "no stack file for nope" in err


def test_iq_run_exits_1_when_a_check_fails(drifted, capsys, tmp_path, fake_credentials, monkeypatch):
    target, _ = drifted
    from envctl.commands import iq as command

    monkeypatch.setattr(command, "connect", lambda *a: target.api())
    code, out, _ = iq(capsys, "iq", "run", "val", "--state", str(target.path), "--out", str(tmp_path))
    assert code == 1 and "FAILED:" in out
    assert json.loads((tmp_path / REPORT_FILE).read_text())["verdict"] == "failed"


def test_a_desired_state_no_record_approves_has_no_protocol(capsys, example_copy):
    """The protocol is derived from the APPROVED desired state: an edited, unapproved one is refused."""
    set_config(example_copy, "val", "clinspark-environments:release", "2026.4.1")
    code = main(["--example", "--dir", str(example_copy), "iq", "protocol", "val"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and "Traceback" not in err
    assert "stack 'val' has no approved desired state to derive the IQ protocol from" in err
    code = main(["--example", "--dir", str(example_copy), "iq", "protocol", "preprod"])
    assert code == 0 and "IQ protocol of preprod" in capsys.readouterr().out  # its own state is still approved


# --- a passed IQ becomes an entry of the chain --------------------------------------------------------------------
def test_a_passed_iq_run_signed_and_approved_makes_val_qualified(installed, capsys, tmp_path, fake_credentials,
                                                                  monkeypatch, example_copy):
    from tests.conftest import APPROVER_KEY, REQUESTER_KEY
    from tests.helpers import envctl

    target, out = installed["val"], tmp_path / "iq"
    monkeypatch.setenv("ENVCTL_EXECUTED_BY", "a.berger@clinspark.example")
    code, _, _ = envctl(capsys, example_copy, "iq", "run", "val", "--state", str(target.path), "--endpoint-url",
                        target.endpoint, "--region", REGION, "--out", str(out))
    assert code == 0 and (out / "iq-report.pdf").is_file()

    def line() -> list[str]:
        printed = envctl(capsys, example_copy, "check", "val", "--no-cache")[1]
        return [text.strip() for text in printed.splitlines() if text.strip().startswith("qualification:")]

    assert line() == ["qualification: installed, not qualified: no IQ of ECR-val-0001 yet (envctl iq run val --state "
                      "EXPORT.json, then envctl iq sign)"]
    code, printed, err = envctl(capsys, example_copy, "iq", "sign", str(out / REPORT_FILE), "--key", str(REQUESTER_KEY))
    assert code == 0, err
    pdf = hashlib.sha256((out / "iq-report.pdf").read_bytes()).hexdigest()
    assert f"PDF sha256:{pdf}" in printed  # the PDF beside the report is recorded by its hash
    assert envctl(capsys, example_copy, "iq", "approve", "ECR-val-0001", str(out / REPORT_FILE), "--key",
                  str(APPROVER_KEY))[0] == 0
    document = json.loads((out / REPORT_FILE).read_text())["document_id"]
    assert line() == [f"qualification: qualified: {document} of ECR-val-0001, executed by a.berger@clinspark.example, "
                      "approved by m.keller@clinspark.example"]


# --- the configuration-state report reads the installed stack back ------------------------------------------------
def test_the_report_of_an_installed_stack_is_read_back_from_the_account(drifted, capsys, tmp_path, fake_credentials,
                                                                        monkeypatch):
    from pypdf import PdfReader

    from envctl.commands import report as command

    target, changed = drifted
    monkeypatch.setattr(command, "connect", lambda *a: target.api())  # the drifted account's credentials
    code, out, _ = iq(capsys, "report", "val", "--state", str(target.path), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["read_back"]["account"] == DRIFTED_ACCOUNT and doc["read_back"]["calls"] > 50
    rows = {(r[0], r[2]): r[3] for r in doc["read_back"]["rows"]}
    key = changed["rotation off"].resource
    assert rows[(key, "rotation")] is False  # what the account answers now, not what the export recorded
    assert rows[(changed["resource deleted"].resource, "MISSING")] == "the account does not hold it"
    pdf = tmp_path / "report-val.pdf"
    code, _, err = iq(capsys, "report", "val", "--state", str(target.path), "--pdf", str(pdf))
    text = "\n".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert code == 0 and "Read back from the account (boto3)" in text and f"Account {DRIFTED_ACCOUNT}" in text
    bundle = tmp_path / "report-val.evidence"
    manifest = (bundle / MANIFEST).read_text()
    assert hashlib.sha256(manifest.encode()).hexdigest() in text.replace("\n", "")
    assert f"read back from account {DRIFTED_ACCOUNT}, evidence in report-val.evidence" in err
