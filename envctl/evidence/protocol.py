"""The IQ protocol: what the Installation Qualification verifies, derived from the approved desired state.

The desired state is the stack's offline plan (the registrations the program makes, envctl.offline) with the
phase catalog, the settings and the policy rules behind its values. Every requirement names where its expected
value comes from (`source`): `setting:<key>` (the stack file), `catalog:<column>` (components.phases),
`rule:<rule-id>` (the policy pack) or `program` (a fixed secure default of the components).

A value that only exists once installed (a key's ARN, a load balancer's DNS name) is expected by reference: the
requirement names the resource it must equal (`refers_to`, a URN of the plan) and the IQ reads that resource's
value from the installed state. Names with a random part (buckets, databases) are never expected here: the state
says which physical resource the URN became, the protocol says what it must be like.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from components import tokens
from components.phases import DATABASE_ENGINE, Role
from components.settings import StackSettings

from ..monitor import Registration
from ..offline import StackRun

# The tags that say which environment a resource belongs to: the Resource Groups Tagging API finds what carries
# them (role left out: every role of the environment is the environment's).
ENVIRONMENT_TAGS = ("customer", "phase", "managed-by")

# Types the IQ reads back, and those it does not (they have no AWS object of their own to read).
NOT_IN_THE_ACCOUNT = {
    tokens.RANDOM_PASSWORD: "a value in Pulumi's state only",
    tokens.RANDOM_STRING: "a value in Pulumi's state only",
    tokens.STACK_REFERENCE: "another stack's outputs, read by the engine",
}


@dataclass(frozen=True)
class Requirement:
    """One check of the protocol. `check` names the fact the reader of `type` reports; `expected` is a plain
    value, or a description of the resource it must equal when `refers_to` is set."""

    id: str
    instance: str
    resource: str
    type: str
    urn: str
    requirement: str
    expected: Any
    source: str
    check: str
    refers_to: str | None = None  # URN of the plan resource whose `refers_output` is expected
    refers_output: str = "arn"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Protocol:
    """Everything the IQ of a stack verifies, and what it was derived from."""

    stack: str
    customer: str | None
    phase: str
    qualified: bool  # the catalog's `qualified` column: the IQ is required for this phase
    release: str
    region: str
    ecr: dict[str, str | None]  # {"id", "sha256"}: the record that approved this desired state
    environment_tags: dict[str, str]
    requirements: tuple[Requirement, ...]
    urns: tuple[str, ...]  # every resource of the plan the account must hold
    types: dict[str, str] = field(default_factory=dict)  # urn -> type token

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "clinspark-iq-protocol", "format": 1, "stack": self.stack, "customer": self.customer,
            "phase": self.phase, "qualified": self.qualified, "release": self.release, "region": self.region,
            "ecr": dict(self.ecr), "environment_tags": dict(self.environment_tags),
            "requirements": [r.to_dict() for r in self.requirements],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


# --- helpers over the plan ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """The engine hands numbers over as floats: 7.0 is 7."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Plan:
    def __init__(self, run: StackRun):
        self.run = run
        self.by_urn = run.by_urn

    def instance_of(self, reg: Registration) -> str:
        tags = reg.inputs.get("tags")
        if isinstance(tags, dict) and tags.get("role"):
            return str(tags["role"])
        parent = self.by_urn.get(reg.parent)
        while parent is not None:
            if parent.type == tokens.INSTANCE and parent.outputs:
                return str(parent.outputs.get(tokens.INSTANCE_KEYS.role))
            parent = self.by_urn.get(parent.parent)
        return "environment"

    def reference(self, reg: Registration, key: str, typ: str) -> Registration | None:
        """The resource of type `typ` an input's value came from."""
        found = [self.by_urn[u] for u in reg.property_dependencies.get(key, []) if u in self.by_urn
                 and self.by_urn[u].type == typ]
        return found[0] if len(found) == 1 else None


