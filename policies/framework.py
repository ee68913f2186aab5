"""The rule framework: rules are small pure functions over plain data; the pack binds them.

A *resource rule* gets one :class:`Resource` and answers ``None`` (compliant or not applicable) or
a message saying what to do. A *stack rule* gets the whole :class:`StackView` and yields
:class:`Finding` s. :func:`to_policy` turns a :class:`Rule` into the Pulumi policy the engine (or
``envctl check``) runs, honouring waivers from the policy config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
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

ENVIRONMENT_TYPE = "clinspark:environment:Environment"
INSTANCE_TYPE = "clinspark:environment:Instance"
PAIR_TYPE = "clinspark:environment:InstancePair"


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

    @property
    def controlled(self) -> bool | None:
        """From the resource's own `controlled` tag; None when the resource carries no tags."""
        value = self.tags.get("controlled")
        return None if value is None else value == "true"


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
    def controlled(self) -> bool:
        """Fail closed: a stack whose environment cannot be read counts as controlled."""
        env = self.environment
        return True if env is None else bool(env.props.get("controlled", True))

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

    @property
    def level(self) -> str:
        return "mandatory"


# --------------------------------------------------------------------------------------------
# Waivers
# --------------------------------------------------------------------------------------------
WAIVER_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "resource": {"type": "string"},
            "reason": {"type": "string"},
            "expires": {"type": "string"},
            "ecr": {"type": "string"},
        },
        "required": ["resource"],
    },
}
COMMON_SCHEMA: dict[str, Any] = {
    "waivers": WAIVER_SCHEMA,
    # ECR ids whose approval envctl verified when it wrote this config (waivers in controlled stacks).
    "approvedRecords": {"type": "array", "items": {"type": "string"}},
}


@dataclass(frozen=True)
class WaiverDecision:
    honoured: bool
    why: str  # reason when honoured, refusal when not


def judge_waiver(waiver: Mapping[str, Any], controlled: bool, approved: Sequence[str], today: date) -> WaiverDecision:
    """A waiver counts only with a reason, a future expiry and, in a controlled stack, an approved ECR."""
    reason = str(waiver.get("reason") or "").strip()
    if not reason:
        return WaiverDecision(False, "waiver refused: it gives no reason")
    try:
        expires = date.fromisoformat(str(waiver.get("expires")))
    except ValueError:
        return WaiverDecision(False, "waiver refused: it needs an expiry date YYYY-MM-DD")
    if expires < today:
        return WaiverDecision(False, f"waiver refused: it expired on {expires}")
    if controlled:
        ecr = waiver.get("ecr")
        if not ecr:
            return WaiverDecision(False, "waiver refused: a controlled stack needs the id of an approved ECR")
        if ecr not in approved:
            return WaiverDecision(False, f"waiver refused: {ecr} is not an approved ECR of this stack")
    return WaiverDecision(True, reason)


def _matches(waiver: Mapping[str, Any], urn: str, name: str) -> bool:
    target = str(waiver.get("resource") or "")
    return bool(target) and (target == name or target == urn)


def today_utc() -> date:
    return datetime.now(timezone.utc).date()


# --------------------------------------------------------------------------------------------
# Rule -> Pulumi policy
# --------------------------------------------------------------------------------------------
def from_policy_resource(r: Any) -> Resource:
    """A pulumi_policy PolicyResource (stack analysis) as plain data."""
    parent = getattr(r, "parent", None)
    opts = getattr(r, "opts", None)
    return Resource(type=r.resource_type, name=r.name, urn=r.urn, props=r.props or {},
                    protect=bool(getattr(opts, "protect", False)), parent=getattr(parent, "urn", None))


def _report(findings: Iterable[Finding], config: Mapping[str, Any], controlled: bool,
            report_violation: ReportViolation) -> None:
    waivers = config.get("waivers") or []
    approved = config.get("approvedRecords") or []
    today = today_utc()
    for f in findings:
        message = f.message
        matching = [w for w in waivers if _matches(w, f.urn, f.name)]
        if matching:
            decision = judge_waiver(matching[0], controlled, approved, today)
            if decision.honoured:
                continue
            message = f"{message} ({decision.why})"
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


def to_policy(rule: Rule) -> ResourceValidationPolicy | StackValidationPolicy:
    schema = PolicyConfigSchema(properties={**COMMON_SCHEMA, **rule.extra_schema})
    description = rule.description
    if rule.scope == "resource":
        check: ResourceCheck = rule.check  # type: ignore[assignment]

        def validate_resource(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if rule.types and args.resource_type not in rule.types:
                return
            res = Resource(type=args.resource_type, name=args.name, urn=args.urn, props=args.props or {},
                           protect=bool(getattr(args.opts, "protect", False)))
            controlled = res.controlled if res.controlled is not None else True
            if rule.controlled_only and not controlled:
                return
            config = args.get_config() or {}
            message = check(res, config)
            if message:
                _report([Finding(res.urn, message, res.name)], config, controlled, report_violation)

        return ResourceValidationPolicy(name=rule.id, description=description, validate=validate_resource,
                                        enforcement_level=EnforcementLevel.MANDATORY, config_schema=schema)

    stack_check: StackCheck = rule.check  # type: ignore[assignment]

    def validate_stack(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        view = stack_view(args)
        if rule.controlled_only and not view.controlled:
            return
        config = args.get_config() or {}
        _report(stack_check(view, config), config, view.controlled, report_violation)

    return StackValidationPolicy(name=rule.id, description=description, validate=validate_stack,
                                 enforcement_level=EnforcementLevel.MANDATORY, config_schema=schema)
