"""lifecycle rules: every stack is what its phase says: its life, its instances, where its data comes from, whose it is.

Phase facts (topology, disposable, longest life, restored roles, the clone source phase) are read
from the phase catalog in ``components.phases``, the same table the program builds from; a rule
never asks which phase it is looking at by name.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping as MappingABC
from datetime import date, timedelta
from typing import Any, Callable, Iterator, Mapping

from pulumi_policy import EnforcementLevel, Severity

from changecontrol import clock
from components import naming, tokens
from components.naming import environment_name
from components.phases import (
    CLONE,
    CLONE_SOURCE_PHASE,
    ITERATION,
    PHASES,
    SEED,
    SEED_SOURCE_PHASE,
    Phase,
    Topology,
)
from components.tokens import ENVIRONMENT_KEYS as ENV_KEYS
from components.tokens import INSTANCE_KEYS

from ..framework import (
    ENVIRONMENT_TYPE,
    INSTANCE_TYPE,
    PAIR_TYPE,
    Finding,
    NotApplicable,
    Resource,
    Rule,
    StackResult,
    StackView,
    as_list,
    facts_of,
)
from ..releases import RELEASES_FILE, Release, Releases

RDS_INSTANCE = tokens.RDS_INSTANCE
RDS_CLUSTER = tokens.RDS_CLUSTER
SNAPSHOT_COPY = tokens.RDS_SNAPSHOT_COPY
KMS_KEY = tokens.KMS_KEY
BUCKET_POLICY = tokens.S3_BUCKET_POLICY
NO_CUSTOMER = "none"  # the customer tag of an environment that serves no customer
NO_EXPIRY = "never"  # the expires-on tag of a stack that is not disposable
PRINCIPAL_ARN_KEY = "aws:principalarn"


# --------------------------------------------------------------------------------------------
# Reading the environment
# --------------------------------------------------------------------------------------------
def _environment(view: StackView) -> tuple[Resource | None, Phase | None, Finding | None]:
    """The stack's Environment and its phase, or the finding that says why they cannot be read."""
    env = view.environment
    if env is None:
        found = len(view.of_type(ENVIRONMENT_TYPE))
        return None, None, Finding("", f"the stack has {found} Environment components instead of exactly one, so "
                                       "its phase cannot be checked: build it with the project's program")
    phase = PHASES.get(str(env.props.get(ENV_KEYS.phase)))
    if phase is None:
        return env, None, Finding(env.urn, f"the Environment names phase {env.props.get(ENV_KEYS.phase)!r}, which the phase "
                                           f"catalog does not know (phases: {', '.join(PHASES)})", env.name)
    return env, phase, None


def _per_phase(check: Callable[[StackView, Resource, Phase], StackResult]
               ) -> Callable[[StackView, Mapping[str, Any]], StackResult]:
    """A stack rule that reads the Environment and its phase first: it reports why they cannot be read
    (fail closed: never "not applicable"), and runs `check(view, env, phase)` only when both can."""

    @functools.wraps(check)
    def rule(view: StackView, config: Mapping[str, Any]) -> StackResult:
        env, phase, problem = _environment(view)
        if env is None or phase is None:
            return [problem] if problem else []
        return check(view, env, phase)

    return rule


def _mistagged(view: StackView, key: str, expected: str) -> Iterator[tuple[Resource, str | None]]:
    """Every tagged resource whose `key` tag is not `expected`, with the tag it carries instead."""
    for r in view.resources:
        if not r.tags:
            continue
        tag = r.tags.get(key)
        if tag != expected:
            yield r, tag


def _owner(view: StackView, r: Resource, typ: str = INSTANCE_TYPE) -> Resource | None:
    """The nearest ancestor of type `typ`."""
    return next((a for a in view.ancestors(r) if a.type == typ), None)


def _under(view: StackView, r: Resource, ancestor: Resource) -> bool:
    return any(a.urn == ancestor.urn for a in view.ancestors(r))


def _customer(env: Resource) -> str:
    return env.props.get(ENV_KEYS.customer) or NO_CUSTOMER


def _env_name(env: Resource) -> str:
    """Prefix of every resource name of the environment: `<customer>-<phase>` (the stack name without a customer)."""
    name = env.props.get(ENV_KEYS.environment_name)
    if name:
        return str(name)
    return environment_name(env.props.get(ENV_KEYS.customer), str(env.props.get(ENV_KEYS.phase)), str(env.props.get(ENV_KEYS.stack) or ""))


