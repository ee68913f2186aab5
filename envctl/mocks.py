"""Offline engine: Pulumi mocks that answer like AWS (the monitor that records what was registered is
:mod:`envctl.monitor`).

The mocks compute what AWS would compute (ids, ARNs, endpoints, autonames) from the resource's
type and name, deterministically, so the same stack always plans the same. They never invent a
setting the program did not ask for: the recorded inputs are exactly what the program registered.

An offline approximation of AWS, not AWS. It refuses, cheaply and with AWS's own limits, what AWS would
refuse of one resource on its own (:func:`refusal`): names longer than AWS takes, more than 50 tags, ACM
domains over 64 characters, Fargate CPU/memory pairs AWS does not offer; and it answers invokes as AWS
would, with a few regional facts (zones an account sees, regions without an ELB log account). It cannot
see: updates and replacements (every plan is a first creation: nothing is compared with a deployed
state), ordering (resources are created as their inputs resolve, not as AWS's eventual consistency would
have them), quotas and current usage of the account (`envctl preflight` reads those live), or IAM
permissions (nothing is authorised or denied).
"""

from __future__ import annotations

import hashlib
import random as _random
import string
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from pulumi.runtime import mocks as pulumi_mocks

from components import engines, naming, tokens
from components.phases import DATABASE_ENGINE
from components.regions import ELB_LOG_ACCOUNTS, ZONES_SEEN, ZONES_SEEN_ELSEWHERE

from .monitor import ResourceRejected

ACCOUNT_ID = "123456789012"
PARTITION = "aws"
ALB_ZONES = {"eu-central-1": "Z215JYRZR1TBD5", "eu-west-1": "Z32O12XQLNTSW2", "us-east-1": "Z35SXDOTRQ7X7K"}



