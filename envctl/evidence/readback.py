"""Reading an installed stack back through boto3: per resource type, one small reader that returns the facts the
protocol's requirements compare (:mod:`.protocol`), and the evidence of every call it made.

Every response is kept: as JSON with sorted keys (botocore's ResponseMetadata left out, it changes with every
call), written into the evidence bundle, and named in each check by its API call and SHA-256. An API the
endpoint does not implement (a local moto server lacks some) makes the facts it would give "not verifiable
here": such a check never passes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from components import tokens

from ..aws.session import AwsClients, error_code
from .state import InstalledResource, InstalledState

# Error codes that say "there is no such thing" (each service spells it its own way).
_MISSING = re.compile(r"NotFound|^NoSuch|^ResourceNotFoundException$|^ClusterNotFoundException$|"
                      r"^ServiceNotFoundException$|^LoadBalancerNotFound$|^TargetGroupNotFound$|^ListenerNotFound$")
# AWS answers an unknown action with one of the codes below. A local moto server answers an action it does not
# implement with an HTML page and HTTP 500, which botocore cannot parse (UNREADABLE); AWS itself always answers
# in its protocol, so an unreadable answer means an endpoint that cannot give this evidence.
UNREADABLE = "UnreadableResponse"
_NOT_IMPLEMENTED = ("NotImplemented", "NotImplementedError", "InvalidAction", "UnknownOperationException", UNREADABLE)


class Missing(Exception):
    """The resource the call asked for does not exist."""


class NotVerifiable(Exception):
    """The endpoint cannot answer the call (not implemented there)."""


@dataclass(frozen=True)
class NotVerifiableFact:
    reason: str


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def sha256_text(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


RESPONSE_END = "\n"  # a response file is its canonical text and one newline; its item names the text's SHA-256


def response_file_sha256(path: Path) -> str:
    """The SHA-256 an evidence item names for the response file at `path`."""
    data = path.read_bytes()
    return sha256_text(data.removesuffix(RESPONSE_END.encode()))


class Evidence:
    """The calls of one run and their raw responses, written under `directory` (None: kept in memory only)."""

    def __init__(self, directory: Path | None):
        self.directory = directory
        self.items: list[dict[str, str]] = []
        self._cache: dict[str, tuple[Any, dict[str, str]]] = {}

    def call(self, clients: AwsClients, region: str, service: str, operation: str, **params: Any) -> tuple[Any, dict]:
        """Call `service.operation(**params)` once per run: (response, evidence item). An AWS error is the
        response (`{"Error": {...}}`), recorded like any other."""
        client = clients.client(service, region)
        api = client.meta.method_to_api_mapping.get(operation, operation)
        shown = " ".join(f"{k}={v if isinstance(v, str) else canonical(v)}" for k, v in sorted(params.items()))
        described = f"{client.meta.service_model.endpoint_prefix}:{api} {shown}".strip()
        if described not in self._cache:
            try:
                response = getattr(client, operation)(**params)
                response.pop("ResponseMetadata", None)
            except ClientError as e:
                response = {"Error": e.response.get("Error", {})}
                if _not_aws(response["Error"]):
                    response = {"Error": {"Code": UNREADABLE, "Message": "HTTP " + str(response["Error"].get("Code"))
                                          + " with a web page, not an AWS error"}}
            except ResponseParserError as e:  # not an AWS answer: a moto server's HTML 500 for an API it lacks
                response = {"Error": {"Code": UNREADABLE, "Message": str(e).splitlines()[0][:300]}}
            self._cache[described] = (response, self._record(described, service, api, response))
        return self._cache[described]

    def _record(self, described: str, service: str, api: str, response: Any) -> dict[str, str]:
        text = canonical(response)
        digest = sha256_text(text)
        file = f"responses/{len(self.items) + 1:04d}-{service}-{api}.json"
        if self.directory is not None:
            path = self.directory / file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + RESPONSE_END, encoding="utf-8")
        item = {"call": described, "sha256": digest, "file": file}
        self.items.append(item)
        return item


def _not_aws(error: dict[str, Any]) -> bool:
    """An error botocore could only name by its HTTP status, whose text is a web page (JSON protocols)."""
    return str(error.get("Code", "")).isdigit() and "<html" in str(error.get("Message", "")).lower()


def raise_for(response: Any, described: str) -> None:
    """Missing, NotVerifiable or the ClientError itself for an error response."""
    if not (isinstance(response, dict) and "Error" in response and len(response) == 1):
        return
    code = str(response["Error"].get("Code", ""))
    if code in _NOT_IMPLEMENTED or ("not" in code.lower() and "implement" in code.lower()):
        raise NotVerifiable(f"{described}: the endpoint does not implement it ({code})")
    if _MISSING.search(code):
        raise Missing(described)
    raise ClientError({"Error": response["Error"]}, described.split(" ", 1)[0])


@dataclass
class Reading:
    """What the account says of one resource: whether it is there, its facts, and the evidence."""

    found: bool
    facts: dict[str, Any] = field(default_factory=dict)
    evidence: list[dict[str, str]] = field(default_factory=list)
    not_verifiable: str | None = None  # the whole resource cannot be read here


class Context:
    """What a reader gets: the calls (recorded), the resource's state and the whole state (for references)."""

    def __init__(self, clients: AwsClients, region: str, evidence: Evidence, state: InstalledState,
                 resource: InstalledResource):
        self.clients, self.region, self.evidence, self.state, self.resource = clients, region, evidence, state, resource
        self.items: list[dict[str, str]] = []

    def call(self, service: str, operation: str, **params: Any) -> Any:
        response, item = self.evidence.call(self.clients, self.region, service, operation, **params)
        if item not in self.items:
            self.items.append(item)
        raise_for(response, item["call"])
        return response

    def maybe(self, service: str, operation: str, **params: Any) -> Any:
        """A call whose "not found" is an answer (an unset configuration), not a missing resource: None."""
        try:
            return self.call(service, operation, **params)
        except Missing:
            return None

    def fact(self, compute: Callable[[], Any]) -> Any:
        """A fact from a further call that the endpoint may not implement."""
        try:
            return compute()
        except NotVerifiable as e:
            return NotVerifiableFact(str(e))

    @property
    def id(self) -> str:
        return self.resource.id

    def inp(self, key: str) -> Any:
        return self.resource.inputs.get(key)

    def out(self, key: str) -> Any:
        return self.resource.output(key) or self.resource.inputs.get(key)


