"""An instance's HTTPS entry: the internet-facing load balancer, its listeners, certificate and DNS name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from . import tokens
from .naming import TARGET_GROUP_VPC, Names
from .phases import Role

APP_PORT = 8080
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True)
class HttpsEntryArgs:
    """What the entry is told. HTTPS with a TLS 1.3 policy, HTTP only as a redirect, invalid headers
    dropped and access logs on are not arguments: they are always so."""

    instance_name: str  # its resources keep the instance's names, so that they keep their identity
    names: Names
    role: Role
    hostname: str
    zone_id: pulumi.Input[str]
    vpc_id: pulumi.Input[str]
    vpc_origin: str  # what the stack's settings say of the VPC (its cidr, or an existing vpc_id): in the TG's name
    public_subnet_ids: Sequence[pulumi.Input[str]]
    security_group_id: pulumi.Input[str]
    logs_bucket_name: pulumi.Input[str]
    tags: Mapping[str, str] = field(default_factory=dict)
    deletion_protection: bool = True


class HttpsEntry(pulumi.ComponentResource):
    """Internet -> load balancer (HTTPS, HTTP redirected) -> the application's target group."""

    def __init__(self, name: str, args: HttpsEntryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.HTTPS_ENTRY, name, None, opts)
        base, names, role, tags = args.instance_name, args.names, args.role, dict(args.tags)
        # Every resource here stood directly in the Instance before it had named parts: the alias keeps its URN.
        was = [pulumi.Alias(parent=opts.parent if opts else None)]
        child = pulumi.ResourceOptions(parent=self, aliases=was)

        # The inputs that force a replacement are in the names (components.naming: names that survive
        # replacement). A new target group is created, the listener and the service move to it in place, and
        # the old one is deleted last: the engine's default order, which nothing here overrides.
        lb_forcing = {"internal": False, "load_balancer_type": "application"}
        tg_forcing = {"port": APP_PORT, "protocol": "HTTP", "target_type": "ip"}
        lb = aws.lb.LoadBalancer(
            f"{base}-lb", name=names.load_balancer(role, lb_forcing), **lb_forcing,
            subnets=list(args.public_subnet_ids), security_groups=[args.security_group_id],
            drop_invalid_header_fields=True, desync_mitigation_mode="strictest",
            enable_deletion_protection=args.deletion_protection,
            access_logs={"bucket": args.logs_bucket_name, "prefix": names.access_log_prefix(role), "enabled": True},
            tags=tags, opts=child,
        )
        target = aws.lb.TargetGroup(
            f"{base}-tg", name=names.target_group(role, {**tg_forcing, TARGET_GROUP_VPC: args.vpc_origin}),
            **tg_forcing, vpc_id=args.vpc_id,
            health_check={"path": "/health", "matcher": "200", "healthy_threshold": 2, "unhealthy_threshold": 3},
            tags=tags, opts=child,
        )
        # Created before the old one is deleted (the engine's default): ACM issues several certificates for one
        # name, and the HTTPS listener moves to the new one before the old one goes. Deleting first would fail:
        # ACM refuses to delete a certificate a listener still uses (ResourceInUseException).
        cert = aws.acm.Certificate(f"{base}-cert", domain_name=args.hostname, validation_method="DNS", tags=tags,
                                   opts=child)
        option = cert.domain_validation_options[0]
        validation_record = aws.route53.Record(
            f"{base}-cert-validation", zone_id=args.zone_id, name=option.resource_record_name,
            type=option.resource_record_type, records=[option.resource_record_value], ttl=300, allow_overwrite=True,
            opts=child,
        )
        validation = aws.acm.CertificateValidation(
            f"{base}-cert-ready", certificate_arn=cert.arn, validation_record_fqdns=[validation_record.fqdn], opts=child
        )
        aws.lb.Listener(
            f"{base}-http", load_balancer_arn=lb.arn, port=80, protocol="HTTP",
            default_actions=[{"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS",
                                                                "status_code": "HTTP_301"}}],
            tags=tags, opts=child,
        )
        self.https_listener = aws.lb.Listener(
            f"{base}-https", load_balancer_arn=lb.arn, port=443, protocol="HTTPS", ssl_policy=TLS_POLICY,
            certificate_arn=validation.certificate_arn,
            default_actions=[{"type": "forward", "target_group_arn": target.arn}], tags=tags, opts=child,
        )
        aws.route53.Record(
            f"{base}-dns", zone_id=args.zone_id, name=args.hostname, type="A",
            aliases=[{"name": lb.dns_name, "zone_id": lb.zone_id, "evaluate_target_health": True}], opts=child,
        )
        self.target_group_arn = target.arn
        self.url = pulumi.Output.from_input(f"https://{args.hostname}")
        self.register_outputs({"url": self.url, "loadBalancerDnsName": lb.dns_name})