# --------------------------------------------------------------------------------------------
# lifecycle-expiry
# --------------------------------------------------------------------------------------------
@_per_phase
def expiry(view: StackView, env: Resource, phase: Phase) -> Iterator[Finding]:
    raw = env.props.get(ENV_KEYS.expires_on)
    if env.props.get(ENV_KEYS.disposable) is not phase.disposable:
        yield Finding(env.urn, f"the Environment says disposable={env.props.get(ENV_KEYS.disposable)!r}, but a {phase.name} "
                               f"stack is {'disposable' if phase.disposable else 'not disposable'}: plan it with the "
                               f"project's program", env.name)
    today = clock.today()
    if phase.disposable:
        latest = today + timedelta(days=phase.max_life_days or 0)
        expires = _date(raw)
        if expires is None:
            yield Finding(env.urn, f"a {phase.name} stack is disposable and needs an expiry date: set expires_on "
                                   f"(YYYY-MM-DD, from {today} to {latest}) in its stack file"
                                   + (f" (got {raw!r})" if raw else ""), env.name)
        elif expires < today:
            yield Finding(env.urn, f"the {phase.name} stack expired on {expires}: destroy it with `pulumi destroy`, "
                                   f"or give expires_on a new date from {today} to {latest}", env.name)
        elif expires > latest:
            yield Finding(env.urn, f"expires_on {expires} is beyond the longest life of a {phase.name} stack "
                                   f"({phase.max_life_days} days from today): set it to {latest} at the latest",
                          env.name)
    elif raw is not None:
        yield Finding(env.urn, f"a {phase.name} stack is not disposable and takes no expiry date (got {raw!r}): "
                               f"remove expires_on from its stack file", env.name)
    expected_tag = str(raw) if raw else NO_EXPIRY
    for r, tag in _mistagged(view, "expires-on", expected_tag):
        yield Finding(r.urn, f"{r.label} has expires-on tag {tag!r}, but the "
                             f"environment expires on {expected_tag!r}: tag it through StackSettings.tags_for, "
                             f"never by hand", r.name)


def _date(raw: Any) -> date | None:
    try:
        return date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# lifecycle-topology
# --------------------------------------------------------------------------------------------
@_per_phase
def topology(view: StackView, env: Resource, phase: Phase) -> Iterator[Finding]:
    expected = sorted(role.value for role in phase.roles)
    kind = "a pair of instances under one InstancePair" if phase.topology is Topology.PAIR else "one instance"
    shape = f"a {phase.name} stack is {kind} with roles {', '.join(expected)}"
    inside: list[Resource] = []
    for inst in view.of_type(INSTANCE_TYPE):
        if _under(view, inst, env):
            inside.append(inst)
        else:
            yield Finding(inst.urn, f"instance '{inst.name}' stands outside the Environment: {shape}, inside the "
                                    f"Environment; remove it", inst.name)
    pairs = view.of_type(PAIR_TYPE)
    if phase.topology is Topology.PAIR:
        if len(pairs) != 1:
            yield Finding(env.urn, f"found {len(pairs)} InstancePair components: {shape}", env.name)
            return
        container = pairs[0]
        mine = []
        for inst in inside:
            owner = _owner(view, inst, PAIR_TYPE)
            if owner is not None and owner.urn == container.urn:
                mine.append(inst)
            else:
                yield Finding(inst.urn, f"instance '{inst.name}' stands outside the InstancePair: {shape}; "
                                        f"remove it", inst.name)
    else:
        for pair in pairs:
            yield Finding(pair.urn, f"InstancePair '{pair.name}' in a stack of {phase.topology.value} topology: "
                                    f"{shape}; remove the pair", pair.name)
        container, mine = env, inside

    roles = [str(i.props.get(INSTANCE_KEYS.role)) for i in mine]
    for i, (inst, role) in enumerate(zip(mine, roles)):
        if role not in expected:
            yield Finding(inst.urn, f"instance '{inst.name}' has role {role!r}: {shape}; remove it", inst.name)
        elif role in roles[:i]:
            yield Finding(inst.urn, f"instance '{inst.name}' is a second instance with role {role!r}: {shape}; "
                                    f"remove it", inst.name)
    missing = [role for role in expected if role not in roles]
    if missing:
        yield Finding(container.urn, f"no instance with role {', '.join(missing)}: {shape}", container.name)


