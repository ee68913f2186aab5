"""Render an offline run the way `pulumi preview` shows a plan: a tree of what would be created."""

from __future__ import annotations

import json
from typing import Any, Iterable

from .mocks import Registration, reveal
from .offline import StackRun

# The settings worth seeing per resource type in the tree (input names as the engine sees them).
KEY_SETTINGS: dict[str, tuple[str, ...]] = {
    "aws:rds/instance:Instance": ("engineVersion", "instanceClass", "multiAz", "backupRetentionPeriod",
                                  "deletionProtection", "skipFinalSnapshot", "snapshotIdentifier"),
    "aws:rds/snapshot:Snapshot": ("dbSnapshotIdentifier",),
    "aws:rds/snapshotCopy:SnapshotCopy": ("sourceDbSnapshotIdentifier", "targetDbSnapshotIdentifier"),
    "aws:s3/bucket:Bucket": ("forceDestroy",),
    "aws:kms/key:Key": ("enableKeyRotation", "deletionWindowInDays"),
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock",),
    "aws:ecs/taskDefinition:TaskDefinition": ("family", "cpu", "memory"),
    "aws:ecs/service:Service": ("desiredCount",),
    "aws:lb/loadBalancer:LoadBalancer": ("enableDeletionProtection",),
    "aws:lb/listener:Listener": ("port", "protocol", "sslPolicy"),
    "aws:cloudwatch/logGroup:LogGroup": ("retentionInDays",),
    "aws:secretsmanager/secret:Secret": ("recoveryWindowInDays",),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ("fromPort", "cidrIpv4", "cidrIpv6"),
    "aws:route53/record:Record": ("name", "type"),
}


def display_type(token: str) -> str:
    """`aws:s3/bucket:Bucket` -> `aws:s3:Bucket`, as the CLI prints types."""
    parts = token.split(":")
    if len(parts) == 3 and "/" in parts[1]:
        return f"{parts[0]}:{parts[1].split('/')[0]}:{parts[2]}"
    return token


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _info(reg: Registration) -> str:
    bits = [f"{k}={_fmt(reg.inputs[k])}" for k in KEY_SETTINGS.get(reg.type, ()) if k in reg.inputs]
    if reg.protect:
        bits.insert(0, "protect")
    if reg.ignore_changes:
        bits.append("ignoreChanges=" + ",".join(reg.ignore_changes))
    return " ".join(bits)


def _summary(run: StackRun) -> str:
    env = next((r for r in run.registrations if r.type == "clinspark:environment:Environment"), None)
    out = env.outputs if env and env.outputs else {}
    customer = out.get("customer") or "no customer"
    return f"phase {out.get('phase', '?')}, {customer}"


def render_tree(run: StackRun) -> str:
    children: dict[str, list[Registration]] = {}
    urns = {r.urn for r in run.registrations}
    roots: list[Registration] = []
    for reg in run.registrations:
        if reg.parent in urns:
            children.setdefault(reg.parent, []).append(reg)
        else:
            roots.append(reg)

    rows: list[tuple[str, str, str, str]] = [("pulumi:pulumi:Stack", f"{run.project}-{run.stack}", "create", "")]

    def walk(regs: list[Registration], prefix: str) -> None:
        for i, reg in enumerate(regs):
            last = i == len(regs) - 1
            op = "read" if reg.read else "create"
            info = f"outputs of {reg.id}" if reg.read else _info(reg)
            rows.append((prefix + ("└─ " if last else "├─ ") + display_type(reg.type), reg.name, op, info))
            walk(children.get(reg.urn, []), prefix + ("   " if last else "│  "))

    for regs in children.values():
        regs.sort(key=lambda r: r.name)  # registration order varies between runs; names do not
    walk(sorted(roots, key=lambda r: r.name), "")
    width_t = max(len(t) for t, _, _, _ in rows) + 2
    width_n = max(len(n) for _, n, _, _ in rows) + 2
    protected = sum(1 for r in run.registrations if r.protect)
    created = sum(1 for r in run.registrations if not r.read) + 1
    reads = len(run.registrations) + 1 - created
    lines = [f"Plan of stack '{run.stack}' ({_summary(run)}) from {run.path.name}, offline", ""]
    lines.append(f"     {'Type':<{width_t}}{'Name':<{width_n}}Plan    Info")
    lines += [f" {'+' if op == 'create' else '>'}   {t:<{width_t}}{n:<{width_n}}{op:<8}{info}".rstrip()
              for t, n, op, info in rows]
    lines += ["", "Outputs:"]
    lines += [f"    {k}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(run.outputs.items())]
    lines += ["", "Resources:", f"    + {created} to create ({protected} protected)"]
    if reads:
        lines.append(f"    > {reads} to read")
    return "\n".join(lines)


def resource_json(reg: Registration) -> dict[str, Any]:
    return {
        "urn": reg.urn, "type": reg.type, "name": reg.name, "custom": reg.custom, "parent": reg.parent or None,
        "protect": reg.protect, "read": reg.read, "ignoreChanges": reg.ignore_changes, "dependencies": reg.dependencies,
        "inputs": reveal(reg.inputs), "outputs": reveal(reg.outputs) if reg.outputs is not None else None,
    }


def plan_json(runs: Iterable[tuple[str, StackRun | None, str | None]]) -> str:
    stacks = []
    for stack, run, error in runs:
        entry: dict[str, Any] = {"stack": stack, "error": error}
        if run is not None:
            entry.update(phase=run.outputs.get("phase"), customer=run.outputs.get("customer"),
                         outputs=run.outputs, resources=[resource_json(r) for r in run.registrations])
        stacks.append(entry)
    return json.dumps({"stacks": stacks}, indent=2, sort_keys=False, default=str)