def _digest(*parts: str, n: int = 17) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def _uuid(*parts: str) -> str:
    h = _digest(*parts, n=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _autoname(name: str, *, max_len: int = 255, lower: bool = False) -> str:
    # Pulumi appends a hyphen and 7 random characters to the logical name, and fails when that
    # does not fit the resource's name limit.
    if len(name) + 8 > max_len:
        raise ResourceRejected(
            f"the autoname of '{name}' plus 7 random characters is longer than the maximum length {max_len}: "
            "give the resource an explicit, shorter name"
        )
    out = f"{name}-{_digest('autoname', name, n=7)}"
    return out.lower() if lower else out


@dataclass(frozen=True)
class RunningDatabase:
    """A database that already runs in the account (by default there is none: every plan is a first `up`)."""

    identifier: str
    engine_version: str
    tags: Mapping[str, str] = field(default_factory=dict)


# gp3 storage of RDS for PostgreSQL (GiB), and the autoscaling maximum's least headroom above the allocated storage
# (in tenths: 11 tenths of the allocated storage; integers, so that 110 for 100 is not refused by rounding).
GP3_STORAGE_GB = (20, 65536)
MAX_STORAGE_TENTHS = 11


class AwsMocks(pulumi_mocks.Mocks):
    """Answers resource registrations and invokes the way AWS would, for one stack in one region."""

    def __init__(self, region: str, stack_outputs: Callable[[str], Mapping[str, Any] | None] | None = None,
                 now: datetime | None = None, running: tuple[RunningDatabase, ...] = ()):
        self.region = region
        self.running = {db.identifier: db for db in running}
        self.stack_outputs = stack_outputs or (lambda _name: None)
        self._by_id: dict[str, dict[str, Any]] = {}
        # What "now" is for resources created in this plan (a snapshot's creation time): the run's clock.
        when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
        self.now = when.isoformat().replace("+00:00", "Z")

    # -- invokes -----------------------------------------------------------------------------
    def call(self, args: pulumi_mocks.MockCallArgs):
        tok, a = args.token, args.args
        r = a.get("region") or self.region
        if tok == tokens.GET_CALLER_IDENTITY:
            return {"accountId": ACCOUNT_ID, "arn": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/platform-deployer",
                    "userId": "AROA" + _digest("user", n=17).upper(), "id": ACCOUNT_ID}
        if tok == tokens.GET_PARTITION:
            return {"partition": PARTITION, "dnsSuffix": "amazonaws.com", "id": PARTITION}
        if tok == tokens.GET_REGION:
            return {"name": r, "region": r, "id": r, "endpoint": f"ec2.{r}.amazonaws.com"}
        if tok == tokens.GET_AVAILABILITY_ZONES:
            seen = ZONES_SEEN.get(r, ZONES_SEEN_ELSEWHERE)
            names = [f"{r}{c}" for c in "abcdef"[:seen]]
            return {"names": names, "zoneIds": [f"{r[:3]}{r.split('-')[-1]}-az{i + 1}" for i in range(seen)], "id": r}
        if tok == tokens.GET_ZONE:
            zone = a.get("name", "example.com")
            return {"zoneId": "Z" + _digest("zone", zone, n=20).upper(), "name": zone, "id": "Z" + _digest("zone", zone, n=20).upper()}
        if tok == tokens.GET_ELB_SERVICE_ACCOUNT:
            if r not in ELB_LOG_ACCOUNTS:  # as the provider answers a region its table does not know
                raise ResourceRejected(f"aws.elb.get_service_account: unsupported ELB service account region {r!r}; "
                                       f"regions launched from August 2022 have no ELB log account (grant the "
                                       f"service principal logdelivery.elasticloadbalancing.amazonaws.com instead)")
            acct = ELB_LOG_ACCOUNTS[r]
            return {"arn": f"arn:{PARTITION}:iam::{acct}:root", "id": acct}
        if tok == tokens.GET_RDS_INSTANCES:  # a plural data source: no match is an empty answer, not an error
            wanted = a.get("tags") or {}
            found = [db for db in self.running.values() if all(db.tags.get(k) == v for k, v in wanted.items())]
            return {"instanceIdentifiers": [db.identifier for db in found],
                    "instanceArns": [self.arn("rds", f"db:{db.identifier}") for db in found], "id": r}
        if tok == tokens.GET_RDS_INSTANCE:
            db = self.running.get(a.get("dbInstanceIdentifier", ""))
            if db is None:
                raise ResourceRejected(f"DBInstanceNotFound: DB instance {a.get('dbInstanceIdentifier')} not found")
            return {"dbInstanceIdentifier": db.identifier, "engine": DATABASE_ENGINE.engine,
                    "engineVersion": db.engine_version, "tags": dict(db.tags), "id": db.identifier}
        if tok == tokens.GET_RDS_SNAPSHOT:
            snap = self._by_id.get(a.get("dbSnapshotIdentifier", ""), {})
            return {**snap, "id": a.get("dbSnapshotIdentifier"), "snapshotCreateTime": self.now}
        raise NotImplementedError(f"the offline engine has no answer for invoke {tok}")

    # -- resources ---------------------------------------------------------------------------
    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        if typ == tokens.STACK_REFERENCE:  # read, not registered: arrives without `custom`
            target = inputs.get("name", "")
            outputs = self.stack_outputs(target)
            return target, {"name": target, "outputs": dict(outputs or {}), "secretOutputNames": []}
        if not args.custom:
            return "", {}
        if typ.startswith(tokens.PROVIDER_PREFIX):
            return f"{name}-{_digest('provider', name, n=8)}", inputs
        refused = refusal(typ, inputs)
        if refused:
            raise ResourceRejected(f"{typ.split(':')[-1]} '{name}': {refused}")
        handler = _HANDLERS.get(typ)
        rid, extra = handler(self, name, inputs) if handler else self._generic(typ, name, inputs)
        state = {**inputs, **extra}
        if "tags" in inputs:
            state.setdefault("tagsAll", inputs["tags"])
        self._by_id[rid] = state
        return rid, state

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return f"arn:{PARTITION}:{service}:{self.region if region else ''}:{ACCOUNT_ID if account else ''}:{resource}"

    def _generic(self, typ: str, name: str, inputs: dict):
        module = typ.split(":")[1].split("/")[0]
        rid = f"{name}-{_digest(typ, name, n=8)}"
        return rid, {"arn": self.arn(module, f"{typ.split(':')[-1].lower()}/{rid}")}

    def database(self, identifier: str) -> Mapping[str, Any]:
        return self._by_id.get(identifier, {})


def _hexid(prefix: str):
    def handler(m: AwsMocks, name: str, inputs: dict):
        rid = f"{prefix}-{_digest(prefix, name)}"
        return rid, {"arn": m.arn("ec2", f"{prefix if prefix != 'sg' else 'security-group'}/{rid}"), "ownerId": ACCOUNT_ID}
    return handler


def _bucket(m: AwsMocks, name: str, inputs: dict):
    bucket = inputs.get("bucket") or _autoname(name, max_len=63, lower=True)
    return bucket, {"bucket": bucket, "arn": f"arn:{PARTITION}:s3:::{bucket}", "region": m.region,
                    "bucketDomainName": f"{bucket}.s3.amazonaws.com",
                    "bucketRegionalDomainName": f"{bucket}.s3.{m.region}.amazonaws.com"}


def _kms_key(m: AwsMocks, name: str, inputs: dict):
    key_id = _uuid("kms", name)
    return key_id, {"keyId": key_id, "arn": m.arn("kms", f"key/{key_id}"), "keyUsage": "ENCRYPT_DECRYPT",
                    "customerMasterKeySpec": "SYMMETRIC_DEFAULT", "rotationPeriodInDays": 365}


def _engine_version_actual(m: AwsMocks, ident: str, inputs: dict) -> str:
    """What RDS runs for the version asked: an offered minor as asked; the major alone as its newest offered
    minor; the version a running database already runs (RDS never moves it down). Anything else is refused."""
    asked = str(inputs.get("engineVersion") or "")
    offered = engines.offered()
    running = m.running.get(ident)
    if running is not None and asked in (running.engine_version, DATABASE_ENGINE.major):
        return running.engine_version
    if asked == DATABASE_ENGINE.major:
        return max(offered.versions, key=engines.version_key)
    if not offered.accepts(asked):
        raise ResourceRejected(f"InvalidParameterCombination: cannot find version {asked} for {DATABASE_ENGINE.engine} "
                               f"(database {ident}); offered: {offered.accepted}")
    return asked


def _storage(ident: str, inputs: dict) -> None:
    """gp3's limits, and the autoscaling maximum RDS accepts (at least 10% above the allocated storage)."""
    allocated = int(inputs.get("allocatedStorage") or 0)
    ceiling = int(inputs.get("maxAllocatedStorage") or 0)
    low, high = GP3_STORAGE_GB
    if inputs.get("storageType") == "gp3" and not low <= allocated <= high:
        raise ResourceRejected(f"InvalidParameterValue: database {ident}: gp3 storage is {low} to {high} GiB, "
                               f"not {allocated}")
    if ceiling and ceiling > high:
        raise ResourceRejected(f"InvalidParameterValue: database {ident}: max_allocated_storage {ceiling} is above "
                               f"gp3's {high} GiB")
    if ceiling and ceiling * 10 < allocated * MAX_STORAGE_TENTHS:
        raise ResourceRejected(f"InvalidParameterCombination: Invalid max storage size for {DATABASE_ENGINE.engine}: "
                               f"database {ident}: max_allocated_storage {ceiling} must be at least 10% above the "
                               f"allocated {allocated} GiB")


def _rds_instance(m: AwsMocks, name: str, inputs: dict):
    ident = inputs.get("identifier") or _autoname(name, max_len=63, lower=True)
    actual = _engine_version_actual(m, ident, inputs)
    _storage(ident, inputs)
    host = f"{ident}.c{_digest('rds', m.region, n=11)}.{m.region}.rds.amazonaws.com"
    return ident, {"identifier": ident, "address": host, "endpoint": f"{host}:5432", "port": 5432,
                   "arn": m.arn("rds", f"db:{ident}"), "resourceId": "db-" + _digest("dbres", name, n=26).upper(),
                   "hostedZoneId": "Z1RLNUO7B9Q6NB", "status": "available", "engineVersionActual": actual}


def _rds_snapshot(m: AwsMocks, name: str, inputs: dict):
    sid = inputs["dbSnapshotIdentifier"]
    db = m.database(inputs.get("dbInstanceIdentifier", ""))
    return sid, {"dbSnapshotArn": m.arn("rds", f"snapshot:{sid}"), "engine": "postgres",
                 # what the database runs (a major-only request runs a minor of it), as RDS reports a snapshot's
                 "engineVersion": db.get("engineVersionActual") or db.get("engineVersion", ""),
                 "kmsKeyId": db.get("kmsKeyId", ""),
                 "encrypted": bool(db.get("storageEncrypted")), "snapshotType": "manual", "status": "available",
                 "allocatedStorage": db.get("allocatedStorage")}


def _rds_snapshot_copy(m: AwsMocks, name: str, inputs: dict):
    sid = inputs["targetDbSnapshotIdentifier"]
    return sid, {"dbSnapshotArn": m.arn("rds", f"snapshot:{sid}"), "encrypted": True, "engine": "postgres",
                 "snapshotType": "manual"}


def _named(service: str, kind: str, *, key: str = "name", max_len: int = 255, sep: str = "/", suffix: str = ""):
    def handler(m: AwsMocks, name: str, inputs: dict):
        n = inputs.get(key) or _autoname(name, max_len=max_len)
        res = f"{kind}{sep}{n}{suffix}" if kind else n
        region = service not in ("iam",)
        return n, {key: n, "arn": m.arn(service, res, region=region), "id": n}
    return handler


def _secret(m: AwsMocks, name: str, inputs: dict):
    n = inputs.get("name") or _autoname(name, max_len=255)
    arn = m.arn("secretsmanager", f"secret:{n}-{_digest('secret', name, n=6)}")
    return arn, {"name": n, "arn": arn}


def _secret_version(m: AwsMocks, name: str, inputs: dict):
    vid = _uuid("secretversion", name)
    return f"{inputs.get('secretId')}|{vid}", {"versionId": vid, "versionStages": ["AWSCURRENT"]}


def _random_password(m: AwsMocks, name: str, inputs: dict):
    rng = _random.Random(_digest("password", name, n=32))
    alphabet = string.ascii_letters + string.digits + (inputs.get("overrideSpecial") or "")
    value = "".join(rng.choice(alphabet) for _ in range(int(inputs.get("length", 16))))
    return "none", {"result": value, "bcryptHash": "$2a$10$" + _digest("bcrypt", name, n=53)}


def _random_string(m: AwsMocks, name: str, inputs: dict):
    rng = _random.Random(_digest("string", name, json_keepers(inputs), n=32))
    alphabet = string.ascii_lowercase + string.digits
    value = "".join(rng.choice(alphabet) for _ in range(int(inputs.get("length", 16))))
    return value, {"result": value}


def json_keepers(inputs: dict) -> str:
    """The keepers a random value is kept for, in a stable text (new keepers: a new value, as the provider does)."""
    keepers = inputs.get("keepers") or {}
    return "/".join(f"{k}={keepers[k]}" for k in sorted(keepers))


def _load_balancer(m: AwsMocks, name: str, inputs: dict):
    n = inputs.get("name") or _autoname(name, max_len=32)
    arn = m.arn("elasticloadbalancing", f"loadbalancer/app/{n}/{_digest('alb', name, n=16)}")
    return arn, {"name": n, "arn": arn, "dnsName": f"{n}-{int(_digest('dns', name, n=8), 16) % 10**10}.{m.region}.elb.amazonaws.com",
                 "zoneId": ALB_ZONES.get(m.region, "Z" + _digest("albzone", m.region, n=13).upper())}


def _target_group(m: AwsMocks, name: str, inputs: dict):
    n = inputs.get("name") or _autoname(name, max_len=32)
    arn = m.arn("elasticloadbalancing", f"targetgroup/{n}/{_digest('tg', name, n=16)}")
    return arn, {"name": n, "arn": arn}


def _listener(m: AwsMocks, name: str, inputs: dict):
    lb = str(inputs.get("loadBalancerArn", "")).split("loadbalancer/")[-1]
    arn = m.arn("elasticloadbalancing", f"listener/{lb}/{_digest('listener', name, n=16)}")
    return arn, {"arn": arn}


def _certificate(m: AwsMocks, name: str, inputs: dict):
    arn = m.arn("acm", f"certificate/{_uuid('acm', name)}")
    domain = inputs.get("domainName", "")
    token = _digest("acmval", domain, n=32)
    return arn, {"arn": arn, "status": "PENDING_VALIDATION", "domainValidationOptions": [{
        "domainName": domain, "resourceRecordName": f"_{token}.{domain}.", "resourceRecordType": "CNAME",
        "resourceRecordValue": f"_{_digest('acmval2', domain, n=32)}.xlfgrmvvlj.acm-validations.aws."}]}


def _certificate_validation(m: AwsMocks, name: str, inputs: dict):
    return f"{inputs.get('certificateArn')}-validation", {}


def _record(m: AwsMocks, name: str, inputs: dict):
    fqdn = str(inputs.get("name", "")).rstrip(".")
    return f"{inputs.get('zoneId')}_{fqdn}_{inputs.get('type')}", {"fqdn": fqdn}


def _ecs_cluster(m: AwsMocks, name: str, inputs: dict):
    n = inputs.get("name") or _autoname(name)
    arn = m.arn("ecs", f"cluster/{n}")
    return arn, {"name": n, "arn": arn}


def _task_definition(m: AwsMocks, name: str, inputs: dict):
    arn = m.arn("ecs", f"task-definition/{inputs.get('family')}:1")
    return f"{inputs.get('family')}", {"arn": arn, "revision": 1, "arnWithoutRevision": arn.rsplit(":", 1)[0]}


def _ecs_service(m: AwsMocks, name: str, inputs: dict):
    n = inputs.get("name") or _autoname(name)
    arn = m.arn("ecs", f"service/{str(inputs.get('cluster', '')).split('/')[-1]}/{n}")
    return arn, {"name": n, "arn": arn}


def _log_group(m: AwsMocks, name: str, inputs: dict):
    n = inputs.get("name") or _autoname(name, max_len=512)
    return n, {"name": n, "arn": m.arn("logs", f"log-group:{n}", )}


def _sg_rule(prefix: str):
    def handler(m: AwsMocks, name: str, inputs: dict):
        rid = f"sgr-{_digest(prefix, name)}"
        return rid, {"arn": m.arn("ec2", f"security-group-rule/{rid}"), "securityGroupRuleId": rid}
    return handler


def _plain(prefix: str):
    def handler(m: AwsMocks, name: str, inputs: dict):
        return f"{prefix}-{_digest(prefix, name, n=8)}", {}
    return handler


def _bucket_setting(m: AwsMocks, name: str, inputs: dict):
    return str(inputs.get("bucket", name)), {}


_HANDLERS: dict[str, Callable[[AwsMocks, str, dict], tuple[str, dict]]] = {
    tokens.S3_BUCKET: _bucket,
    tokens.S3_BUCKET_VERSIONING: _bucket_setting,
    tokens.S3_BUCKET_ENCRYPTION: _bucket_setting,
    tokens.S3_BUCKET_PUBLIC_ACCESS_BLOCK: _bucket_setting,
    tokens.S3_BUCKET_OWNERSHIP_CONTROLS: _bucket_setting,
    tokens.S3_BUCKET_POLICY: _bucket_setting,
    tokens.S3_BUCKET_LIFECYCLE: _bucket_setting,
    tokens.KMS_KEY: _kms_key,
    tokens.KMS_ALIAS: _named("kms", "", key="name"),
    tokens.RDS_INSTANCE: _rds_instance,
    tokens.RDS_SNAPSHOT: _rds_snapshot,
    tokens.RDS_SNAPSHOT_COPY: _rds_snapshot_copy,
    tokens.RDS_SUBNET_GROUP: _named("rds", "subgrp", sep=":", max_len=255),
    tokens.RDS_PARAMETER_GROUP: _named("rds", "pg", sep=":", max_len=255),
    tokens.SECRET: _secret,
    tokens.SECRET_VERSION: _secret_version,
    tokens.RANDOM_PASSWORD: _random_password,
    tokens.RANDOM_STRING: _random_string,
    tokens.VPC: _hexid("vpc"),
    tokens.SUBNET: _hexid("subnet"),
    tokens.SECURITY_GROUP: _hexid("sg"),
    tokens.DEFAULT_SECURITY_GROUP: _hexid("sg"),
    tokens.INTERNET_GATEWAY: _hexid("igw"),
    tokens.NAT_GATEWAY: _hexid("nat"),
    tokens.EIP: _hexid("eipalloc"),
    tokens.ROUTE_TABLE: _hexid("rtb"),
    tokens.ROUTE_TABLE_ASSOCIATION: _plain("rtbassoc"),
    tokens.FLOW_LOG: _hexid("fl"),
    tokens.INGRESS_RULE: _sg_rule("in"),
    tokens.EGRESS_RULE: _sg_rule("out"),
    tokens.IAM_ROLE: _named("iam", "role", max_len=64),
    tokens.IAM_ROLE_POLICY: _plain("rolepolicy"),
    tokens.IAM_ROLE_POLICY_ATTACHMENT: _plain("attachment"),
    tokens.LOG_GROUP: _log_group,
    tokens.ECS_CLUSTER: _ecs_cluster,
    tokens.ECS_TASK_DEFINITION: _task_definition,
    tokens.ECS_SERVICE: _ecs_service,
    tokens.LOAD_BALANCER: _load_balancer,
    tokens.TARGET_GROUP: _target_group,
    tokens.LISTENER: _listener,
    tokens.CERTIFICATE: _certificate,
    tokens.CERTIFICATE_VALIDATION: _certificate_validation,
    tokens.DNS_RECORD: _record,
}


# -- what AWS refuses of one resource on its own ---------------------------------------------------
MAX_TAGS = naming.TAG_LIMIT
ACM_DOMAIN_LIMIT = naming.ACM_DOMAIN_LIMIT
# The longest name AWS takes, by type and input (its APIs' documented limits).
NAME_LIMITS: Mapping[str, tuple[str, int]] = {
    tokens.LOAD_BALANCER: ("name", naming.LB_NAME_LIMIT),
    tokens.TARGET_GROUP: ("name", naming.LB_NAME_LIMIT),
    tokens.IAM_ROLE: ("name", naming.IAM_ROLE_LIMIT),
    tokens.LOG_GROUP: ("name", 512),
    tokens.KMS_ALIAS: ("name", 256),
    tokens.ECS_CLUSTER: ("name", 255),
    tokens.ECS_SERVICE: ("name", 255),
    tokens.ECS_TASK_DEFINITION: ("family", 255),
    tokens.SECRET: ("name", 512),
    tokens.S3_BUCKET: ("bucket", 63),
    tokens.RDS_INSTANCE: ("identifier", 63),
    tokens.RDS_SUBNET_GROUP: ("name", 255),
    tokens.RDS_PARAMETER_GROUP: ("name", 255),
    tokens.RDS_SNAPSHOT: ("dbSnapshotIdentifier", 255),
    tokens.RDS_SNAPSHOT_COPY: ("targetDbSnapshotIdentifier", 255),
}
# Fargate's CPU units and the memory (MiB) each takes (AWS, "Amazon ECS task definition parameters for
# Fargate", task size table).
FARGATE_MEMORY: Mapping[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}


def _number(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def refusal(typ: str, inputs: Mapping[str, Any]) -> str | None:
    """What AWS would answer to creating this resource on its own when it refuses it, saying what it accepts;
    None when it accepts it (as far as this approximation sees)."""
    tags = inputs.get("tags")
    if isinstance(tags, Mapping) and len(tags) > MAX_TAGS:
        return f"{len(tags)} tags; AWS accepts at most {MAX_TAGS} tags per resource"
    key, limit = NAME_LIMITS.get(typ, ("", 0))
    name = inputs.get(key) if key else None
    if isinstance(name, str) and len(name) > limit:
        return f"{key} {name!r} has {len(name)} characters; AWS accepts at most {limit}"
    if typ == tokens.CERTIFICATE:
        domain = inputs.get("domainName")
        if isinstance(domain, str) and len(domain) > ACM_DOMAIN_LIMIT:
            return (f"domain name {domain!r} has {len(domain)} characters; ACM accepts at most {ACM_DOMAIN_LIMIT} "
                    f"in a certificate's domain name")
    if typ == tokens.ECS_TASK_DEFINITION and "FARGATE" in (inputs.get("requiresCompatibilities") or []):
        cpu, memory = _number(inputs.get("cpu")), _number(inputs.get("memory"))
        if cpu is not None and memory is not None and memory not in FARGATE_MEMORY.get(cpu, ()):
            if cpu not in FARGATE_MEMORY:
                return (f"Fargate takes no task of {cpu} CPU units; it accepts "
                        f"{', '.join(str(c) for c in FARGATE_MEMORY)} CPU units")
            allowed = FARGATE_MEMORY[cpu]
            return (f"Fargate takes no task of {cpu} CPU units with {memory} MiB; with {cpu} CPU units it accepts "
                    f"{allowed[0]}..{allowed[-1]} MiB ({', '.join(str(m) for m in allowed)})")
    return None
