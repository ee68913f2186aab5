"""What only the whole directory of stacks shows: two stacks of one customer with overlapping networks.

A customer's environments are reached from the same places (the customer's sites, the vendor's
support network) and may be peered to each other for a migration or a clone: two VPCs of one customer
whose ranges overlap cannot both be routed to. Each stack's settings are valid on their own, so only a
check of the directory can refuse it; stacks of different customers never meet and may reuse ranges.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from changecontrol.stackfiles import StackFileError, discover
from components.settings import InvalidStackConfig

from .stackfile import load_stack_settings, program_dir, project_name


def network_overlaps(stacks_dir: Path, stacks: Sequence[str], today: date | None = None) -> dict[str, str]:
    """For each of `stacks` whose VPC range overlaps that of another stack of the same customer in
    `stacks_dir`, the message that says so. Stacks whose settings do not load are left to their own error."""
    networks: dict[str, tuple[str, ipaddress.IPv4Network]] = {}
    try:
        project = project_name(program_dir(stacks_dir))
    except StackFileError:
        return {}  # the project itself cannot be read: every stack's own check says so
    for stack in discover(stacks_dir):
        try:
            settings = load_stack_settings(stacks_dir, stack, today, project)
        except (StackFileError, InvalidStackConfig):
            continue
        if settings.customer and settings.network.cidr:
            networks[stack] = (settings.customer, ipaddress.IPv4Network(settings.network.cidr))
    found: dict[str, str] = {}
    for stack in stacks:
        if stack not in networks:
            continue
        customer, net = networks[stack]
        clashes = [f"'{other}' ({other_net})" for other, (other_customer, other_net) in sorted(networks.items())
                   if other != stack and other_customer == customer and net.overlaps(other_net)]
        if clashes:
            found[stack] = (f"stack '{stack}': Pulumi.{stack}.yaml network.cidr {net} overlaps stack "
                            f"{', '.join(clashes)} of the same customer '{customer}': their networks could not be "
                            f"routed to or peered; give each of the customer's stacks its own range")
    return found
