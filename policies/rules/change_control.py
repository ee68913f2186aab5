"""change_control rules: in a change-controlled stack, nothing stateful can be lost and no unapproved state applied.

Every rule here reads whether the stack is controlled, and whether an approved ECR retires it, from
the Environment component's registered outputs (``controlled``, ``retiring``), never from a
resource's own tags: a resource that lost its tags must not fall out of change control. A stack
whose Environment cannot be read counts as controlled and not retiring (fail closed).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from ..framework import ENVIRONMENT_TYPE, Finding, Resource, Rule, StackView

RDS_INSTANCE = "aws:rds/instance:Instance"
RDS_SNAPSHOT = "aws:rds/snapshot:Snapshot"
BUCKET = "aws:s3/bucket:Bucket"
KMS_KEY = "aws:kms/key:Key"
SECRET = "aws:secretsmanager/secret:Secret"
SNAPSHOT_COPY = "aws:rds/snapshotCopy:SnapshotCopy"  # a restored instance's own copy of its source
STATEFUL = (RDS_INSTANCE, RDS_SNAPSHOT, SNAPSHOT_COPY, BUCKET, KMS_KEY, SECRET)

KEY_DELETION_WINDOW_DAYS = 30  # the longest window KMS allows
STACK_TYPE = "pulumi:pulumi:Stack"
# A stack reference only reads another stack's outputs (the clone source, read before the
# Environment exists); it manages nothing that protection or the digest would have to cover.
STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference"
PROVIDER_PREFIX = "pulumi:providers:"

RETIRE_HINT = ("if the stack is being retired, set `retire: true` in its stack file under an approved ECR "
               "instead of removing the protection by hand")


def retiring(view: StackView) -> bool:
    """True only when the Environment says an approved ECR retires the stack."""
    env = view.environment
    return env is not None and env.props.get("retiring", False) is True


# --------------------------------------------------------------------------------------------
# change-approved-state
# --------------------------------------------------------------------------------------------
def _fix_commands(stack: str) -> str:
    return (f"record and approve it: `envctl ecr new {stack} --title ... --reason ... --by <you>`, then "
            f"`envctl ecr approve <ID> --by <approver>`, then `envctl policy-config {stack} --output "
            f"policy-config.{stack}.json` and run pulumi with --policy-pack policies --policy-pack-config "
            f"policy-config.{stack}.json")


def approved_state(view: StackView, config: Mapping[str, Any]) -> Iterator[Finding]:
    env = view.environment
    if env is None:
        found = len(view.of_type(ENVIRONMENT_TYPE))
        yield Finding("", f"untracked change: the stack has {found} Environment components instead of exactly one, so "
                          "its desired state cannot be matched to an approved ECR; build the stack with the project's "
                          "program (one Environment per stack)")
        return
    stack = env.props.get("stack") or "<stack>"
    digest = env.props.get("desiredStateDigest")
    approved = list(config.get("approvedDigests") or [])
    configured_stack = config.get("stack")
    if not digest:
        yield Finding(env.urn, f"untracked change: the Environment of stack '{stack}' exports no desiredStateDigest, "
                               f"so no ECR can approve it; plan it with the project's program, then "
                               + _fix_commands(stack), env.name)
        return
    if configured_stack and configured_stack != stack:
        yield Finding(env.urn, f"untracked change: the policy config was written for stack '{configured_stack}', not "
                               f"'{stack}', so its approvals do not count here; write this stack's own config with "
                               f"`envctl policy-config {stack}` (desired state {digest}); if no approved ECR names "
                               f"that state, " + _fix_commands(stack), env.name)
    elif digest not in approved:
        why = "the policy config approves no desired state at all" if not approved else \
            f"none of the {len(approved)} approved desired states in the policy config is this one"
        yield Finding(env.urn, f"untracked change: stack '{stack}' would apply desired state {digest}, but {why}; "
                               + _fix_commands(stack), env.name)
    elif configured_stack != stack:
        yield Finding(env.urn, f"untracked change: the policy config approves desired state {digest} but names no "
                               f"stack, so it cannot be told apart from another stack's config; write it with "
                               f"`envctl policy-config {stack}`", env.name)
    else:
        yield from _named_record(env, stack, digest, config)


def _named_record(env: Resource, stack: str, digest: str, config: Mapping[str, Any]) -> Iterator[Finding]:
    """The record the stack file names (its `change_record`) must be the one approving this state.

    Checked where the config says which record approves which state (`approvals`, as
    `envctl policy-config` writes it): an approved digest alone would let a stack name any record,
    or return to an old approved state while naming a newer record."""
    approvals = config.get("approvals")
    if approvals is None:
        return
    named = env.props.get("changeRecord")
    if approvals.get(named) == digest:
        return
    approving = sorted(r for r, d in approvals.items() if d == digest)
    if named not in approvals:
        why = f"names {named or 'no change record'}, which is not an approved ECR of this stack"
    else:
        why = f"names {named}, which approves another desired state ({approvals[named]})"
    yield Finding(env.urn, f"untracked change: stack '{stack}' would apply desired state {digest}, but its stack file "
                           f"{why}; set `change_record` to the record that approves this state "
                           f"({', '.join(approving)}; see `envctl ecr list {stack}`)", env.name)


# --------------------------------------------------------------------------------------------
# change-stateful-protected
# --------------------------------------------------------------------------------------------
def stateful_protected(view: StackView, config: Mapping[str, Any]) -> Iterator[Finding]:
    if retiring(view):
        return
    for r in view.of_type(*STATEFUL):
        if not r.protect:
            yield Finding(r.urn, f"{r.label} of a change-controlled stack is not protected, so `pulumi up` or "
                                 f"`pulumi destroy` could delete or replace it: register it with "
                                 f"ResourceOptions(protect=True) (settings.protected); {RETIRE_HINT}", r.name)


# --------------------------------------------------------------------------------------------
# change-database-retained
# --------------------------------------------------------------------------------------------
def database_retained(view: StackView, config: Mapping[str, Any]) -> Iterator[Finding]:
    env = view.environment
    is_retiring = retiring(view)
    # Mirrors StackSettings.final_snapshot for a controlled stack: only a retiring disposable
    # stack (a VAL whose validation is complete) may leave without a final snapshot.
    disposable = env is not None and env.props.get("disposable", False) is True
    final_snapshot_required = not (is_retiring and disposable)
    for r in view.of_type(RDS_INSTANCE):
        problems = []
        if r.props.get("deletionProtection") is not True and not is_retiring:
            problems.append("set deletionProtection=True")
        if final_snapshot_required:
            if r.props.get("skipFinalSnapshot") is not False:
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
def bucket_not_force_destroyed(view: StackView, config: Mapping[str, Any]) -> Iterator[Finding]:
    if retiring(view):
        return
    for r in view.of_type(BUCKET):
        if r.props.get("forceDestroy") is True:
            yield Finding(r.urn, f"bucket '{r.name}' of a change-controlled stack has forceDestroy=True, so a destroy "
                                 f"would delete every object version in it: set forceDestroy=False; {RETIRE_HINT}",
                          r.name)


# --------------------------------------------------------------------------------------------
# change-key-deletion-window
# --------------------------------------------------------------------------------------------
def key_deletion_window(view: StackView, config: Mapping[str, Any]) -> Iterator[Finding]:
    if retiring(view):
        return
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


_STACK = "stack"
_DIGEST = {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}

RULES: list[Rule] = [
    Rule(
        id="change-approved-state",
        family="change-control",
        description="The desired state of a change-controlled stack is named by an approved ECR of that stack",
        check=approved_state,
        scope=_STACK,
        controlled_only=True,
        extra_schema={
            "approvedDigests": {"type": "array", "items": _DIGEST},
            "stack": {"type": "string"},
            # record id -> the digest it approves, from the verified chain
            "approvals": {"type": "object", "additionalProperties": _DIGEST},
        },
    ),
    Rule(
        id="change-stateful-protected",
        family="change-control",
        description="Databases, snapshots, buckets, keys and secrets of a change-controlled stack are protected "
                    "unless an approved ECR retires the stack",
        check=stateful_protected,
        scope=_STACK,
        controlled_only=True,
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
    ),
    Rule(
        id="change-bucket-not-force-destroyed",
        family="change-control",
        description="Buckets of a change-controlled stack are never force-destroyed",
        check=bucket_not_force_destroyed,
        scope=_STACK,
        controlled_only=True,
    ),
    Rule(
        id="change-key-deletion-window",
        family="change-control",
        description="KMS keys of a change-controlled stack keep the 30-day deletion window",
        check=key_deletion_window,
        scope=_STACK,
        controlled_only=True,
    ),
    Rule(
        id="change-inside-environment",
        family="change-control",
        description="Every resource of a change-controlled stack (but providers and stack references) stands inside "
                    "its Environment component",
        check=inside_environment,
        scope=_STACK,
        controlled_only=True,
    ),
]
