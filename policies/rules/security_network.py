"""Security rules for the network edge: security groups and the load balancers in front of the application.

Which security group is "the load balancer's"? Policies see a security group's inputs, never its
id, but a load balancer's `securityGroups` input and a rule's `securityGroupId` input both carry
the group's id (resolved ids under the offline engine and in every update). So ``sg-no-open-ingress``
is a stack rule that collects the ids named by every load balancer in the stack, removes those that
any other resource also names in a security-group input (an ECS service, a database, an instance:
a group shared with them would open them to the internet too), and lets internet ingress reach only
the remaining, load-balancer-only groups, and only on TCP 80 and 443.

Consequences worth knowing: an inline `ingress` block of a SecurityGroup cannot be tied to a load
balancer (the group's own id is not among its inputs), so internet ingress must be declared as
``aws.vpc.SecurityGroupIngressRule`` resources; and a rule whose target group id is not known yet
(a preview of a new stack) is judged in the update, except for SSH and RDP, which are refused
whatever the target.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Iterator, Mapping, Sequence

from pulumi_policy import Severity

from components import tokens

from ..framework import (
    COMPLIANT,
    UNKNOWN,
    Finding,
    NotApplicable,
    Resource,
    ResourceResult,
    Rule,
    StackResult,
    StackView,
    Violated,
    as_list,
    flag,
    read_known,
)

LOAD_BALANCER_TYPES = tokens.RECOGNISED_LOAD_BALANCERS
LISTENER_TYPES = tokens.RECOGNISED_LISTENERS
SECURITY_GROUP_TYPES = (tokens.SECURITY_GROUP, tokens.DEFAULT_SECURITY_GROUP)
INGRESS_RULE = tokens.INGRESS_RULE
LEGACY_RULE = tokens.SECURITY_GROUP_RULE
SG_RULE_TYPES = (INGRESS_RULE, LEGACY_RULE, tokens.EGRESS_RULE)

INTERNET_PORTS = (80, 443)  # HTTP (redirected) and HTTPS, to a load balancer only
ADMIN_PORTS = {22: "SSH", 3389: "RDP"}
TLS13_PREFIX = "ELBSecurityPolicy-TLS13-"
# What an HTTP-to-HTTPS redirect keeps of the request (the load balancer's defaults): the same host, path and query.
SAME_REQUEST = {"host": "#{host}", "path": "/#{path}", "query": "#{query}"}
# The TLS 1.3 policies name their minimum version next: TLS13-1-0-2021-06 and TLS13-1-1-2021-06 still
# accept TLS 1.0 and 1.1; TLS13-1-2-* (Res, Ext, FIPS, PQ variants) and TLS13-1-3-* start at 1.2.
TLS_MINIMUM_1_2 = re.compile(r"^ELBSecurityPolicy-TLS13-1-[23]-[A-Za-z0-9-]+$")
ENVIRONMENT_RETIRING = "retiring"

# --------------------------------------------------------------------------------------------
# sg-no-open-ingress
# --------------------------------------------------------------------------------------------
# Address blocks that hold no address reachable from the internet: private (RFC 1918, ULA),
# shared (CGNAT), loopback, link-local, benchmarking, multicast and reserved. A source that is not
# inside one of them contains public addresses, however it is cut (0.0.0.0/1 + 128.0.0.0/1, 2000::/3).
NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "::1/128", "fc00::/7", "fe80::/10", "ff00::/8"))


def _is_internet(cidr: Any) -> bool:
    """A source CIDR that contains any public address (an unparseable one counts: AWS would refuse it)."""
    if not isinstance(cidr, str):
        return False
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return True
    if net.prefixlen == 0:
        return True
    return not any(net.version == block.version and net.subnet_of(block) for block in NOT_PUBLIC)


def _prefix_lists(*values: Any) -> list[str]:
    """Managed prefix lists named as a source: their entries are not in the plan, so they count as the internet."""
    return [f"prefix list {v}" for value in values for v in as_list(value) if isinstance(v, str) and v]


def _protocol(value: Any) -> str:
    text = str(value if value is not None else "-1").lower()
    return {"6": "tcp", "17": "udp", "all": "-1", "1": "icmp", "58": "icmpv6"}.get(text, text)


def _port_range(protocol: str, from_port: Any, to_port: Any) -> tuple[int, int]:
    if protocol == "-1" or not isinstance(from_port, (int, float)) or not isinstance(to_port, (int, float)):
        return 0, 65535
    low, high = int(from_port), int(to_port)
    return (0, 65535) if low < 0 or high < 0 else (low, high)


def _describe(protocol: str, ports: tuple[int, int]) -> str:
    if protocol == "-1":
        return "all traffic"
    return f"{protocol} {ports[0]}" if ports[0] == ports[1] else f"{protocol} {ports[0]}-{ports[1]}"


def _sg_ids(value: Any) -> set[str]:
    return {v for v in as_list(value) if isinstance(v, str)}


def _security_group_inputs(props: Any) -> Iterator[str]:
    """Every string under a key naming security groups (securityGroups, vpcSecurityGroupIds, ...)."""
    if isinstance(props, Mapping):
        for key in props:
            value = read_known(lambda: props[key])
            if "securitygroup" in str(key).lower():
                yield from (v for v in as_list(value) if isinstance(v, str))
            elif value is not UNKNOWN:
                yield from _security_group_inputs(value)
    elif isinstance(props, Sequence) and not isinstance(props, str):
        for i in range(len(props)):
            value = read_known(lambda: props[i])
            if value is not UNKNOWN:
                yield from _security_group_inputs(value)


def load_balancer_groups(view: StackView) -> tuple[set[str], dict[str, str]]:
    """Ids of the security groups only load balancers use, and the shared ones with who shares them."""
    lb_groups: set[str] = set()
    for lb in view.of_type(*LOAD_BALANCER_TYPES):
        groups = read_known(lambda: lb.props.get("securityGroups"))
        if groups is not UNKNOWN:
            lb_groups |= _sg_ids(groups)
    shared: dict[str, str] = {}
    for r in view.resources:
        if r.type in LOAD_BALANCER_TYPES or r.type in SG_RULE_TYPES or r.type in SECURITY_GROUP_TYPES:
            continue
        for sg in _security_group_inputs(r.props):
            if sg in lb_groups:
                shared.setdefault(sg, r.name)
    return lb_groups - set(shared), shared


def _open_entries(r: Resource) -> Iterator[tuple[str, str, tuple[int, int], Any]]:
    """(source, protocol, ports, target group id) of each ingress of `r` open to the internet."""
    p = r.props
    if r.type == INGRESS_RULE:
        sources = [c for c in (p.get("cidrIpv4"), p.get("cidrIpv6")) if _is_internet(c)]
        sources += _prefix_lists(p.get("prefixListId"))
        protocol = _protocol(p.get("ipProtocol"))
        for source in sources:
            yield source, protocol, _port_range(protocol, p.get("fromPort"), p.get("toPort")), \
                read_known(lambda: p.get("securityGroupId"))
    elif r.type == LEGACY_RULE:
        if p.get("type") != "ingress":
            return
        protocol = _protocol(p.get("protocol"))
        cidrs = as_list(p.get("cidrBlocks")) + as_list(p.get("ipv6CidrBlocks"))
        for source in [c for c in cidrs if _is_internet(c)] + _prefix_lists(p.get("prefixListIds")):
            yield source, protocol, _port_range(protocol, p.get("fromPort"), p.get("toPort")), \
                read_known(lambda: p.get("securityGroupId"))
    elif r.type in SECURITY_GROUP_TYPES:
        for entry in as_list(p.get("ingress")):
            if not isinstance(entry, Mapping):
                continue
            protocol = _protocol(entry.get("protocol"))
            cidrs = as_list(entry.get("cidrBlocks")) + as_list(entry.get("ipv6CidrBlocks"))
            for source in [c for c in cidrs if _is_internet(c)] + _prefix_lists(entry.get("prefixListIds")):
                yield source, protocol, _port_range(protocol, entry.get("fromPort"), entry.get("toPort")), None


def _ingress_problem(r: Resource, lb_only: set[str], shared: Mapping[str, str]) -> str | None:
    inline = r.type in SECURITY_GROUP_TYPES
    for source, protocol, ports, target in _open_entries(r):
        kind = "security group" if inline else "ingress rule"
        what = f"{kind} '{r.name}' opens {_describe(protocol, ports)} to {source}"
        admin = [f"{name} ({port})" for port, name in ADMIN_PORTS.items()
                 if ports[0] <= port <= ports[1] and protocol in ("tcp", "udp", "-1")]
        if admin:
            return (f"{what}, including {' and '.join(admin)}: never open administration ports to the internet; "
                    f"remove it and reach hosts through SSM Session Manager")
        if inline:
            return (f"{what} inline, where the policy cannot tell whether the group belongs to a load balancer: "
                    f"remove the inline ingress and declare internet ingress as aws.vpc.SecurityGroupIngressRule "
                    f"resources (TCP 80/443 only) on the load balancer's own security group")
        if target is UNKNOWN:
            continue  # judged again in the update, when the group's id is known
        web = protocol == "tcp" and ports[0] == ports[1] and ports[0] in INTERNET_PORTS
        if web and target in lb_only:
            continue
        if web and target in shared:
            return (f"{what} on security group {target}, which the load balancer shares with '{shared[target]}': "
                    f"give the load balancer a security group of its own and open 80/443 only there")
        if web:
            return (f"{what} on security group {target}, which belongs to no load balancer: only a load balancer's "
                    f"own security group may accept internet traffic; restrict the source to known ranges or a "
                    f"security group")
        return (f"{what}: only TCP 80 and 443 to a load balancer's own security group may be open to the internet; "
                f"restrict the source to known ranges or a security group")
    return None


def sg_no_open_ingress(view: StackView, config: Mapping[str, Any]) -> StackResult:
    groups = view.of_type(INGRESS_RULE, LEGACY_RULE, *SECURITY_GROUP_TYPES)
    if not groups:
        return NotApplicable("no security group or security group rule in the stack")
    lb_only, shared = load_balancer_groups(view)
    findings = []
    for r in groups:
        message = read_known(lambda: _ingress_problem(r, lb_only, shared))
        if isinstance(message, str):
            findings.append(Finding(r.urn, message, r.name))
    return findings


# --------------------------------------------------------------------------------------------
# Load balancers and listeners
# --------------------------------------------------------------------------------------------
def _listener_protocol(listener: Resource) -> str:
    return str(listener.props.get("protocol") or "HTTP").upper()


def lb_http_redirects(listener: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if _listener_protocol(listener) != "HTTP":
        return NotApplicable(f"{_listener_protocol(listener)} listener: the rule is for HTTP listeners")
    actions = [a for a in as_list(listener.props.get("defaultActions")) if isinstance(a, Mapping)]
    redirects = [a for a in actions if a.get("type") == "redirect"
                 and str((a.get("redirect") or {}).get("protocol") or "").upper() == "HTTPS"]
    serving = [a.get("type") for a in actions if a.get("type") in ("forward", "fixed-response")]
    if not redirects or serving:
        return Violated(f"HTTP listener '{listener.name}' does not redirect to HTTPS: make its default action a "
                        f"redirect with protocol 'HTTPS', port '443' and status_code 'HTTP_301'")
    elsewhere = [f"{part} {value!r}" for a in redirects for part, same in SAME_REQUEST.items()
                 if (value := (a.get("redirect") or {}).get(part)) is not None and value != same]
    if elsewhere:
        return Violated(f"HTTP listener '{listener.name}' redirects to {', '.join(elsewhere)} instead of the same "
                        f"host and path over HTTPS: leave host, path and query at their defaults "
                        f"(#{{host}}, /#{{path}}, #{{query}})")
    return COMPLIANT


def lb_tls_policy(listener: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if _listener_protocol(listener) not in ("HTTPS", "TLS"):
        return NotApplicable(f"{_listener_protocol(listener)} listener: the rule is for HTTPS and TLS listeners")
    policy = listener.props.get("sslPolicy")
    if not (isinstance(policy, str) and TLS_MINIMUM_1_2.match(policy)):
        shown = "the default TLS policy" if policy is None else f"TLS policy {policy!r}"
        weak = (" (it supports TLS 1.3 but still accepts TLS 1.0 or 1.1)"
                if isinstance(policy, str) and policy.startswith(TLS13_PREFIX) else "")
        return Violated(f"{_listener_protocol(listener)} listener '{listener.name}' uses {shown}{weak}: set "
                        f"ssl_policy to an {TLS13_PREFIX}* policy whose minimum is TLS 1.2 ({TLS13_PREFIX}1-2-* or "
                        f"{TLS13_PREFIX}1-3-*), such as ELBSecurityPolicy-TLS13-1-2-2021-06")
    return COMPLIANT


def _lb_kind(lb: Resource) -> str:
    return str(lb.props.get("loadBalancerType") or "application")


def lb_drop_invalid_headers(lb: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if _lb_kind(lb) != "application":
        return NotApplicable(f"{_lb_kind(lb)} load balancer: only application load balancers read HTTP headers")
    if flag(lb.props.get("dropInvalidHeaderFields")) is not True:
        return Violated(f"load balancer '{lb.name}' passes invalid HTTP headers on: set "
                        f"drop_invalid_header_fields=True")
    return COMPLIANT


def lb_access_logs(lb: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if _lb_kind(lb) == "gateway":
        return NotApplicable("gateway load balancer: gateway load balancers write no access logs")
    logs = lb.props.get("accessLogs") or {}
    if flag(logs.get("enabled")) is not True or not logs.get("bucket"):
        return Violated(f"load balancer '{lb.name}' writes no access logs: set access_logs with enabled=True and the "
                        f"environment's access-logs bucket")
    return COMPLIANT


def lb_deletion_protection(view: StackView, config: Mapping[str, Any]) -> StackResult:
    """Controlled stacks only; not while the environment is retiring (its approval is change-control's job)."""
    env = view.environment
    if env is not None and read_known(lambda: env.props.get(ENVIRONMENT_RETIRING)) is True:
        return NotApplicable("an approved ECR retires the stack")
    balancers = view.of_type(*LOAD_BALANCER_TYPES)
    if not balancers:
        return NotApplicable("no load balancer in the stack")
    findings = []
    for lb in balancers:
        protected = read_known(lambda: lb.props.get("enableDeletionProtection"))
        if flag(protected) is not True and protected is not UNKNOWN:
            findings.append(Finding(lb.urn, f"load balancer '{lb.name}' of a change-controlled stack can be deleted: "
                                            f"set enable_deletion_protection=True", lb.name))
    return findings


RULES: list[Rule] = [
    Rule("sg-no-open-ingress", "security",
         "Only a load balancer's own security group accepts internet traffic, on TCP 80/443; never SSH or RDP",
         sg_no_open_ingress, scope="stack", fsbp="EC2.18", checkov="CKV_AWS_24, CKV_AWS_25",
         severity=Severity.HIGH,
         remediation="Open only TCP 80/443 to the internet, on the load balancer's own security group, as "
                     "SecurityGroupIngressRule resources"),
    Rule("lb-http-redirects", "security", "HTTP listeners redirect every request to HTTPS",
         lb_http_redirects, types=LISTENER_TYPES, fsbp="ELB.1", checkov="CKV2_AWS_20",
         severity=Severity.MEDIUM,
         remediation="Make the HTTP listener's default action a redirect to HTTPS (port 443, HTTP_301)"),
    Rule("lb-tls-policy", "security", "HTTPS and TLS listeners use an ELBSecurityPolicy-TLS13-* policy",
         lb_tls_policy, types=LISTENER_TYPES, fsbp="ELB.17", checkov="CKV_AWS_103",
         severity=Severity.MEDIUM,
         remediation="Set ssl_policy to an ELBSecurityPolicy-TLS13-* policy"),
    Rule("lb-drop-invalid-headers", "security", "Application load balancers drop invalid HTTP header fields",
         lb_drop_invalid_headers, types=LOAD_BALANCER_TYPES, fsbp="ELB.4", checkov="CKV_AWS_131",
         severity=Severity.MEDIUM,
         remediation="Set drop_invalid_header_fields=True on the load balancer"),
    Rule("lb-access-logs", "security", "Load balancers write access logs to a bucket",
         lb_access_logs, types=LOAD_BALANCER_TYPES, fsbp="ELB.5", checkov="CKV_AWS_91",
         severity=Severity.LOW,
         remediation="Set access_logs with enabled=True and the environment's access-logs bucket"),
    Rule("lb-deletion-protection", "security",
         "Load balancers of change-controlled stacks have deletion protection, unless the stack is retiring",
         lb_deletion_protection, scope="stack", controlled_only=True, fsbp="ELB.6", checkov="CKV_AWS_150",
         severity=Severity.MEDIUM,
         remediation="Set enable_deletion_protection=True on the load balancer"),
]