# --------------------------------------------------------------------------------------------
# lifecycle-restore-allowed
# --------------------------------------------------------------------------------------------
def _snapshot_id(value: Any) -> str:
    """The snapshot identifier of a snapshot ARN (`arn:...:rds:<region>:<account>:snapshot:<id>`) or bare id."""
    text = str(value or "")
    return text.split(":snapshot:", 1)[1] if ":snapshot:" in text else text


def _instance_keys(view: StackView, inst: Resource) -> set[str]:
    """ARNs of the instance's own keys: its registered keyArn output, and any key ARN the engine reports."""
    keys = {str(inst.props.get(INSTANCE_KEYS.key_arn))} if inst.props.get(INSTANCE_KEYS.key_arn) else set()
    for key in view.of_type(KMS_KEY):
        owner = _owner(view, key)
        if owner is not None and owner.urn == inst.urn and key.props.get("arn"):
            keys.add(str(key.props.get("arn")))
    return keys


@_per_phase
def restore_allowed(view: StackView, env: Resource, phase: Phase) -> StackResult:
    restored = [r for r in view.of_type(RDS_INSTANCE) if r.props.get("snapshotIdentifier")]
    if not restored and not view.of_type(SNAPSHOT_COPY):
        return NotApplicable(f"nothing in this {phase.name} stack is restored from a snapshot")
    return _restore_findings(view, env, phase)


def _restored_from(inst: Resource) -> Mapping[str, Any]:
    """Where the instance says its database comes from (`restoredFrom`); an instance that says nothing but is
    restored is judged as a clone, the strictest reading."""
    found = inst.props.get(INSTANCE_KEYS.restored_from)
    return found if isinstance(found, MappingABC) else {"kind": CLONE}


def _roles_for(phase: Phase, kind: str) -> frozenset:
    return {CLONE: phase.restored_roles, SEED: phase.seeded_roles, ITERATION: phase.iterated_roles}.get(
        kind, frozenset())


def _source_prefix(kind: str, env: Resource) -> tuple[str | None, str]:
    """What the identifier of a snapshot of this kind starts with, and how to say it."""
    customer = env.props.get(ENV_KEYS.customer)
    if kind == SEED:
        prefix = naming.seed_source().published_snapshot_prefix
        return prefix, f"a seed published by the {SEED_SOURCE_PHASE} stack (identifier {prefix}<name>)"
    if kind == ITERATION:
        prefix = naming.Names(_env_name(env)).iteration_snapshot_prefix
        return prefix, f"a migration iteration of this environment (identifier {prefix}<label>)"
    prefix = f"{customer}-{CLONE_SOURCE_PHASE}-" if customer else None
    return prefix, (f"a snapshot of {customer or 'this environment'}'s {CLONE_SOURCE_PHASE} (identifier "
                    f"{customer or '<customer>'}-{CLONE_SOURCE_PHASE}-<name>)")


_REMEDY = {
    CLONE: f"set clone_from to the same customer's {CLONE_SOURCE_PHASE} stack and one of its snapshots",
    SEED: f"set seed_from to the {SEED_SOURCE_PHASE} stack, which publishes the seed of each release",
    ITERATION: "set iteration to a snapshot the migration tooling produced for this environment",
}


