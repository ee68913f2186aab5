"""`envctl check`: the offline policy check of one stack, a list of stacks, or a whole fleet.

Each stack is planned offline (as `envctl plan` does, but an unapproved state is reported rather
than refused, so that every other rule still runs), and the policy pack is evaluated the way the
engine does, with the config `envctl policy-config` would write (or `--policy-config`). The pack
reads the approvals and waivers itself (policies.facts), from the checked directory, verified
against the trust root. Stacks of one customer are checked in one worker so that Pre-PROD is
planned once for its VAL and PROD; workers run in parallel processes.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pulumi_policy import EnforcementLevel

from changecontrol import runcontext
from changecontrol.trust import OWN_ROOT, TrustRoot
from components import tokens
from components.tokens import ENVIRONMENT_KEYS as ENV_KEYS

from . import cache, stackfile
from .evaluate import PolicyConfigError, Violation, effective_policies, evaluate
from .offline import LocalStacks, RunOptions, StackRunError, close_engine_loop
from .plan import data_lines
from .planning import stacks_for
from .progress import Progress

APPROVED_STATE = "change-approved-state"


@dataclass
class StackCheck:
    stack: str
    phase: str | None = None
    resources: int = 0
    violations: list[Violation] = field(default_factory=list)
    waivers: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    not_applicable: dict[str, list[str]] = field(default_factory=dict)  # rule -> why it applied to nothing
    data: list[str] = field(default_factory=list)  # where each instance's database comes from (envctl.plan)
    qualification: str | None = None  # where a stack of a qualified phase stands (envctl.qualification)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == EnforcementLevel.MANDATORY.value]

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "phase": self.phase, "resources": self.resources,
                "violations": [{**v.to_json(), **rule_reference(v.policy)} for v in self.violations],
                "notApplicable": [{"policy": rule, "reasons": reasons}
                                  for rule, reasons in self.not_applicable.items()],
                "waivers": self.waivers, "error": self.error, "data": self.data,
                **({"qualification": self.qualification} if self.qualification is not None else {})}


def rule_reference(rule_id: str) -> dict[str, Any]:
    """What a violation carries of its rule: severity, remediation, FSBP control, Checkov ids."""
    from policies.pack import RULES

    rule = next((r for r in RULES if r.id == rule_id), None)
    if rule is None:
        return {}
    return {"severity": rule.severity.value, "remediation": rule.remediation, "fsbp": rule.fsbp,
            "checkov": rule.checkov_ids}


def default_policy_config(stacks_dir: Path, stack: str | None = None) -> dict[str, Any]:
    """What `envctl policy-config` writes: every rule mandatory (but, for an uncontrolled `stack`, the rules
    that only warn, at their own advisory level), the pack told where the project is."""
    from policies.facts import PROJECT_DIR_KEY, is_controlled
    from policies.pack import ADVISORY_RULES, RULE_IDS

    here = str(Path(stacks_dir).resolve())
    advisory = ADVISORY_RULES if stack is not None and not is_controlled(stack) else []
    return {"all": "mandatory", **{rule: {PROJECT_DIR_KEY: here, **({"enforcementLevel": "advisory"}
                                                                    if rule in advisory else {})}
                                   for rule in RULE_IDS}}


def with_project_dir(policy_config: Mapping[str, Any], stacks_dir: Path) -> dict[str, Any]:
    """A given policy config, with the pack told that the project is the directory being checked
    (a config pointing the pack at another directory is refused: it would verify other records)."""
    from policies.facts import PROJECT_DIR_KEY
    from policies.pack import RULE_IDS

    here = str(Path(stacks_dir).resolve())
    config: dict[str, Any] = {"all": policy_config["all"]} if "all" in policy_config else {}
    for rule in RULE_IDS:
        own = policy_config.get(rule)
        entry = dict(own) if isinstance(own, Mapping) else ({"enforcementLevel": own} if own is not None else {})
        given = entry.get(PROJECT_DIR_KEY)
        if given is not None and str(Path(str(given)).resolve()) != here:
            raise PolicyConfigError(f"policy config of {rule}: projectDir {given!r} is not the checked directory "
                                    f"{here}; the pack must verify the records of the project it checks")
        config[rule] = {**entry, PROJECT_DIR_KEY: here}
    unknown = sorted(set(policy_config) - set(RULE_IDS) - {"all"})
    config.update({k: policy_config[k] for k in unknown})  # effective_policies names them as unknown
    return config


def waiver_listing(facts: Any) -> list[dict[str, Any]]:
    """Every entry of the stack's waivers file: honoured (and whether it waived anything) or refused."""
    listing = []
    for w in facts.waivers.honoured:
        used = (w.rule, w.resource) in facts.used
        listing.append({**w.to_json(), "honoured": True, "used": used,
                        "why": w.reason if used else "matches no finding of this plan: remove it"})
    for entry, why in facts.waivers.refused:
        listing.append({"rule": entry.get("rule"), "resource": entry.get("resource"), "reason": entry.get("reason"),
                        "expires": str(entry.get("expires")), "honoured": False, "used": False, "why": why})
    if facts.waiver_error:
        listing.append({"rule": None, "resource": None, "reason": None, "expires": None, "honoured": False,
                        "used": False, "why": facts.waiver_error})
    return listing