class _Builder:
    def __init__(self, plan: _Plan, settings: StackSettings):
        self.plan, self.settings = plan, settings
        self.out: list[Requirement] = []

    def add(self, reg: Registration, check: str, requirement: str, expected: Any, source: str,
            refers_to: Registration | None = None, refers_output: str = "arn") -> None:
        if refers_to is not None:
            expected = f"the {refers_output} of {refers_to.name} ({refers_to.type.split(':')[-1]})"
        self.out.append(Requirement(
            id=f"IQ-{reg.name}-{check}", instance=self.plan.instance_of(reg), resource=reg.name, type=reg.type,
            urn=reg.urn, requirement=requirement, expected=_plain(expected), source=source, check=check,
            refers_to=refers_to.urn if refers_to is not None else None, refers_output=refers_output))


# --- the requirements of each type ----------------------------------------------------------------------


def _common(b: _Builder, reg: Registration) -> None:
    b.add(reg, "exists", "exists in the account as the state records it", True, "program")
    tags = reg.inputs.get("tags")
    if isinstance(tags, dict) and tags:
        b.add(reg, "tags", "carries the environment's tags", dict(sorted(tags.items())), "rule:lifecycle-tags-agree")


def _kms_key(b: _Builder, reg: Registration) -> None:
    b.add(reg, "rotation", "automatic key rotation is on", bool(reg.inputs.get("enableKeyRotation")),
          "rule:kms-rotation")
    b.add(reg, "enabled", "the key is enabled", "Enabled", "program")


def _versioning(b: _Builder, reg: Registration) -> None:
    status = (reg.inputs.get("versioningConfiguration") or {}).get("status")
    b.add(reg, "versioning", "bucket versioning is enabled", status, "rule:s3-versioning")


def _encryption(b: _Builder, reg: Registration) -> None:
    (rule,) = reg.inputs.get("rules") or [{}]
    default = rule.get("applyServerSideEncryptionByDefault") or {}
    algorithm = default.get("sseAlgorithm")
    if algorithm == "aws:kms":
        b.add(reg, "sse-algorithm", "default encryption is SSE-KMS", algorithm, "rule:s3-kms-encryption")
        key = b.plan.reference(reg, "rules", tokens.KMS_KEY)
        b.add(reg, "sse-key", "default encryption uses the instance's own key", None, "rule:s3-kms-encryption",
              refers_to=key)
    else:  # access logs: AWS services deliver them to SSE-S3 buckets only
        b.add(reg, "sse-algorithm", "default encryption is SSE-S3 (AWS log delivery accepts no other)", algorithm,
              "rule:s3-kms-encryption")


def _public_access(b: _Builder, reg: Registration) -> None:
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    b.add(reg, "public-access-block", "every public access is blocked", {k: bool(reg.inputs.get(k)) for k in keys},
          "rule:s3-public-access-block")


def _ownership(b: _Builder, reg: Registration) -> None:
    b.add(reg, "ownership", "the bucket owner owns every object (ACLs disabled)",
          (reg.inputs.get("rule") or {}).get("objectOwnership"), "rule:s3-no-acls")


def _policy(b: _Builder, reg: Registration) -> None:
    b.add(reg, "tls-only", "the bucket policy denies every request not made over TLS", True, "rule:s3-tls-only")


def _logging(b: _Builder, reg: Registration) -> None:
    b.add(reg, "log-prefix", "server access logs go to the access-logs bucket under the bucket's prefix",
          reg.inputs.get("targetPrefix"), "rule:s3-access-logging")


def _database(b: _Builder, reg: Registration) -> None:
    s, i = b.settings, reg.inputs
    role = Role(b.plan.instance_of(reg))
    b.add(reg, "engine", "runs the catalog's database engine", i.get("engine"), "program")
    version_source = "setting:engine_version" if s.engine_version else "program"
    b.add(reg, "engine-version", f"runs {DATABASE_ENGINE.engine} {i.get('engineVersion')}"
          + ("" if s.engine_version else " (any minor of the major: the phase follows AWS's minor upgrades)"),
          i.get("engineVersion"), version_source)
    b.add(reg, "instance-class", "runs on the size's instance class", i.get("instanceClass"),
          "setting:sizes" if role in s.sizes else "catalog:sizes")
    b.add(reg, "multi-az", "Multi-AZ as the catalog says for this role", bool(i.get("multiAz")),
          "catalog:multi_az_roles")
    b.add(reg, "backup-retention", "keeps automated backups for the phase's days", i.get("backupRetentionPeriod"),
          "catalog:backup_retention_days")
    b.add(reg, "encrypted", "storage is encrypted", bool(i.get("storageEncrypted")), "rule:rds-encrypted-cmk")
    b.add(reg, "kms-key", "is encrypted under the instance's own key", None, "rule:rds-encrypted-cmk",
          refers_to=b.plan.reference(reg, "kmsKeyId", tokens.KMS_KEY))
    b.add(reg, "deletion-protection", "deletion protection as the stack's lifecycle says",
          bool(i.get("deletionProtection")),
          "rule:change-database-retained" if s.phase_spec.controlled else "program")
    b.add(reg, "not-public", "is not publicly accessible", bool(i.get("publiclyAccessible")), "rule:rds-not-public")


