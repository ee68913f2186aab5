"""Stack settings: one validated, frozen model per stack, parsed once at the edge.

``load_settings`` takes the stack's raw configuration (the flat ``namespace:key -> string`` map
that the Pulumi engine hands a program) and returns a :class:`StackSettings`, or raises
:class:`InvalidStackConfig` naming the stack, every offending config key, what it got and what is
accepted. Nothing below this module ever reads a raw config string.
"""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal, Mapping

import pulumi
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, to_jsonable_python

from . import engines, naming
from .phases import (
    CLONE_SOURCE_PHASE,
    DATABASE_ENGINE,
    PHASES,
    SEED,
    SEED_SOURCE_PHASE,
    SIZES,
    SLUG,
    Phase,
    Role,
    StackNameError,
    parse_stack_name,
    phase_from_stack_name,
    phase_words,
)
from .regions import SUPPORTED_REGIONS

AWS_REGION_KEY = "aws:region"
# The config namespaces other than the project's that something reads: the providers the program uses and
# Pulumi itself. A key in any other namespace would be silently ignored.
OTHER_NAMESPACES = ("aws", "random", "pulumi")

# Tags the environment sets itself on every taggable resource; extra tags may not override them.
RESERVED_TAGS = ("customer", "phase", "role", "controlled", "disposable", "expires-on", "managed-by")
MANAGED_BY = "pulumi:clinspark-environments"
# Tags the program adds to some resources besides those (subnets carry both, route tables and NAT gateways a Name).
RESOURCE_TAGS = ("Name", "tier")
# Extra tags a stack may set: AWS takes at most 50 per resource, and every resource's own must still fit.
MAX_EXTRA_TAGS = naming.TAG_LIMIT - len(RESERVED_TAGS) - len(RESOURCE_TAGS)

# An application release: MAJOR.MINOR.PATCH of ASCII digits, short enough for an image tag. The stack's
# `release` and every entry of the releases file (policies/releases.py) are read with it.
RELEASE_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+$"
RELEASE_MAX_LENGTH = 32

# The private ranges of RFC 1918, the only ones a VPC here may use. (`ipaddress.is_private` is wider: it
# also calls 0.0.0.0/8, loopback, link-local, 198.18.0.0/15 and 240.0.0.0/4 private.)
RFC1918 = tuple(ipaddress.IPv4Network(block) for block in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))

_TAG_CHARS = re.compile(r"^[\w .:/=+\-@]*$")


