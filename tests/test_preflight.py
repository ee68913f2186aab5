"""envctl preflight against moto: what a stack's own offline plan needs, checked against the live account.

moto runs as a real HTTP server on 127.0.0.1 (tests/moto_server.py). What the account holds is built from the
shipped stacks' own plans (their CIDRs, tags, images, engine versions), never from copies of them.

Where moto 5.2.5 falls short, and what the tests do about it:
- RDS DescribeDBEngineVersions is not implemented (the server answers NotImplementedError). That one call is
  answered in AWS's documented response shape by a botocore `before-call` handler on the RDS client
  (:func:`offer`); every other call goes to moto.
- Service Quotas answers only the `vpc` service's codes (VPCs per Region, NAT gateways per AZ); for the EC2,
  ELB, RDS and KMS codes it answers NoSuchResourceException, exactly as AWS does for a quota whose applied
  value it does not hold, so the fallback to AWS's documented default is exercised by those rows.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from components import tokens
from envctl.aws.preflight import (
    QUOTAS,
    PreflightReport,
    PreflightRow,
    needs_of,
    preflight,
)
from envctl.aws.render import render_preflight
from envctl.aws.session import AwsClients, clients
from envctl.cli import main
from envctl.stackfile import load_stack_settings
from tests.conftest import NOW, PROJECT, SHIPPED, TODAY
from tests.moto_server import MotoAws, aws, moto_endpoint  # noqa: F401  (pytest fixtures)

STACK = "sandbox"


def offer(rds: Any, *versions: str) -> None:
    """moto has no DescribeDBEngineVersions: answer it, for this client only, with `versions` offered."""
    asked: dict[str, Any] = {}

    def remember(params: dict[str, Any], **_: Any) -> None:
        asked.clear()
        asked.update(params)

    def answer(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        wanted = asked.get("EngineVersion")
        listed = [v for v in versions if wanted is None or v == wanted]
        return AWSResponse("", 200, {}, None), {"DBEngineVersions": [{"Engine": asked["Engine"], "EngineVersion": v} for v in listed]}

    rds.meta.events.register("before-parameter-build.rds.DescribeDBEngineVersions", remember)
    rds.meta.events.register("before-call.rds.DescribeDBEngineVersions", answer)


@pytest.fixture
def api(aws: MotoAws) -> AwsClients:
    """The library's clients, pointed at moto as `--endpoint-url` would."""
    return clients(aws.session(), aws.endpoint_url)


@pytest.fixture
def planned(shipped):
    return shipped[STACK]


@pytest.fixture
def settings():
    return load_stack_settings(PROJECT, STACK, TODAY)


def engine_versions(run) -> list[str]:
    return sorted({d.inputs["engineVersion"] for d in run.by_type(tokens.RDS_INSTANCE)})


def ready(aws: MotoAws, api: AwsClients, settings, run) -> None:
    """What the account must hold before `pulumi up`: the public zone, the release's image, the engine version."""
    aws.client("route53").create_hosted_zone(Name=settings.domain.zone, CallerReference="preflight-test")
    for image in needs_of(run).images:
        push(aws, image)
    offer(api.client("rds"), *engine_versions(run))


def push(aws: MotoAws, image: str) -> None:
    repository, tag = image.split("/", 1)[1].rsplit(":", 1)
    ecr = aws.client("ecr")
    if not ecr.describe_repositories()["repositories"]:
        ecr.create_repository(repositoryName=repository)
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                           "digest": "sha256:" + "b" * 64}, "layers": []}
    ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)


def row(report: PreflightReport, name: str) -> PreflightRow:
    found = [r for r in report.rows if r.name == name]
    assert len(found) == 1, [r.name for r in report.rows]
    return found[0]


