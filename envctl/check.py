"""`envctl check`: the offline policy check of one stack, a list of stacks, or a whole fleet.

Each stack is planned offline (as `envctl plan` does), its policy-pack config is taken from
`--policy-config` or made from its Environment Change Records and waivers (as
`envctl policy-config` writes it for the CLI), and the pack is evaluated the way the engine
does. Stacks of one customer are checked in one worker so that Pre-PROD is planned once for
its VAL and PROD; workers run in parallel processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Mapping, Sequence

from pulumi_policy import EnforcementLevel

from .ecr import EcrError
from .evaluate import PolicyConfigError, Violation, effective_policies, evaluate
from .offline import LocalStacks, StackRun, StackRunError
from .stackfile import StackFileError


@dataclass
class StackCheck:
    stack: str
    phase: str | None = None
    resources: int = 0
    violations: list[Violation] = field(default_factory=list)
    waivers: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == EnforcementLevel.MANDATORY.value]

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "phase": self.phase, "resources": self.resources,
                "violations": [v.to_json() for v in self.violations], "waivers": self.waivers, "error": self.error}


def _environment(run: StackRun) -> Mapping[str, Any]:
    envs = run.by_type("clinspark:environment:Environment")
    return (envs[0].outputs or {}) if envs else {}


def records_policy_config(records_dir: Path, stack: str) -> dict[str, Any]:
    """The config `envctl policy-config STACK` writes: approved digests, approved records, waivers."""
    from policies.pack import RULE_IDS

    from .ecr import policy_config

    return policy_config(records_dir, stack, RULE_IDS)


def waiver_listing(config: Mapping[str, Any], controlled: bool, today: date) -> list[dict[str, Any]]:
    from policies.framework import judge_waiver

    listing = []
    for policy, section in sorted(config.items()):
        if not isinstance(section, Mapping):
            continue
        approved = section.get("approvedRecords") or []
        for waiver in section.get("waivers") or []:
            decision = judge_waiver(waiver, controlled, approved, today)
            listing.append({"policy": policy, "resource": waiver.get("resource"), "reason": waiver.get("reason"),
                            "expires": waiver.get("expires"), "ecr": waiver.get("ecr"),
                            "honoured": decision.honoured, "why": decision.why})
    return listing


def check_stack(local: LocalStacks, stack: str, policy_config: Mapping[str, Any] | None, records_dir: Path,
                today: date) -> StackCheck:
    from policies.pack import POLICIES

    result = StackCheck(stack)
    try:
        run = local.run(stack)
    except StackRunError as e:
        result.error = str(e)
        return result
    env = _environment(run)
    result.phase = env.get("phase")
    result.resources = len(run.registrations)
    controlled = bool(env.get("controlled", True))
    try:
        config = dict(policy_config) if policy_config is not None else records_policy_config(records_dir, stack)
        effective = effective_policies(POLICIES, config)
    except (PolicyConfigError, EcrError, StackFileError, OSError, ValueError) as e:
        result.error = f"stack '{stack}': {e}"
        return result
    lowered = sorted(e.policy.name for e in effective if e.level != EnforcementLevel.MANDATORY)
    if controlled and lowered:
        result.error = (f"stack '{stack}' is change-controlled: its policy config may not lower "
                        f"{', '.join(lowered)} below mandatory (only uncontrolled stacks may)")
        return result
    result.violations = evaluate(run, effective).violations
    result.waivers = waiver_listing(config, controlled, today)
    return result


def _check_group(project_dir: str, stacks_dir: str, stacks: Sequence[str], policy_config: Mapping[str, Any] | None,
                 today: str) -> list[StackCheck]:
    local = LocalStacks(Path(project_dir), Path(stacks_dir))
    return [check_stack(local, s, policy_config, Path(stacks_dir), date.fromisoformat(today)) for s in stacks]


def _customer_groups(stacks: Sequence[str], groups: int) -> list[list[str]]:
    """Spread the stacks over `groups` lists, keeping each customer's stacks together."""
    by_customer: dict[str, list[str]] = {}
    for stack in stacks:
        by_customer.setdefault(stack.rsplit("-", 1)[0] if "-" in stack else "", []).append(stack)
    buckets: list[list[str]] = [[] for _ in range(groups)]
    for members in sorted(by_customer.values(), key=len, reverse=True):
        min(buckets, key=len).extend(members)
    return [b for b in buckets if b]


def check_all(project_dir: Path, stacks_dir: Path, stacks: Sequence[str], policy_config: Mapping[str, Any] | None,
              today: date, jobs: int | None = None) -> list[StackCheck]:
    jobs = jobs or min(len(stacks), os.cpu_count() or 1)
    if jobs <= 1 or len(stacks) < 8:
        results = _check_group(str(project_dir), str(stacks_dir), stacks, policy_config, today.isoformat())
    else:
        groups = _customer_groups(stacks, jobs * 4)
        # spawn, not fork: the parent may hold the SDK's executor threads, and a forked child
        # inherits their locks held.
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_check_group, str(project_dir), str(stacks_dir), g, policy_config, today.isoformat())
                       for g in groups]
            results = [r for f in futures for r in f.result()]
    order = {s: i for i, s in enumerate(stacks)}
    return sorted(results, key=lambda r: order[r.stack])


def render(results: Sequence[StackCheck]) -> str:
    lines = []
    for r in results:
        if r.error:
            lines.append(f"stack {r.stack}: ERROR\n" + "\n".join("  " + l for l in r.error.splitlines()))
            continue
        verdict = "FAIL" if r.mandatory else "ok"
        lines.append(f"stack {r.stack} (phase {r.phase}): {r.resources} resources, "
                     f"{len(r.mandatory)} mandatory and {len(r.violations) - len(r.mandatory)} advisory violations: {verdict}")
        for v in r.violations:
            lines.append(f"  [{v.level}] {v.policy}  {v.urn.rsplit('::', 1)[-1] or r.stack}\n      {v.message}")
        for w in r.waivers:
            state = "honoured" if w["honoured"] else "REFUSED"
            lines.append(f"  waiver {state}: {w['policy']} on {w['resource']} (expires {w['expires']}"
                         f"{', ' + w['ecr'] if w.get('ecr') else ''}): {w['why']}")
    failed = sum(1 for r in results if r.mandatory)
    errors = sum(1 for r in results if r.error)
    lines.append(f"\n{len(results)} stacks checked: {len(results) - failed - errors} clean, {failed} with mandatory "
                 f"violations, {errors} not checkable")
    return "\n".join(lines)


def to_json(results: Sequence[StackCheck]) -> str:
    return json.dumps({"stacks": [r.to_json() for r in results]}, indent=2)