class InvalidStackConfig(pulumi.RunError):
    """A user mistake in a stack's configuration. Pulumi prints RunError without a traceback."""

    def __init__(self, stack: str, problems: list[str], source: str | None = None):
        self.stack = stack
        self.problems = problems
        where = f" ({source})" if source else ""
        lines = [f"stack '{stack}' has invalid configuration{where}; nothing was registered:"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


def _config_bool(value: Any) -> Any:
    """A boolean as Pulumi's own `Config.get_bool` reads it: true or false (the engine hands the program
    strings; it takes true/True and false/False). pydantic alone would also take "yes", "on", "1" and "y"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "True", "false", "False"):
        return value in ("true", "True")
    raise ValueError("not a boolean: write true or false")


ConfigBool = Annotated[bool, BeforeValidator(_config_bool)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class NetworkSettings(_Model):
    """Either a new VPC (``cidr``) or an existing one (``vpc_id`` with its subnets)."""

    cidr: str | None = None
    az_count: int = Field(2, ge=2, le=3)
    vpc_id: str | None = Field(None, pattern=r"^vpc-[0-9a-f]{8,17}$")
    private_subnet_ids: tuple[str, ...] = ()
    public_subnet_ids: tuple[str, ...] = ()

    @field_validator("cidr")
    @classmethod
    def _private_cidr(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            net = ipaddress.IPv4Network(v, strict=True)
        except ValueError as e:
            raise ValueError(f"not an IPv4 network in CIDR notation ({e})") from None
        if not any(net.subnet_of(block) for block in RFC1918) or not 16 <= net.prefixlen <= 22:
            raise ValueError("must be a private (RFC 1918) network inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, "
                             "between /16 and /22")
        return str(net)

    @field_validator("private_subnet_ids", "public_subnet_ids")
    @classmethod
    def _subnets(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in v if not re.fullmatch(r"subnet-[0-9a-f]{8,17}", s)]
        if bad:
            raise ValueError(f"not subnet ids: {', '.join(bad)}")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> "NetworkSettings":
        if (self.cidr is None) == (self.vpc_id is None):
            raise ValueError("give either cidr (a new VPC) or vpc_id with its subnets (an existing VPC), not both or neither")
        if self.vpc_id and (len(self.private_subnet_ids) < 2 or len(self.public_subnet_ids) < 2):
            raise ValueError("an existing VPC needs at least two private_subnet_ids and two public_subnet_ids")
        return self


class DomainSettings(_Model):
    zone: str = Field(min_length=4, max_length=200, pattern=r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


SNAPSHOT_IDENTIFIER = r"^[a-z](?:-?[a-z0-9])*$"  # RDS: a letter first, letters, digits, single hyphens
SNAPSHOT_ARN = r"^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:snapshot:[a-z0-9-]+$"
STACK_REFERENCE = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"


def release_key(release: str) -> tuple[int, ...]:
    """`2026.10.0` after `2026.9.1`: releases compare by their numbers."""
    return tuple(int(part) for part in release.split("."))


class SnapshotSpec(_Model):
    """A named snapshot the stack publishes: for the phases cloned from Pre-PROD (`val`, `prod`), or a seed
    (`seed`, with the release whose base configuration and dummy volunteers it holds)."""

    name: str = Field(pattern=SLUG, min_length=3, max_length=40)
    purpose: str = Field(pattern=SLUG, max_length=40)  # one of what the phase publishes (the catalog's `publishes`)
    release: str | None = Field(None, pattern=RELEASE_PATTERN, max_length=RELEASE_MAX_LENGTH)  # seeds only
    # Taken before snapshot identifiers were unique: its identifier, pinned, so that it is never replaced.
    identifier: str | None = Field(None, pattern=SNAPSHOT_IDENTIFIER, max_length=255)


class SeedSource(_Model):
    """Where a seeded phase takes its database from: the vendor's seed stack, and optionally the seed snapshot
    by name (by default the one the seed stack publishes for this stack's release)."""

    stack: str = Field(pattern=STACK_REFERENCE)
    snapshot: str | None = Field(None, pattern=SLUG)

    @property
    def stack_name(self) -> str:
        return self.stack.rsplit("/", 1)[1]


class Iteration(_Model):
    """The migration stack's current iteration: a snapshot the migration tooling produced, and its label. A new
    iteration (a new label and snapshot) replaces the database: nothing of the previous one is kept."""

    label: str = Field(pattern=SLUG, min_length=2, max_length=40)
    snapshot_arn: str = Field(pattern=SNAPSHOT_ARN)
    allocated_storage: int = Field(ge=20, le=65536)  # the snapshot's size (GiB): the database is at least as large
    engine_version: str = Field(pattern=r"^[0-9]+\.[0-9]+$")  # the snapshot's: the restore never asks for less


class CloneSource(_Model):
    """Where a cloned phase takes its database from: a Pre-PROD stack and one of its snapshots."""

    stack: str = Field(pattern=STACK_REFERENCE)
    snapshot: str = Field(pattern=SLUG)
    # Pinned once the clone exists, so the stack no longer needs its source (Pre-PROD may retire):
    # the snapshot's ARN and size, as the source exported them.
    snapshot_arn: str | None = Field(None, pattern=SNAPSHOT_ARN)
    allocated_storage: int | None = Field(None, ge=20, le=65536)
    # Made before copy identifiers were unique: each restored role's copy identifier, pinned (never replaced).
    copies: dict[Role, Annotated[str, Field(pattern=SNAPSHOT_IDENTIFIER, max_length=255)]] = Field(default_factory=dict)

    @property
    def stack_name(self) -> str:
        return self.stack.rsplit("/", 1)[1]

    @model_validator(mode="after")
    def _pinned_whole(self) -> "CloneSource":
        if (self.snapshot_arn is None) != (self.allocated_storage is None):
            raise ValueError("pin the source with both snapshot_arn and allocated_storage, or with neither")
        return self


# What each key accepts, in the words of the stack file.
ACCEPTED: Mapping[str, str] = {
    "phase": "the phase the stack name says (the key may be left out)",
    "customer": "a slug of 2-20 lowercase letters, digits and single hyphens, starting with a letter",
    "region": "an AWS region whose load balancers can deliver access logs: " + ", ".join(SUPPORTED_REGIONS),
    "release": "a pinned application release MAJOR.MINOR.PATCH such as 2026.3.1",
    "image_repository": "a container repository without tag, such as 123456789012.dkr.ecr.eu-central-1.amazonaws.com/clinspark/edc",
    "network": "an object {cidr: 10.x.0.0/16..22, az_count: 2|3} or {vpc_id, private_subnet_ids, public_subnet_ids}",
    "domain": "an object {zone: <public Route 53 zone name>}",
    "sizes": "an object role -> size, with roles of this phase and sizes " + ", ".join(SIZES),
    "expires_on": "a date YYYY-MM-DD, for disposable phases only",
    "change_record": "an ECR id such as ECR-acme-prod-0001, for change-controlled phases only",
    "tags": f"an object of at most {MAX_EXTRA_TAGS} extra tags (keys not reserved, not aws:*, at most 128/256 characters)",
    "retire": "true or false, for change-controlled phases only",
    "log_groups_pinned": "true or false, for phases that keep their logs beyond the stack: true keeps the plain "
                         "log-group names of a stack deployed before names carried a generation",
    "snapshots": "a list of {name, purpose, identifier?: <env>-<name>, only to pin a snapshot taken before identifiers "
                 "were unique}, only in phases that publish snapshots: purpose val|prod in " + CLONE_SOURCE_PHASE
                 + f"; purpose {SEED} with the release it holds in {SEED_SOURCE_PHASE}",
    "clone_from": "an object {stack: <org>/<project>/<stack>, snapshot: <name>} (once cloned, also snapshot_arn and "
                  "allocated_storage; copies: {<role>: <instance>-from-<snapshot>} only to pin copies made before identifiers were "
                  "unique), for phases that clone",
    "engine_version": f"a {DATABASE_ENGINE.engine} {DATABASE_ENGINE.major}.<minor> version AWS offers (components/data/"
                      f"{engines.OFFERED_FILE.name}), for change-controlled phases only; uncontrolled phases run "
                      f"{DATABASE_ENGINE.major} and follow AWS's minor upgrades",
    "seed_from": f"an object {{stack: <org>/<project>/{SEED_SOURCE_PHASE}, snapshot?: <name>}}, for phases whose "
                 f"instances start from the seed of their release (" + ", ".join(p.name for p in PHASES.values() if p.seeded)
                 + ")",
    "iteration": "an object {label: <slug such as it-03>, snapshot_arn: <this customer's migration snapshot in the "
                 f"stack's region>, allocated_storage: <GiB>, engine_version: {DATABASE_ENGINE.major}.<minor>}}, for "
                 + ", ".join(p.name for p in PHASES.values() if p.iterated) + " only",
}


def cross_field_problems(values: Mapping[str, Any], today: date) -> list[tuple[str, str]]:
    """The rules between fields, as (field, what is wrong): what each key must be given the phase (and the
    stack name, the customer, retirement). `values` are validated values; a field missing from it (its
    own value was invalid) is not judged, and neither is a rule that needs it, except that a missing
    `retire` counts as not retiring."""
    phase = PHASES.get(values.get("phase") or "")
    if phase is None:
        return []
    problems: list[tuple[str, str]] = []
    checks = {"domain": _domain, "customer": _customer, "sizes": _sizes, "expires_on": _expiry,
              "change_record": _change_record, "retire": _retire, "snapshots": _snapshots, "clone_from": _clone_from,
              "engine_version": _engine_version, "log_groups_pinned": _log_groups_pinned, "seed_from": _seed_from,
              "iteration": _iteration}
    for name, check in checks.items():
        if name in values:
            reason = check(phase, values[name], values, today)
            if reason:
                problems.append((name, reason))
    return problems


def _customer(phase: Phase, v: str | None, values: Mapping[str, Any], today: date) -> str | None:
    if phase.customer_required and v is None:
        return f"missing; phase {phase.name} serves one customer and needs its slug"
    if not phase.customer_required and v is not None:
        return f"phase {phase.name} serves no customer: remove the key"
    stack = values.get("stack")
    inside = phase_words(v) if v is not None else []
    if inside:
        return (f"the slug contains the phase name {', '.join(inside)}, so stack names made from it could be "
                "read as another phase: give the customer a slug without phase names")
    if v is not None and stack != phase.name and stack != f"{v}-{phase.name}":
        return f"stack '{stack}' must be named '{phase.name}' or '{v}-{phase.name}' for this customer"
    return None


def _domain(phase: Phase, v: DomainSettings, values: Mapping[str, Any], today: date) -> str | None:
    """Every hostname of the stack fits a certificate: ACM takes at most 64 characters in its domain name."""
    if "stack" not in values or ("customer" not in values and phase.customer_required):
        return None
    names = naming.Names(naming.environment_name(values.get("customer"), phase.name, values["stack"]))
    long = [h for h in (names.hostname(role, v.zone) for role in phase.roles) if len(h) > naming.ACM_DOMAIN_LIMIT]
    if long:
        return (f"the hostname {long[-1]!r} is {len(long[-1])} characters long; ACM certifies domain names of at most "
                f"{naming.ACM_DOMAIN_LIMIT}: use a shorter zone (the hostnames are <environment>[-test].<zone>)")
    return None


def _sizes(phase: Phase, v: Mapping[Role, str], values: Mapping[str, Any], today: date) -> str | None:
    foreign = [r.value for r in v if r not in phase.roles]
    if foreign:
        return f"phase {phase.name} has roles {', '.join(phase.roles)}, not {', '.join(foreign)}"
    return None


def _expiry(phase: Phase, v: date | None, values: Mapping[str, Any], today: date) -> str | None:
    if not phase.disposable:
        return f"phase {phase.name} is not disposable and takes no expiry date: remove the key" if v is not None else None
    if v is None:
        return f"missing; phase {phase.name} is disposable and needs an expiry date"
    latest = today + timedelta(days=phase.max_life_days or 0)
    if v < today and not values.get("retire"):  # an expired stack may still retire
        how = ("retire it (retire: true under an approved ECR, pulumi up, then pulumi destroy)" if phase.controlled
               else "destroy it (pulumi destroy)")
        return f"{v} is in the past: the stack has expired; {how}, or give a new date from {today} to {latest}"
    if v > latest:
        return f"beyond the longest life of a {phase.name} stack ({phase.max_life_days} days): at most {latest}"
    return None


def _change_record(phase: Phase, v: str | None, values: Mapping[str, Any], today: date) -> str | None:
    if phase.controlled and v is None:
        return f"missing; phase {phase.name} is change-controlled and needs the id of its approved ECR"
    if not phase.controlled and v is not None:
        return f"phase {phase.name} is not change-controlled: remove the key"
    return None


def _retire(phase: Phase, v: bool, values: Mapping[str, Any], today: date) -> str | None:
    if v and not phase.controlled:
        return f"phase {phase.name} is not change-controlled: destroy it directly, remove the key"
    return None


def _names(phase: Phase, values: Mapping[str, Any]) -> naming.Names:
    return naming.Names(naming.environment_name(values.get("customer"), phase.name, values.get("stack") or phase.name))


def _snapshots(phase: Phase, v: tuple[SnapshotSpec, ...], values: Mapping[str, Any], today: date) -> str | None:
    publishers = " and ".join(p.name for p in PHASES.values() if p.publishes_snapshots)
    if v and not phase.publishes_snapshots:
        return f"only {publishers} publish snapshots, not {phase.name}: remove the key"
    accepted = ", ".join(sorted(phase.publishes))
    for spec in v:
        if spec.purpose not in phase.publishes:
            return f"snapshot '{spec.name}': purpose {spec.purpose!r} is not one that {phase.name} publishes ({accepted})"
        if (spec.purpose == SEED) != (spec.release is not None):
            return (f"snapshot '{spec.name}': a seed snapshot names the release it holds, and only a seed does"
                    f" ({'add' if spec.purpose == SEED else 'remove'} release)")
        release = values.get("release")
        if spec.release and release and release_key(spec.release) > release_key(release):
            return (f"snapshot '{spec.name}': release {spec.release} is newer than the release {release} this "
                    f"stack's database holds: upgrade the {phase.name} stack to {spec.release} first, then take it")
        if spec.release and release and spec.release != release and spec.identifier is None:
            return (f"snapshot '{spec.name}': a new snapshot is taken from the database as it runs now, release "
                    f"{release}, so it cannot be the seed of release {spec.release}; a seed taken while the database "
                    f"ran {spec.release} is kept by pinning its identifier (identifier: "
                    f"{_names(phase, values).published_snapshot(spec.name)}), a missing one is not made anew")
    if _customer(phase, values.get("customer"), values, today) is not None:
        return None  # the names depend on a customer that is refused on its own
    names = _names(phase, values)
    for spec in v:
        legacy = names.published_snapshot(spec.name)
        if spec.identifier is not None and spec.identifier != legacy:
            return (f"the identifier of snapshot '{spec.name}' may only pin its name from before identifiers were "
                    f"unique, '{legacy}', not '{spec.identifier}': leave it out for a new snapshot")
    seeds = [s.release for s in v if s.release]
    dupes = sorted({r for r in seeds if seeds.count(r) > 1})
    if dupes:
        return f"one seed snapshot per release: {', '.join(dupes)} has more than one"
    return None


def _seed_from(phase: Phase, v: SeedSource | None, values: Mapping[str, Any], today: date) -> str | None:
    if not phase.seeded:
        return (f"phase {phase.name} does not start from the seed: remove the key" if v is not None else None)
    if v is None:
        return (f"missing; {phase.name} instances start from the seed of their release: name the vendor's "
                f"{SEED_SOURCE_PHASE} stack as {{stack: <org>/<project>/{SEED_SOURCE_PHASE}}}")
    if phase_from_stack_name(v.stack_name) != SEED_SOURCE_PHASE:
        return f"source stack '{v.stack}' is not a {SEED_SOURCE_PHASE} stack"
    project = values.get("project")
    if project and v.stack.split("/")[1] != project:
        return (f"source stack '{v.stack}' is in project '{v.stack.split('/')[1]}', not this project '{project}': "
                f"seeds come from this project's own {SEED_SOURCE_PHASE} stack")
    return None


def _iteration(phase: Phase, v: Iteration | None, values: Mapping[str, Any], today: date) -> str | None:
    iterated = ", ".join(p.name for p in PHASES.values() if p.iterated)
    if v is None:
        return None  # before the first iteration, the migration instance starts empty
    if not phase.iterated:
        return f"only {iterated} is restored from migration iterations, not {phase.name}: remove the key"
    customer, region = values.get("customer"), values.get("region")
    identifier = v.snapshot_arn.split(":snapshot:", 1)[1]
    if customer:
        prefix = naming.Names(naming.environment_name(customer, phase.name, phase.name)).iteration_snapshot_prefix
        if not identifier.startswith(prefix):
            return (f"snapshot_arn: {identifier} is not one of customer '{customer}''s migration snapshots (their "
                    f"identifiers start with {prefix}): name the snapshot the migration tooling produced for {customer}")
    if region and v.snapshot_arn.split(":")[3] != region:
        return (f"snapshot_arn is in region '{v.snapshot_arn.split(':')[3]}', not the stack's region '{region}': an "
                "iteration is restored in its own region from a snapshot there")
    if engines.major_of(v.engine_version) == DATABASE_ENGINE.major and not engines.offered().accepts(v.engine_version):
        return (f"engine_version {v.engine_version} is not a version RDS offers (components/data/"
                f"{engines.OFFERED_FILE.name}: {engines.offered().accepted}): give the snapshot's own version")
    if engines.major_of(v.engine_version) != DATABASE_ENGINE.major:
        return (f"engine_version {v.engine_version} is not {DATABASE_ENGINE.engine} {DATABASE_ENGINE.major}, the "
                "major the phase catalog pins: the restore would ask RDS for another major")
    return None


def _clone_from(phase: Phase, v: CloneSource | None, values: Mapping[str, Any], today: date) -> str | None:
    if not phase.may_clone:
        return f"phase {phase.name} is not cloned from {CLONE_SOURCE_PHASE} ({phase.data}): remove the key" if v is not None else None
    if v is None:
        return f"missing; phase {phase.name} is cloned from a {CLONE_SOURCE_PHASE} snapshot"
    source_phase = phase_from_stack_name(v.stack_name)
    customer = values.get("customer")
    if source_phase != CLONE_SOURCE_PHASE:
        return f"source stack '{v.stack}' is not a {CLONE_SOURCE_PHASE} stack"
    if customer and v.stack_name not in (CLONE_SOURCE_PHASE, f"{customer}-{CLONE_SOURCE_PHASE}"):
        return f"source stack '{v.stack}' belongs to another customer than '{customer}'"
    project = values.get("project")
    source_project = v.stack.split("/")[1]
    if project and source_project != project:
        return (f"source stack '{v.stack}' is in project '{source_project}', not this project '{project}': a clone "
                f"is made from this project's own {CLONE_SOURCE_PHASE} stack")
    source = naming.clone_source(customer) if customer else None
    if v.snapshot_arn and source and not source.names_published_snapshot(v.snapshot_arn.split(":snapshot:", 1)[1],
                                                                         v.snapshot):
        return (f"snapshot_arn is not customer '{customer}''s {CLONE_SOURCE_PHASE} snapshot '{v.snapshot}' (its "
                f"identifier is {source.published_snapshot(v.snapshot)}, with or without an 8-character suffix): "
                f"pin the ARN {v.stack_name} exported for snapshot '{v.snapshot}'")
    foreign = [r.value for r in v.copies if r not in phase.restored_roles]
    if foreign:
        return f"copies: phase {phase.name} restores {', '.join(sorted(phase.restored_roles))}, not {', '.join(foreign)}"
    names = _names(phase, values) if _customer(phase, customer, values, today) is None else None
    for role, copy in v.copies.items() if names else ():
        legacy = names.snapshot_copy(role, v.snapshot)
        if copy != legacy:
            return (f"copies.{role.value} may only pin the copy's name from before identifiers were unique, "
                    f"'{legacy}', not '{copy}': leave it out for a new clone")
    region = values.get("region")
    if v.snapshot_arn and region and v.snapshot_arn.split(":")[3] != region:
        return (f"snapshot_arn is in region '{v.snapshot_arn.split(':')[3]}', not the stack's region '{region}': a "
                f"clone is restored in its own region from a snapshot there")
    return None


def _log_groups_pinned(phase: Phase, v: bool, values: Mapping[str, Any], today: date) -> str | None:
    if v and not phase.keeps_logs:
        return (f"phase {phase.name} does not keep its logs beyond the stack (its log groups go with it and carry no "
                "generation): remove the key")
    return None


def _engine_version(phase: Phase, v: str | None, values: Mapping[str, Any], today: date) -> str | None:
    offered = engines.offered()
    if not phase.controlled:
        return (f"phase {phase.name} is not change-controlled: its database runs {DATABASE_ENGINE.engine} "
                f"{DATABASE_ENGINE.major} and follows AWS's minor upgrades; remove the key") if v is not None else None
    if v is None:
        return (f"missing; phase {phase.name} is change-controlled and pins its database's minor version: "
                f"{offered.accepted}")
    if engines.major_of(v) != DATABASE_ENGINE.major:
        return (f"{v} is not {DATABASE_ENGINE.engine} {DATABASE_ENGINE.major}, the major the phase catalog pins; "
                f"{offered.accepted}")
    if not offered.accepts(v):
        return (f"{v} is not offered by AWS for new instances (quote the version in the stack file: unquoted, YAML "
                f"reads 16.10 as the number 16.1); {offered.accepted}")
    return None


class StackSettings(_Model):
    """Everything one stack may say about its environment, validated."""

    stack: str
    project: str
    phase: Literal[tuple(PHASES)]  # type: ignore[valid-type]
    customer: str | None = Field(None, min_length=2, max_length=20, pattern=SLUG)
    region: str = Field(pattern=r"^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d$")
    release: str = Field(pattern=RELEASE_PATTERN, max_length=RELEASE_MAX_LENGTH)
    image_repository: str | None = Field(None, pattern=r"^[a-z0-9.-]+(?::\d+)?/[a-z0-9._/-]+$")
    network: NetworkSettings
    domain: DomainSettings
    sizes: dict[Role, Literal[tuple(SIZES)]] = Field(default_factory=dict)  # type: ignore[valid-type]
    retire: ConfigBool = False
    # Log groups made before their names carried a generation keep their plain names (never replaced).
    log_groups_pinned: ConfigBool = False
    expires_on: date | None = None
    change_record: str | None = Field(None, pattern=r"^ECR-[a-z0-9-]+-\d{4}$")
    tags: dict[str, str] = Field(default_factory=dict)
    snapshots: tuple[SnapshotSpec, ...] = ()
    clone_from: CloneSource | None = None
    engine_version: str | None = Field(None, pattern=r"^[0-9]+\.[0-9]+$")
    seed_from: SeedSource | None = None
    iteration: Iteration | None = None

    @field_validator("region")
    @classmethod
    def _supported_region(cls, v: str) -> str:
        if v not in SUPPORTED_REGIONS:
            raise ValueError("a region whose load balancers' access-log delivery the program knows neither by its ELB "
                             "log account nor as a region launched from August 2022 (components/regions.py)")
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [
            k for k, val in v.items()
            if k in RESERVED_TAGS or k.lower().startswith("aws:") or not 1 <= len(k) <= 128 or len(val) > 256
            or not _TAG_CHARS.match(k) or not _TAG_CHARS.match(val)
        ]
        if bad:
            raise ValueError(f"tags not allowed: {', '.join(sorted(bad))} (reserved: {', '.join(RESERVED_TAGS)})")
        if len(v) > MAX_EXTRA_TAGS:
            raise ValueError(f"{len(v)} extra tags; at most {MAX_EXTRA_TAGS}: AWS takes {naming.TAG_LIMIT} tags per "
                             f"resource, and the program sets up to {len(RESERVED_TAGS) + len(RESOURCE_TAGS)} of its own "
                             f"({', '.join(RESERVED_TAGS + RESOURCE_TAGS)})")
        return v

    @field_validator("snapshots")
    @classmethod
    def _unique_snapshots(cls, v: tuple[SnapshotSpec, ...]) -> tuple[SnapshotSpec, ...]:
        names = [s.name for s in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"snapshot names must be unique: {', '.join(dupes)}")
        return v

    @model_validator(mode="after")
    def _cross_field(self, info: ValidationInfo) -> StackSettings:
        """Every rule between fields, on the validated model: no rule depends on the order of the fields."""
        today: date = (info.context or {})["today"]
        values = {name: getattr(self, name) for name in type(self).model_fields}
        problems = cross_field_problems(values, today)
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, [
                InitErrorDetails(type=PydanticCustomError("value_error", "{reason}", {"reason": reason}),
                                 loc=(name,), input=to_jsonable_python(values[name], exclude_none=True))
                for name, reason in problems
            ])
        return self

    # Derived views, so that nothing else re-derives them.
    @property
    def phase_spec(self) -> Phase:
        return PHASES[self.phase]

    @property
    def env_name(self) -> str:
        """Prefix of every resource name: `<customer>-<phase>`, or the stack name without a customer."""
        return naming.environment_name(self.customer, self.phase, self.stack)

    @property
    def names(self) -> naming.Names:
        """Every name this environment gives AWS (components.naming)."""
        return naming.Names(self.env_name)

    @property
    def roles(self) -> tuple[Role, ...]:
        return self.phase_spec.roles

    def size(self, role: Role):
        return SIZES[self.sizes.get(role, self.phase_spec.sizes[role])]

    @property
    def protected(self) -> bool:
        """Stateful resources are protected: controlled phases, until an ECR approves retirement."""
        return self.phase_spec.controlled and not self.retire

    @property
    def destroyable(self) -> bool:
        """One `pulumi destroy` removes everything: disposable or retiring, and not protected."""
        return (self.phase_spec.disposable or self.retire) and not self.protected

    @property
    def final_snapshot(self) -> bool:
        """Databases leave a final snapshot, except a destroyable clone or uncontrolled stack."""
        return not self.destroyable or (self.phase_spec.controlled and not self.phase_spec.disposable)

    @property
    def keep_logs(self) -> bool:
        """Log groups (and the keys they are encrypted under) outlive the stack (components.phases.keeps_logs)."""
        return self.phase_spec.keeps_logs

    def hostname(self, role: Role) -> str:
        return self.names.hostname(role, self.domain.zone)

    def tags_for(self, role: Role | None) -> dict[str, str]:
        phase = self.phase_spec
        tags = dict(self.tags)
        tags.update(
            {
                "customer": self.customer or "none",
                "phase": phase.name,
                "role": role.value if role else "environment",
                "controlled": str(phase.controlled).lower(),
                "disposable": str(phase.disposable).lower(),
                "expires-on": self.expires_on.isoformat() if self.expires_on else "never",
                "managed-by": MANAGED_BY,
            }
        )
        return tags


# Keys whose value is a structured object or list (the engine hands them over as JSON text).
_STRUCTURED = {"network", "domain", "sizes", "tags", "snapshots", "clone_from", "seed_from", "iteration"}
_FIELDS = set(StackSettings.model_fields) - {"stack", "project", "region"}


def load_settings(
    stack: str, project: str, config: Mapping[str, Any], today: date, source: str | None = None
) -> StackSettings:
    """Validate a stack's raw config once; raise InvalidStackConfig listing every problem."""
    ns = project + ":"
    problems: list[str] = []
    reported: set[str] = set()  # fields already explained; pydantic would only add "missing"
    data: dict[str, Any] = {"stack": stack, "project": project}
    for key, raw in sorted(config.items()):
        if key == AWS_REGION_KEY:
            data["region"] = raw
            continue
        if not key.startswith(ns):
            namespace = key.split(":", 1)[0] if ":" in key else ""
            if namespace not in OTHER_NAMESPACES:
                problems.append(f"{key}: no provider or program reads the namespace {namespace!r}, so the key would be "
                                f"ignored (a misspelled project name?). Accepted namespaces: "
                                f"{', '.join([project, *OTHER_NAMESPACES])}")
            continue  # other providers' and Pulumi's own settings
        name = key[len(ns):]
        if name not in _FIELDS:
            problems.append(f"{key}: unknown key (got {raw!r}). Accepted keys: {', '.join(ns + f for f in sorted(_FIELDS))}")
            continue
        if name in _STRUCTURED and isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                problems.append(f"{key}: expected a structured value (got {raw!r}). Accepted: {ACCEPTED[name]}")
                reported.add(name)
                continue
        data[name] = raw
    # The phase comes from the stack name alone: no setting can make a controlled stack uncontrolled.
    try:
        named = parse_stack_name(stack)
    except StackNameError as e:
        raise InvalidStackConfig(stack, [str(e)], source) from None
    given = data.get("phase")
    if given is not None and given != named.phase.name:
        problems.append(f"{ns}phase: the stack name '{stack}' makes it a {named.phase.name} stack, and the phase comes "
                        f"from the stack name alone (got {given!r}): remove the key, or name the stack for the phase "
                        f"it is. Accepted: {ACCEPTED['phase']}")
        reported.add("phase")
    data["phase"] = named.phase.name
    try:
        settings = StackSettings.model_validate(data, context={"today": today})
    except ValidationError as err:
        errors = err.errors(include_url=False)
        problems += [_describe(e, ns) for e in errors if not e["loc"] or e["loc"][0] not in reported]
        reported |= {str(e["loc"][0]) for e in errors if e["loc"]}
        # A field that failed on its own stops pydantic before the rules between fields; judge the
        # fields that are valid by those rules all the same, so that every offending key is named at once.
        valid = _valid_fields(data, reported)
        problems += [_describe({"loc": (name,), "msg": reason, "type": "value_error",
                                "input": to_jsonable_python(valid[name], exclude_none=True)}, ns)
                     for name, reason in cross_field_problems(valid, today) if name not in reported]
        settings = None
    if problems:
        raise InvalidStackConfig(stack, problems, source)
    assert settings is not None
    return settings


def _valid_fields(data: Mapping[str, Any], failed: set[str]) -> dict[str, Any]:
    """The validated value of every field of `data` (or its default) that is not among `failed`."""
    valid: dict[str, Any] = {}
    for name, info in StackSettings.model_fields.items():
        if name in failed:
            continue
        raw = data[name] if name in data else info.get_default(call_default_factory=True)
        try:
            valid[name] = TypeAdapter(Annotated[info.annotation, info]).validate_python(raw)
        except ValidationError:
            continue  # already refused as a whole (a missing required key): not judged again
    return valid


def _describe(error: Mapping[str, Any], ns: str) -> str:
    loc = [str(p) for p in error["loc"]]
    field = loc[0] if loc else "?"
    key = AWS_REGION_KEY if field == "region" else ns + field
    path = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        msg = "missing"
    value = error.get("input")
    got = "" if error["type"] == "missing" or value is None else f" (got {value!r})"
    accepted = ACCEPTED.get(field, "")
    return f"{key}{path}: {msg}{got}." + (f" Accepted: {accepted}" if accepted else "")
