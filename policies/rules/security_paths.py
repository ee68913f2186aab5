"""Rules about what is wired to what: databases in private subnets, load-balancer logs into the
environment's own bucket, a flow log on every VPC.

Ids are not known in a preview and tags may lie, so these rules follow the engine's property
dependencies (for each input, the resources its value came from): a subnet is public when it is
associated with a route table that routes to an internet gateway; a subnet group is on public subnets
when its `subnetIds` come from such a subnet; a load balancer logs into the environment when its
`accessLogs` come from a bucket of the stack; a VPC has a flow log when a flow log's `vpcId` comes
from it. A value written by hand, which no resource of the stack produced, does not count.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from components import tokens

from ..framework import (
    Finding,
    NotApplicable,
    Resource,
    Rule,
    StackResult,
    StackView,
    as_list,
)

ROUTE = tokens.ROUTE
ACCESS_LOGS = "access-logs"  # the purpose of the bucket that receives the logs: it does not log into itself


def _sources(r: Resource, name: str) -> set[str]:
    return set(r.property_dependencies.get(name, ()))


def _to_gateway(value: Any) -> bool:
    """A gateway id that names an internet gateway (`igw-...`), whoever produced it."""
    return isinstance(value, str) and value.startswith("igw-")


def public_subnets(view: StackView) -> set[str]:
    """URNs of the subnets whose route table routes to an internet gateway: one of the stack's, or any id
    `igw-...` written in or read from elsewhere (fail closed)."""
    gateways = {g.urn for g in view.of_type(tokens.INTERNET_GATEWAY)}
    public_tables = {t.urn for t in view.of_type(tokens.ROUTE_TABLE)
                     if _sources(t, "routes") & gateways
                     or any(isinstance(r, Mapping) and _to_gateway(r.get("gatewayId"))
                            for r in as_list(t.props.get("routes")))}
    for r in view.of_type(ROUTE):
        if _sources(r, "gatewayId") & gateways or _to_gateway(r.props.get("gatewayId")):
            public_tables |= _sources(r, "routeTableId")
    return {s for a in view.of_type(tokens.ROUTE_TABLE_ASSOCIATION) if _sources(a, "routeTableId") & public_tables
            for s in _sources(a, "subnetId")}


def associated_subnets(view: StackView) -> set[str]:
    """URNs of the subnets with an explicit route table association (the others use the VPC's main table)."""
    return {s for a in view.of_type(tokens.ROUTE_TABLE_ASSOCIATION) for s in _sources(a, "subnetId")}


def db_subnets_private(view: StackView, config: Mapping[str, Any]) -> StackResult:
    groups = view.of_type(tokens.RDS_SUBNET_GROUP)
    if not groups:
        return NotApplicable("no database subnet group in the stack")
    public, associated = public_subnets(view), associated_subnets(view)
    subnets = {s.urn for s in view.of_type(tokens.SUBNET)}
    findings = []
    for g in groups:
        used = _sources(g, "subnetIds")
        if used & public:
            findings.append(Finding(g.urn, f"{g.label} places the database in public subnets (routed to an internet "
                                           f"gateway): use the private subnets only", g.name))
        elif (used & subnets) - associated:
            findings.append(Finding(g.urn, f"{g.label} uses subnets with no route table of their own, so the VPC's "
                                           f"main route table (which no rule sees) decides whether they are public: "
                                           f"associate each with a private route table", g.name))
    return findings


def lb_logs_in_environment(view: StackView, config: Mapping[str, Any]) -> StackResult:
    balancers = view.of_type(*tokens.RECOGNISED_LOAD_BALANCERS)
    if not balancers:
        return NotApplicable("no load balancer in the stack")
    buckets = {b.urn for b in view.of_type(*tokens.RECOGNISED_BUCKETS)} | {
        c.urn for c in view.of_type(tokens.SECURE_BUCKET)}
    return list(_lb_findings(balancers, buckets))


def _lb_findings(balancers: list[Resource], buckets: set[str]) -> Iterator[Finding]:
    for lb in balancers:
        logs = lb.props.get("accessLogs")
        if not isinstance(logs, Mapping) or not logs.get("bucket"):
            continue  # no logs at all: lb-access-logs says so
        if not _sources(lb, "accessLogs") & buckets:
            yield Finding(lb.urn, f"{lb.label} writes its access logs to {logs.get('bucket')!r}, which is not a bucket "
                                  f"of this environment: pass the environment's access-logs bucket", lb.name)


def vpc_flow_logs(view: StackView, config: Mapping[str, Any]) -> StackResult:
    vpcs = view.of_type(tokens.VPC)
    if not vpcs:
        return NotApplicable("no VPC in the stack (an existing VPC's flow logs are its owner's)")
    logged = {urn for f in view.of_type(tokens.FLOW_LOG) for urn in _sources(f, "vpcId")}
    return [Finding(v.urn, f"{v.label} has no flow log: add an aws.ec2.FlowLog of all traffic for it, delivered to the "
                           f"access-logs bucket", v.name)
            for v in vpcs if v.urn not in logged]


def s3_access_logging(view: StackView, config: Mapping[str, Any]) -> StackResult:
    buckets = view.of_type(*tokens.RECOGNISED_BUCKETS)
    if not buckets:
        return NotApplicable("no S3 bucket in the stack")
    logged = {urn for g in view.of_type(tokens.S3_BUCKET_LOGGING) for urn in _sources(g, "bucket")}
    return [Finding(b.urn, f"{b.label} keeps no server access log: add an aws.s3.BucketLogging to the access-logs "
                           f"bucket (SecureBucketArgs.access_log_bucket)", b.name)
            for b in buckets if b.urn not in logged and _purpose(view, b) != ACCESS_LOGS]


def _purpose(view: StackView, bucket: Resource) -> str | None:
    owner = next((a for a in view.ancestors(bucket) if a.type == tokens.SECURE_BUCKET), None)
    return owner.props.get("purpose") if owner is not None else None


RULES: list[Rule] = [
    Rule("rds-subnets-private", "security", "Database subnet groups use private subnets only",
         db_subnets_private, scope="stack", severity=Severity.HIGH,
         remediation="Give the subnet group the private subnets only (no route to an internet gateway)"),
    Rule("lb-logs-in-environment", "security", "Load balancers write access logs to a bucket of their environment",
         lb_logs_in_environment, scope="stack", severity=Severity.MEDIUM,
         remediation="Pass the environment's access-logs bucket (its bucket name output) to access_logs"),
    Rule("vpc-flow-logs", "security", "Every VPC of the stack has a flow log",
         vpc_flow_logs, scope="stack", fsbp="EC2.6", checkov="CKV2_AWS_11", severity=Severity.MEDIUM,
         remediation="Add an aws.ec2.FlowLog of all traffic for the VPC, delivered to the access-logs bucket"),
    Rule("s3-access-logging", "security", "Every bucket but the access-logs bucket keeps server access logs",
         s3_access_logging, scope="stack", fsbp="S3.9", checkov="CKV_AWS_18", severity=Severity.MEDIUM,
         remediation="Add an aws.s3.BucketLogging to the environment's access-logs bucket"),
]
