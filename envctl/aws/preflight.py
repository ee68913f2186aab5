"""preflight: before the first `pulumi up` of a stack, will the live account let it be created?

The offline plan (envctl plan) cannot see the account: its quotas and what already uses them, the hosted
zone the DNS records go into, the engine versions RDS offers in the region, the image the tasks pull. This
module checks them against what the stack's own offline plan registers (never re-derived from settings):

* quotas: VPCs, Elastic IPs, NAT gateways per zone, Application Load Balancers, RDS DB instances and their
  total allocated storage, KMS customer managed keys. The quota is the account's applied value from
  Service Quotas; where Service Quotas returns none, AWS's documented default is assumed and the row says so.
  Usage is counted from the describe calls;
* the hosted zone exists and is public (Route 53);
* each engine version the plan asks for is offered in the region (RDS);
* each image `<repository>:<release>` the plan's task definitions pull exists (ECR).

A failed check is a row of the report, never an exception; AWS errors other than "not found" propagate (the
command line turns them into a message, envctl.shell). The report is rendered by :mod:`.render`.

What it cannot see: a stack that is already up counts its own resources as usage as well as need (run it
before the first `up`); IAM permissions of the deploying role; quotas not listed here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from components import naming, tokens
from components.settings import StackSettings

from ..mocks import ACCOUNT_ID as OFFLINE_ACCOUNT
from ..offline import StackRun
from .session import AwsClients, as_clients, error_code
from .targets import CheckedRows, utc_stamp, words

__all__ = ["QUOTAS", "Needs", "PreflightReport", "PreflightRow", "needs_of", "preflight"]


@dataclass(frozen=True)
class Quota:
    """One Service Quotas quota: where it lives, its code, and AWS's documented default."""

    service: str
    code: str
    name: str
    default: float


# Codes and defaults as AWS documents them (Service Quotas console; the VPC, EC2, ELB, RDS and KMS quota pages).
QUOTAS: dict[str, Quota] = {
    "vpcs": Quota("vpc", "L-F678F1CE", "VPCs per Region", 5),
    "elastic_ips": Quota("ec2", "L-0263D0A3", "EC2-VPC Elastic IPs", 5),
    "nat_gateways": Quota("vpc", "L-FE5A380F", "NAT gateways per Availability Zone", 5),
    "load_balancers": Quota("elasticloadbalancing", "L-53DA6B97", "Application Load Balancers per Region", 50),
    "db_instances": Quota("rds", "L-7B6409FD", "DB instances", 40),
    "db_storage": Quota("rds", "L-7ADDB58A", "Total storage for all DB instances (GiB)", 100000),
    "kms_keys": Quota("kms", "L-C2F1777E", "Customer managed keys", 100000),
}

_ECR_IMAGE = re.compile(r"^(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
                        r"(?P<repository>[a-z0-9._/-]+):(?P<tag>[A-Za-z0-9._-]+)$")


# --- what the stack needs, from its own offline plan ----------------------------------------------


@dataclass(frozen=True)
class Needs:
    """What the plan registers that the account must have room for, or must already hold."""

    vpcs: int
    elastic_ips: int
    nat_gateways: dict[str, int]  # availability zone -> NAT gateways the plan puts there
    load_balancers: int  # Application Load Balancers
    db_instances: int
    db_storage: int  # GiB, allocated storage of every DB instance added together
    kms_keys: int
    engines: tuple[tuple[str, str], ...]  # (engine, version) of each distinct database
    images: tuple[str, ...]  # every image the task definitions pull