def _listener(b: _Builder, reg: Registration) -> None:
    i = reg.inputs
    if i.get("protocol") == "HTTPS":
        b.add(reg, "tls-policy", "HTTPS with the TLS 1.3 security policy", i.get("sslPolicy"), "rule:lb-tls-policy")
    else:
        (action,) = i.get("defaultActions") or [{}]
        redirect = action.get("redirect") or {}
        b.add(reg, "redirect", "redirects every request to HTTPS",
              {"type": action.get("type"), "protocol": redirect.get("protocol"), "port": redirect.get("port"),
               "statusCode": redirect.get("statusCode")}, "rule:lb-http-redirects")


def _certificate(b: _Builder, reg: Registration) -> None:
    b.add(reg, "status", "the certificate is issued", "ISSUED", "program")
    b.add(reg, "domain", "for the instance's hostname", reg.inputs.get("domainName"), "setting:domain")


def _record(b: _Builder, reg: Registration) -> None:
    lb = b.plan.reference(reg, "aliases", tokens.LOAD_BALANCER)
    if lb is not None:
        b.add(reg, "alias", f"{reg.inputs.get('name')} is an alias of the instance's load balancer", None,
              "setting:domain", refers_to=lb, refers_output="dnsName")


def _service(b: _Builder, reg: Registration) -> None:
    task = b.plan.reference(reg, "taskDefinition", tokens.ECS_TASK_DEFINITION)
    images = [c.get("image") for c in json.loads(task.inputs.get("containerDefinitions") or "[]")] if task else []
    b.add(reg, "task-definition", "runs the task definition the stack registered", None, "program", refers_to=task)
    b.add(reg, "image", "runs the release's image", images[0] if len(images) == 1 else images, "setting:release")
    b.add(reg, "desired-count", "as many tasks as the size asks for", reg.inputs.get("desiredCount"), "catalog:sizes")
    b.add(reg, "running", "every desired task runs", True, "program")


def _log_group(b: _Builder, reg: Registration) -> None:
    b.add(reg, "retention", "keeps logs for the phase's days", reg.inputs.get("retentionInDays"),
          "catalog:log_retention_days")
    b.add(reg, "kms-key", "is encrypted under the instance's own key", None, "rule:logs-retention",
          refers_to=b.plan.reference(reg, "kmsKeyId", tokens.KMS_KEY))


def _secret(b: _Builder, reg: Registration) -> None:
    b.add(reg, "kms-key", "is encrypted under the instance's own key", None, "rule:secrets-customer-key",
          refers_to=b.plan.reference(reg, "kmsKeyId", tokens.KMS_KEY))


def sg_rule_of(reg: Registration, plan: _Plan) -> dict[str, Any]:
    """A security-group rule as the plan asks for it: protocol, ports, and the CIDR or group it admits."""
    i = reg.inputs
    peer = plan.reference(reg, "referencedSecurityGroupId", tokens.SECURITY_GROUP)
    return {"protocol": i.get("ipProtocol"), "from": _plain(i.get("fromPort")), "to": _plain(i.get("toPort")),
            "peer": i.get("cidrIpv4") or i.get("cidrIpv6") or (f"group {peer.name}" if peer else None)}


def _security_group(b: _Builder, reg: Registration) -> None:
    for typ, direction in ((tokens.INGRESS_RULE, "ingress"), (tokens.EGRESS_RULE, "egress")):
        rules = sorted((sg_rule_of(r, b.plan) for r in b.plan.run.by_type(typ)
                        if b.plan.reference(r, "securityGroupId", tokens.SECURITY_GROUP) is reg),
                       key=lambda r: json.dumps(r, sort_keys=True))
        b.add(reg, direction, f"its {direction} rules are exactly the plan's", rules, "rule:sg-no-open-ingress")


