"""Render an offline run the way `pulumi preview` shows a plan: a tree of what would be created."""

from __future__ import annotations

import json
from typing import Any, Iterable

from components import tokens
from components.phases import CLONE, ITERATION, SEED
from components.tokens import ENVIRONMENT_KEYS as ENV_KEYS
from components.tokens import INSTANCE_KEYS

from .monitor import Registration, reveal
from .offline import StackRun

# The settings worth seeing per resource type in the tree (input names as the engine sees them).
KEY_SETTINGS: dict[str, tuple[str, ...]] = {
    tokens.RDS_INSTANCE: ("engineVersion", "instanceClass", "multiAz", "backupRetentionPeriod",
                          "deletionProtection", "skipFinalSnapshot", "snapshotIdentifier"),
    tokens.RDS_SNAPSHOT: ("dbSnapshotIdentifier",),
    tokens.RDS_SNAPSHOT_COPY: ("sourceDbSnapshotIdentifier", "targetDbSnapshotIdentifier"),
    tokens.S3_BUCKET: ("forceDestroy",),
    tokens.KMS_KEY: ("enableKeyRotation", "deletionWindowInDays"),
    tokens.VPC: ("cidrBlock",),
    tokens.SUBNET: ("cidrBlock",),
    tokens.ECS_TASK_DEFINITION: ("family", "cpu", "memory"),
    tokens.ECS_SERVICE: ("desiredCount",),
    tokens.LOAD_BALANCER: ("enableDeletionProtection",),
    tokens.LISTENER: ("port", "protocol", "sslPolicy"),
    tokens.LOG_GROUP: ("retentionInDays",),
    tokens.SECRET: ("recoveryWindowInDays",),
    tokens.INGRESS_RULE: ("fromPort", "cidrIpv4", "cidrIpv6"),
    tokens.DNS_RECORD: ("name", "type"),
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
    env = next((r for r in run.registrations if r.type == tokens.ENVIRONMENT), None)
    out = env.outputs if env and env.outputs else {}
    customer = out.get(ENV_KEYS.customer) or "no customer"
    return f"phase {out.get(ENV_KEYS.phase, '?')}, {customer}"


def data_lines(registrations: Iterable[Registration]) -> list[str]:
    """Where each instance's database comes from, as its Instance registered it (`restoredFrom`), in words:
    a clone or a seed is pinned; a new iteration replaces the database."""
    lines = []
    for inst in sorted((r for r in registrations if r.type == tokens.INSTANCE), key=lambda r: r.name):
        out = inst.outputs or {}
        source = out.get(INSTANCE_KEYS.restored_from)
        role = out.get(INSTANCE_KEYS.role, "?")
        if not isinstance(source, dict):
            lines.append(f"{role}: starts empty (a database of its own)")
        elif source.get("kind") == ITERATION:
            lines.append(f"{role}: restored from migration iteration {source.get('snapshot')}; a new iteration "
                         "REPLACES this database: nothing of the previous one is kept")
        elif source.get("kind") == SEED:
            lines.append(f"{role}: restored from the seed of release {source.get('release')} "
                         f"('{source.get('snapshot')}' of {source.get('stack')}), through its own copy; pinned: a "
                         "newer seed does not replace it")
        else:
            lines.append(f"{role}: restored from a {source.get('kind') or CLONE} of {source.get('stack')}, snapshot "
                         f"'{source.get('snapshot')}', through its own copy; pinned: a newer snapshot does not "
                         "replace it")
    return lines


def render_tree(run: StackRun) -> str:
    children: dict[str, list[Registration]] = {}
    urns = {r.urn for r in run.registrations}
    roots: list[Registration] = []
    for reg in run.registrations:
        if reg.parent in urns:
            children.setdefault(reg.parent, []).append(reg)
        else:
            roots.append(reg)

    rows: list[tuple[str, str, str, str]] = [(tokens.STACK, f"{run.project}-{run.stack}", "create", "")]

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
    lines += ["", "Data:"] + [f"    {line}" for line in data_lines(run.registrations)]
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