def needs_of(run: StackRun) -> Needs:
    """Count what the stack's offline plan registers (envctl plan's registrations)."""
    subnets = {r.id: r for r in run.by_type(tokens.SUBNET)}
    zones = Counter(str(subnets[n.inputs["subnetId"]].inputs.get("availabilityZone", "?"))
                    if n.inputs.get("subnetId") in subnets else "?" for n in run.by_type(tokens.NAT_GATEWAY))
    databases = run.by_type(tokens.RDS_INSTANCE)
    images = [c["image"] for t in run.by_type(tokens.ECS_TASK_DEFINITION)
              for c in json.loads(t.inputs.get("containerDefinitions") or "[]") if c.get("image")]
    return Needs(
        vpcs=len(run.by_type(tokens.VPC)),
        elastic_ips=sum(1 for e in run.by_type(tokens.EIP) if e.inputs.get("domain", "vpc") == "vpc"),
        nat_gateways=dict(sorted(zones.items())),
        load_balancers=sum(1 for lb in run.by_type(tokens.LOAD_BALANCER)
                           if lb.inputs.get("loadBalancerType", "application") == "application"),
        db_instances=len(databases),
        db_storage=int(sum(float(d.inputs.get("allocatedStorage") or 0) for d in databases)),
        kms_keys=len(run.by_type(tokens.KMS_KEY)),
        engines=tuple(dict.fromkeys((str(d.inputs["engine"]), str(d.inputs["engineVersion"])) for d in databases
                                    if d.inputs.get("engine") and d.inputs.get("engineVersion"))),
        images=tuple(dict.fromkeys(images)),
    )


# --- the report -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreflightRow:
    """One check: what was checked, whether it passed, what was found, what to do if not, and the figures."""

    name: str
    passed: bool
    detail: str
    remedy: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PreflightReport(CheckedRows):
    """Whether the account lets the stack be created, check by check."""

    stack: str
    phase: str
    environment: str
    region: str
    checked_at: str  # UTC, ISO 8601
    rows: tuple[PreflightRow, ...]


def preflight(aws: boto3.Session | AwsClients, settings: StackSettings, run: StackRun, *,
              now: datetime | None = None) -> PreflightReport:
    """Check the live account against what the stack's offline plan `run` needs."""
    aws = as_clients(aws)
    region = aws.region_for(settings.region)
    checked_at = utc_stamp(now)
    needs = needs_of(run)
    usage = _Usage(aws, settings.region)
    quota = _Quotas(aws, settings.region)
    rows = [
        _quota_row("VPCs", "vpcs", needs.vpcs, usage.vpcs(), quota, region),
        _quota_row("Elastic IPs", "elastic_ips", needs.elastic_ips, usage.elastic_ips(), quota, region),
        *(_quota_row(f"NAT gateways in {zone}", "nat_gateways", n, usage.nat_gateways().get(zone, 0), quota, region)
          for zone, n in needs.nat_gateways.items()),
        _quota_row("Application Load Balancers", "load_balancers", needs.load_balancers, usage.load_balancers(),
                   quota, region),
        _quota_row("RDS DB instances", "db_instances", needs.db_instances, usage.databases()[0], quota, region),
        _quota_row("RDS storage (GiB)", "db_storage", needs.db_storage, usage.databases()[1], quota, region),
        _quota_row("KMS customer managed keys", "kms_keys", needs.kms_keys, usage.kms_keys(), quota, region),
        _zone_row(aws.client("route53", settings.region), settings.domain.zone),
        *(_engine_row(aws.client("rds", settings.region), engine, version, region)
          for engine, version in needs.engines),
        *(_image_row(aws, image, settings) for image in _in_this_account(aws, needs.images, settings)),
    ]
    return PreflightReport(stack=settings.stack, phase=settings.phase, environment=settings.env_name, region=region,
                           checked_at=checked_at, rows=tuple(rows))


# --- quotas and usage -----------------------------------------------------------------------------


class _Quotas:
    """The applied value of a quota, or AWS's documented default when Service Quotas returns none."""

    def __init__(self, aws: AwsClients, region: str):
        self.client = aws.client("service-quotas", region)
        self._seen: dict[str, tuple[float, bool]] = {}

    def __call__(self, key: str) -> tuple[float, bool]:
        """(value, whether Service Quotas returned it)."""
        if key not in self._seen:
            q = QUOTAS[key]
            try:
                value = self.client.get_service_quota(ServiceCode=q.service, QuotaCode=q.code)["Quota"]["Value"]
                self._seen[key] = (float(value), True)
            except ClientError as e:
                if error_code(e) != "NoSuchResourceException":
                    raise
                self._seen[key] = (float(q.default), False)
        return self._seen[key]


