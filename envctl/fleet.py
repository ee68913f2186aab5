"""What only the whole directory of stacks shows: stacks that would meet in AWS although each is valid on its own.

* Two stacks of one customer with overlapping networks. A customer's environments are reached from the
  same places (the customer's sites, the vendor's support network) and may be peered to each other for a
  migration or a clone: two VPCs of one customer whose ranges overlap cannot both be routed to. Stacks of
  different customers never meet and may reuse ranges.
* Two stacks of one environment. An environment's name is `<customer>-<phase>` (components.naming), so
  `prod` and `acme-prod`, both of customer acme, are one environment twice: they would claim the same task
  roles, load-balancer and target-group names, log groups, key aliases, snapshot identifiers and DNS
  records. One stack per environment.
* Two demo stacks of one release. Demo stacks (`demo`, `demo-<label>`) are named by their stack, so they
  never share a name; they exist side by side to show different releases, one stack per release. A
  second one on the same release costs a network, a database and a load balancer and shows nothing new.

Each stack's settings are valid on their own, so only a check of the directory can refuse them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from changecontrol.stackfiles import StackFileError, discover
from components.phases import LABELLED_PHASE
from components.settings import InvalidStackConfig, StackSettings

from .stackfile import load_stack_settings, program_dir, project_name


def fleet_settings(stacks_dir: Path, today: date | None = None) -> dict[str, StackSettings]:
    """The settings of every stack of `stacks_dir` that loads; stacks whose settings do not load are left to
    their own error (and so is a project that cannot be read: every stack's own check says so)."""
    try:
        project = project_name(program_dir(stacks_dir))
    except StackFileError:
        return {}
    found: dict[str, StackSettings] = {}
    for stack in discover(stacks_dir):
        try:
            found[stack] = load_stack_settings(stacks_dir, stack, today, project)
        except (StackFileError, InvalidStackConfig):
            continue
    return found


def network_overlaps(stacks_dir: Path, stacks: Sequence[str], today: date | None = None,
                     fleet: Mapping[str, StackSettings] | None = None) -> dict[str, str]:
    """For each of `stacks` whose VPC range overlaps that of another stack of the same customer in
    `stacks_dir`, the message that says so."""
    fleet = fleet_settings(stacks_dir, today) if fleet is None else fleet
    networks = {stack: (s.customer, ipaddress.IPv4Network(s.network.cidr)) for stack, s in fleet.items()
                if s.customer and s.network.cidr}
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


def environment_collisions(stacks_dir: Path, stacks: Sequence[str], today: date | None = None,
                           fleet: Mapping[str, StackSettings] | None = None) -> dict[str, str]:
    """For each of `stacks` that makes the same environment as another stack of `stacks_dir` (or, for a demo
    stack, runs the same release as another demo stack), the message that says so, naming both stack files."""
    fleet = fleet_settings(stacks_dir, today) if fleet is None else fleet
    found: dict[str, str] = {}
    for stack in stacks:
        settings = fleet.get(stack)
        if settings is None:
            continue
        problems = []
        twins = [other for other, s in sorted(fleet.items()) if other != stack and s.env_name == settings.env_name]
        if twins:
            problems.append(
                f"Pulumi.{stack}.yaml and {', '.join(f'Pulumi.{t}.yaml' for t in twins)} both make environment "
                f"'{settings.env_name}': they would claim the same task roles, load-balancer and target-group names, "
                "log groups, key aliases, snapshot identifiers and DNS records; keep one stack per environment "
                "(remove the other stack file, or destroy its stack first)")
        if settings.phase == LABELLED_PHASE:
            same = [other for other, s in sorted(fleet.items())
                    if other != stack and s.phase == LABELLED_PHASE and s.release == settings.release]
            if same:
                problems.append(
                    f"Pulumi.{stack}.yaml and {', '.join(f'Pulumi.{t}.yaml' for t in same)} are {LABELLED_PHASE} "
                    f"stacks of the same release {settings.release}: {LABELLED_PHASE} stacks stand side by side one "
                    f"per release; give this one another release, or destroy it and use the other")
        if problems:
            found[stack] = f"stack '{stack}': " + "; ".join(problems)
    return found


def refusals(stacks_dir: Path, stacks: Sequence[str], today: date | None = None) -> dict[str, str]:
    """Everything the directory refuses of `stacks` (network overlaps, environments twice), one message each."""
    fleet = fleet_settings(stacks_dir, today)
    found: dict[str, list[str]] = {}
    for check in (network_overlaps, environment_collisions):
        for stack, message in check(stacks_dir, stacks, today, fleet).items():
            found.setdefault(stack, []).append(message)
    return {stack: "; ".join(messages) for stack, messages in found.items()}
