"""Waivers: one finding of one rule accepted for one resource, for a reason, for at most 90 days.

``waivers/<stack>.yaml`` is a list of ``{rule, resource, reason, expires}``. The file is part of
the stack's desired state, so in a change-controlled stack a waiver counts only while the record
that approves the state (and so lists the waiver) is the one in force: there is no second
approval path. A waiver:

* names exactly one resource by its full URN, as the engine builds it (never by name, which another
  resource may share);
* never covers a change-control or lifecycle rule (those are what change control is);
* gives a reason of at least 20 characters an auditor can read without the code;
* lasts at most 90 days, counted from the approval of the record that lists it (or, in an
  uncontrolled stack, from today), and expires on its date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Mapping

from . import layout

MAX_DAYS = 90
MIN_REASON = 20
KEYS = ("rule", "resource", "reason", "expires")
UNWAIVABLE_FAMILIES = ("change-control", "lifecycle")


@dataclass(frozen=True)
class Waiver:
    rule: str
    resource: str
    reason: str
    expires: date

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "resource": self.resource, "reason": self.reason, "expires": self.expires.isoformat()}


@dataclass
class Waivers:
    honoured: list[Waiver] = field(default_factory=list)
    refused: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (entry as written, why)

    def for_finding(self, rule: str, urn: str) -> Waiver | None:
        return next((w for w in self.honoured if w.rule == rule and w.resource == urn), None)

    def refusal(self, rule: str, urn: str) -> str | None:
        """Why a waiver meant for this finding was refused (one written with the resource's bare name counts
        as meant for it, so that the finding says why it was not waived)."""
        name = urn.rsplit("::", 1)[-1]
        return next((why for entry, why in self.refused
                     if entry.get("rule") == rule and entry.get("resource") in (urn, name)), None)


def judge(entries: list[Any] | None, stack: str, rules: Mapping[str, str], today: date,
          approved_on: date | None, controlled: bool, state_approved: bool) -> Waivers:
    """Sort the entries of a waivers file into honoured and refused, each refusal saying why.

    `rules` maps each rule id of the pack to its family; `approved_on` is the day the record
    approving the stack's state was approved (controlled stacks)."""
    result = Waivers()
    seen: set[tuple[str, str]] = set()
    where = f"{layout.WAIVERS_DIR}/{stack}.yaml"
    for i, entry in enumerate(entries or [], start=1):
        if not isinstance(entry, dict):
            result.refused.append(({}, f"{where} entry {i}: expected a mapping with keys {', '.join(KEYS)}"))
            continue
        why = _refusal(entry, stack, rules, today, approved_on, controlled, state_approved)
        key = (str(entry.get("rule")), str(entry.get("resource")))
        if why is None and key in seen:
            why = "another entry waives the same rule for the same resource already"
        if why is not None:
            result.refused.append((entry, f"{where} entry {i}: waiver refused: {why}"))
            continue
        seen.add(key)
        result.honoured.append(Waiver(entry["rule"], entry["resource"], entry["reason"].strip(),
                                      date.fromisoformat(entry["expires"])))
    return result


def _refusal(entry: Mapping[str, Any], stack: str, rules: Mapping[str, str], today: date, approved_on: date | None,
             controlled: bool, state_approved: bool) -> str | None:
    if "ecr" in entry:
        return ("`ecr` is not a key of a waiver any more: the record that approves the stack's state approves its "
                "waivers (the waivers file is part of the desired state); remove the key")
    unknown = sorted(str(k) for k in entry if k not in KEYS)
    missing = [k for k in KEYS if k not in entry]
    if unknown or missing:
        return (f"unknown key(s) {', '.join(unknown)}; " if unknown else "") + \
               (f"missing {', '.join(missing)}; " if missing else "") + f"a waiver has exactly {', '.join(KEYS)}"
    rule, resource, reason, expires = (entry[k] for k in KEYS)
    if not all(isinstance(v, str) for v in (rule, resource, reason, expires)):
        return "rule, resource, reason and expires are text (expires as YYYY-MM-DD)"
    if rule not in rules:
        return f"'{rule}' is not a rule of the policy pack"
    if rules[rule] in UNWAIVABLE_FAMILIES:
        return (f"{rule} is a {rules[rule]} rule, and those are never waived: change the stack, or approve the change "
                "with an ECR")
    if not resource.startswith(f"urn:pulumi:{stack}::") or resource.count("::") < 3:
        return (f"resource must be the full URN of one resource of stack '{stack}' as `envctl plan --json {stack}` "
                f"or `pulumi stack --show-urns` print it (got {resource!r})")
    if len(reason.strip()) < MIN_REASON:
        return f"the reason must say why in at least {MIN_REASON} characters (got {len(reason.strip())})"
    try:
        until = date.fromisoformat(expires)
    except ValueError:
        return f"expires: {expires!r} is not a date YYYY-MM-DD"
    if until < today:
        return f"it expired on {until.isoformat()}"
    base = approved_on if (controlled and approved_on is not None) else today
    if until > base + timedelta(days=MAX_DAYS):
        counted = "the approval of the record that lists it" if controlled and approved_on else "today"
        return (f"it lasts until {until.isoformat()}, beyond {MAX_DAYS} days from {counted} "
                f"({(base + timedelta(days=MAX_DAYS)).isoformat()})")
    if controlled and not state_approved:
        return "the stack's desired state (which includes its waivers) is not approved by the record it names"
    return None
