"""change_control rules: in a change-controlled stack, nothing stateful can be lost and no unapproved state applied.

Whether the stack is controlled comes from its name (in the URNs the engine builds), never from a
setting, an output or a resource's tags: these rules run for every preprod, val and prod stack.
Whether an approved ECR retires it is the Environment's ``retiring`` output, which counts only in
an approved state (``change-approved-state``); a stack whose Environment cannot be read counts as
not retiring (fail closed).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from components import tokens
from components.tokens import ENVIRONMENT_KEYS as ENV_KEYS

from ..framework import (
    ENVIRONMENT_TYPE,
    UNKNOWN,
    Finding,
    NotApplicable,
    Resource,
    Rule,
    StackResult,
    StackView,
    facts_of,
    flag,
)

RDS_INSTANCE = tokens.RDS_INSTANCE
RDS_SNAPSHOT = tokens.RDS_SNAPSHOT
BUCKETS = tokens.RECOGNISED_BUCKETS  # every spelling: a bucket registered as BucketV2 is protected all the same
KMS_KEY = tokens.KMS_KEY
SECRET = tokens.SECRET
SNAPSHOT_COPY = tokens.RDS_SNAPSHOT_COPY  # a restored instance's own copy of its source
STATEFUL = (RDS_INSTANCE, RDS_SNAPSHOT, SNAPSHOT_COPY, *BUCKETS, KMS_KEY, SECRET)

KEY_DELETION_WINDOW_DAYS = 30  # the longest window KMS allows
STACK_TYPE = tokens.STACK
# A stack reference only reads another stack's outputs (the clone source, read before the
# Environment exists); it manages nothing that protection or the digest would have to cover.
STACK_REFERENCE_TYPE = tokens.STACK_REFERENCE
PROVIDER_PREFIX = tokens.PROVIDER_PREFIX

RETIRE_HINT = ("if the stack is being retired, set `retire: true` in its stack file under an approved ECR "
               "instead of removing the protection by hand")
RETIRING = NotApplicable("an approved ECR retires the stack")


def retiring(view: StackView) -> bool:
    """True only when the Environment says an approved ECR retires the stack."""
    env = view.environment
    return env is not None and env.props.get(ENV_KEYS.retiring, False) is True


# --------------------------------------------------------------------------------------------
# change-approved-state
# --------------------------------------------------------------------------------------------
def approved_state(view: StackView, config: Mapping[str, Any]) -> Iterator[Finding]:
    """The desired state is approved by the record the stack names, as the pack itself verified it
    (:mod:`policies.facts`): its digest computed from the project's files and the stack file, the
    record's signatures checked against the trust root's signers. The program's own export must be
    that same digest: a program that reports another one is not the program that was approved."""
    facts = facts_of(config)
    verdict = facts.verdict if facts is not None else None
    env = view.environment
    urn, name = (env.urn, env.name) if env is not None else ("", "")
    if verdict is None:
        yield Finding(urn, "untracked change: the pack could not verify any approval for this stack (fail closed); "
                           "check it with envctl check")
        return
    stack = verdict.stack
    if env is None:
        found = len(view.of_type(ENVIRONMENT_TYPE))
        yield Finding("", f"untracked change: the stack has {found} Environment components instead of exactly one, so "
                          "its desired state cannot be matched to an approved ECR; build the stack with the project's "
                          "program (one Environment per stack)")
    else:
        exported = env.props.get(ENV_KEYS.desired_state_digest)
        if exported is not UNKNOWN and verdict.digest is not None and exported != verdict.digest:
            yield Finding(urn, f"untracked change: the program of stack '{stack}' exports desired state {exported!r}, "
                               f"but its files and stack file give {verdict.digest}: the program that runs is not the "
                               f"one its files say (a digest it does not compute itself), so no approval covers it; "
                               f"plan it with the project's unchanged program", name)
        anchor = env.props.get(ENV_KEYS.approval)
        if verdict.ok and anchor is not UNKNOWN and anchor != verdict.anchor:
            yield Finding(urn, f"untracked change: the program of stack '{stack}' exports the approval {anchor!r}, "
                               f"but the records give {verdict.anchor}; plan it with the project's unchanged program",
                          name)
    for problem in verdict.problems:
        yield Finding(urn, problem, name)


# --------------------------------------------------------------------------------------------
# change-stateful-protected
# --------------------------------------------------------------------------------------------
def stateful_protected(view: StackView, config: Mapping[str, Any]) -> StackResult:
    if retiring(view):
        return RETIRING
    stateful = view.of_type(*STATEFUL)
    if not stateful:
        return NotApplicable("no database, snapshot, bucket, KMS key or secret in the stack")
    findings = []
    for r in stateful:
        if not r.protect:
            findings.append(Finding(r.urn, f"{r.label} of a change-controlled stack is not protected, so `pulumi up` "
                                           f"or `pulumi destroy` could delete or replace it: register it with "
                                           f"ResourceOptions(protect=True) (settings.protected); {RETIRE_HINT}",
                                    r.name))
    return findings


# --------------------------------------------------------------------------------------------
# change-database-retained
# --------------------------------------------------------------------------------------------
def database_retained(view: StackView, config: Mapping[str, Any]) -> StackResult:
    if not view.of_type(RDS_INSTANCE):
        return NotApplicable("no database in the stack")
    return _database_findings(view)


def _database_findings(view: StackView) -> Iterator[Finding]:
    env = view.environment
    is_retiring = retiring(view)
    # Mirrors StackSettings.final_snapshot for a controlled stack: only a retiring disposable
    # stack (a VAL whose validation is complete) may leave without a final snapshot.
    disposable = env is not None and env.props.get(ENV_KEYS.disposable, False) is True
    final_snapshot_required = not (is_retiring and disposable)
    for r in view.of_type(RDS_INSTANCE):
        problems = []
        if flag(r.props.get("deletionProtection")) is not True and not is_retiring:
            problems.append("set deletionProtection=True")
        if final_snapshot_required:
            if flag(r.props.get("skipFinalSnapshot")) is not False:
                problems.append("set skipFinalSnapshot=False")
            if not r.props.get("finalSnapshotIdentifier"):
                problems.append("give a finalSnapshotIdentifier")
        if problems:
            hint = ("a retiring stack that is not disposable still leaves a final snapshot" if is_retiring
                    else RETIRE_HINT)
            yield Finding(r.urn, f"database '{r.name}' of a change-controlled stack could be deleted without trace: "
                                 f"{', '.join(problems)}; {hint}", r.name)


# --------------------------------------------------------------------------------------------
# change-bucket-not-force-destroyed
# --------------------------------------------------------------------------------------------
def bucket_not_force_destroyed(view: StackView, config: Mapping[str, Any]) -> StackResult:
    if retiring(view):
        return RETIRING
    buckets = view.of_type(*BUCKETS)
    if not buckets:
        return NotApplicable("no S3 bucket in the stack")
    return [Finding(r.urn, f"bucket '{r.name}' of a change-controlled stack has forceDestroy=True, so a destroy "
                           f"would delete every object version in it: set forceDestroy=False; {RETIRE_HINT}", r.name)
            for r in buckets if flag(r.props.get("forceDestroy")) is True]


# --------------------------------------------------------------------------------------------
# change-key-deletion-window
# --------------------------------------------------------------------------------------------
def key_deletion_window(view: StackView, config: Mapping[str, Any]) -> StackResult:
    if retiring(view):
        return RETIRING
    if not view.of_type(KMS_KEY):
        return NotApplicable("no KMS key in the stack")
    return _key_window_findings(view)


def _key_window_findings(view: StackView) -> Iterator[Finding]:
    for r in view.of_type(KMS_KEY):
        window = r.props.get("deletionWindowInDays")
        if window is None:
            continue  # KMS's default window is the longest, 30 days
        try:
            days = float(window)
        except (TypeError, ValueError):
            days = float("nan")
        if days != KEY_DELETION_WINDOW_DAYS:
            yield Finding(r.urn, f"key '{r.name}' of a change-controlled stack has a deletion window of {days:g} days: "
                                 f"set deletionWindowInDays={KEY_DELETION_WINDOW_DAYS}, so that a key scheduled for "
                                 f"deletion by mistake can be recovered for a month; {RETIRE_HINT}", r.name)


# --------------------------------------------------------------------------------------------
# change-inside-environment
# --------------------------------------------------------------------------------------------
def inside_environment(view: StackView, config: Mapping[str, Any]) -> Iterator[Finding]:
    for r in view.resources:
        if r.type in (STACK_TYPE, STACK_REFERENCE_TYPE, ENVIRONMENT_TYPE) or r.type.startswith(PROVIDER_PREFIX):
            continue
        if not any(a.type == ENVIRONMENT_TYPE for a in view.ancestors(r)):
            yield Finding(r.urn, f"{r.label} stands outside the Environment component, so the Environment's "
                                 f"protection, tags and desired-state digest do not cover it: create it inside a "
                                 f"component of the environment (opts=ResourceOptions(parent=self))", r.name)


# --------------------------------------------------------------------------------------------
# change-resource-options
# --------------------------------------------------------------------------------------------
# The only ignoreChanges the program sets on stateful resources, each for a documented reason:
# a restored database keeps the snapshot it was created from (the engine would otherwise replace it
# when the source is pinned or retires), and a snapshot copy keeps its source for the same reason.
DOCUMENTED_PINS = {RDS_INSTANCE: ("snapshotIdentifier",), SNAPSHOT_COPY: ("sourceDbSnapshotIdentifier",)}
OPTION_TYPES = (*STATEFUL, tokens.RDS_CLUSTER, tokens.RDS_CLUSTER_SNAPSHOT)


def resource_options(view: StackView, config: Mapping[str, Any]) -> StackResult:
    stateful = view.of_type(*OPTION_TYPES)
    if not stateful:
        return NotApplicable("no database, snapshot, bucket, key or secret in the stack")
    return [Finding(r.urn, message, r.name) for r in stateful if (message := _options_problem(r))]


def _options_problem(r: Resource) -> str | None:
    problems = []
    extra = sorted(set(r.ignore_changes) - set(DOCUMENTED_PINS.get(r.type, ())))
    if extra:
        problems.append(f"ignoreChanges {', '.join(extra)} would let the approved desired state and what runs drift "
                        f"apart unseen: remove it (documented pins: "
                        f"{', '.join(DOCUMENTED_PINS.get(r.type, ())) or 'none for this type'})")
    if r.delete_before_replace:
        problems.append("deleteBeforeReplace would delete it before its replacement exists: remove the option")
    return f"{r.label} of a change-controlled stack: {'; '.join(problems)}" if problems else None


_STACK = "stack"

RULES: list[Rule] = [
    Rule(
        id="change-approved-state",
        family="change-control",
        description="The desired state of a change-controlled stack is named by an approved ECR of that stack",
        check=approved_state,
        scope=_STACK,
        controlled_only=True,
        severity=Severity.CRITICAL,
        remediation="Draft an ECR for the new desired state (envctl ecr new <stack>) and have a second person approve "
                    "it (envctl ecr approve)",
    ),
    Rule(
        id="change-stateful-protected",
        family="change-control",
        description="Databases, snapshots, buckets, keys and secrets of a change-controlled stack are protected "
                    "unless an approved ECR retires the stack",
        check=stateful_protected,
        scope=_STACK,
        controlled_only=True,
        severity=Severity.HIGH,
        remediation="Register the resource with ResourceOptions(protect=True); retire a stack through an approved ECR "
                    "(retire: true), never by hand",
    ),
    Rule(
        id="change-database-retained",
        family="change-control",
        description="Databases of a change-controlled stack have deletion protection and leave a final snapshot",
        check=database_retained,
        scope=_STACK,
        controlled_only=True,
        fsbp="RDS.8",
        checkov="CKV_AWS_293",
        severity=Severity.HIGH,
        remediation="Set deletion_protection=True, skip_final_snapshot=False and a final_snapshot_identifier on the "
                    "database",
    ),
    Rule(
        id="change-bucket-not-force-destroyed",
        family="change-control",
        description="Buckets of a change-controlled stack are never force-destroyed",
        check=bucket_not_force_destroyed,
        scope=_STACK,
        controlled_only=True,
        severity=Severity.HIGH,
        remediation="Set force_destroy=False on the bucket; retire a stack through an approved ECR (retire: true)",
    ),
    Rule(
        id="change-key-deletion-window",
        family="change-control",
        description="KMS keys of a change-controlled stack keep the 30-day deletion window",
        check=key_deletion_window,
        scope=_STACK,
        controlled_only=True,
        severity=Severity.MEDIUM,
        remediation="Set deletion_window_in_days=30 on the key (or leave it unset)",
    ),
    Rule(
        id="change-inside-environment",
        family="change-control",
        description="Every resource of a change-controlled stack (but providers and stack references) stands inside "
                    "its Environment component",
        check=inside_environment,
        scope=_STACK,
        controlled_only=True,
        severity=Severity.HIGH,
        remediation="Create the resource inside a component of the Environment (opts=ResourceOptions(parent=self))",
    ),
    Rule(
        id="change-resource-options",
        family="change-control",
        description="Stateful resources of a change-controlled stack ignore no changes beyond the documented pins "
                    "and are never deleted before their replacement",
        check=resource_options,
        scope=_STACK,
        controlled_only=True,
        severity=Severity.HIGH,
        remediation="Remove ignore_changes (beyond the documented restore pins) and delete_before_replace from "
                    "databases, snapshots, buckets, keys and secrets",
    ),
]