class _Usage:
    """What the account already uses in the region, from the describe calls (each asked once)."""

    def __init__(self, aws: AwsClients, region: str):
        self.aws, self.region = aws, region
        self._seen: dict[str, Any] = {}

    def _once(self, key: str, count: Any) -> Any:
        if key not in self._seen:
            self._seen[key] = count()
        return self._seen[key]

    def _all(self, service: str, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
        pages = self.aws.client(service, self.region).get_paginator(operation).paginate(**kwargs)
        return [item for page in pages for item in page.get(key, [])]

    def vpcs(self) -> int:
        return self._once("vpcs", lambda: len(self._all("ec2", "describe_vpcs", "Vpcs")))

    def elastic_ips(self) -> int:
        ec2 = self.aws.client("ec2", self.region)
        return self._once("eips", lambda: len(ec2.describe_addresses(
            Filters=[{"Name": "domain", "Values": ["vpc"]}])["Addresses"]))

    def nat_gateways(self) -> dict[str, int]:
        def count() -> dict[str, int]:
            gateways = self._all("ec2", "describe_nat_gateways", "NatGateways",
                                 Filters=[{"Name": "state", "Values": ["pending", "available"]}])
            subnet_ids = sorted({g["SubnetId"] for g in gateways if g.get("SubnetId")})
            zone_of = {s["SubnetId"]: s["AvailabilityZone"] for s in
                       (self._all("ec2", "describe_subnets", "Subnets", SubnetIds=subnet_ids) if subnet_ids else [])}
            return dict(Counter(zone_of.get(g.get("SubnetId", ""), "?") for g in gateways))
        return self._once("nat", count)

    def load_balancers(self) -> int:
        return self._once("albs", lambda: sum(
            1 for lb in self._all("elbv2", "describe_load_balancers", "LoadBalancers")
            if lb.get("Type") == "application"))

    def databases(self) -> tuple[int, int]:
        def count() -> tuple[int, int]:
            found = self._all("rds", "describe_db_instances", "DBInstances")
            return len(found), int(sum(d.get("AllocatedStorage", 0) for d in found))
        return self._once("rds", count)

    def kms_keys(self) -> int:
        def count() -> int:
            kms = self.aws.client("kms", self.region)
            keys = self._all("kms", "list_keys", "Keys")
            return sum(1 for k in keys if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"].get("KeyManager")
                       == "CUSTOMER")  # AWS managed keys do not count; customer keys in any state do
        return self._once("kms", count)


def _figure(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _quota_row(name: str, key: str, need: int, used: int, quotas: _Quotas, region: str) -> PreflightRow:
    q = QUOTAS[key]
    value, applied = quotas(key)
    source = "applied quota" if applied else "AWS's documented default (Service Quotas returned no value)"
    evidence = {"need": need, "used": used, "quota": value, "quotaCode": f"{q.service}/{q.code}",
                "quotaSource": "service-quotas" if applied else "documented-default"}
    detail = f"needs {need}, {used} in use, quota {_figure(value)} ({source}, {q.service} {q.code})"
    if used + need <= value:
        return PreflightRow(name, True, detail, evidence=evidence)
    return PreflightRow(
        name, False, detail + f": {_figure(used + need - value)} over",
        f"free {_figure(used + need - value)} or ask for more: aws service-quotas request-service-quota-increase "
        f"--service-code {q.service} --quota-code {q.code} --desired-value {_figure(used + need)} --region {region} "
        "(or more, for the stacks still to come)",
        evidence,
    )


# --- zone, engine, image --------------------------------------------------------------------------


def _zone_row(route53: Any, zone: str) -> PreflightRow:
    name = f"hosted zone {zone} is public"
    fqdn = zone.rstrip(".") + "."
    listed = route53.list_hosted_zones_by_name(DNSName=fqdn)["HostedZones"]
    found = [z for z in listed if z["Name"] == fqdn]
    public = [z for z in found if not z.get("Config", {}).get("PrivateZone")]
    evidence = {"zone": zone, "zoneIds": [z["Id"] for z in found]}
    if public:
        return PreflightRow(name, True, f"public zone {public[0]['Id']}", evidence=evidence)
    if found:
        return PreflightRow(name, False, f"only a private zone {found[0]['Id']}: its names resolve in its VPCs only, "
                            "and ACM cannot validate certificates through it",
                            f"create a public hosted zone: aws route53 create-hosted-zone --name {zone} "
                            "--caller-reference <unique>, then delegate it from its parent zone", evidence)
    return PreflightRow(name, False, "no hosted zone of that name in this account",
                        f"create it: aws route53 create-hosted-zone --name {zone} --caller-reference <unique>, then "
                        "delegate it from its parent zone (its NS records)", evidence)


def _engine_row(rds: Any, engine: str, version: str, region: str) -> PreflightRow:
    name = f"{engine} {version} offered"
    if "." in version:
        offered = [v["EngineVersion"] for v in
                   rds.describe_db_engine_versions(Engine=engine, EngineVersion=version)["DBEngineVersions"]]
    else:  # a major version alone: RDS picks its default minor
        pages = rds.get_paginator("describe_db_engine_versions").paginate(Engine=engine)
        offered = [v["EngineVersion"] for p in pages for v in p["DBEngineVersions"]
                   if v["EngineVersion"].split(".")[0] == version]
    evidence = {"engine": engine, "version": version, "offered": offered}
    if offered:
        return PreflightRow(name, True, f"RDS offers {', '.join(offered)} in {region}", evidence=evidence)
    return PreflightRow(name, False, f"RDS does not offer {engine} {version} for new instances in {region}",
                        f"see what is offered: aws rds describe-db-engine-versions --engine {engine} --region {region} "
                        "--query 'DBEngineVersions[].EngineVersion'; move the pinned version through a reviewed change",
                        evidence)


def _in_this_account(aws: AwsClients, images: tuple[str, ...], settings: StackSettings) -> tuple[str, ...]:
    """The plan's images, where they are in the account preflight runs against: a stack that names no
    `image_repository` pulls from the deploying account's own repository, which the offline plan can only name
    with its own stand-in account."""
    if settings.image_repository is not None:
        return images
    planned = naming.default_image_repository(OFFLINE_ACCOUNT, settings.region)
    live = naming.default_image_repository(aws.client("sts", settings.region).get_caller_identity()["Account"],
                                           settings.region)
    return tuple(live + image[len(planned):] if image.startswith(planned + ":") else image for image in images)


def _image_row(aws: AwsClients, image: str, settings: StackSettings) -> PreflightRow:
    name = f"image {image.rsplit('/', 1)[-1]} exists"
    found = _ECR_IMAGE.match(image)
    if found is None:
        return PreflightRow(name, False, f"{image} is not in an ECR repository, which is all preflight can look into",
                            f"check it yourself (docker manifest inspect {image}), or set "
                            f"{settings.project}:image_repository to the ECR repository of the release",
                            {"image": image})
    registry, repository, tag = found["registry"], found["repository"], found["tag"]
    evidence = {"image": image, "registryId": registry, "repository": repository, "tag": tag}
    ecr = aws.client("ecr", found["region"])
    try:
        described = ecr.describe_images(registryId=registry, repositoryName=repository,
                                        imageIds=[{"imageTag": tag}])["imageDetails"]
    except ClientError as e:
        if error_code(e) not in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise
        what = "no repository" if error_code(e) == "RepositoryNotFoundException" else "no image tagged"
        return PreflightRow(name, False, f"{what} {repository}:{tag} in registry {registry}",
                            f"push release {tag} to {registry}.dkr.ecr.{found['region']}.amazonaws.com/{repository} "
                            f"before pulumi up -s {settings.stack}: {words(settings.phase)} runs exactly that image",
                            evidence)
    digest = described[0].get("imageDigest", "?") if described else "?"
    return PreflightRow(name, True, f"{repository}:{tag} is {digest}", evidence={**evidence, "digest": digest})