def check_stack(local: LocalStacks, stack: str, policy_config: Mapping[str, Any] | None, stacks_dir: Path,
                options: RunOptions) -> StackCheck:
    from policies import facts as pack_facts
    from policies.pack import FAMILIES, POLICIES

    result = StackCheck(stack)
    try:
        run = local.run(stack)
    except StackRunError as e:
        result.error = str(e)
        if e.kind == "unreviewed" and pack_facts.is_controlled(stack):  # the approval, judged from the files
            with runcontext.using(runcontext.RunContext(now=options.now, example=options.example)):
                pack_facts.clear()
                project = stackfile.project_name(stackfile.program_dir(stacks_dir))
                facts = pack_facts.facts_for(f"urn:pulumi:{stack}::{project}::pulumi:pulumi:Stack::{project}-{stack}",
                                             {pack_facts.PROJECT_DIR_KEY: str(Path(stacks_dir).resolve())}, FAMILIES)
            if facts.verdict is not None and facts.verdict.problems:
                result.error += "\n" + "\n".join(f"- {p}" for p in facts.verdict.problems)
        return result
    # The plan came from the checked tree's program: it must be the plan of the stack that was asked for,
    # and the approval of that stack is judged from the files whatever the plan says.
    project = stackfile.project_name(stackfile.program_dir(stacks_dir))
    prefix = f"urn:pulumi:{stack}::{project}::"
    foreign = sorted({r.urn.split("::")[0] + "::" + r.urn.split("::")[1] for r in run.registrations
                      if not r.urn.startswith(prefix)})
    if foreign:
        result.error = (f"stack '{stack}': the program registered resources of {', '.join(foreign)} instead of "
                        f"{prefix.rstrip(':')}: its plan is not the plan of the stack it was asked for")
        return result
    envs = run.by_type(tokens.ENVIRONMENT)
    env = (envs[0].outputs or {}) if envs else {}
    result.phase = env.get(ENV_KEYS.phase)
    result.resources = len(run.registrations)
    result.data = data_lines(run.registrations)
    controlled = pack_facts.is_controlled(stack)
    try:
        config = with_project_dir(policy_config, stacks_dir) if policy_config is not None else \
            default_policy_config(stacks_dir, stack)
        effective = effective_policies(POLICIES, config)
    except (PolicyConfigError, OSError, ValueError) as e:
        result.error = f"stack '{stack}': {e}"
        return result
    # below mandatory and below the rule's own level (a rule that only warns is advisory by nature, not lowered)
    lowered = sorted(e.policy.name for e in effective
                     if e.level != EnforcementLevel.MANDATORY and e.level != e.policy.enforcement_level)
    if controlled and lowered:
        result.error = (f"stack '{stack}' is change-controlled: its policy config may not lower "
                        f"{', '.join(lowered)} below mandatory (only uncontrolled stacks may)")
        return result
    context = runcontext.RunContext(now=options.now, example=options.example, stacks_dir=Path(stacks_dir))
    with runcontext.using(context):
        pack_facts.clear()
        evaluation = evaluate(run, effective)
        result.violations = evaluation.violations
        result.not_applicable = evaluation.not_applicable_policies()
        facts = pack_facts.facts_for(prefix + tokens.STACK + "::" + f"{project}-{stack}",
                                     {pack_facts.PROJECT_DIR_KEY: str(Path(stacks_dir).resolve())}, FAMILIES)
        result.waivers = waiver_listing(facts)
    reported = {v.message for v in result.violations if v.policy == APPROVED_STATE}
    if controlled and facts.verdict is not None:  # judged from the files, whatever the plan registered
        result.violations += [Violation(APPROVED_STATE, EnforcementLevel.MANDATORY.value, "", problem)
                              for problem in facts.verdict.problems if problem not in reported]
    return result


