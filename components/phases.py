"""The phase catalog: DESIGN.md's phase table, once, as data.

Everything that differs between sandbox, migration, Pre-PROD, VAL, PROD, demo and community-dev
is a column of this table. Code reads the table; it never asks ``if phase == "prod"``. A new
phase is one new row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Mapping


class Topology(StrEnum):
    PAIR = "pair"  # a Main/Test pair of instances plus their exchange location
    SINGLE = "single"  # one instance


class Role(StrEnum):
    MAIN = "main"
    TEST = "test"
    SINGLE = "single"


ROLES_OF: Mapping[Topology, tuple[Role, ...]] = MappingProxyType(
    {Topology.PAIR: (Role.MAIN, Role.TEST), Topology.SINGLE: (Role.SINGLE,)}
)


@dataclass(frozen=True)
class Size:
    """What one instance of a given size runs on."""

    name: str
    db_instance_class: str
    db_storage_gb: int
    db_max_storage_gb: int
    app_cpu: int  # Fargate CPU units
    app_memory_mb: int
    app_tasks: int


SIZES: Mapping[str, Size] = MappingProxyType(
    {
        s.name: s
        for s in (
            Size("small", "db.t4g.small", 20, 100, 512, 1024, 1),
            Size("medium", "db.t4g.large", 50, 200, 1024, 2048, 1),
            Size("large", "db.m7g.large", 100, 1000, 2048, 4096, 2),
            Size("xlarge", "db.m7g.xlarge", 200, 2000, 4096, 8192, 3),
        )
    }
)

@dataclass(frozen=True)
class DatabaseEngine:
    """The database engine every instance runs, and its major version: one fact for every phase. Uncontrolled
    phases run the major alone and follow AWS's minor upgrades; controlled ones pin a minor of it that AWS
    offers (components.engines)."""

    engine: str
    major: str

    @property
    def family(self) -> str:
        """The parameter-group family of the major."""
        return f"{self.engine}{self.major}"


DATABASE_ENGINE = DatabaseEngine(engine="postgres", major="16")

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


@dataclass(frozen=True)
class Phase:
    name: str
    topology: Topology
    controlled: bool  # every change of desired state needs an approved ECR
    qualified: bool  # gets an IQ report when created
    disposable: bool  # has an expiry date; destroyed in one `pulumi destroy`
    customer_required: bool  # False for vendor-internal phases that serve no customer
    restored_roles: frozenset[Role]  # roles restored from the same customer's Pre-PROD snapshot
    publishes: frozenset[str]  # purposes of the snapshots the phase publishes (a phase's name, or SEED)
    max_life_days: int | None  # longest life a disposable stack may be given, from today
    sizes: Mapping[Role, str]  # default size per role
    backup_retention_days: int  # also the minimum a stack may set
    multi_az_roles: frozenset[Role]  # roles whose database runs Multi-AZ
    log_retention_days: int
    data: str  # where its data comes from, in DESIGN.md's words
    # roles that hold dummy data only: never restored, replicated or imported from any snapshot or database
    dummy_data_roles: frozenset[Role] = frozenset()
    follows_latest_release: bool = False  # runs the newest release of the releases file (releases.yaml)
    seeded_roles: frozenset[Role] = frozenset()  # roles restored from the vendor's seed snapshot of their release
    iterated_roles: frozenset[Role] = frozenset()  # roles restored from the current migration iteration

    def __post_init__(self) -> None:
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"phase {self.name}: CloudWatch Logs keeps logs for one of {LOG_RETENTION_DAYS} days, "
                             f"not {self.log_retention_days}")

    @property
    def roles(self) -> tuple[Role, ...]:
        return ROLES_OF[self.topology]

    @property
    def keeps_logs(self) -> bool:
        """Its log groups (and the keys they are encrypted under) outlive its stacks: a controlled phase's logs are
        evidence it keeps for its retention, retired or not, and a phase that is never disposed of keeps them too;
        a disposable, uncontrolled phase's logs go with the stack."""
        return self.controlled or not self.disposable

    @property
    def may_clone(self) -> bool:
        return bool(self.restored_roles)

    @property
    def publishes_snapshots(self) -> bool:
        return bool(self.publishes)

    @property
    def seeded(self) -> bool:
        return bool(self.seeded_roles)

    @property
    def iterated(self) -> bool:
        return bool(self.iterated_roles)

    def restore_kind(self, role: Role) -> str | None:
        """Where the role's database comes from: a clone, the seed, a migration iteration, or None (empty)."""
        for kind, roles in ((CLONE, self.restored_roles), (SEED, self.seeded_roles), (ITERATION, self.iterated_roles)):
            if role in roles:
                return kind
        return None


