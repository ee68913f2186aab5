"""Evaluate the policy pack against an offline run, the way the Pulumi engine and CLI do.

The CLI fills each policy's config from its schema defaults, applies the `all` level, then each
policy's own level and properties, and validates the result; the engine then calls `Analyze` for
every resource (its inputs) and `AnalyzeStack` once (every resource with its parent; components
with their registered outputs). This module reproduces both steps for `envctl check` and tests,
including what a policy says does not apply (`args.not_applicable(reason)`), which the engine
reports apart from violations.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import jsonschema
from pulumi.runtime.sync_await import _sync_await
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .monitor import Registration, map_secrets
from .offline import StackRun

LEVELS = {level.value: level for level in EnforcementLevel}


class PolicyConfigError(Exception):
    """A policy config that the Pulumi CLI would refuse, or that lowers a rule of a controlled stack."""


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    urn: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"policy": self.policy, "level": self.level, "urn": self.urn, "message": self.message}


@dataclass(frozen=True)
class EffectivePolicy:
    policy: ResourceValidationPolicy | StackValidationPolicy
    level: EnforcementLevel
    config: Mapping[str, Any]


@dataclass(frozen=True)
class NotApplicableResult:
    """One call of a policy that said it does not apply: to one resource (`Analyze`) or to the stack
    (`AnalyzeStack`, urn "")."""

    policy: str
    urn: str
    reason: str


@dataclass
class Evaluation:
    violations: list[Violation] = field(default_factory=list)
    not_applicable: list[NotApplicableResult] = field(default_factory=list)
    applied: set[str] = field(default_factory=set)  # policies that applied to at least one call

    def not_applicable_policies(self) -> dict[str, list[str]]:
        """The policies that applied to nothing in the stack, each with its distinct reasons."""
        found: dict[str, list[str]] = {}
        for n in self.not_applicable:
            if n.policy not in self.applied and n.reason not in found.setdefault(n.policy, []):
                found[n.policy].append(n.reason)
        return found


class _Recording:
    """The `not_applicable` of the engine's args, recording the reason instead of raising (the
    framework returns right after calling it)."""

    _record: Any

    def not_applicable(self, reason: str | None = None) -> None:
        self._record(reason or "")


class RecordingResourceArgs(_Recording, ResourceValidationArgs):
    pass


class RecordingStackArgs(_Recording, StackValidationArgs):
    pass


def _plain(value: Any) -> Any:
    """Secrets as the engine hands them to a validation: plain values."""
    return map_secrets(value, _plain)


def _props(reg: Registration, stack_analysis: bool) -> dict[str, Any]:
    if not reg.custom:
        return _plain(reg.outputs or {}) if stack_analysis else {}
    return _plain(reg.inputs)


def _opts(reg: Registration) -> PolicyResourceOptions:
    return PolicyResourceOptions(reg.protect, reg.ignore_changes, reg.delete_before_replace, reg.aliases, None, [])


def policy_resources(run: StackRun) -> list[PolicyResource]:
    """Every registered resource as `AnalyzeStack` presents it, parents and dependencies linked."""
    made: dict[str, PolicyResource] = {}
    for reg in run.registrations:  # registration order: a parent is always registered before its children
        made[reg.urn] = PolicyResource(
            reg.type, _props(reg, True), reg.urn, reg.name, _opts(reg), None, made.get(reg.parent), [], {}
        )
    for reg in run.registrations:
        made[reg.urn].dependencies = [made[d] for d in reg.dependencies if d in made]
        made[reg.urn].property_dependencies = {key: [made[u] for u in urns if u in made]
                                               for key, urns in reg.property_dependencies.items()}
    return list(made.values())


def effective_policies(
    policies: Sequence[ResourceValidationPolicy | StackValidationPolicy],
    config: Mapping[str, Any] | None,
    pack_level: EnforcementLevel = EnforcementLevel.MANDATORY,
) -> list[EffectivePolicy]:
    """The CLI's handling of `--policy-pack-config`: defaults, `all`, per-policy, then validation."""
    config = dict(config or {})
    names = {p.name for p in policies}
    unknown = sorted(set(config) - names - {"all"})
    if unknown:
        raise PolicyConfigError(f"policy config names unknown policies: {', '.join(unknown)}")
    all_level = _level(config["all"], "all") if "all" in config else None
    result: list[EffectivePolicy] = []
    for policy in policies:
        level = policy.enforcement_level or pack_level
        if all_level is not None:
            level = all_level
        schema = policy.config_schema.properties if policy.config_schema else {}
        props = {k: v["default"] for k, v in schema.items() if isinstance(v, dict) and "default" in v}
        own = config.get(policy.name)
        if isinstance(own, str):
            level = _level(own, policy.name)
        elif isinstance(own, dict):
            if "enforcementLevel" in own:
                level = _level(own["enforcementLevel"], policy.name)
            props.update({k: v for k, v in own.items() if k != "enforcementLevel"})
        elif own is not None:
            raise PolicyConfigError(f"policy config of {policy.name}: expected a level or an object, got {own!r}")
        error = jsonschema.exceptions.best_match(_validator(policy).iter_errors(props))
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path) or "(root)"
            raise PolicyConfigError(f"policy config of {policy.name}: {path}: {error.message}")
        result.append(EffectivePolicy(policy, level, props))
    return result