def _restore_findings(view: StackView, env: Resource, phase: Phase) -> Iterator[Finding]:
    copies = view.of_type(SNAPSHOT_COPY)
    restored = [r for r in view.of_type(RDS_INSTANCE) if r.props.get("snapshotIdentifier")]

    for r in [*restored, *copies]:
        what = "database restored from a snapshot" if r.type == RDS_INSTANCE else "snapshot copy"
        inst = _owner(view, r)
        if inst is None:
            yield Finding(r.urn, f"{what} '{r.name}' belongs to no instance: a {phase.name} stack restores only "
                                 "through its instances; remove it", r.name)
            continue
        role = str(inst.props.get(INSTANCE_KEYS.role))
        kind = str(_restored_from(inst).get("kind"))
        allowed = sorted(r.value for r in _roles_for(phase, kind))
        if role not in allowed:
            source = "an iteration" if kind == ITERATION else f"a {kind}"
            allowed_text = (f"only {', '.join(allowed)} of a {phase.name} stack may be restored from {source}" if allowed
                            else f"no instance of a {phase.name} stack is restored from {source}"
                            if any(phase.restore_kind(r) for r in phase.roles)
                            else f"a {phase.name} stack starts empty and restores nothing")
            yield Finding(r.urn, f"{what} '{r.name}' in role {role!r}: {allowed_text}, so data never reaches an "
                                 f"instance the phase catalog does not restore; remove the restore (clone_from, "
                                 f"seed_from and iteration apply to the phase's own restored roles only)", r.name)
            continue
        if r.type == RDS_INSTANCE:
            own = {str(c.props.get("targetDbSnapshotIdentifier")) for c in copies
                   if getattr(_owner(view, c), "urn", None) == inst.urn}
            if _snapshot_id(r.props.get("snapshotIdentifier")) not in own:
                yield Finding(r.urn, f"database '{r.name}' is restored from "
                                     f"{r.props.get('snapshotIdentifier')!r}, which is not the instance's own "
                                     f"snapshot copy: restore it only from the copy re-encrypted under the "
                                     f"instance's key (aws.rds.SnapshotCopy in the same instance)", r.name)
            continue
        source = _snapshot_id(r.props.get("sourceDbSnapshotIdentifier"))
        prefix, expected = _source_prefix(kind, env)
        if prefix is None or not source.startswith(prefix) or len(source) == len(prefix):
            yield Finding(r.urn, f"snapshot copy '{r.name}' copies {r.props.get('sourceDbSnapshotIdentifier')!r}, "
                                 f"which is not {expected}: {_REMEDY.get(kind, _REMEDY[CLONE])}", r.name)
        keys = _instance_keys(view, inst)
        kms = r.props.get("kmsKeyId")
        if not kms or str(kms) not in keys:
            yield Finding(r.urn, f"snapshot copy '{r.name}' is encrypted with {kms!r}, not with a key of instance "
                                 f"'{inst.name}' ({', '.join(sorted(keys)) or 'no key found'}): set kms_key_id to the "
                                 f"instance's own key", r.name)


# --------------------------------------------------------------------------------------------
# lifecycle-cross-customer-restore
# --------------------------------------------------------------------------------------------
def _restored_instances(view: StackView) -> list[tuple[Resource, Mapping[str, Any]]]:
    return [(i, i.props[INSTANCE_KEYS.restored_from]) for i in view.of_type(INSTANCE_TYPE)
            if isinstance(i.props.get(INSTANCE_KEYS.restored_from), MappingABC)]


def cross_customer_restore(view: StackView, config: Mapping[str, Any]) -> StackResult:
    env, _phase, problem = _environment(view)
    if env is None:
        return [problem] if problem else []
    restored = _restored_instances(view)
    if not restored:
        return NotApplicable("no instance of this stack is restored from a snapshot")
    customer = env.props.get(ENV_KEYS.customer)
    findings = []
    for inst, source in restored:
        whose, kind = source.get("customer"), source.get("kind")
        if kind == SEED and whose:
            findings.append(Finding(inst.urn, f"instance '{inst.name}' is restored from seed {source.get('snapshot')!r} "
                                              f"that holds customer {whose!r}'s data: a seed holds no customer's data; "
                                              f"take seeds only in the {SEED_SOURCE_PHASE} stack", inst.name))
        elif kind != SEED and whose != customer:
            findings.append(Finding(inst.urn, f"instance '{inst.name}' of customer {customer or NO_CUSTOMER!r} is "
                                              f"restored from a {kind} of customer {whose or NO_CUSTOMER!r} "
                                              f"({source.get('stack') or source.get('snapshot')}): only a seed may "
                                              f"cross customers; restore the customer's own snapshot", inst.name))
    return findings


