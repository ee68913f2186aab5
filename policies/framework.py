"""The rule framework: rules are small pure functions over plain data; the pack binds them.

A *resource rule* gets one :class:`Resource` and answers :data:`COMPLIANT`, :class:`Violated`
(a message saying what to do) or :class:`NotApplicable` (why the rule does not apply to it). A
*stack rule* gets the whole :class:`StackView` and answers :class:`NotApplicable` or the
:class:`Finding` s it found (none: compliant). :func:`to_policy` turns a :class:`Rule` into the
Pulumi policy the engine (or ``envctl check``) runs: findings become violations, honouring the
waivers the pack reads itself (:mod:`policies.facts`); not applicable becomes the engine's own
``args.not_applicable(reason)``; the rule's severity, remediation, FSBP control and Checkov ids
travel in pulumi-policy's own metadata fields (:func:`metadata`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from pulumi_policy import (
    EnforcementLevel,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from components import tokens
from components.phases import Phase, StackNameError, parse_stack_name

from .facts import PROJECT_DIR_KEY, StackFacts, facts_for

ENVIRONMENT_TYPE = tokens.ENVIRONMENT
INSTANCE_TYPE = tokens.INSTANCE
PAIR_TYPE = tokens.INSTANCE_PAIR


# --------------------------------------------------------------------------------------------
# Reading props
# --------------------------------------------------------------------------------------------
UNKNOWN = object()
"""What :func:`read_known` returns for a value the engine does not know yet (preview)."""


def read_known(read: Callable[[], Any]) -> Any:
    """The value `read` returns, or :data:`UNKNOWN` when the engine does not know it yet (preview).

    In ``pulumi preview`` the engine hands a pack props that raise ``UnknownValueError`` when an
    unknown value is touched; a rule reads such values through this and leaves them to the update.
    """
    try:
        return read()
    except UnknownValueError:
        return UNKNOWN


def flag(value: Any) -> Any:
    """A boolean input as the provider coerces it: True/False, or the strings "true"/"false" (any case);
    anything else is returned as it is (None stays None), so `flag(v) is True` holds only for a true value."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def as_days(value: Any) -> int | None:
    """A number of days as the provider reads it (a number, or a string of digits); None if it is none."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def as_list(value: Any) -> list[Any]:
    """A list input as a list: None as empty, a sequence (a list, a policy-engine list proxy, but not
    a str) as its items, any other single value as a one-element list."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


# --------------------------------------------------------------------------------------------
# Plain-data views
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    """One resource as a policy sees it: inputs for custom resources, registered outputs for components."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    protect: bool = False
    parent: str | None = None  # URN of the parent, None for top-level resources
    ignore_changes: tuple[str, ...] = ()  # resource options the engine hands a policy
    delete_before_replace: bool = False
    # stack analysis: for each input, the URNs of the resources its value came from
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def tags(self) -> Mapping[str, str]:
        return self.props.get("tags") or {}

    @property
    def label(self) -> str:
        """The resource as messages name it: its type's last part and its name (`Bucket 'acme-prod-logs'`)."""
        return f"{self.type.rsplit(':', 1)[-1]} '{self.name}'"


@dataclass(frozen=True)
class StackView:
    """Every resource of the stack, with helpers to pair resources and read the environment."""

    resources: tuple[Resource, ...]
    stack_tags: Mapping[str, str] = field(default_factory=dict)

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def children(self, urn: str) -> list[Resource]:
        return [r for r in self.resources if r.parent == urn]

    @property
    def environment(self) -> Resource | None:
        envs = self.of_type(ENVIRONMENT_TYPE)
        return envs[0] if len(envs) == 1 else None

    @property
    def urn(self) -> str:
        """A URN of the stack (the engine's, so it names the stack and project); "" for an empty stack."""
        return self.resources[0].urn if self.resources else ""

    def ancestors(self, resource: Resource) -> Iterator[Resource]:
        index = self.by_urn()
        seen: set[str] = set()
        parent = resource.parent
        while parent and parent in index and parent not in seen:
            seen.add(parent)
            yield index[parent]
            parent = index[parent].parent


@dataclass(frozen=True)
class Finding:
    urn: str
    message: str
    name: str = ""


# --------------------------------------------------------------------------------------------
# What a rule answers
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compliant:
    """The rule applies and is satisfied."""


COMPLIANT = Compliant()


@dataclass(frozen=True)
class Violated:
    """The rule applies and is not satisfied: `message` says what is wrong and what to do."""

    message: str


