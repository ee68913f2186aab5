"""The environment diff (`envctl diff A B`): what differs between two environments once what must differ is
normalised away, and why each difference is there.

Normalised away (never a difference): the environment's and the instances' names inside values, the random suffixes
of physical names, resource ids, account ids, key ids and endpoints, the role word of the instances compared, and
secrets. What is left is compared with deepdiff, resource by resource, instance by matched instance (a plan against
an export: only the properties the program sets, since an export also records every default the provider filled in):

* instances are matched by role: a single instance with each instance of a pair restored from it (Pre-PROD with VAL
  main and VAL test), otherwise with the pair's main; two pairs main with main and test with test;
* each difference is looked up in :data:`DRIVERS`, the one table of what drives a resource property: a column of
  the phase catalog or a stack setting. A difference is **explained by the phase catalog** when the two phases' rows
  differ in a column that drives it, **explained by the stack's settings** when a driving setting differs between
  the two stack files, and **unexplained** otherwise (a property nothing declares, or one whose drivers are equal:
  a program change, a hand edit, a setting that acts where none was declared).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from deepdiff import DeepDiff
from reportlab.lib import colors

from components import tokens
from components.phases import Phase, Role
from components.settings import StackSettings

from . import pdf
from .environment import ENVIRONMENT_GROUP, Environment, plain

CATALOG, SETTINGS, UNEXPLAINED = "phase catalog", "stack settings", "unexplained"
CATEGORIES = (CATALOG, SETTINGS, UNEXPLAINED)
ANY = "*"
PRESENCE = "(resource)"  # the path of a resource that exists on one side only

# -- what drives a property: declared once ------------------------------------------------------------------------
# A driver is `catalog:<column>` (a column of components.phases.Phase, read for the instance's role where the column
# is per role) or `setting:<key>` (a key of the stack file, components.settings.StackSettings).
CatalogColumn = Callable[[Phase, str], Any]
CATALOG_COLUMNS: Mapping[str, CatalogColumn] = {
    "name": lambda phase, role: phase.name,
    "topology": lambda phase, role: phase.topology,
    "controlled": lambda phase, role: phase.controlled,
    "qualified": lambda phase, role: phase.qualified,
    "disposable": lambda phase, role: phase.disposable,
    "keeps_logs": lambda phase, role: phase.keeps_logs,
    "sizes": lambda phase, role: phase.sizes.get(Role(role)) if role in Role.__members__.values() else None,
    "backup_retention_days": lambda phase, role: phase.backup_retention_days,
    "multi_az_roles": lambda phase, role: role in phase.multi_az_roles,
    "log_retention_days": lambda phase, role: phase.log_retention_days,
    "restored_roles": lambda phase, role: role in phase.restored_roles,
    "seeded_roles": lambda phase, role: role in phase.seeded_roles,
    "iterated_roles": lambda phase, role: role in phase.iterated_roles,
    "publishes_snapshots": lambda phase, role: phase.publishes_snapshots,
    "dummy_data_roles": lambda phase, role: role in phase.dummy_data_roles,
    "follows_latest_release": lambda phase, role: phase.follows_latest_release,
}
SETTING_KEYS = ("customer", "sizes", "network", "domain", "release", "image_repository", "expires_on", "change_record", "tags",
                "snapshots", "clone_from", "seed_from", "iteration", "engine_version", "log_groups_pinned", "retire",
                "region")


@dataclass(frozen=True)
class Driver:
    """Which catalog columns and settings drive `path` (a dotted property path, `*` any part of it) of `type` (`*`:
    any type), when one of the two values `mentions` a word (default: any value); PRESENCE as the path: whether the
    resource exists at all (`mentions` then looks at the resource's name)."""

    type: str
    path: str
    drivers: tuple[str, ...]
    mentions: str = ""

    def matches(self, typ: str, path: str, values: str) -> bool:
        return (self.type in (ANY, typ) and fnmatchcase(path, self.path)
                and (not self.mentions or self.mentions in values))


_SIZE = ("catalog:sizes", "setting:sizes")
_TAGS = f"tags.{ANY}"
# Where a database comes from (components.phases.Phase.restore_kind): a clone, the seed, a migration iteration.
_RESTORES = ("catalog:restored_roles", "catalog:seeded_roles", "catalog:iterated_roles", "setting:clone_from",
             "setting:seed_from", "setting:iteration")
DRIVERS: tuple[Driver, ...] = (
    # tags every resource carries
    Driver(ANY, "tags.phase", ("catalog:name",)),
    Driver(ANY, "tags.role", ("catalog:topology",)),
    Driver(ANY, "tags.controlled", ("catalog:controlled",)),
    Driver(ANY, "tags.disposable", ("catalog:disposable",)),
    Driver(ANY, "tags.expires-on", ("catalog:disposable", "setting:expires_on")),
    Driver(ANY, "tags.customer", ("setting:customer",)),
    Driver(ANY, _TAGS, ("setting:tags",)),
    # the database
    Driver(tokens.RDS_INSTANCE, "instanceClass", _SIZE),
    Driver(tokens.RDS_INSTANCE, "allocatedStorage", _SIZE + _RESTORES),
    Driver(tokens.RDS_INSTANCE, "maxAllocatedStorage", _SIZE),
    Driver(tokens.RDS_INSTANCE, "backupRetentionPeriod", ("catalog:backup_retention_days",)),
    Driver(tokens.RDS_INSTANCE, "multiAz", ("catalog:multi_az_roles",)),
    Driver(tokens.RDS_INSTANCE, "snapshotIdentifier", _RESTORES),
    Driver(tokens.RDS_INSTANCE, "dbName", _RESTORES),  # a restored database keeps the source's
    Driver(tokens.RDS_INSTANCE, "username", _RESTORES),
    Driver(tokens.RDS_INSTANCE, "deletionProtection", ("catalog:controlled", "setting:retire")),
    Driver(tokens.RDS_INSTANCE, "skipFinalSnapshot", ("catalog:controlled", "catalog:disposable")),
    Driver(tokens.RDS_INSTANCE, "engineVersion", ("catalog:controlled", "setting:engine_version")),
    Driver(tokens.RDS_INSTANCE, "autoMinorVersionUpgrade", ("catalog:controlled",)),
    Driver(tokens.RDS_SNAPSHOT_COPY, PRESENCE, _RESTORES),
    Driver(tokens.RDS_SNAPSHOT, PRESENCE, ("catalog:publishes_snapshots", "setting:snapshots")),
    # compute
    Driver(tokens.ECS_TASK_DEFINITION, "cpu", _SIZE),
    Driver(tokens.ECS_TASK_DEFINITION, "memory", _SIZE),
    Driver(tokens.ECS_TASK_DEFINITION, "containerDefinitions.*.image", ("setting:release", "setting:image_repository",
                                                                        "catalog:follows_latest_release")),
    Driver(tokens.ECS_TASK_DEFINITION, "containerDefinitions.*", ("setting:release",), mentions="EDC_RELEASE"),
    Driver(tokens.ECS_TASK_DEFINITION, "containerDefinitions.*", ("catalog:topology",), mentions="-exchange-"),
    Driver(tokens.IAM_ROLE_POLICY, "policy.Statement.*", ("catalog:topology",), mentions="-exchange-"),
    Driver(tokens.RANDOM_STRING, "keepers.restoredFrom", _RESTORES),
    Driver(tokens.ECS_SERVICE, "desiredCount", _SIZE),
    Driver(tokens.LOG_GROUP, "retentionInDays", ("catalog:log_retention_days",)),
    Driver(tokens.LOG_GROUP, "name", ("catalog:keeps_logs", "setting:log_groups_pinned")),
    # storage and keys
    Driver(tokens.S3_BUCKET, "forceDestroy", ("catalog:controlled", "catalog:disposable")),
    Driver(tokens.KMS_KEY, "deletionWindowInDays", ("catalog:controlled",)),
    Driver(tokens.SECRET, "recoveryWindowInDays", ("catalog:controlled",)),
    # network and entry
    Driver(tokens.VPC, "cidrBlock", ("setting:network",)),
    Driver(tokens.SUBNET, "cidrBlock", ("setting:network",)),
    Driver(tokens.DNS_RECORD, "name", ("setting:domain", "catalog:topology")),
    Driver(tokens.DNS_RECORD, "zoneId", ("setting:domain",)),
    Driver(tokens.CERTIFICATE, "domainName", ("setting:domain", "catalog:topology")),
    Driver(tokens.CERTIFICATE_VALIDATION, "validationRecordFqdns*", ("setting:domain", "catalog:topology")),
    Driver(tokens.S3_BUCKET_LIFECYCLE, "rules.*", ("catalog:log_retention_days",)),
    Driver(tokens.LOAD_BALANCER, "enableDeletionProtection", ("catalog:controlled",)),
    # a pair's exchange location (its bucket, the bucket's parts, its key): exists for pairs only
    Driver(ANY, PRESENCE, ("catalog:topology",), mentions="exchange"),
)


@dataclass(frozen=True)
class Difference:
    """One difference: where (the instances compared, the resource, the property), both values, and why."""

    instance_a: str
    instance_b: str
    resource: str  # the resource's name within its instance or environment (db, key, network-vpc)
    type: str
    path: str  # dotted property path, or PRESENCE
    a: Any
    b: Any
    category: str  # CATALOG, SETTINGS or UNEXPLAINED
    because: str  # the driver and its two values, or why none explains it

    def as_json(self) -> dict[str, Any]:
        return {"instance_a": self.instance_a, "instance_b": self.instance_b, "resource": self.resource,
                "type": self.type, "path": self.path, "a": self.a, "b": self.b, "category": self.category,
                "because": self.because}


@dataclass
class DiffReport:
    stack_a: str
    stack_b: str
    phase_a: str
    phase_b: str
    source_a: str
    source_b: str
    pairs: list[tuple[str, str]]  # the groups compared: (A's, B's)
    differences: list[Difference]

    @property
    def unexplained(self) -> list[Difference]:
        return [d for d in self.differences if d.category == UNEXPLAINED]

    def rows(self) -> list[tuple[Difference, list[str]]]:
        """The differences as a reader takes them in: the same change (instances, property, values, reason) on
        several resources is one row, naming the resources."""
        rows: dict[tuple, tuple[Difference, list[str]]] = {}
        for d in self.differences:
            key = (d.category, d.instance_a, d.instance_b, d.path, repr(d.a), repr(d.b), d.because)
            rows.setdefault(key, (d, []))[1].append(d.resource)
        return list(rows.values())

    def counts(self) -> dict[str, int]:
        found = Counter(d.category for d in self.differences)
        return {c: found[c] for c in CATEGORIES}

    def as_json(self) -> dict[str, Any]:
        return {"kind": "clinspark-environment-diff", "format": 1,
                "a": {"stack": self.stack_a, "phase": self.phase_a, "source": self.source_a},
                "b": {"stack": self.stack_b, "phase": self.phase_b, "source": self.source_b},
                "compared": [{"a": a, "b": b} for a, b in self.pairs], "counts": self.counts(),
                "unexplained": len(self.unexplained), "differences": [d.as_json() for d in self.differences]}


# -- matching instances by role --------------------------------------------------------------------------------
def matched_groups(a: Environment, phase_a: Phase, b: Environment, phase_b: Phase) -> list[tuple[str, str]]:
    """Which instance of A is compared with which of B: by role; a single instance with each instance of the other
    side's pair restored from it, otherwise with the pair's main. The environments' own resources always."""
    roles_a, roles_b = list(a.instances()), list(b.instances())
    pairs: list[tuple[str, str]] = [(ENVIRONMENT_GROUP, ENVIRONMENT_GROUP)]
    single = Role.SINGLE.value
    if roles_a == [single] and single not in roles_b:
        restored = [r for r in roles_b if r in phase_b.restored_roles]
        pairs += [(single, r) for r in (restored or [Role.MAIN.value]) if r in roles_b]
    elif roles_b == [single] and single not in roles_a:
        restored = [r for r in roles_a if r in phase_a.restored_roles]
        pairs += [(r, single) for r in (restored or [Role.MAIN.value]) if r in roles_a]
    else:
        pairs += [(r, r) for r in roles_a if r in roles_b]
    return pairs


# -- normalising what must differ ---------------------------------------------------------------------------------
_ID_PATTERNS = (
    (re.compile(r"\b\d{12}\b"), "{account}"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "{uuid}"),
    (re.compile(r"\b(vpc|subnet|sg|sgr|igw|nat|eipalloc|rtb|rtbassoc|fl|eni|lt|vol|i)-[0-9a-f]{8,17}\b"), r"\1-{id}"),
    (re.compile(r"-[0-9a-f]{7,8}(-[0-9a-f]{6})?\b"), "-{suffix}"),  # pulumi's auto-name suffix (a secret's too)
    (re.compile(r"\bfinal-[a-z0-9]{8}\b"), "final-{random}"),
    (re.compile(r"\.[a-z0-9]{12}\.([a-z0-9-]+)\.rds\.amazonaws\.com"), r".{endpoint}.\1.rds.amazonaws.com"),
    (re.compile(r"\b_[0-9a-f]{32}\."), "_{validation}."),
    (re.compile(r"/[0-9a-f]{16,}"), "/{id}"),
    (re.compile(r"-\d{6,12}\.([a-z0-9-]+)\.elb\.amazonaws\.com"), r"-{id}.\1.elb.amazonaws.com"),
)


def normaliser(names: Sequence[str], role: str) -> Callable[[Any], Any]:
    """Replaces, in every string of a value, the given environment/instance names (longest first) and the role word
    of the instance, and every id of the patterns above."""
    ordered = [re.compile(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])")
               for n in sorted({n for n in names if n}, key=len, reverse=True)]
    role_word = re.compile(rf"(?<=[/\-]){re.escape(role)}(?=$|[/\-.])") if role != ENVIRONMENT_GROUP else None

    def text(value: str) -> str:
        for name in ordered:
            value = name.sub("{name}", value)
        if role_word is not None:
            value = role_word.sub("{role}", value)
        for pattern, replacement in _ID_PATTERNS:
            value = pattern.sub(replacement, value)
        return value

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return text(value)
        if isinstance(value, dict):
            return {walk(k) if isinstance(k, str) else k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk


def _resources(env: Environment, group: str, role: str) -> dict[tuple[str, str], dict[str, Any]]:
    """A group's resources by (type, name within the group), their inputs plain and normalised, `protect` kept."""
    prefix = env.group_name(group)
    env_name = env.group_name(ENVIRONMENT_GROUP)
    normal = normaliser([prefix, env_name], role)
    found = {}
    for reg in env.groups().get(group, []):
        short = reg.name.removeprefix(prefix + "-") if reg.name != prefix else "(instance)"
        short = normal(short)
        props = normal(plain(reg.inputs))
        props["protect"] = reg.protect
        found[(reg.type, short)] = props
    return found


# -- classifying ------------------------------------------------------------------------------------------------
def _path(deepdiff_path: list[Any]) -> str:
    return ".".join(str(p) for p in deepdiff_path)


class Explainer:
    """Looks a difference up in DRIVERS and says which driver, if any, differs between the two stacks."""

    def __init__(self, phase_a: Phase, settings_a: StackSettings, phase_b: Phase, settings_b: StackSettings):
        self.phase_a, self.phase_b = phase_a, phase_b
        self.settings_a, self.settings_b = settings_a, settings_b

    def _setting(self, settings: StackSettings, key: str) -> Any:
        value = getattr(settings, key, None)
        return value.model_dump(mode="json") if hasattr(value, "model_dump") else value

    def explain(self, typ: str, path: str, role_a: str, role_b: str, values: str = "") -> tuple[str, str]:
        """The category of a difference at `path` of a resource of `typ` and why; `values`: both values as text."""
        declared = [d for d in DRIVERS if d.matches(typ, path, values)]
        if not declared:
            return UNEXPLAINED, "no catalog column or setting is declared to drive it"
        drivers = declared[0].drivers
        for driver in drivers:
            kind, name = driver.split(":", 1)
            if kind == "catalog":
                va = CATALOG_COLUMNS[name](self.phase_a, role_a)
                vb = CATALOG_COLUMNS[name](self.phase_b, role_b)
                if va != vb:
                    return CATALOG, f"catalog column {name}: {_show(va)} ({self.phase_a.name}) vs {_show(vb)} " \
                                    f"({self.phase_b.name})"
            else:
                va, vb = self._setting(self.settings_a, name), self._setting(self.settings_b, name)
                if isinstance(va, dict) and isinstance(vb, dict):  # name the keys that differ, not the whole object
                    keys = [k for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
                    va, vb = {k: va.get(k) for k in keys}, {k: vb.get(k) for k in keys}
                if va != vb:
                    return SETTINGS, f"setting {name}: {_show(va)} ({self.settings_a.stack}) vs {_show(vb)} " \
                                     f"({self.settings_b.stack})"
        return UNEXPLAINED, f"driven by {', '.join(drivers)}, which are equal in both stacks"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if hasattr(value, "value"):
        return str(value.value)
    return str(value)


def compare(a: Environment, settings_a: StackSettings, b: Environment, settings_b: StackSettings) -> DiffReport:
    """Compare environment `a` with `b` (see the module's description)."""
    phase_a, phase_b = settings_a.phase_spec, settings_b.phase_spec
    explainer = Explainer(phase_a, settings_a, phase_b, settings_b)
    pairs = matched_groups(a, phase_a, b, phase_b)
    differences: list[Difference] = []
    for group_a, group_b in pairs:
        res_a, res_b = _resources(a, group_a, group_a), _resources(b, group_b, group_b)
        if a.installed != b.installed:  # a plan against an export: what the program sets, not provider defaults
            res_a, res_b = _set_by_program(res_a, res_b) if b.installed else _set_by_program(res_b, res_a)[::-1]
        for key in sorted(set(res_a) | set(res_b)):
            typ, name = key
            if key not in res_a or key not in res_b:
                category, because = explainer.explain(typ, PRESENCE, group_a, group_b, name)
                differences.append(Difference(group_a, group_b, name, typ, PRESENCE, _presence(key in res_a),
                                              _presence(key in res_b), category, because))
                continue
            found = DeepDiff(res_a[key], res_b[key], ignore_order=True, view="tree", verbose_level=2)
            for change in (c for changes in found.values() for c in changes):
                path = _path(change.path(output_format="list"))
                category, because = explainer.explain(typ, path, group_a, group_b, f"{change.t1} {change.t2}")
                differences.append(Difference(group_a, group_b, name, typ, path, _value(change.t1),
                                              _value(change.t2), category, because))
    order = {c: i for i, c in enumerate(CATEGORIES)}
    differences.sort(key=lambda d: (order[d.category], d.instance_a, d.instance_b, d.resource, d.path))
    return DiffReport(stack_a=a.stack, stack_b=b.stack, phase_a=phase_a.name, phase_b=phase_b.name, source_a=a.source,
                      source_b=b.source, pairs=pairs, differences=differences)


def _set_by_program(planned: dict, installed: dict) -> tuple[dict, dict]:
    """The installed resources with only the properties the plan sets: an export also records every default the
    provider filled in, which the program never set and a plan never shows."""
    return planned, {key: ({k: v for k, v in props.items() if k in planned[key]} if key in planned else props)
                     for key, props in installed.items()}


def _presence(present: bool) -> str:
    return "present" if present else "absent"


def _value(value: Any) -> Any:
    return None if type(value).__name__ == "NotPresent" else value


def render_text(report: DiffReport) -> str:
    """The diff as the engineer reads it in the terminal."""
    counts = report.counts()
    lines = [f"Environment diff: {report.stack_a} ({report.phase_a}, {report.source_a}) vs {report.stack_b} "
             f"({report.phase_b}, {report.source_b})",
             "Compared: " + ", ".join(f"{a} with {b}" for a, b in report.pairs), ""]
    rows = report.rows()
    for category in CATEGORIES:
        lines.append(f"{category.upper()}: {counts[category]} difference(s)")
        for d, resources in (row for row in rows if row[0].category == category):
            where = _instances(d)
            what = resources[0] if len(resources) == 1 else f"{len(resources)} resources"
            lines.append(f"  {where}: {what} {d.path}: {_short(d.a)} -> {_short(d.b)}")
            lines.append(f"      {d.because}")
        lines.append("")
    verdict = (f"{counts[UNEXPLAINED]} unexplained difference(s): find out why before relying on {report.stack_b} "
               f"as a copy of {report.stack_a}" if counts[UNEXPLAINED] else
               "No unexplained difference: every difference follows from the phase catalog or the stack settings.")
    lines.append(verdict)
    return "\n".join(lines)


def _instances(d: Difference) -> str:
    return d.instance_a if d.instance_a == d.instance_b else f"{d.instance_a} vs {d.instance_b}"


def _short(value: Any, limit: int = 80) -> str:
    shown = _show(value) if not isinstance(value, (dict, list)) else str(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


# -- the PDF ----------------------------------------------------------------------------------------------------
CATEGORY_FILLS = {CATALOG: colors.HexColor("#1565c0"), SETTINGS: colors.HexColor("#6a1b9a"),
                  UNEXPLAINED: colors.HexColor("#c62828")}


def write_pdf(report: DiffReport, path: Path | str, document_id: str, made_at: str) -> Path:
    """The diff as a PDF for Quality: what was compared, a chart of the differences by category and instance, and
    one table per category (the same change on several resources is one row)."""
    doc = pdf.Document(path, document_id=document_id, title="Environment diff",
                       subject=f"{report.stack_a} vs {report.stack_b}")
    counts = report.counts()
    doc.story.append(pdf.para(f"Environment diff: {report.stack_a} vs {report.stack_b}", "title"))
    verdict = (f"{counts[UNEXPLAINED]} UNEXPLAINED difference(s)" if counts[UNEXPLAINED]
               else "no unexplained difference")
    doc.markup(f"<b>{escape(verdict)}</b>. Every difference that remains once names, ids, account ids and secrets are "
               "normalised is explained by the phase catalog (the two phases' rows differ in a column that drives "
               "it), by the stack settings (a setting that drives it differs between the two stack files), or is "
               "unexplained.")
    doc.facts([
        ("Document id", document_id),
        ("Made at (UTC)", made_at),
        ("A", f"{report.stack_a} (phase {report.phase_a}), {report.source_a}"),
        ("B", f"{report.stack_b} (phase {report.phase_b}), {report.source_b}"),
        ("Instances compared", "; ".join(f"{a} with {b}" for a, b in report.pairs)),
        ("Explained by the phase catalog", counts[CATALOG]),
        ("Explained by the stack settings", counts[SETTINGS]),
        ("Unexplained", counts[UNEXPLAINED]),
    ])
    pairs = [f"{a} / {b}" for a, b in report.pairs]
    series = {c: [sum(1 for d in report.differences if d.category == c and f"{d.instance_a} / {d.instance_b}" == p)
                  for p in pairs] for c in CATEGORIES}
    doc.charts(pdf.stacked_bars(pairs, series, "Differences by category, per instance compared", CATEGORY_FILLS))
    for category in (UNEXPLAINED, SETTINGS, CATALOG):  # what needs a reviewer's attention first
        rows = [(d, resources) for d, resources in report.rows() if d.category == category]
        doc.heading(f"{category[0].upper()}{category[1:]}: {counts[category]} difference(s)")
        doc.table(["Instances", "Resources", "Property", report.stack_a, report.stack_b, "Because"],
                  [[_instances(d), ", ".join(resources), d.path, d.a, d.b, d.because]
                   for d, resources in rows],
                  widths=[0.13, 0.19, 0.17, 0.15, 0.15, 0.21],
                  tints=[pdf.FAIL if category == UNEXPLAINED else None] * len(rows))
    doc.heading("What drives what")
    doc.paragraph("The declared table the classification reads (envctl/evidence/diff.py, DRIVERS): a difference in a "
                  "property is explained only by a driver listed for it, and only when that driver differs between "
                  "the two stacks.", "small")
    doc.table(["Resource type", "Property", "Only when a value mentions", "Drivers"],
              [[d.type, d.path, d.mentions or "-", ", ".join(d.drivers)] for d in DRIVERS],
              widths=[0.3, 0.22, 0.16, 0.32])
    return doc.build()