def tags_of(items: Any) -> dict[str, str]:
    """AWS's many spellings of tags as one mapping."""
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    tags = {}
    for t in items or []:
        key = t.get("Key", t.get("key", t.get("TagKey")))
        value = t.get("Value", t.get("value", t.get("TagValue", "")))
        tags[str(key)] = str(value)
    return tags


def one(listing: list[Any]) -> Any:
    if not listing:
        raise Missing("an empty listing")
    return listing[0]


# --- S3 --------------------------------------------------------------------------------------------------

def _bucket(c: Context) -> dict[str, Any]:
    c.call("s3", "head_bucket", Bucket=c.id)
    tagging = c.maybe("s3", "get_bucket_tagging", Bucket=c.id)
    return {"tags": tags_of((tagging or {}).get("TagSet"))}


def _bucket_of(c: Context) -> str:
    return str(c.inp("bucket") or c.id)


def _versioning(c: Context) -> dict[str, Any]:
    c.call("s3", "head_bucket", Bucket=_bucket_of(c))
    status = c.call("s3", "get_bucket_versioning", Bucket=_bucket_of(c)).get("Status") or "Disabled"
    return {"versioning": status}


def _encryption(c: Context) -> dict[str, Any]:
    rules = c.call("s3", "get_bucket_encryption", Bucket=_bucket_of(c))["ServerSideEncryptionConfiguration"]["Rules"]
    default = (rules[0] if rules else {}).get("ApplyServerSideEncryptionByDefault", {})
    return {"sse-algorithm": default.get("SSEAlgorithm"), "sse-key": default.get("KMSMasterKeyID")}


def _public_access(c: Context) -> dict[str, Any]:
    block = c.call("s3", "get_public_access_block", Bucket=_bucket_of(c))["PublicAccessBlockConfiguration"]
    keys = {"BlockPublicAcls": "blockPublicAcls", "BlockPublicPolicy": "blockPublicPolicy",
            "IgnorePublicAcls": "ignorePublicAcls", "RestrictPublicBuckets": "restrictPublicBuckets"}
    return {"public-access-block": {ours: bool(block.get(theirs)) for theirs, ours in keys.items()}}


def _ownership(c: Context) -> dict[str, Any]:
    rules = c.call("s3", "get_bucket_ownership_controls", Bucket=_bucket_of(c))["OwnershipControls"]["Rules"]
    return {"ownership": rules[0].get("ObjectOwnership") if rules else None}