def _check_group(project_dir: str, stacks_dir: str, stacks: Sequence[str], policy_config: Mapping[str, Any] | None,
                 options: RunOptions, on_checked: Callable[[StackCheck], None] | None = None) -> list[StackCheck]:
    plan_options = replace(options, review_only=True)
    local = stacks_for(Path(project_dir), Path(stacks_dir), plan_options, list(stacks))
    results = []
    for s in stacks:
        results.append(check_stack(local, s, policy_config, Path(stacks_dir), options))
        if on_checked is not None:
            on_checked(results[-1])
    close_engine_loop()  # a worker process exits after its groups: never with the loop left to the shutdown
    return results


def _customer_groups(stacks: Sequence[str], groups: int) -> list[list[str]]:
    """Spread the stacks over `groups` lists, keeping each customer's stacks together."""
    by_customer: dict[str, list[str]] = {}
    for stack in stacks:
        by_customer.setdefault(stack.rsplit("-", 1)[0] if "-" in stack else "", []).append(stack)
    buckets: list[list[str]] = [[] for _ in range(groups)]
    for members in sorted(by_customer.values(), key=len, reverse=True):
        min(buckets, key=len).extend(members)
    return [b for b in buckets if b]


def _from_cache(stored: Mapping[str, Any]) -> StackCheck:
    return StackCheck(stored["stack"], stored["phase"], stored["resources"],
                      [Violation(v["policy"], v["level"], v["urn"], v["message"]) for v in stored["violations"]],
                      list(stored["waivers"]), None,
                      {n["policy"]: list(n["reasons"]) for n in stored["notApplicable"]}, list(stored["data"]))


def _storable(result: StackCheck) -> dict[str, Any] | None:
    """A complete result that reads back exactly as it is; never an error."""
    if result.error is not None:
        return None
    doc = result.to_json()
    try:
        same = json.loads(json.dumps(doc)) == doc
    except (TypeError, ValueError, RecursionError):
        return None
    return doc if same else None


def with_qualification(results: Sequence[StackCheck], stacks_dir: Path, trust: TrustRoot) -> list[StackCheck]:
    """Each checked stack of a qualified phase, with where it stands (read from its chain now, never cached)."""
    from . import qualification

    out = []
    for r in results:
        text = qualification.standing(stacks_dir, r.stack, trust) if r.error is None else None
        if text is not None and r.mandatory:  # what would be deployed is not the state the IQ qualified
            text = f"not qualified: {len(r.mandatory)} mandatory violations, so this is not the state an IQ qualified"
        out.append(replace(r, qualification=text) if text is not None else r)
    return out


def with_fleet_refusals(results: Sequence[StackCheck], refusals: Mapping[str, str]) -> list[StackCheck]:
    """The results with what only the whole directory shows (envctl.fleet) as each stack's error: such a stack
    is refused (exit 2) even though its own check is clean. Never cached: it depends on the other stacks."""
    return [replace(r, error="; ".join(filter(None, (r.error, refusals[r.stack])))) if r.stack in refusals else r
            for r in results]


def check_all(project_dir: Path, stacks_dir: Path, stacks: Sequence[str], policy_config: Mapping[str, Any] | None,
              options: RunOptions | None = None, jobs: int | None = None, *, cache_dir: Path | None = None,
              progress: Progress | None = None) -> list[StackCheck]:
    """Check `stacks` of `stacks_dir`, planned with the program of `project_dir`.

    `cache_dir`: where results are kept by their inputs (envctl.cache); None, no cache. A run whose
    stacks the cache may not hold (a checked tree with a program of its own, a cache directory inside
    the checked tree) runs without it. `progress`: reports "stack n of N" on a terminal (envctl.progress).
    """
    options = options or RunOptions()
    done: dict[str, StackCheck] = {}
    keys: cache.Keys | None = None
    if cache.cacheable(project_dir, stacks_dir, cache_dir):
        assert cache_dir is not None
        if options.now is None:  # one clock for the whole run: the date its keys name
            options = replace(options, now=datetime.now(timezone.utc).replace(microsecond=0))
        keys = _keys(project_dir, stacks_dir, options, policy_config)
        for stack in dict.fromkeys(stacks) if keys is not None else ():
            stored = cache.load(cache_dir, keys.key(stack))
            if stored is not None and stored["stack"] == stack:
                done[stack] = _from_cache(stored)
    read_before = dict(keys.stats) if keys is not None else {}  # the inode state of what the keys read, now
    todo = [s for s in dict.fromkeys(stacks) if s not in done]
    if progress is not None:
        progress.start(len(stacks), already=len(stacks) - len(todo))
    try:
        computed = _check(project_dir, stacks_dir, todo, policy_config, options, jobs, progress) if todo else []
    finally:
        if progress is not None:
            progress.finish()
    if keys is not None and computed:
        assert cache_dir is not None
        # Keys made again after the run: a result is kept only if nothing it read changed while it ran.
        after = _keys(project_dir, stacks_dir, options, policy_config)
        if after is not None:
            for stack in dict.fromkeys(stacks):
                after.key(stack)  # read what every key of the run reads, so its inode state is known
        stored: list[tuple[str, dict[str, Any]]] = []
        for result in computed:
            doc = _storable(result)
            if doc is not None and after is not None and keys.key(result.stack) == after.key(result.stack):
                stored.append((result.stack, doc))
        # ... and only if no file a key read was replaced or rewritten meanwhile, even back to the same bytes
        # (a file swapped for another state and back would otherwise leave that state's result under this key).
        if after is not None and after.stats == read_before:
            for stack, doc in stored:
                cache.store(cache_dir, keys.key(stack), doc)
    done.update((r.stack, r) for r in computed)
    return [done[s] for s in stacks]