def test_a_stack_the_account_has_room_for_passes_every_check(aws: MotoAws, api: AwsClients, settings, planned):
    ready(aws, api, settings, planned)
    report = preflight(api, settings, planned, now=NOW)

    assert report.passed, render_preflight(report)
    needs = needs_of(planned)
    assert row(report, "VPCs").evidence["need"] == needs.vpcs == len(planned.by_type(tokens.VPC))
    assert row(report, "RDS storage (GiB)").evidence["need"] == sum(
        int(d.inputs["allocatedStorage"]) for d in planned.by_type(tokens.RDS_INSTANCE))
    assert row(report, "KMS customer managed keys").evidence["need"] == len(planned.by_type(tokens.KMS_KEY))
    # Service Quotas answered the VPC quota; for Elastic IPs it returned none, and the row says the default is assumed.
    assert row(report, "VPCs").evidence["quotaSource"] == "service-quotas"
    eips = row(report, "Elastic IPs")
    assert eips.evidence["quotaSource"] == "documented-default" and eips.evidence["quota"] == QUOTAS["elastic_ips"].default
    assert "AWS's documented default" in eips.detail
    assert row(report, f"hosted zone {settings.domain.zone} is public").passed
    for version in engine_versions(planned):
        assert row(report, f"postgres {version} offered").passed
    assert json.loads(report.to_json())["passed"] is True
    assert report.checked_at == "2026-11-26T12:00:00Z" == NOW.isoformat().replace("+00:00", "Z")


def test_the_shipped_fleet_exceeds_the_default_vpc_and_elastic_ip_quotas(
        aws: MotoAws, api: AwsClients, settings, planned, shipped):
    ready(aws, api, settings, planned)
    ec2 = aws.client("ec2")
    for stack in SHIPPED:  # every other shipped stack is up: its VPC and Elastic IPs, tagged as the plan tags them
        if stack == STACK:
            continue
        for vpc in shipped[stack].by_type(tokens.VPC):
            tags = [{"Key": k, "Value": v} for k, v in vpc.inputs["tags"].items()]
            ec2.create_vpc(CidrBlock=vpc.inputs["cidrBlock"],
                           TagSpecifications=[{"ResourceType": "vpc", "Tags": tags}])
        for _ in shipped[stack].by_type(tokens.EIP):
            ec2.allocate_address(Domain="vpc")

    report = preflight(api, settings, planned, now=NOW)

    assert not report.passed
    vpcs, eips = row(report, "VPCs"), row(report, "Elastic IPs")
    assert not vpcs.passed and not eips.passed
    fleet_vpcs = sum(len(shipped[s].by_type(tokens.VPC)) for s in SHIPPED)
    assert vpcs.evidence["used"] + vpcs.evidence["need"] >= fleet_vpcs > QUOTAS["vpcs"].default
    assert "--service-code vpc --quota-code L-F678F1CE" in vpcs.remedy
    assert "--service-code ec2 --quota-code L-0263D0A3" in eips.remedy
    assert row(report, "Application Load Balancers").passed  # far from its quota of 50
    assert "FAIL  VPCs" in render_preflight(report) and "FAILED: 2 of" in render_preflight(report)


def test_a_missing_or_private_hosted_zone_fails(aws: MotoAws, api: AwsClients, settings, planned):
    for image in needs_of(planned).images:
        push(aws, image)
    offer(api.client("rds"), *engine_versions(planned))
    name = f"hosted zone {settings.domain.zone} is public"

    missing = row(preflight(api, settings, planned, now=NOW), name)
    assert not missing.passed and "no hosted zone" in missing.detail and "create-hosted-zone" in missing.remedy

    vpc = aws.client("ec2").create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    aws.client("route53").create_hosted_zone(Name=settings.domain.zone, CallerReference="private",
                                             VPC={"VPCRegion": settings.region, "VPCId": vpc},
                                             HostedZoneConfig={"PrivateZone": True, "Comment": "internal"})
    private = row(preflight(api, settings, planned, now=NOW), name)
    assert not private.passed and "only a private zone" in private.detail


def test_an_image_of_the_release_that_was_not_pushed_fails(aws: MotoAws, api: AwsClients, settings, planned):
    aws.client("route53").create_hosted_zone(Name=settings.domain.zone, CallerReference="preflight-test")
    offer(api.client("rds"), *engine_versions(planned))
    (image,) = needs_of(planned).images
    assert image.endswith(f":{settings.release}")  # <repository>:<release>, from the plan's task definitions
    name = f"image {image.rsplit('/', 1)[-1]} exists"

    no_repository = row(preflight(api, settings, planned, now=NOW), name)
    assert not no_repository.passed and no_repository.detail.startswith("no repository")
    repository = image.split("/", 1)[1].rsplit(":", 1)[0]
    aws.client("ecr").create_repository(repositoryName=repository)
    push(aws, image.rsplit(":", 1)[0] + ":2020.1.1")  # another release only
    no_tag = row(preflight(api, settings, planned, now=NOW), name)
    assert not no_tag.passed and f"no image tagged {repository}:{settings.release}" in no_tag.detail
    assert f"push release {settings.release}" in no_tag.remedy