def _sizes(**by_role: str) -> Mapping[Role, str]:
    return MappingProxyType({Role(k): v for k, v in by_role.items()})


_NONE: frozenset[Role] = frozenset()
# What a restored database is restored from (components.refs.RestoreFrom.kind; the pack reads it).
CLONE, SEED, ITERATION = "clone", "seed", "iteration"

PHASES: Mapping[str, Phase] = MappingProxyType(
    {
        p.name: p
        for p in (
            Phase(
                name="sandbox", topology=Topology.PAIR, controlled=False, qualified=False,
                disposable=True, customer_required=True, restored_roles=_NONE,
                publishes=frozenset(), max_life_days=366,
                sizes=_sizes(main="small", test="small"), backup_retention_days=1,
                multi_az_roles=_NONE, log_retention_days=14,
                data="both instances restored from the seed of their release: base configuration plus sample "
                     "dummy volunteers",
                seeded_roles=frozenset({Role.MAIN, Role.TEST}),
            ),
            Phase(
                name="migration", topology=Topology.SINGLE, controlled=False, qualified=False,
                disposable=True, customer_required=True, restored_roles=_NONE,
                publishes=frozenset(), max_life_days=180,
                sizes=_sizes(single="medium"), backup_retention_days=1,
                multi_az_roles=_NONE, log_retention_days=14,
                data="restored from the current iteration of the migrated volunteer database; each new "
                     "iteration replaces it",
                iterated_roles=frozenset({Role.SINGLE}),
            ),
            Phase(
                name="preprod", topology=Topology.SINGLE, controlled=True, qualified=False,
                disposable=False, customer_required=True, restored_roles=_NONE,
                publishes=frozenset({"val", "prod"}), max_life_days=None,
                sizes=_sizes(single="medium"), backup_retention_days=14,
                multi_az_roles=_NONE, log_retention_days=365,
                data="fresh; the real configuration and master library are built here by hand",
            ),
            Phase(
                name="val", topology=Topology.PAIR, controlled=True, qualified=True,
                disposable=True, customer_required=True,
                restored_roles=frozenset({Role.MAIN, Role.TEST}),
                publishes=frozenset(), max_life_days=120,
                sizes=_sizes(main="medium", test="medium"), backup_retention_days=7,
                multi_az_roles=_NONE, log_retention_days=365,
                data="both instances cloned from a Pre-PROD snapshot",
            ),
            Phase(
                name="prod", topology=Topology.PAIR, controlled=True, qualified=True,
                disposable=False, customer_required=True, restored_roles=frozenset({Role.MAIN}),
                publishes=frozenset(), max_life_days=None,
                sizes=_sizes(main="large", test="small"), backup_retention_days=35,
                multi_az_roles=frozenset({Role.MAIN}), log_retention_days=2557,
                data="main: promoted from Pre-PROD's final snapshot; test: dummy data only, never restored from "
                     "Pre-PROD or any customer snapshot",
                dummy_data_roles=frozenset({Role.TEST}),
            ),
            Phase(
                name="demo", topology=Topology.SINGLE, controlled=False, qualified=False,
                disposable=True, customer_required=False, restored_roles=_NONE,
                publishes=frozenset(), max_life_days=180,
                sizes=_sizes(single="small"), backup_retention_days=1,
                multi_az_roles=_NONE, log_retention_days=7,
                data="vendor-internal, no customer; restored from the seed of its release, any release the "
                     "releases file lists, one per stack",
                seeded_roles=frozenset({Role.SINGLE}),
            ),
            Phase(
                name="community-dev", topology=Topology.SINGLE, controlled=False, qualified=False,
                disposable=False, customer_required=False, restored_roles=_NONE,
                publishes=frozenset(), max_life_days=None,
                sizes=_sizes(single="medium"), backup_retention_days=7,
                multi_az_roles=_NONE, log_retention_days=30,
                data="the newest release the releases file lists, no customer; shared by all customers",
                follows_latest_release=True,
            ),
            Phase(
                name="seed", topology=Topology.SINGLE, controlled=False, qualified=False,
                disposable=False, customer_required=False, restored_roles=_NONE,
                publishes=frozenset({SEED}), max_life_days=None,
                sizes=_sizes(single="small"), backup_retention_days=7,
                multi_az_roles=_NONE, log_retention_days=30,
                data="vendor-internal, no customer: base configuration and dummy volunteers, built by hand; "
                     "publishes one seed snapshot per release",
            ),
        )
    }
)

