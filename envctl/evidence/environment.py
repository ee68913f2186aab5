"""One environment as the evidence documents read it: its resources grouped by instance, from the offline plan of
its stack or from a `pulumi stack export` of what is installed.

The export is read here only as far as the configuration report and the diff need it (URN, type, parent, protect,
inputs, outputs; secrets stay opaque). SEAM (issue 11): `envctl.evidence.state.read_state` (the IQ helper's
reader of the same format) replaces :func:`read_export` when both branches meet; the lead integrates it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from changecontrol import strictyaml
from components import tokens
from components.tokens import INSTANCE_KEYS

from ..errors import UsageError
from ..monitor import SECRET_MARK, Registration, reveal
from ..offline import StackRun

ENVIRONMENT_GROUP = "environment"  # resources of no instance: network, access logs, a pair's exchange location
# How `pulumi stack export` marks a secret value (pulumi.runtime.rpc._special_sig_key / _special_secret_sig).
SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")


class ExportError(UsageError):
    """Not a `pulumi stack export` file (exit 2)."""


@dataclass
class Environment:
    """An environment's resources: every registration, and by group (an instance's role, or ``environment``)."""

    stack: str
    source: str  # "offline plan" or the export file
    resources: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)  # the stack's exports (the Environment's outputs)
    installed: bool = False

    @property
    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}

    def instances(self) -> dict[str, Registration]:
        """The Instance components by role."""
        return {str(r.outputs[INSTANCE_KEYS.role]): r for r in self.resources
                if r.type == tokens.INSTANCE and r.outputs and INSTANCE_KEYS.role in r.outputs}

    def group_of(self, reg: Registration) -> str:
        """The role of the instance a resource belongs to, or ``environment``."""
        by_urn, roles = self.by_urn, {i.urn: role for role, i in self.instances().items()}
        parent = reg.urn
        while parent in by_urn:
            if parent in roles:
                return roles[parent]
            parent = by_urn[parent].parent
        return ENVIRONMENT_GROUP

    def groups(self) -> dict[str, list[Registration]]:
        """Managed resources (components and read references left out) by group, in registration order."""
        found: dict[str, list[Registration]] = {}
        for reg in self.resources:
            if reg.custom and not reg.read:
                found.setdefault(self.group_of(reg), []).append(reg)
        return found

    def group_name(self, group: str) -> str:
        """The resource-name prefix of a group: the instance's name, or the environment's."""
        instance = self.instances().get(group)
        if instance is not None:
            return str(instance.outputs[INSTANCE_KEYS.instance_name])
        env = next((r for r in self.resources if r.type == tokens.ENVIRONMENT), None)
        return env.name if env is not None else self.stack


def from_plan(run: StackRun) -> Environment:
    return Environment(stack=run.stack, source="offline plan", resources=list(run.registrations),
                       outputs=dict(run.outputs))


def _opaque(value: Any) -> Any:
    """An export's value with every secret replaced by the plan's mark (evidence never needs a secret's plaintext)."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG[0]) == SECRET_SIG[1]:
            return SECRET_MARK
        return {k: _opaque(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_opaque(v) for v in value]
    return value


def read_export(path: Path, stack: str) -> Environment:
    """The resources a `pulumi stack export` file (DeploymentV3) records as installed; ExportError naming the file
    and what is accepted otherwise."""
    accepted = "the output of `pulumi stack export` (JSON, version 3, deployment.resources)"
    try:
        data = strictyaml.loads_json(Path(path).read_bytes(), str(path))
    except OSError as e:
        raise ExportError(f"{path}: cannot be read ({e.strerror or e}); give {accepted}") from None
    except strictyaml.StrictYamlError as e:
        raise ExportError(f"{e}; give {accepted}") from None
    deployment = data.get("deployment") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("version") != 3 or not isinstance(deployment, dict) \
            or not isinstance(deployment.get("resources"), list):
        raise ExportError(f"{path}: not {accepted}")
    resources, outputs = [], {}
    for i, raw in enumerate(deployment["resources"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("urn"), str) or not isinstance(raw.get("type"), str):
            raise ExportError(f"{path}: deployment.resources[{i}] has no urn and type; give {accepted}")
        urn, typ = raw["urn"], raw["type"]
        urn_stack = urn.split("::")[0].removeprefix("urn:pulumi:")
        if urn_stack != stack:
            raise ExportError(f"{path}: deployment.resources[{i}] is of stack '{urn_stack}', not '{stack}': give the "
                              f"export of stack '{stack}'")
        if typ == tokens.STACK:
            outputs = _opaque(raw.get("outputs") or {})
            continue
        if typ.startswith(tokens.PROVIDER_PREFIX) or raw.get("delete"):
            continue  # providers; and a replaced resource pending deletion, which the stack no longer manages
        resources.append(Registration(
            urn=urn, type=typ, name=urn.rsplit("::", 1)[-1], custom=bool(raw.get("custom")),
            parent=raw.get("parent") or "", protect=bool(raw.get("protect")),
            dependencies=list(raw.get("dependencies") or []), provider=raw.get("provider") or "",
            ignore_changes=[], delete_before_replace=False, retain_on_delete=bool(raw.get("retainOnDelete")),
            deleted_with="", replace_on_changes=[], aliases=[], inputs=_opaque(raw.get("inputs") or {}),
            id=str(raw.get("id") or ""), state=_opaque(raw.get("outputs") or {}),
            outputs=None if raw.get("custom") else _opaque(raw.get("outputs") or {}),
            read=bool(raw.get("external")),
        ))
    return Environment(stack=stack, source=str(path), resources=resources, outputs=outputs, installed=True)


def plain(value: Any) -> Any:
    """Inputs as plain data: secrets marked, JSON strings (a task definition's containers, a policy) parsed, whole
    floats as integers, so that a reader and deepdiff see structure, not text. The engine's bookkeeping keys of an
    export (`__defaults`: which inputs the provider defaulted; `__meta`) are left out: they are not configuration."""
    value = reveal(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not (isinstance(k, str) and k.startswith("__"))}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return plain(json.loads(value))
        except ValueError:
            return value
    return value