def test_an_engine_version_rds_no_longer_offers_fails(aws: MotoAws, api: AwsClients, settings, planned):
    ready(aws, api, settings, planned)  # offers the plan's version on this client; a fresh client offers another
    fresh = clients(aws.session(), aws.endpoint_url)
    offer(fresh.client("rds"), "15.10")  # another major only: the plan's 16 (major alone, or a pinned 16.x) is not offered
    (version,) = engine_versions(planned)
    report = preflight(fresh, settings, planned, now=NOW)
    offered = row(report, f"postgres {version} offered")
    assert not offered.passed and "does not offer" in offered.detail
    assert [r.name for r in report.failures] == [offered.name]


def test_envctl_preflight_exit_codes_and_json_evidence(aws: MotoAws, tmp_path: Path, monkeypatch, capsys, shipped):
    from envctl.commands import preflight as command

    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for stack in (STACK, "seed"):  # a sandbox starts from the seed stack's seed, planned from the same directory
        shutil.copy(PROJECT / f"Pulumi.{stack}.yaml", fleet)
    settings = load_stack_settings(fleet, STACK, TODAY)
    real_connect = command.connect

    def connect(*args: Any) -> AwsClients:
        made = real_connect(*args)
        offer(made.client("rds"), *engine_versions(shipped[STACK]))
        return made

    monkeypatch.setattr(command, "connect", connect)
    arguments = ["--example", "--dir", str(fleet), "preflight", STACK, "--endpoint-url", aws.endpoint_url, "--json"]

    assert main(arguments) == 1  # no zone, no image yet
    failed = {r["name"] for r in json.loads(capsys.readouterr().out)["rows"] if not r["passed"]}
    assert failed == {f"hosted zone {settings.domain.zone} is public",
                      f"image {needs_of(shipped[STACK]).images[0].rsplit('/', 1)[-1]} exists"}
    aws.client("route53").create_hosted_zone(Name=settings.domain.zone, CallerReference="cli")
    for image in needs_of(shipped[STACK]).images:
        push(aws, image)
    assert main(arguments) == 0
    evidence = json.loads(capsys.readouterr().out)
    assert evidence["passed"] is True and evidence["environment"] == settings.env_name
    assert main(["--example", "--dir", str(fleet), "preflight", "nope", "--endpoint-url", aws.endpoint_url]) == 2
    assert "no stack file for nope" in capsys.readouterr().err


def test_the_image_is_looked_for_in_the_account_preflight_runs_against(aws: MotoAws, settings, planned):
    """A stack without image_repository pulls from the deploying account's own repository; the offline plan names
    it with the engine's stand-in account, which must not be where preflight looks."""
    account = "210987654321"
    assert account not in json.dumps(needs_of(planned).images)
    session = boto3.Session(region_name=aws.region)
    session.events.register("before-send", lambda request, **_: request.headers.__setitem__("x-moto-account-id",
                                                                                              account))
    other = clients(session, aws.endpoint_url)
    assert other.client("sts", aws.region).get_caller_identity()["Account"] == account
    offer(other.client("rds"), *engine_versions(planned))  # moto has no DescribeDBEngineVersions
    (planned_image,) = needs_of(planned).images
    live_image = f"{account}.dkr.ecr.{settings.region}.amazonaws.com/clinspark/edc:{settings.release}"
    name = f"image {live_image.rsplit('/', 1)[-1]} exists"
    assert not row(preflight(other, settings, planned, now=NOW), name).passed  # not pushed in this account yet
    ecr = session.client("ecr", region_name=aws.region, endpoint_url=aws.endpoint_url)
    ecr.create_repository(repositoryName="clinspark/edc")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                           "digest": "sha256:" + "c" * 64}, "layers": []}
    ecr.put_image(repositoryName="clinspark/edc", imageManifest=json.dumps(manifest), imageTag=settings.release)
    found = row(preflight(other, settings, planned, now=NOW), name)
    assert found.passed and found.evidence["registryId"] == account
    assert planned_image.split(".", 1)[0] != account  # the plan's stand-in account was not looked into
