"""What `pulumi stack export` says was installed: the resources of a stack, by URN.

The export is a `DeploymentV3` (pulumi/pulumi sdk/go/common/apitype/core.go): `{"version": 3, "deployment":
{"manifest": {...}, "secrets_providers": {...}, "resources": [ResourceV3, ...]}}`. Each ResourceV3 has `urn`,
`custom`, `type`, and, as far as they apply, `id` (custom resources), `inputs`, `outputs`, `parent`, `protect`,
`dependencies`, `provider`. A secret value stays as the export wrote it (`{"4dabf1...": "1b4706...",
"ciphertext": ...}` without --show-secrets): the IQ never needs a secret's plaintext.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

DEPLOYMENT_VERSION = 3
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the key every Pulumi secret value carries (SecretV1.Sig)
ACCEPTED = ("the output of `pulumi stack export --stack STACK --file EXPORT.json`: a JSON object "
            '{"version": 3, "deployment": {"manifest": {...}, "resources": [{"urn", "type", "custom", "id", '
            '"inputs", "outputs", ...}, ...]}}')


class StateError(UsageError):
    """A state file that cannot be read as the export of this stack (exit 2)."""


@dataclass(frozen=True)
class InstalledResource:
    """One resource of the export."""

    urn: str
    type: str
    custom: bool
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent: str
    protect: bool

    @property
    def name(self) -> str:
        return self.urn.rsplit("::", 1)[-1]

    def output(self, key: str) -> Any:
        """An output's value; a secret's stays opaque (None)."""
        value = self.outputs.get(key)
        return None if is_secret(value) else value


@dataclass(frozen=True)
class InstalledState:
    """A stack's export: its stack and project (from the URNs), when it was written, and its resources by URN."""

    path: Path
    stack: str
    project: str
    time: str
    resources: dict[str, InstalledResource] = field(default_factory=dict)

    def get(self, urn: str) -> InstalledResource | None:
        return self.resources.get(urn)


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


def _refuse(path: Path, what: str) -> StateError:
    return StateError(f"state file {path}: {what}; accepted: {ACCEPTED}")


def read_state(path: Path | str, stack: str | None = None) -> InstalledState:
    """Read an export; with `stack`, refuse the export of another stack."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StateError(f"state file {path} does not exist; write it with `pulumi stack export --stack "
                         f"{stack or 'STACK'} --file {path}`") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _refuse(path, f"cannot be read ({e})") from None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise _refuse(path, f"is not JSON ({e})") from None
    if not isinstance(doc, dict) or "deployment" not in doc:
        raise _refuse(path, "has no key 'deployment'")
    if doc.get("version") != DEPLOYMENT_VERSION:
        raise _refuse(path, f"key 'version' is {doc.get('version')!r}, not {DEPLOYMENT_VERSION}")
    deployment = doc["deployment"]
    if not isinstance(deployment, dict) or not isinstance(deployment.get("resources", []), list):
        raise _refuse(path, "key 'deployment.resources' is not a list")
    resources: dict[str, InstalledResource] = {}
    stacks: set[tuple[str, str]] = set()
    for i, raw in enumerate(deployment.get("resources") or []):
        where = f"deployment.resources[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("urn"), str) or not isinstance(raw.get("type"), str):
            raise _refuse(path, f"{where} has no string 'urn' and 'type'")
        parts = raw["urn"].split("::")
        if len(parts) != 4 or not parts[0].startswith("urn:pulumi:"):
            raise _refuse(path, f"{where}.urn {raw['urn']!r} is not a Pulumi URN (urn:pulumi:STACK::PROJECT::TYPE::NAME)")
        stacks.add((parts[0][len("urn:pulumi:"):], parts[1]))
        for key in ("inputs", "outputs"):
            if not isinstance(raw.get(key) or {}, dict):
                raise _refuse(path, f"{where}.{key} is not an object")
        resources[raw["urn"]] = InstalledResource(
            urn=raw["urn"], type=raw["type"], custom=bool(raw.get("custom")), id=str(raw.get("id") or ""),
            inputs=dict(raw.get("inputs") or {}), outputs=dict(raw.get("outputs") or {}),
            parent=str(raw.get("parent") or ""), protect=bool(raw.get("protect")))
    if len(stacks) > 1:
        raise _refuse(path, f"its resources belong to several stacks ({', '.join(sorted(s for s, _ in stacks))})")
    found_stack, project = next(iter(stacks)) if stacks else ("", "")
    if stack is not None and stacks and found_stack != stack:
        raise StateError(f"state file {path} is the export of stack '{found_stack}', not of '{stack}': export "
                         f"'{stack}' (pulumi stack export --stack {stack} --file EXPORT.json)")
    if stack is not None and not resources:
        raise _refuse(path, "lists no resources: the stack was never installed (or was destroyed)")
    manifest = deployment.get("manifest") if isinstance(deployment.get("manifest"), dict) else {}
    return InstalledState(path=path, stack=found_stack or (stack or ""), project=project,
                          time=str(manifest.get("time", "")), resources=resources)