def _default_security_group(b: _Builder, reg: Registration) -> None:
    b.add(reg, "ingress", "the VPC's default group admits nothing", [], "program")
    b.add(reg, "egress", "the VPC's default group lets nothing out", [], "program")


def _vpc(b: _Builder, reg: Registration) -> None:
    b.add(reg, "cidr", "has the stack's address range", reg.inputs.get("cidrBlock"), "setting:network")


DEEPER = {
    tokens.KMS_KEY: _kms_key,
    tokens.S3_BUCKET_VERSIONING: _versioning,
    tokens.S3_BUCKET_ENCRYPTION: _encryption,
    tokens.S3_BUCKET_PUBLIC_ACCESS_BLOCK: _public_access,
    tokens.S3_BUCKET_OWNERSHIP_CONTROLS: _ownership,
    tokens.S3_BUCKET_POLICY: _policy,
    tokens.S3_BUCKET_LOGGING: _logging,
    tokens.RDS_INSTANCE: _database,
    tokens.LISTENER: _listener,
    tokens.CERTIFICATE: _certificate,
    tokens.DNS_RECORD: _record,
    tokens.ECS_SERVICE: _service,
    tokens.LOG_GROUP: _log_group,
    tokens.SECRET: _secret,
    tokens.SECURITY_GROUP: _security_group,
    tokens.DEFAULT_SECURITY_GROUP: _default_security_group,
    tokens.VPC: _vpc,
}


def installed_resources(run: StackRun) -> Iterator[Registration]:
    """The plan's resources that exist in the account: custom, managed (not read), not engine-only values."""
    for reg in run.registrations:
        if reg.custom and not reg.read and reg.type not in NOT_IN_THE_ACCOUNT \
                and not reg.type.startswith(tokens.PROVIDER_PREFIX):
            yield reg


def protocol_for(run: StackRun, settings: StackSettings) -> Protocol:
    """The protocol of the stack `run` planned (envctl plan's registrations), with its settings."""
    plan = _Plan(run)
    builder = _Builder(plan, settings)
    resources = list(installed_resources(run))
    for reg in resources:
        _common(builder, reg)
        deeper = DEEPER.get(reg.type)
        if deeper is not None:
            deeper(builder, reg)
    env = run.outputs
    approval = env.get("approval") or {}
    tags = settings.tags_for(None)
    return Protocol(
        stack=settings.stack, customer=settings.customer, phase=settings.phase,
        qualified=settings.phase_spec.qualified, release=settings.release, region=settings.region,
        ecr={"id": approval.get("record") or env.get("changeRecord"), "sha256": approval.get("recordSha256")},
        environment_tags={k: tags[k] for k in ENVIRONMENT_TAGS},
        requirements=tuple(builder.out), urns=tuple(r.urn for r in resources),
        types={r.urn: r.type for r in resources},
    )


def render_protocol(protocol: Protocol) -> str:
    """The protocol as people read it: per instance and resource, each requirement with its source."""
    ecr = protocol.ecr
    lines = [
        f"IQ protocol of {protocol.stack} ({protocol.phase} of {protocol.customer or 'no customer'}), release "
        f"{protocol.release}, {protocol.region}",
        f"  approved by {ecr.get('id') or 'no record'} ({ecr.get('sha256') or 'no digest'})",
        f"  IQ {'required: the phase is qualified' if protocol.qualified else 'not required by the catalog'}; "
        f"{len(protocol.requirements)} checks on {len(protocol.urns)} resources",
        "",
    ]
    current: tuple[str, str] | None = None
    for r in protocol.requirements:
        if (r.instance, r.resource) != current:
            current = (r.instance, r.resource)
            lines.append(f"[{r.instance}] {r.resource} ({r.type})")
        expected = r.expected if isinstance(r.expected, str) else json.dumps(r.expected, sort_keys=True)
        lines.append(f"  {r.id}: {r.requirement}: {expected}  [{r.source}]")
    return "\n".join(lines)
