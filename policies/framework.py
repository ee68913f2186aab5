"""The rule framework: rules are small pure functions over plain data; the pack binds them.

A *resource rule* gets one :class:`Resource` and answers ``None`` (compliant or not applicable) or
a message saying what to do. A *stack rule* gets the whole :class:`StackView` and yields
:class:`Finding` s. :func:`to_policy` turns a :class:`Rule` into the Pulumi policy the engine (or
``envctl check``) runs, honouring the waivers the pack reads itself (:mod:`policies.facts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Literal, Mapping, Sequence

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError


from components import tokens

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


ResourceCheck = Callable[[Resource, Mapping[str, Any]], "str | None"]
StackCheck = Callable[[StackView, Mapping[str, Any]], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    """One rule of the pack: a stable id (also the Pulumi policy name) bound to one function."""

    id: str
    family: Literal["change-control", "lifecycle", "security"]
    description: str  # one line, what it checks
    check: ResourceCheck | StackCheck
    scope: Literal["resource", "stack"] = "resource"
    types: tuple[str, ...] = ()  # resource rules: the types it looks at (empty: every type)
    controlled_only: bool = False  # applies to change-controlled stacks only
    fsbp: str | None = None  # AWS Foundational Security Best Practices control
    checkov: str | None = None
    extra_schema: Mapping[str, Any] = field(default_factory=dict)  # further policy config properties


# --------------------------------------------------------------------------------------------
# Config and facts
# --------------------------------------------------------------------------------------------
COMMON_SCHEMA: dict[str, Any] = {
    # Where the project (stack files, change records, waivers) is, when the pack runs from another
    # checkout (CI's protected branch). A location only: the pack verifies everything it reads there.
    PROJECT_DIR_KEY: {"type": "string"},
}
FACTS = "__facts__"  # the key under which a stack rule's config carries the stack's facts


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
                    protect=bool(getattr(opts, "protect", False)), parent=getattr(parent, "urn", None))


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


_LAST_VIEW: list[tuple[Any, StackView]] = []


def stack_view(args: StackValidationArgs) -> StackView:
    """The stack as plain data. Every stack rule of one analysis gets the same resource list, so the
    view made for the first rule serves the others (the list itself is the key, not its id)."""
    if _LAST_VIEW and _LAST_VIEW[0][0] is args.resources:
        view = _LAST_VIEW[0][1]
        if view.stack_tags == dict(args.stack_tags or {}):
            return view
    view = StackView(tuple(from_policy_resource(r) for r in args.resources), dict(args.stack_tags or {}))
    _LAST_VIEW[:] = [(args.resources, view)]
    return view


def _pack_families() -> Mapping[str, str]:
    from .pack import FAMILIES  # at call time: the pack imports this module

    return FAMILIES


def to_policy(rule: Rule, families: Mapping[str, str] | None = None) -> ResourceValidationPolicy | StackValidationPolicy:
    """The Pulumi policy of a rule. `families` maps every rule id of the pack to its family (waivers
    never cover change-control or lifecycle rules); default: the pack's."""
    schema = PolicyConfigSchema(properties={**COMMON_SCHEMA, **rule.extra_schema})
    description = rule.description
    if rule.scope == "resource":
        check: ResourceCheck = rule.check  # type: ignore[assignment]

        def validate_resource(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if rule.types and args.resource_type not in rule.types:
                return
            config = args.get_config() or {}
            facts = facts_for(args.urn, config, families or _pack_families())
            if rule.controlled_only and not facts.controlled:
                return
            res = Resource(type=args.resource_type, name=args.name, urn=args.urn, props=args.props or {},
                           protect=bool(getattr(args.opts, "protect", False)))
            message = check(res, config)
            if message:
                _report(rule, [Finding(res.urn, message, res.name)], facts, report_violation)

        return ResourceValidationPolicy(name=rule.id, description=description, validate=validate_resource,
                                        enforcement_level=EnforcementLevel.MANDATORY, config_schema=schema)

    stack_check: StackCheck = rule.check  # type: ignore[assignment]

    def validate_stack(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        view = stack_view(args)
        config = args.get_config() or {}
        facts = facts_for(view.urn, config, families or _pack_families())
        if rule.controlled_only and not facts.controlled:
            return
        _report(rule, stack_check(view, {**config, FACTS: facts}), facts, report_violation)

    return StackValidationPolicy(name=rule.id, description=description, validate=validate_stack,
                                 enforcement_level=EnforcementLevel.MANDATORY, config_schema=schema)
