"""Helpers shared by the tests (plain functions; the fixtures are in conftest.py): registrations as plain data,
the component tree of a plan, the pack's verdict, the command line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from components import tokens
from components.tokens import INSTANCE_KEYS
from envctl.cli import main
from envctl.evaluate import Violation, effective_policies, evaluate
from envctl.evidence.environment import SECRET_SIG
from envctl.monitor import SECRET_MARK, Registration, reveal
from envctl.offline import StackRun
from policies import facts
from policies.pack import POLICIES


def inputs_digest(reg: Registration) -> str:
    """A registration's inputs (secrets marked, never shown) as one short digest: equal digests, equal inputs."""
    text = json.dumps(reveal(reg.inputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def instances(run: StackRun) -> dict[str, Registration]:
    """The run's Instance components by role."""
    return {r.outputs[INSTANCE_KEYS.role]: r for r in run.by_type(tokens.INSTANCE)}


def under(run: StackRun, ancestor: Registration, typ: str) -> list[Registration]:
    """Resources of `typ` anywhere below `ancestor` in the component tree."""
    by_urn = run.by_urn
    found = []
    for reg in run.by_type(typ):
        parent = reg.parent
        while parent and parent in by_urn:
            if parent == ancestor.urn:
                found.append(reg)
                break
            parent = by_urn[parent].parent
    return found


def by_role(run: StackRun, typ: str) -> dict[str, Registration]:
    """The one resource of `typ` in each instance (anywhere in its parts), by the instance's role."""
    return {role: found for role, inst in instances(run).items() for found in under(run, inst, typ)}


# --------------------------------------------------------------------------------------------
# The pack's verdict, as the engine asks it
# --------------------------------------------------------------------------------------------
def verdict(run: StackRun, rules: Iterable[str], config: Mapping[str, Any] | None = None) -> list[Violation]:
    """The pack's violations of `rules` on a plan, as the engine asks it (the pack reads approvals and
    waivers itself); `config` is a --policy-pack-config, of those rules only."""
    wanted = set(rules)
    policies = [p for p in POLICIES if p.name in wanted]
    config = {k: v for k, v in (config or {}).items() if k in wanted or k == "all"}
    facts.clear()
    return evaluate(run, effective_policies(policies, config)).violations


def only(found: list[Violation], policy: str, urn: str | None = None) -> Violation:
    """The one violation of `policy` (on `urn`, when given) among `found`."""
    mine = [v for v in found if v.policy == policy and (urn is None or v.urn == urn)]
    assert len(mine) == 1, found
    return mine[0]


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------
def envctl(capsys, directory: Path, *argv: str) -> tuple[int, str, str]:
    """This checkout's envctl (the trusted checker) on `directory`, in example mode: exit code, stdout, stderr."""
    code = main(["--example", "--dir", str(directory), *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------
# What `pulumi stack export` writes for an installed stack
# --------------------------------------------------------------------------------------------
def stack_export(run: StackRun, change: Any = None) -> dict[str, Any]:
    """The plan as `pulumi stack export` records an installed stack (DeploymentV3: pulumi/pulumi
    sdk/go/common/apitype/core.go), secrets as the CLI writes them without --show-secrets. `change(reg)` may return a
    function that edits a resource's inputs and outputs (what was changed in the account and refreshed)."""
    def secret(value: Any) -> Any:
        if value == SECRET_MARK:
            return {SECRET_SIG[0]: SECRET_SIG[1], "ciphertext": "v1:AAAA"}
        if isinstance(value, dict):
            return {k: secret(v) for k, v in value.items()}
        if isinstance(value, list):
            return [secret(v) for v in value]
        return value

    resources = [{"urn": f"urn:pulumi:{run.stack}::{run.project}::{tokens.STACK}::{run.project}-{run.stack}",
                  "custom": False, "type": tokens.STACK, "outputs": run.outputs}]
    for reg in run.registrations:
        inputs = secret(reveal(reg.inputs))
        outputs = secret(reveal(reg.outputs if reg.outputs is not None else reg.state))
        edit = change(reg) if change is not None else None
        if edit:
            inputs, outputs = edit(inputs), edit(outputs)
        resources.append({"urn": reg.urn, "custom": reg.custom, "id": reg.id, "type": reg.type, "inputs": inputs,
                          "outputs": outputs, "parent": reg.parent, "protect": reg.protect, "external": reg.read})
    return {"version": 3, "deployment": {"manifest": {"time": "2026-11-26T12:00:00Z", "magic": "x", "version": "v3"},
                                         "secrets_providers": {"type": "service"}, "resources": resources}}