@dataclass(frozen=True)
class NotApplicable:
    """The rule does not apply here: `reason` says why (the engine shows it)."""

    reason: str


ResourceResult = Compliant | Violated | NotApplicable
StackResult = NotApplicable | Iterable[Finding]  # findings: none means compliant
ResourceCheck = Callable[[Resource, Mapping[str, Any]], ResourceResult]
StackCheck = Callable[[StackView, Mapping[str, Any]], StackResult]


@dataclass(frozen=True)
class Rule:
    """One rule of the pack: a stable id (also the Pulumi policy name) bound to one function.

    Every rule states its `severity` and a one-line `remediation` (what to do about a violation);
    the pack hands both to the engine with the FSBP control and Checkov ids (:func:`metadata`).
    """

    id: str
    family: Literal["change-control", "lifecycle", "security"]
    description: str  # one line, what it checks
    check: ResourceCheck | StackCheck
    scope: Literal["resource", "stack"] = "resource"
    types: tuple[str, ...] = ()  # resource rules: the types it looks at (empty: every type)
    controlled_only: bool = False  # applies to change-controlled stacks only
    fsbp: str | None = None  # AWS Foundational Security Best Practices control
    checkov: str | None = None  # Checkov check ids, comma-separated
    extra_schema: Mapping[str, Any] = field(default_factory=dict)  # further policy config properties
    # The rule's own level: mandatory, or advisory for a rule that only warns (the README's "level" column).
    # A stack's policy config keeps it (envctl policy-config); only an uncontrolled stack's may lower a rule.
    level: EnforcementLevel = EnforcementLevel.MANDATORY
    severity: Severity = field(kw_only=True)
    remediation: str = field(kw_only=True)  # one line: how to make a violation compliant

    @property
    def checkov_ids(self) -> list[str]:
        return [c.strip() for c in (self.checkov or "").split(",") if c.strip()]


# --------------------------------------------------------------------------------------------
# Config and facts
# --------------------------------------------------------------------------------------------
COMMON_SCHEMA: dict[str, Any] = {
    # Where the project (stack files, change records, waivers) is, when the pack runs from another
    # checkout (CI's protected branch). A location only: the pack verifies everything it reads there.
    PROJECT_DIR_KEY: {"type": "string"},
}
FACTS = "__facts__"  # the key under which a rule's config carries the stack's facts


def stack_phase(config: Mapping[str, Any]) -> Phase | None:
    """The phase of the stack a rule is judging, from the stack's name alone (as the program takes it),
    never from a resource's tags; None when the name says no phase (the program refuses such a stack)."""
    facts = facts_of(config)
    if facts is None:
        return None
    try:
        return parse_stack_name(facts.stack).phase
    except StackNameError:
        return None


def facts_of(config: Mapping[str, Any]) -> StackFacts | None:
    """The facts a stack rule was given (see :mod:`policies.facts`)."""
    return config.get(FACTS)


# --------------------------------------------------------------------------------------------
# Rule -> Pulumi policy
# --------------------------------------------------------------------------------------------
def from_policy_resource(r: Any) -> Resource:
    """A pulumi_policy PolicyResource (stack analysis) as plain data."""
    parent = getattr(r, "parent", None)
    opts = getattr(r, "opts", None)
    return Resource(type=r.resource_type, name=r.name, urn=r.urn, props=r.props or {},
                    protect=bool(getattr(opts, "protect", False)), parent=getattr(parent, "urn", None),
                    property_dependencies={str(k): tuple(d.urn for d in (v or ()))
                                           for k, v in (getattr(r, "property_dependencies", None) or {}).items()},
                    **_options(opts))


def _options(opts: Any) -> dict[str, Any]:
    """The resource options a rule may judge, as the engine hands them to a policy."""
    return {"ignore_changes": tuple(str(k) for k in (getattr(opts, "ignore_changes", None) or ())),
            "delete_before_replace": bool(getattr(opts, "delete_before_replace", False))}


def _report(rule: Rule, findings: Iterable[Finding], facts: StackFacts, report_violation: ReportViolation) -> None:
    """Report each finding, unless a waiver of the stack's waivers file honourably waives it."""
    for f in findings:
        message = f.message
        waiver = facts.waivers.for_finding(rule.id, f.urn)
        if waiver is not None:
            facts.used.add((rule.id, f.urn))
            continue
        refusal = facts.waivers.refusal(rule.id, f.urn) or facts.waiver_error
        if refusal:
            message = f"{message} ({refusal})"
        report_violation(message, f.urn or None)