# --------------------------------------------------------------------------------------------
# lifecycle-iteration-migration-only
# --------------------------------------------------------------------------------------------
@_per_phase
def iteration_migration_only(view: StackView, env: Resource, phase: Phase) -> StackResult:
    iterated = [(i, s) for i, s in _restored_instances(view) if s.get("kind") == ITERATION]
    if not iterated:
        return NotApplicable(f"no instance of this {phase.name} stack is restored from a migration iteration")
    phases = ", ".join(p.name for p in PHASES.values() if p.iterated)
    return [Finding(inst.urn, f"instance '{inst.name}' ({inst.props.get(INSTANCE_KEYS.role)}) of a {phase.name} stack "
                              f"is restored from migration iteration {source.get('snapshot')!r}: only {phases} shows "
                              "iterations, which hold the customer's migrated volunteers; remove the iteration",
                    inst.name)
            for inst, source in iterated if inst.props.get(INSTANCE_KEYS.role) not in
            {r.value for r in phase.iterated_roles}]


# --------------------------------------------------------------------------------------------
# lifecycle-tags-agree
# --------------------------------------------------------------------------------------------
ENVIRONMENT_ROLE = "environment"  # the role tag of what belongs to the environment, not to one instance


def _flag_text(value: Any) -> str:
    return "true" if value is True else "false" if value is False else str(value)


def tags_agree(view: StackView, config: Mapping[str, Any]) -> StackResult:
    return list(_tag_findings(view))


def _tag_findings(view: StackView) -> Iterator[Finding]:
    """What a resource's own tags say must be what the Environment and its instance say: rules never read
    phase, role or "controlled" from tags, but people and cost reports do, and a tag that lies (a prod
    database tagged phase: sandbox) is how a resource would pass for something it is not."""
    env, phase, problem = _environment(view)
    if env is None or phase is None:
        if problem:
            yield problem
        return
    expected = {"phase": phase.name, "controlled": _flag_text(phase.controlled),
                "disposable": _flag_text(phase.disposable)}
    # Outside an instance a resource is the environment's, or (a published snapshot) one of its instances'.
    roles = {str(i.props.get("role")) for i in view.of_type(INSTANCE_TYPE)}
    for r in view.resources:
        tags = r.tags
        if not tags:
            continue
        owner = _owner(view, r)
        wrong = [f"{key}={tags[key]!r} (the environment says {value!r})" for key, value in expected.items()
                 if key in tags and str(tags[key]) != value]
        allowed = {str(owner.props.get("role"))} if owner is not None else {ENVIRONMENT_ROLE, *roles}
        if "role" in tags and str(tags["role"]) not in allowed:
            wrong.append(f"role={tags['role']!r} (its place in the environment says {' or '.join(map(repr, sorted(allowed)))})")
        if wrong:
            yield Finding(r.urn, f"{r.label} carries tags that disagree with its environment: {', '.join(wrong)}; "
                                 f"tag it through StackSettings.tags_for, never by hand", r.name)


# --------------------------------------------------------------------------------------------
# lifecycle-no-cross-customer
# --------------------------------------------------------------------------------------------
def _policy_document(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, MappingABC):
        return value
    try:
        doc = json.loads(str(value))
    except ValueError:
        return None
    return doc if isinstance(doc, MappingABC) else None


def _principal_arns(doc: Mapping[str, Any]) -> list[str]:
    """Role ARNs the policy names: every `aws:PrincipalArn` of a condition, and every AWS principal that is a role."""
    found: list[str] = []
    for statement in as_list(doc.get("Statement")):
        if not isinstance(statement, MappingABC):
            continue
        principal = statement.get("Principal")
        if isinstance(principal, MappingABC):
            found += [str(v) for v in as_list(principal.get("AWS")) if _role_name(str(v)) is not None]
        for operator in (statement.get("Condition") or {}).values():
            if not isinstance(operator, MappingABC):
                continue
            for key, values in operator.items():
                if str(key).lower() == PRINCIPAL_ARN_KEY:
                    found += [str(v) for v in as_list(values)]
    return found


