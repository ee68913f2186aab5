"""What the pack reads for itself about the stack it judges: never from its policy config.

The stack's name comes from the URNs the engine builds (a program cannot choose them), its phase
from that name (so "controlled" has one answer, which no setting or resource tag changes), and its
approval and waivers from the checked project directory: the stack file, the change records and
``waivers/<stack>.yaml``, verified with the signers of the trust root (:mod:`changecontrol.trust`); the
releases file from the project whose program plans the stack (:mod:`policies.releases`).
A policy config can say *where* that directory is (``projectDir``, which ``envctl policy-config``
writes when the pack runs from another checkout than the project), never *what* is approved.

Facts are computed once per stack and process (the engine starts the pack for each run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from changecontrol import clock, integrity, stackfiles
from changecontrol.digest import DigestError, waivers_document
from changecontrol.trust import (
    OWN_ROOT,
    StackVerdict,
    TrustRoot,
    program_of,
    verify_stack,
)
from changecontrol.waivers import Waivers, judge
from components.phases import StackNameError, parse_stack_name

from . import releases as release_file

PROJECT_DIR_KEY = "projectDir"


@dataclass
class StackFacts:
    stack: str
    project: str
    controlled: bool
    checked_dir: Path
    verdict: StackVerdict | None = None  # controlled stacks: is the desired state approved?
    waivers: Waivers = field(default_factory=Waivers)
    waiver_error: str | None = None  # the waivers file as a whole cannot be used
    used: set[tuple[str, str]] = field(default_factory=set)  # (rule, urn) of the waivers that waived a finding
    releases: release_file.Releases | None = None  # the project's releases file (releases.yaml)
    releases_error: str | None = None  # why it cannot be used: the release rules fail closed with it


def stack_of(urn: str) -> tuple[str, str]:
    """(stack, project) of an engine URN `urn:pulumi:<stack>::<project>::<type>::<name>`."""
    parts = urn.split("::")
    if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
        return "", ""
    return parts[0][len("urn:pulumi:"):], parts[1]


def is_controlled(stack: str) -> bool:
    """From the stack name alone; a name that says no phase counts as controlled (fail closed)."""
    try:
        return parse_stack_name(stack).phase.controlled
    except StackNameError:
        return True


_CACHE: dict[tuple[Any, ...], StackFacts] = {}


def clear() -> None:
    _CACHE.clear()


def facts_for(urn: str, config: Mapping[str, Any], rule_families: Mapping[str, str]) -> StackFacts:
    stack, project = stack_of(urn)
    checked = Path(config.get(PROJECT_DIR_KEY) or OWN_ROOT)
    trust = TrustRoot.own()
    example = (str(trust.example.directory), trust.example.as_of) if trust.example is not None else None
    key = (stack, project, str(checked), clock.today(), example)
    if key not in _CACHE:
        _CACHE[key] = _load(stack, project, checked, trust, rule_families)
    return _CACHE[key]


def _load(stack: str, project: str, checked: Path, trust: TrustRoot, rule_families: Mapping[str, str]) -> StackFacts:
    controlled = is_controlled(stack)
    facts = StackFacts(stack, project, controlled, checked)
    program = program_of(checked)
    try:
        facts.releases = release_file.load(program)
    except release_file.ReleasesError as e:
        facts.releases_error = str(e)
    if controlled:
        try:
            sf = stackfiles.read(checked, stack, project)
        except stackfiles.StackFileError as e:
            facts.verdict = StackVerdict(stack, True, problems=[
                f"untracked change: the stack file of '{stack}' cannot be read in {checked} ({e}), so no approval "
                f"can be verified; give the pack the project directory (envctl policy-config {stack})"])
        else:
            facts.verdict = verify_stack(stack, project, sf.config, sf.secret_keys, program, checked, trust,
                                         tooling=True, environments=sf.environment)
            found = integrity.problems(program)
            facts.verdict.problems += [f"what runs is not what the digest covers: {p}" for p in found]
    try:
        entries = waivers_document(checked, stack)
    except DigestError as e:
        facts.waiver_error = f"waivers not used: {e}"
        return facts
    approving = facts.verdict.approving if facts.verdict else None
    approved_on = approving.approval.approved_at.date() if approving and approving.approval else None
    facts.waivers = judge(entries, stack, rule_families, clock.today(), approved_on, controlled,
                          state_approved=facts.verdict is not None and facts.verdict.ok)
    return facts