def stack_view(args: StackValidationArgs) -> StackView:
    """The stack as plain data."""
    return StackView(tuple(from_policy_resource(r) for r in args.resources), dict(args.stack_tags or {}))


def _pack_families() -> Mapping[str, str]:
    from .pack import FAMILIES  # at call time: the pack imports this module

    return FAMILIES


# --------------------------------------------------------------------------------------------
# Metadata in pulumi-policy's own fields
# --------------------------------------------------------------------------------------------
FSBP_FRAMEWORK = "AWS Foundational Security Best Practices"
FSBP_DOCS = "https://docs.aws.amazon.com/securityhub/latest/userguide"
CHECKOV_TAG = "checkov:"  # a Checkov id travels as the tag `checkov:<id>`


def fsbp_url(control: str) -> str:
    """The Security Hub page of an FSBP control: `RDS.3` -> .../rds-controls.html#rds-3."""
    service, number = control.split(".", 1)
    return f"{FSBP_DOCS}/{service.lower()}-controls.html#{service.lower()}-{number}"


def metadata(rule: Rule) -> dict[str, Any]:
    """The keyword arguments of a Pulumi policy that carry the rule's metadata to the engine:
    `severity`, `remediation_steps`, the FSBP control as `framework` (name and reference) with its
    page as `url`, and the family and every Checkov id as `tags` (`family:security`, `checkov:CKV_AWS_16`)."""
    return {
        "severity": rule.severity,
        "remediation_steps": rule.remediation,
        "framework": PolicyComplianceFramework(name=FSBP_FRAMEWORK, reference=rule.fsbp) if rule.fsbp else None,
        "url": fsbp_url(rule.fsbp) if rule.fsbp else None,
        "tags": [f"family:{rule.family}", *(CHECKOV_TAG + c for c in rule.checkov_ids)],
    }


# --------------------------------------------------------------------------------------------
# Rule -> Pulumi policy
# --------------------------------------------------------------------------------------------
def not_a_type_reason(rule: Rule) -> str:
    return f"not a resource it checks ({', '.join(rule.types)})"


def uncontrolled_reason(facts: StackFacts) -> str:
    return f"stack '{facts.stack}' is not change-controlled; the rule is for change-controlled stacks only"


def to_policy(rule: Rule, families: Mapping[str, str] | None = None) -> ResourceValidationPolicy | StackValidationPolicy:
    """The Pulumi policy of a rule. `families` maps every rule id of the pack to its family (waivers
    never cover change-control or lifecycle rules); default: the pack's."""
    schema = PolicyConfigSchema(properties={**COMMON_SCHEMA, **rule.extra_schema})
    description = rule.description
    if rule.scope == "resource":
        check: ResourceCheck = rule.check  # type: ignore[assignment]

        def validate_resource(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if rule.types and args.resource_type not in rule.types:
                args.not_applicable(not_a_type_reason(rule))
                return
            config = args.get_config() or {}
            facts = facts_for(args.urn, config, families or _pack_families())
            if rule.controlled_only and not facts.controlled:
                args.not_applicable(uncontrolled_reason(facts))
                return
            res = Resource(type=args.resource_type, name=args.name, urn=args.urn, props=args.props or {},
                           protect=bool(getattr(args.opts, "protect", False)), **_options(args.opts))
            result = check(res, {**config, FACTS: facts})
            if isinstance(result, NotApplicable):
                args.not_applicable(result.reason)
            elif isinstance(result, Violated):
                _report(rule, [Finding(res.urn, result.message, res.name)], facts, report_violation)
            elif not isinstance(result, Compliant):
                raise TypeError(f"rule {rule.id} answered {result!r}, not COMPLIANT, Violated or NotApplicable")

        return ResourceValidationPolicy(name=rule.id, description=description, validate=validate_resource,
                                        enforcement_level=rule.level, config_schema=schema,
                                        **metadata(rule))

    stack_check: StackCheck = rule.check  # type: ignore[assignment]

    def validate_stack(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        view = stack_view(args)
        config = args.get_config() or {}
        facts = facts_for(view.urn, config, families or _pack_families())
        if rule.controlled_only and not facts.controlled:
            args.not_applicable(uncontrolled_reason(facts))
            return
        result = stack_check(view, {**config, FACTS: facts})
        if isinstance(result, NotApplicable):
            args.not_applicable(result.reason)
            return
        _report(rule, result, facts, report_violation)

    return StackValidationPolicy(name=rule.id, description=description, validate=validate_stack,
                                 enforcement_level=rule.level, config_schema=schema,
                                 **metadata(rule))