def _role_name(arn: str) -> str | None:
    """The role name of an IAM role ARN (`arn:<partition>:iam::<account>:role/<path/>name`), else None."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    return parts[5].rsplit("/", 1)[-1]


def no_cross_customer(view: StackView, config: Mapping[str, Any]) -> Iterator[Finding]:
    env, _phase, problem = _environment(view)
    if env is None:
        if problem:
            yield problem
        return
    customer = _customer(env)
    for r, tag in _mistagged(view, "customer", customer):
        yield Finding(r.urn, f"{r.label} is tagged customer {tag!r} in the "
                             f"environment of customer {customer!r}: nothing of one customer may stand in "
                             f"another's environment; remove it, or tag it through StackSettings.tags_for",
                      r.name)
    prefix = _env_name(env) + "-"
    for r in view.of_type(BUCKET_POLICY):
        doc = _policy_document(r.props.get("policy"))
        if doc is None:
            yield Finding(r.urn, f"bucket policy '{r.name}' is not a JSON policy document, so its principals cannot "
                                 f"be checked: give the policy as JSON", r.name)
            continue
        for arn in _principal_arns(doc):
            name = _role_name(arn)
            if name is None or not name.startswith(prefix):
                yield Finding(r.urn, f"bucket policy '{r.name}' grants {arn}, which is not a role of environment "
                                     f"'{prefix[:-1]}' (role names start with '{prefix}'): name only this "
                                     f"environment's own task roles", r.name)


# --------------------------------------------------------------------------------------------
# lifecycle-dummy-data-only
# --------------------------------------------------------------------------------------------
# Every way a database is made from another's data, as the provider's inputs name them (aws_db_instance:
# snapshot_identifier, restore_to_point_in_time, replicate_source_db, s3_import; aws_rds_cluster:
# snapshot_identifier, restore_to_point_in_time, replication_source_identifier, s3_import).
COPIED_FROM = {
    RDS_INSTANCE: ("snapshotIdentifier", "restoreToPointInTime", "replicateSourceDb", "s3Import"),
    RDS_CLUSTER: ("snapshotIdentifier", "restoreToPointInTime", "replicationSourceIdentifier", "s3Import"),
}


@_per_phase
def dummy_data_only(view: StackView, env: Resource, phase: Phase) -> StackResult:
    roles = sorted(role.value for role in phase.dummy_data_roles)
    if not roles:
        return NotApplicable(f"no instance of a {phase.name} stack is held to dummy data only")
    return list(_dummy_data_findings(view, phase, roles))


def _dummy_data_findings(view: StackView, phase: Phase, roles: list[str]) -> Iterator[Finding]:
    for r in view.of_type(*COPIED_FROM, SNAPSHOT_COPY):
        inst = _owner(view, r)
        role = str(inst.props.get(INSTANCE_KEYS.role)) if inst is not None else None
        if role not in roles:
            continue
        held = (f"{phase.name} {role} holds dummy data only: it is never restored from {CLONE_SOURCE_PHASE} "
                f"nor from any customer snapshot or database")
        if r.type == SNAPSHOT_COPY:
            yield Finding(r.urn, f"snapshot copy '{r.name}' of {r.props.get('sourceDbSnapshotIdentifier')!r} stands "
                                 f"in instance '{inst.name}': {held}; remove it", r.name)
            continue
        found = [key for key in COPIED_FROM[r.type] if r.props.get(key)]
        if found:
            what = "database" if r.type == RDS_INSTANCE else "database cluster"
            yield Finding(r.urn, f"{what} '{r.name}' of instance '{inst.name}' is made from other data "
                                 f"({', '.join(f'{k}={r.props.get(k)!r}' for k in found)}): {held}; create it "
                                 f"empty (remove {', '.join(found)})", r.name)


# --------------------------------------------------------------------------------------------
# lifecycle-release-listed, lifecycle-release-latest, lifecycle-release-behind-limit
# --------------------------------------------------------------------------------------------
MAX_BEHIND_KEY = "maxReleasesBehind"
MAX_BEHIND_DEFAULT = 2
MAX_BEHIND_MAXIMUM = 6  # a setting cannot make the limit meaningless: more than six releases behind is not "latest"
MAX_BEHIND_SCHEMA = {MAX_BEHIND_KEY: {"type": "integer", "minimum": 0, "maximum": MAX_BEHIND_MAXIMUM,
                                     "default": MAX_BEHIND_DEFAULT}}


def _release_file(view: StackView, env: Resource, config: Mapping[str, Any]) -> tuple[Releases | None, Finding | None]:
    """The releases file the pack read for this stack, or the finding that says why it cannot be used (fail
    closed: never "not applicable")."""
    facts = facts_of(config)
    if facts is None:
        return None, Finding(env.urn, f"the stack's facts were not read, so {RELEASES_FILE} cannot be read: run the "
                                      f"rule through the pack", env.name)
    if facts.releases is None:
        return None, Finding(env.urn, f"{facts.releases_error or RELEASES_FILE + ': not read'}", env.name)
    return facts.releases, None


def _releases_rule(check: Callable[[StackView, Resource, Phase, Releases, Mapping[str, Any]], StackResult],
                   applies: Callable[[Phase], bool] = lambda phase: True, why_not: str = ""
                   ) -> Callable[[StackView, Mapping[str, Any]], StackResult]:
    """A stack rule over the Environment, its phase and the releases file (each read first, failing closed)."""

    @functools.wraps(check)
    def rule(view: StackView, config: Mapping[str, Any]) -> StackResult:
        env, phase, problem = _environment(view)
        if env is None or phase is None:
            return [problem] if problem else []
        if not applies(phase):
            return NotApplicable(why_not.format(phase=phase.name))
        releases, problem = _release_file(view, env, config)
        if releases is None:
            return [problem] if problem else []
        return check(view, env, phase, releases, config)

    return rule


def _release_text(releases: Releases, version: str) -> str:
    found = releases.find(version)
    return f"{version} (released {found.date})" if found else version


def _behind(env: Resource, releases: Releases) -> tuple[str, list[Release]]:
    """The stack's release and the listed releases above it."""
    release = str(env.props.get(ENV_KEYS.release))
    return release, releases.newer_than(release)