# The phase clones are made from publishes snapshots for the phases that clone; the seed phase publishes
# snapshots for no phase but for every seeded one (SEED). Each is one row of the table.
CLONE_SOURCE_PHASE = next(p.name for p in PHASES.values() if p.publishes & {q.name for q in PHASES.values() if q.may_clone})
SEED_SOURCE_PHASE = next(p.name for p in PHASES.values() if SEED in p.publishes)

# A customer slug or a demo label: lowercase letters, digits and single hyphens, starting with a letter.
SLUG = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$"
_SLUG = re.compile(SLUG, re.ASCII)
LABELLED_PHASE = "demo"  # the phase that several stacks may share side by side: `demo-<label>`
STACK_NAME_FORMS = (
    "`<phase>` or `<customer>-<phase>` for " + ", ".join(p.name for p in PHASES.values() if p.customer_required)
    + f"; `{LABELLED_PHASE}` or `{LABELLED_PHASE}-<label>`; "
    + ", ".join(f"`{p.name}`" for p in PHASES.values() if not p.customer_required and p.name != LABELLED_PHASE)
)


class StackNameError(ValueError):
    """A stack name that does not say, on its own, which phase the stack is."""


@dataclass(frozen=True)
class StackName:
    """What a stack's name alone says: its phase, and the customer or label it carries."""

    stack: str
    phase: Phase
    customer: str | None = None  # `<customer>-<phase>`
    label: str | None = None  # `demo-<label>`


def phase_words(slug: str) -> list[str]:
    """The phase names a slug contains as hyphen-separated words (a customer may not carry one)."""
    words = slug.split("-")
    found = []
    for name in PHASES:
        parts = name.split("-")
        if any(words[i:i + len(parts)] == parts for i in range(len(words))):
            found.append(name)
    return found


def parse_stack_name(stack: str) -> StackName:
    """The phase of a stack, from its name alone (a setting can never make a stack another phase)."""
    if stack in PHASES:
        return StackName(stack, PHASES[stack])
    if not _SLUG.match(stack) or len(stack) > 60:
        raise StackNameError(f"stack name '{stack}' is not lowercase ASCII letters, digits and single hyphens; "
                             f"accepted names: {STACK_NAME_FORMS}")
    for name in sorted(PHASES, key=len, reverse=True):
        phase = PHASES[name]
        if stack.endswith("-" + name):
            customer = stack[: -len(name) - 1]
            if not phase.customer_required:
                raise StackNameError(f"stack name '{stack}': phase {name} serves no customer, so its stack is not "
                                     f"named after one; accepted names: {STACK_NAME_FORMS}")
            inside = phase_words(customer)
            if inside:
                raise StackNameError(f"stack name '{stack}': the customer part '{customer}' contains the phase name "
                                     f"{', '.join(inside)}, so the name could be read as another phase; give the "
                                     "customer a slug without phase names")
            return StackName(stack, phase, customer=customer)
    if stack.startswith(LABELLED_PHASE + "-"):
        label = stack[len(LABELLED_PHASE) + 1:]
        inside = phase_words(label)
        if inside:
            raise StackNameError(f"stack name '{stack}': the label '{label}' contains the phase name "
                                 f"{', '.join(inside)}; give the {LABELLED_PHASE} a label without phase names")
        return StackName(stack, PHASES[LABELLED_PHASE], label=label)
    raise StackNameError(f"stack name '{stack}' does not say its phase; accepted names: {STACK_NAME_FORMS}")


def phase_from_stack_name(stack: str) -> str | None:
    """The phase a stack name implies, or None when the name is not an accepted stack name."""
    try:
        return parse_stack_name(stack).phase.name
    except StackNameError:
        return None