_VALIDATORS: dict[int, Any] = {}


def _validator(policy: ResourceValidationPolicy | StackValidationPolicy):
    """The policy's config schema, checked and compiled once per process (a fleet reuses it)."""
    key = id(policy)
    if key not in _VALIDATORS:
        schema: dict[str, Any] = {"type": "object",
                                  "properties": dict(policy.config_schema.properties if policy.config_schema else {})}
        if policy.config_schema and policy.config_schema.required:
            schema["required"] = list(policy.config_schema.required)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _VALIDATORS[key] = cls(schema)
    return _VALIDATORS[key]


def _level(value: Any, where: str) -> EnforcementLevel:
    if not isinstance(value, str) or value not in LEVELS:
        raise PolicyConfigError(f"policy config of {where}: unknown enforcement level {value!r}; "
                                f"accepted: {', '.join(LEVELS)}")
    return LEVELS[value]


def _call(validate, args: _Recording, report, evaluation: Evaluation, policy: str, urn: str) -> None:
    said: list[str] = []
    args._record = said.append
    result = validate(args, report)
    if inspect.isawaitable(result):
        _sync_await(result)
    if said:
        evaluation.not_applicable.append(NotApplicableResult(policy, urn, said[0]))
    else:
        evaluation.applied.add(policy)


def evaluate(run: StackRun, effective: Iterable[EffectivePolicy], stack_tags: Mapping[str, str] | None = None) -> Evaluation:
    evaluation = Evaluation()
    active = [e for e in effective if e.level not in (EnforcementLevel.DISABLED,)]

    def reporter(e: EffectivePolicy, default_urn: str):
        level = EnforcementLevel.MANDATORY if e.level == EnforcementLevel.REMEDIATE else e.level

        def report(message: str, urn: str | None = None) -> None:
            evaluation.violations.append(Violation(e.policy.name, level.value, urn or default_urn, message))
        return report

    resource_policies = [e for e in active if isinstance(e.policy, ResourceValidationPolicy)]
    for reg in run.registrations:
        props = _props(reg, False)
        for e in resource_policies:
            args = RecordingResourceArgs(reg.type, props, reg.urn, reg.name, _opts(reg), None, e.config)
            for validate in _validations(e.policy):
                _call(validate, args, reporter(e, reg.urn), evaluation, e.policy.name, reg.urn)

    stack_policies = [e for e in active if isinstance(e.policy, StackValidationPolicy)]
    if stack_policies:
        resources = policy_resources(run)
        for e in stack_policies:
            args = RecordingStackArgs(resources, e.config, dict(stack_tags or {}))
            _call(e.policy.validate, args, reporter(e, ""), evaluation, e.policy.name, "")
    return evaluation


def _validations(policy: ResourceValidationPolicy) -> list:
    validate = policy.validate
    return list(validate) if isinstance(validate, list) else [validate]