def _release_listed(view: StackView, env: Resource, phase: Phase, releases: Releases,
                    config: Mapping[str, Any]) -> Iterator[Finding]:
    release = env.props.get(ENV_KEYS.release)
    if releases.find(str(release)) is None:
        yield Finding(env.urn, f"the {phase.name} stack runs release {release!r}, which {RELEASES_FILE} does not "
                               f"list ({releases.listing()}): set release to a listed release, or list the new "
                               f"release in {RELEASES_FILE} (a tooling record approves it)", env.name)
    for inst in view.of_type(INSTANCE_TYPE):
        own = inst.props.get(INSTANCE_KEYS.release)
        if own != release:
            yield Finding(inst.urn, f"instance '{inst.name}' runs release {own!r}, not the stack's {release!r}: a "
                                    f"stack runs one release in every instance; build it with the project's "
                                    f"program", inst.name)


def _release_latest(view: StackView, env: Resource, phase: Phase, releases: Releases,
                    config: Mapping[str, Any]) -> Iterator[Finding]:
    release, newer = _behind(env, releases)
    if newer:
        yield Finding(env.urn, f"the {phase.name} stack runs {_release_text(releases, release)}, {len(newer)} "
                               f"release{'s' if len(newer) > 1 else ''} behind the newest listed in "
                               f"{RELEASES_FILE}, {_release_text(releases, releases.newest.version)}: set release "
                               f"to {releases.newest.version}", env.name)


def _release_behind_limit(view: StackView, env: Resource, phase: Phase, releases: Releases,
                          config: Mapping[str, Any]) -> Iterator[Finding]:
    limit = config.get(MAX_BEHIND_KEY, MAX_BEHIND_DEFAULT)
    release, newer = _behind(env, releases)
    if len(newer) > limit:
        yield Finding(env.urn, f"the {phase.name} stack runs {_release_text(releases, release)}, {len(newer)} "
                               f"releases behind the newest listed in {RELEASES_FILE} "
                               f"({', '.join(r.version for r in newer)}); at most {limit} may be "
                               f"({MAX_BEHIND_KEY}): set release to {releases.newest.version}", env.name)


def _follows_latest(phase: Phase) -> bool:
    return phase.follows_latest_release


_NOT_FOLLOWING = "a {phase} stack runs any listed release; only community-dev follows the newest"
release_listed = _releases_rule(_release_listed)
release_latest = _releases_rule(_release_latest, _follows_latest, _NOT_FOLLOWING)
release_behind_limit = _releases_rule(_release_behind_limit, _follows_latest, _NOT_FOLLOWING)


_STACK = "stack"