def denies_plain_http(policy: dict[str, Any]) -> bool:
    """Whether a bucket policy denies every action, to everyone, over a connection without TLS."""
    for s in policy.get("Statement") or []:
        actions = s.get("Action")
        actions = [actions] if isinstance(actions, str) else actions or []
        secure = ((s.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")
        if s.get("Effect") == "Deny" and s.get("Principal") in ("*", {"AWS": "*"}) and "s3:*" in actions \
                and str(secure).lower() == "false":
            return True
    return False


def _policy(c: Context) -> dict[str, Any]:
    policy = json.loads(c.call("s3", "get_bucket_policy", Bucket=_bucket_of(c))["Policy"])
    return {"tls-only": denies_plain_http(policy)}


def _logging(c: Context) -> dict[str, Any]:
    enabled = c.call("s3", "get_bucket_logging", Bucket=_bucket_of(c)).get("LoggingEnabled")
    if not enabled:
        raise Missing("no server access logging")
    return {"log-prefix": enabled.get("TargetPrefix"), "log-bucket": enabled.get("TargetBucket")}


def _lifecycle(c: Context) -> dict[str, Any]:
    rules = c.call("s3", "get_bucket_lifecycle_configuration", Bucket=_bucket_of(c)).get("Rules") or []
    if not rules:
        raise Missing("no lifecycle rules")
    return {}


# --- KMS -------------------------------------------------------------------------------------------------

def _key(c: Context) -> dict[str, Any]:
    meta = c.call("kms", "describe_key", KeyId=c.id)["KeyMetadata"]
    rotation = c.fact(lambda: c.call("kms", "get_key_rotation_status", KeyId=c.id).get("KeyRotationEnabled"))
    tags = c.fact(lambda: tags_of(c.call("kms", "list_resource_tags", KeyId=c.id).get("Tags")))
    return {"enabled": meta.get("KeyState"), "rotation": rotation, "tags": tags}


def _alias(c: Context) -> dict[str, Any]:
    target = c.resource.output("targetKeyId") or c.inp("targetKeyId")
    aliases = c.call("kms", "list_aliases", KeyId=target)["Aliases"] if target else []
    if not any(a.get("AliasName") == c.id for a in aliases):
        raise Missing(f"no alias {c.id} of key {target}")
    return {}


# --- RDS -------------------------------------------------------------------------------------------------

def _rds_tags(c: Context, arn: str) -> Any:
    return c.fact(lambda: tags_of(c.call("rds", "list_tags_for_resource", ResourceName=arn).get("TagList")))


def _database(c: Context) -> dict[str, Any]:
    identifier = c.out("identifier")
    db = one(c.call("rds", "describe_db_instances", DBInstanceIdentifier=identifier)["DBInstances"])
    return {
        "engine": db.get("Engine"), "engine-version": db.get("EngineVersion"),
        "instance-class": db.get("DBInstanceClass"), "multi-az": bool(db.get("MultiAZ")),
        "backup-retention": db.get("BackupRetentionPeriod"), "encrypted": bool(db.get("StorageEncrypted")),
        "kms-key": db.get("KmsKeyId"), "deletion-protection": bool(db.get("DeletionProtection")),
        "not-public": bool(db.get("PubliclyAccessible")),
        "tags": tags_of(db["TagList"]) if "TagList" in db else _rds_tags(c, db["DBInstanceArn"]),
    }


def _snapshot_copy(c: Context) -> dict[str, Any]:
    snap = one(c.call("rds", "describe_db_snapshots", DBSnapshotIdentifier=c.id)["DBSnapshots"])
    return {"tags": _rds_tags(c, snap["DBSnapshotArn"])}


def _subnet_group(c: Context) -> dict[str, Any]:
    group = one(c.call("rds", "describe_db_subnet_groups", DBSubnetGroupName=c.id)["DBSubnetGroups"])
    return {"tags": _rds_tags(c, group["DBSubnetGroupArn"])}


def _parameter_group(c: Context) -> dict[str, Any]:
    group = one(c.call("rds", "describe_db_parameter_groups", DBParameterGroupName=c.id)["DBParameterGroups"])
    return {"tags": _rds_tags(c, group["DBParameterGroupArn"])}


# --- Secrets Manager -------------------------------------------------------------------------------------

def _describe_secret(c: Context, secret_id: str) -> dict[str, Any]:
    secret = c.call("secretsmanager", "describe_secret", SecretId=secret_id)
    if secret.get("DeletedDate"):
        raise Missing(f"secret {secret_id} is scheduled for deletion")
    return secret


def _secret(c: Context) -> dict[str, Any]:
    secret = _describe_secret(c, c.id)
    return {"kms-key": secret.get("KmsKeyId"), "tags": tags_of(secret.get("Tags"))}


def _secret_version(c: Context) -> dict[str, Any]:
    secret_id, _, version = c.id.partition("|")
    if version not in (_describe_secret(c, secret_id).get("VersionIdsToStages") or {}):
        raise Missing(f"no version {version} of {secret_id}")
    return {}


# --- EC2 / VPC -------------------------------------------------------------------------------------------

def _ec2(listing: str, operation: str, ids_param: str) -> Callable[[Context], dict[str, Any]]:
    def read(c: Context) -> dict[str, Any]:
        found = one(c.call("ec2", operation, **{ids_param: [c.id]})[listing])
        if found.get("State") in ("deleted", "deleting", "failed"):
            raise Missing(f"{c.id} is {found['State']}")
        facts: dict[str, Any] = {"tags": tags_of(found.get("Tags"))}
        if "CidrBlock" in found and listing == "Vpcs":
            facts["cidr"] = found["CidrBlock"]
        return facts
    return read


def _route_table_association(c: Context) -> dict[str, Any]:
    one(c.call("ec2", "describe_route_tables",
               Filters=[{"Name": "association.route-table-association-id", "Values": [c.id]}])["RouteTables"])
    return {}


def _flow_log(c: Context) -> dict[str, Any]:
    log = one(c.call("ec2", "describe_flow_logs", FlowLogIds=[c.id])["FlowLogs"])
    return {"tags": tags_of(log.get("Tags"))}


def sg_rule_facts(rule: dict[str, Any], group_names: dict[str, str]) -> dict[str, Any]:
    """A live security-group rule as the protocol states rules (peer by the plan's name of the group)."""
    peer = rule.get("CidrIpv4") or rule.get("CidrIpv6")
    if not peer and rule.get("ReferencedGroupInfo"):
        group = rule["ReferencedGroupInfo"].get("GroupId", "")
        peer = f"group {group_names.get(group, group)}"
    return {"protocol": rule.get("IpProtocol"), "from": rule.get("FromPort"), "to": rule.get("ToPort"), "peer": peer}


def _security_group(c: Context) -> dict[str, Any]:
    group = one(c.call("ec2", "describe_security_groups", GroupIds=[c.id])["SecurityGroups"])
    names = {r.id: r.name for r in c.state.resources.values()
             if r.type in (tokens.SECURITY_GROUP, tokens.DEFAULT_SECURITY_GROUP)}

    def rules() -> dict[str, Any]:
        listed = c.call("ec2", "describe_security_group_rules",
                        Filters=[{"Name": "group-id", "Values": [c.id]}])["SecurityGroupRules"]
        key = lambda r: canonical(r)  # noqa: E731
        return {
            "ingress": sorted((sg_rule_facts(r, names) for r in listed if not r.get("IsEgress")), key=key),
            "egress": sorted((sg_rule_facts(r, names) for r in listed if r.get("IsEgress")), key=key),
        }
    found = c.fact(rules)
    if isinstance(found, NotVerifiableFact):
        return {"tags": tags_of(group.get("Tags")), "ingress": found, "egress": found}
    return {"tags": tags_of(group.get("Tags")), **found}


def _security_group_rule(c: Context) -> dict[str, Any]:
    rule = one(c.call("ec2", "describe_security_group_rules", SecurityGroupRuleIds=[c.id])["SecurityGroupRules"])
    return {"tags": tags_of(rule.get("Tags"))}


# --- IAM -------------------------------------------------------------------------------------------------

def _role(c: Context) -> dict[str, Any]:
    c.call("iam", "get_role", RoleName=c.id)
    return {"tags": c.fact(lambda: tags_of(c.call("iam", "list_role_tags", RoleName=c.id).get("Tags")))}


def _role_policy(c: Context) -> dict[str, Any]:
    role, _, name = c.id.partition(":")
    c.call("iam", "get_role_policy", RoleName=role, PolicyName=name)
    return {}


def _role_policy_attachment(c: Context) -> dict[str, Any]:
    role, arn = str(c.inp("role")), c.inp("policyArn")
    attached = c.call("iam", "list_attached_role_policies", RoleName=role)["AttachedPolicies"]
    if not any(p.get("PolicyArn") == arn for p in attached):
        raise Missing(f"{arn} is not attached to {role}")
    return {}


# --- CloudWatch Logs -------------------------------------------------------------------------------------

def _log_group(c: Context) -> dict[str, Any]:
    groups = c.call("logs", "describe_log_groups", logGroupNamePrefix=c.id)["logGroups"]
    group = one([g for g in groups if g.get("logGroupName") == c.id])
    arn = str(group.get("arn", "")).removesuffix(":*")
    return {"retention": group.get("retentionInDays"), "kms-key": group.get("kmsKeyId"),
            "tags": c.fact(lambda: tags_of(c.call("logs", "list_tags_for_resource", resourceArn=arn).get("tags")))}


# --- ECS -------------------------------------------------------------------------------------------------

def _cluster(c: Context) -> dict[str, Any]:
    cluster = one([x for x in c.call("ecs", "describe_clusters", clusters=[c.id], include=["TAGS"])["clusters"]
                   if x.get("status") == "ACTIVE"])
    return {"tags": tags_of(cluster.get("tags"))}


def _image_of(described: dict[str, Any]) -> Any:
    images = [d.get("image") for d in described["taskDefinition"].get("containerDefinitions", [])]
    return images[0] if len(images) == 1 else images


def _task_definition(c: Context) -> dict[str, Any]:
    try:
        described = c.call("ecs", "describe_task_definition", taskDefinition=c.out("arn"), include=["TAGS"])
    except ClientError as e:  # ECS answers ClientException for a task definition it does not know
        if error_code(e) == "ClientException":
            raise Missing(str(e)) from None
        raise
    if described["taskDefinition"].get("status") == "INACTIVE":
        raise Missing("deregistered")
    return {"tags": tags_of(described.get("tags")), "image": _image_of(described)}


def _service(c: Context) -> dict[str, Any]:
    described = c.call("ecs", "describe_services", cluster=c.inp("cluster"), services=[c.id], include=["TAGS"])
    service = one([s for s in described["services"] if s.get("status") == "ACTIVE"])
    task = c.call("ecs", "describe_task_definition", taskDefinition=service["taskDefinition"])
    return {"tags": tags_of(service.get("tags")), "task-definition": service["taskDefinition"],
            "image": _image_of(task), "desired-count": service.get("desiredCount"),
            "running": service.get("runningCount") == service.get("desiredCount")}


# --- ELB, ACM, Route 53 ----------------------------------------------------------------------------------

def _elb_tags(c: Context) -> Any:
    return c.fact(lambda: tags_of(one(c.call("elbv2", "describe_tags", ResourceArns=[c.id])["TagDescriptions"])
                                  .get("Tags")))


def _load_balancer(c: Context) -> dict[str, Any]:
    one(c.call("elbv2", "describe_load_balancers", LoadBalancerArns=[c.id])["LoadBalancers"])
    return {"tags": _elb_tags(c)}


def _target_group(c: Context) -> dict[str, Any]:
    one(c.call("elbv2", "describe_target_groups", TargetGroupArns=[c.id])["TargetGroups"])
    return {"tags": _elb_tags(c)}


def _listener(c: Context) -> dict[str, Any]:
    listener = one(c.call("elbv2", "describe_listeners", ListenerArns=[c.id])["Listeners"])
    actions = listener.get("DefaultActions") or [{}]
    redirect = actions[0].get("RedirectConfig") or {}
    return {"tags": _elb_tags(c), "tls-policy": listener.get("SslPolicy"),
            "redirect": {"type": actions[0].get("Type"), "protocol": redirect.get("Protocol"),
                         "port": redirect.get("Port"), "statusCode": redirect.get("StatusCode")}}


def _certificate(c: Context) -> dict[str, Any]:
    cert = c.call("acm", "describe_certificate", CertificateArn=c.id)["Certificate"]
    return {"status": cert.get("Status"), "domain": cert.get("DomainName"),
            "tags": c.fact(lambda: tags_of(c.call("acm", "list_tags_for_certificate", CertificateArn=c.id)["Tags"]))}


def _certificate_validation(c: Context) -> dict[str, Any]:
    cert = c.call("acm", "describe_certificate", CertificateArn=c.inp("certificateArn"))["Certificate"]
    if cert.get("Status") != "ISSUED":
        raise Missing(f"the certificate is {cert.get('Status')}, not validated")
    return {}


def dns_name(value: Any) -> str:
    """A DNS name as Route 53 and ELB compare it: lower case, no final dot, no `dualstack.` prefix."""
    text = str(value or "").lower().rstrip(".")
    return text.removeprefix("dualstack.")


def _record(c: Context) -> dict[str, Any]:
    name, typ = str(c.inp("name")).rstrip(".") + ".", str(c.inp("type"))
    listed = c.call("route53", "list_resource_record_sets", HostedZoneId=c.inp("zoneId"), StartRecordName=name,
                    StartRecordType=typ, MaxItems="1")["ResourceRecordSets"]
    record = one([r for r in listed if dns_name(r.get("Name")) == dns_name(name) and r.get("Type") == typ])
    alias = record.get("AliasTarget")
    return {"alias": dns_name(alias.get("DNSName")) if alias else None}


READERS: dict[str, Callable[[Context], dict[str, Any]]] = {
    tokens.S3_BUCKET: _bucket,
    tokens.S3_BUCKET_VERSIONING: _versioning,
    tokens.S3_BUCKET_ENCRYPTION: _encryption,
    tokens.S3_BUCKET_PUBLIC_ACCESS_BLOCK: _public_access,
    tokens.S3_BUCKET_OWNERSHIP_CONTROLS: _ownership,
    tokens.S3_BUCKET_POLICY: _policy,
    tokens.S3_BUCKET_LOGGING: _logging,
    tokens.S3_BUCKET_LIFECYCLE: _lifecycle,
    tokens.KMS_KEY: _key,
    tokens.KMS_ALIAS: _alias,
    tokens.RDS_INSTANCE: _database,
    tokens.RDS_SNAPSHOT_COPY: _snapshot_copy,
    tokens.RDS_SNAPSHOT: _snapshot_copy,
    tokens.RDS_SUBNET_GROUP: _subnet_group,
    tokens.RDS_PARAMETER_GROUP: _parameter_group,
    tokens.SECRET: _secret,
    tokens.SECRET_VERSION: _secret_version,
    tokens.VPC: _ec2("Vpcs", "describe_vpcs", "VpcIds"),
    tokens.SUBNET: _ec2("Subnets", "describe_subnets", "SubnetIds"),
    tokens.INTERNET_GATEWAY: _ec2("InternetGateways", "describe_internet_gateways", "InternetGatewayIds"),
    tokens.NAT_GATEWAY: _ec2("NatGateways", "describe_nat_gateways", "NatGatewayIds"),
    tokens.EIP: _ec2("Addresses", "describe_addresses", "AllocationIds"),
    tokens.ROUTE_TABLE: _ec2("RouteTables", "describe_route_tables", "RouteTableIds"),
    tokens.ROUTE_TABLE_ASSOCIATION: _route_table_association,
    tokens.FLOW_LOG: _flow_log,
    tokens.SECURITY_GROUP: _security_group,
    tokens.DEFAULT_SECURITY_GROUP: _security_group,
    tokens.INGRESS_RULE: _security_group_rule,
    tokens.EGRESS_RULE: _security_group_rule,
    tokens.IAM_ROLE: _role,
    tokens.IAM_ROLE_POLICY: _role_policy,
    tokens.IAM_ROLE_POLICY_ATTACHMENT: _role_policy_attachment,
    tokens.LOG_GROUP: _log_group,
    tokens.ECS_CLUSTER: _cluster,
    tokens.ECS_TASK_DEFINITION: _task_definition,
    tokens.ECS_SERVICE: _service,
    tokens.LOAD_BALANCER: _load_balancer,
    tokens.TARGET_GROUP: _target_group,
    tokens.LISTENER: _listener,
    tokens.CERTIFICATE: _certificate,
    tokens.CERTIFICATE_VALIDATION: _certificate_validation,
    tokens.DNS_RECORD: _record,
}


def read(clients: AwsClients, region: str, evidence: Evidence, state: InstalledState,
         resource: InstalledResource) -> Reading:
    """Read one installed resource back: found or not, its facts, the evidence."""
    reader = READERS.get(resource.type)
    if reader is None:
        return Reading(found=False, not_verifiable=f"envctl has no reader for {resource.type}")
    c = Context(clients, region, evidence, state, resource)
    try:
        facts = reader(c)
    except Missing:
        return Reading(found=False, evidence=c.items)
    except NotVerifiable as e:
        return Reading(found=False, evidence=c.items, not_verifiable=str(e))
    return Reading(found=True, facts=facts, evidence=c.items)