def _keys(project_dir: Path, stacks_dir: Path, options: RunOptions,
          policy_config: Mapping[str, Any] | None) -> cache.Keys | None:
    """The run's cache keys; None (no cache) when what they hash cannot be read."""
    try:
        return cache.Keys(project_dir, stacks_dir, options.now, options.example, policy_config)
    except (OSError, ValueError, RecursionError):
        return None


def _check(project_dir: Path, stacks_dir: Path, stacks: Sequence[str], policy_config: Mapping[str, Any] | None,
           options: RunOptions, jobs: int | None, progress: Progress | None) -> list[StackCheck]:
    jobs = jobs or min(len(stacks), os.cpu_count() or 1)
    foreign = Path(project_dir).resolve() != OWN_ROOT.resolve()  # one child process plans them all
    if jobs <= 1 or len(stacks) < 8 or foreign:
        advance = (lambda _result: progress.advance()) if progress is not None else None
        return _check_group(str(project_dir), str(stacks_dir), stacks, policy_config, options, advance)
    # Small groups, each customer's stacks together: an even spread over the workers, and progress that
    # moves (each worker keeps its caches from group to group).
    groups = _customer_groups(stacks, max(jobs * 4, min(len(stacks) // 10, jobs * 16)))
    # spawn, not fork: the parent may hold the SDK's executor threads, and a forked child
    # inherits their locks held.
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_check_group, str(project_dir), str(stacks_dir), g, policy_config, options)
                   for g in groups]
        if progress is not None:
            for future in as_completed(futures):
                progress.advance(len(future.result()))
        return [r for f in futures for r in f.result()]


def render(results: Sequence[StackCheck], trust: str) -> str:
    lines = [trust]
    for r in results:
        if r.error:
            lines.append(f"stack {r.stack}: ERROR\n" + "\n".join("  " + l for l in r.error.splitlines()))
            continue
        verdict = "FAIL" if r.mandatory else "ok"
        lines.append(f"stack {r.stack} (phase {r.phase}): {r.resources} resources, "
                     f"{len(r.mandatory)} mandatory and {len(r.violations) - len(r.mandatory)} advisory violations: {verdict}")
        if r.qualification is not None:
            lines.append(f"  qualification: {r.qualification}")
        lines += [f"  data: {line}" for line in r.data if "restored from" in line]
        for v in r.violations:
            lines.append(f"  [{v.level}] {v.policy}  {v.urn.rsplit('::', 1)[-1] or r.stack}\n      {v.message}")
        for w in r.waivers:
            state = ("honoured" if w["used"] else "UNUSED") if w["honoured"] else "REFUSED"
            lines.append(f"  waiver {state}: {w['rule']} on {w['resource']} (expires {w['expires']}): {w['why']}")
    failed = sum(1 for r in results if r.mandatory)
    errors = sum(1 for r in results if r.error)
    lines.append(f"\n{len(results)} stacks checked: {len(results) - failed - errors} clean, {failed} with mandatory "
                 f"violations, {errors} not checkable")
    return "\n".join(lines)


def to_json(results: Sequence[StackCheck], trust: TrustRoot, checked: Path) -> str:
    mode = {"example": trust.example is not None, "trust": trust.describe(checked)}
    return json.dumps({"mode": mode, "stacks": [r.to_json() for r in results]}, indent=2)


def now_of(trust: TrustRoot) -> datetime | None:
    """The clock of a run: the example's pinned date in example mode, the real time otherwise."""
    if trust.example is None:
        return None
    from datetime import time, timezone

    return datetime.combine(trust.example.as_of, time(0, 0), tzinfo=timezone.utc)