RULES: list[Rule] = [
    Rule(
        id="lifecycle-expiry",
        family="lifecycle",
        description="A disposable stack expires within its phase's longest life, a lasting one never; "
                    "every tag carries that expiry",
        check=expiry,
        scope=_STACK,
        severity=Severity.MEDIUM,
        remediation="Set expires_on in the stack file within the phase's longest life (none for a lasting phase); tag "
                    "only through StackSettings.tags_for",
    ),
    Rule(
        id="lifecycle-topology",
        family="lifecycle",
        description="The instances of the environment are exactly those of its phase's topology "
                    "(a main/test pair, or one single)",
        check=topology,
        scope=_STACK,
        severity=Severity.HIGH,
        remediation="Build the stack with the project's program: the instances of the phase's topology, nothing more",
    ),
    Rule(
        id="lifecycle-restore-allowed",
        family="lifecycle",
        description="Only the roles the phase catalog restores are restored, each from its own kind of source (the "
                    "customer's Pre-PROD snapshot, the seed stack's seed, the environment's iteration) through a copy "
                    "under the instance's own key",
        check=restore_allowed,
        scope=_STACK,
        severity=Severity.CRITICAL,
        remediation="Restore only the phase's restored roles, from their own source (clone_from, seed_from, "
                    "iteration), through a SnapshotCopy under the instance's own key",
    ),
    Rule(
        id="lifecycle-cross-customer-restore",
        family="lifecycle",
        description="Only a seed snapshot (no customer's data) is restored across customers; every other restore "
                    "comes from the environment's own customer",
        check=cross_customer_restore,
        scope=_STACK,
        severity=Severity.CRITICAL,
        remediation="Restore a clone or an iteration only from the same customer's snapshot; take seeds only in the "
                    "seed stack, which serves no customer",
    ),
    Rule(
        id="lifecycle-iteration-migration-only",
        family="lifecycle",
        description="Only the migration phase is restored from migration iterations",
        check=iteration_migration_only,
        scope=_STACK,
        severity=Severity.CRITICAL,
        remediation="Remove the iteration: it belongs in the customer's migration stack only",
    ),
    Rule(
        id="lifecycle-no-cross-customer",
        family="lifecycle",
        description="Every resource belongs to the environment's customer and bucket policies name only this "
                    "environment's roles",
        check=no_cross_customer,
        scope=_STACK,
        severity=Severity.CRITICAL,
        remediation="Tag every resource through StackSettings.tags_for and name only this environment's own roles in "
                    "bucket policies",
    ),
    Rule(
        id="lifecycle-tags-agree",
        family="lifecycle",
        description="Every resource's phase, role, controlled and disposable tags agree with its Environment and "
                    "instance",
        check=tags_agree,
        scope=_STACK,
        severity=Severity.HIGH,
        remediation="Tag every resource through StackSettings.tags_for; never set phase, role, controlled or "
                    "disposable tags by hand",
    ),
    Rule(
        id="lifecycle-dummy-data-only",
        family="lifecycle",
        description="The instances the phase holds to dummy data (PROD test) are never restored, replicated or "
                    "imported from Pre-PROD or any customer snapshot or database",
        check=dummy_data_only,
        scope=_STACK,
        severity=Severity.CRITICAL,
        remediation="Create PROD test's database empty: no SnapshotCopy, snapshot_identifier, restore_to_point_in_time, "
                    "replicate_source_db or s3_import in it",
    ),
    Rule(
        id="lifecycle-release-listed",
        family="lifecycle",
        description="The stack runs one release in every instance, and it is a release the releases file lists",
        check=release_listed,
        scope=_STACK,
        severity=Severity.HIGH,
        remediation=f"Set release to a release {RELEASES_FILE} lists, or list the new release there (a tooling record)",
    ),
    Rule(
        id="lifecycle-release-latest",
        family="lifecycle",
        description="Community-dev runs the newest release the releases file lists (advisory: warns while it is "
                    "behind)",
        check=release_latest,
        scope=_STACK,
        level=EnforcementLevel.ADVISORY,
        severity=Severity.LOW,
        remediation=f"Set community-dev's release to the newest release {RELEASES_FILE} lists",
    ),
    Rule(
        id="lifecycle-release-behind-limit",
        family="lifecycle",
        description=f"Community-dev is at most {MAX_BEHIND_KEY} (default {MAX_BEHIND_DEFAULT}) listed releases behind "
                    "the newest",
        check=release_behind_limit,
        scope=_STACK,
        extra_schema=MAX_BEHIND_SCHEMA,
        severity=Severity.MEDIUM,
        remediation=f"Set community-dev's release to the newest release {RELEASES_FILE} lists",
    ),
]
