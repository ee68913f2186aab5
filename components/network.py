"""The environment's network: a VPC of its own with public and private subnets, or an existing one."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from . import tokens
from .settings import NetworkSettings


@dataclass(frozen=True)
class NetworkArgs:
    settings: NetworkSettings
    region: str
    tags: dict[str, str]
    high_availability: bool  # a NAT gateway per zone instead of one
    flow_log_bucket_arn: pulumi.Input[str]


class TooFewZones(pulumi.RunError):
    """The account sees fewer availability zones in the region than the stack's az_count asks for. A RunError:
    the CLI prints it without a traceback, instead of an IndexError inside an apply."""

    def __init__(self, region: str, wanted: int, seen: list[str]):
        super().__init__(f"stack '{pulumi.get_stack()}' (Pulumi.{pulumi.get_stack()}.yaml): "
                         f"{pulumi.get_project()}:network.az_count asks for {wanted} availability zones, but this "
                         f"account sees {len(seen)} available in {region} ({', '.join(seen) or 'none'}): set "
                         f"az_count to at most {len(seen)}, or deploy to a region with {wanted} zones")


def zone(names: list[str], i: int, region: str) -> str:
    """The i-th available zone the account sees, or a clear refusal when it sees fewer."""
    if i >= len(names):
        raise TooFewZones(region, i + 1, list(names))
    return names[i]


def usable_public_subnet(subnet: aws.ec2.Subnet, association: aws.ec2.RouteTableAssociation,
                         table: aws.ec2.RouteTable, gateway: aws.ec2.InternetGateway) -> pulumi.Output[str]:
    """The public subnet's id, known only once its route to the internet exists.

    AWS refuses an internet-facing load balancer in a subnet whose route table has no internet gateway
    (`InvalidSubnet ... has no internet gateway`), and a NAT gateway there has no way out. Handing users
    this id instead of `subnet.id` makes each of them wait for the gateway, the public route table and
    the subnet's association (a data dependency the engine records per input), without a depends_on at
    every user."""
    return pulumi.Output.all(subnet.id, association.id, table.id, gateway.id).apply(lambda v: v[0])


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    public_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.NETWORK, name, None, opts)
        s = args.settings
        if s.vpc_id is not None:
            # An existing VPC: nothing to create, its owner runs its flow logs.
            self.vpc_id = pulumi.Output.from_input(s.vpc_id)
            self.private_subnet_ids = [pulumi.Output.from_input(i) for i in s.private_subnet_ids]
            self.public_subnet_ids = [pulumi.Output.from_input(i) for i in s.public_subnet_ids]
        else:
            self._create(name, args)
        self.register_outputs(
            {"vpcId": self.vpc_id, "privateSubnetIds": self.private_subnet_ids, "publicSubnetIds": self.public_subnet_ids}
        )

    def _create(self, name: str, args: NetworkArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        s, tags = args.settings, args.tags
        cidr = ipaddress.IPv4Network(s.cidr)
        blocks = list(cidr.subnets(new_prefix=cidr.prefixlen + 3))  # 8 equal blocks: public 0-2, private 4-6
        zones = aws.get_availability_zones_output(state="available").names

        vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=str(cidr), enable_dns_hostnames=True, enable_dns_support=True,
            tags={**tags, "Name": f"{name}-vpc"}, opts=child,
        )
        # The default security group allows traffic between its members: take every rule away.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, tags=tags, opts=child)
        aws.ec2.FlowLog(
            f"{name}-flow-log", vpc_id=vpc.id, traffic_type="ALL", log_destination_type="s3",
            log_destination=args.flow_log_bucket_arn, tags=tags, opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags, opts=child)
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id, routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags={**tags, "Name": f"{name}-public"}, opts=child,
        )

        public, private, nats = [], [], []
        for i in range(s.az_count):
            az = zones.apply(lambda names, i=i: zone(names, i, args.region))
            pub = aws.ec2.Subnet(
                f"{name}-public-{i}", vpc_id=vpc.id, cidr_block=str(blocks[i]), availability_zone=az,
                map_public_ip_on_launch=False, tags={**tags, "Name": f"{name}-public-{i}", "tier": "public"}, opts=child,
            )
            rta = aws.ec2.RouteTableAssociation(f"{name}-public-{i}-rta", subnet_id=pub.id, route_table_id=public_rt.id,
                                                opts=child)
            ready = usable_public_subnet(pub, rta, public_rt, igw)
            public.append(ready)
            if args.high_availability or i == 0:
                eip = aws.ec2.Eip(f"{name}-nat-{i}-eip", domain="vpc", tags=tags, opts=child)
                nats.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{i}", subnet_id=ready, allocation_id=eip.id, tags={**tags, "Name": f"{name}-nat-{i}"},
                        opts=child,
                    )
                )
            priv = aws.ec2.Subnet(
                f"{name}-private-{i}", vpc_id=vpc.id, cidr_block=str(blocks[4 + i]), availability_zone=az,
                map_public_ip_on_launch=False, tags={**tags, "Name": f"{name}-private-{i}", "tier": "private"}, opts=child,
            )
            rt = aws.ec2.RouteTable(
                f"{name}-private-{i}-rt", vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nats[min(i, len(nats) - 1)].id}],
                tags={**tags, "Name": f"{name}-private-{i}"}, opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}-rta", subnet_id=priv.id, route_table_id=rt.id, opts=child)
            private.append(priv)

        self.vpc_id = vpc.id
        self.public_subnet_ids = public
        self.private_subnet_ids = [p.id for p in private]
