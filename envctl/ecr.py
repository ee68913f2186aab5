"""Environment Change Records (ECRs): drafted, approved by a second person, chained, verified.

One YAML file per record, ``change-records/<stack>/ECR-<stack>-NNNN.yaml``. A record says who
asked for which desired state (the digest of :mod:`components.digest`), why, and who approved it
when. Its ``hash`` is a SHA-256 over the canonical JSON of every other field, approval included;
its ``previous`` is the ``hash`` of the record before it in the same stack. So:

* an edited record no longer matches its own hash;
* an edited record whose hash was recomputed no longer matches the ``previous`` of the next one;
* a removed record leaves a gap in the numbering (or a ``previous`` that matches nothing).

Only the *last* record of a chain may change (when it is approved): nothing holds its hash yet.
The same is its weak spot: re-hashing the last record is detectable only against an anchor outside
the chain (git history, or the stack's deployed state).

Approvals are read only from a chain that verifies completely (fail closed), and only records of
the stack itself approve it. Waivers (``waivers/<stack>.yaml``) are parsed here too, and both
become the stack's policy-pack config (:func:`policy_config`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError, model_validator

from components.digest import desired_state_digest
from components.settings import StackSettings

from . import stackfile

RECORDS_DIR = "change-records"
WAIVERS_DIR = "waivers"
CLASSIFICATIONS = ("standard", "minor", "emergency")
# The rule that compares the deployed desired state with the approved digests.
APPROVED_STATE_RULE = "change-approved-state"

STACK_NAME = r"[a-z0-9]+(?:-[a-z0-9]+)*"  # what the settings' change_record pattern allows
ID_RE = re.compile(rf"^ECR-(?P<stack>{STACK_NAME})-(?P<number>\d{{4}})$")
HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"
_UNSEALED = "sha256:" + "0" * 64

RECORD_HEADER = (
    "# Environment Change Record, written by `envctl ecr new` / `envctl ecr approve`.\n"
    "# Do not edit: `hash` covers every other field and the next record holds it as `previous`.\n"
)


class EcrError(Exception):
    """A refused request (the message says why and what to do instead)."""


class UnknownStack(EcrError):
    def __init__(self, stack: str, known: Sequence[str], project_dir: Path):
        self.stack = stack
        self.known = list(known)
        super().__init__(
            f"no stack file Pulumi.{stack}.yaml in {project_dir}; stacks there: {', '.join(known) or 'none'}"
        )


class BrokenChain(EcrError):
    def __init__(self, stack: str, problems: Sequence["Problem"]):
        self.stack = stack
        self.problems = list(problems)
        lines = [f"the change records of stack '{stack}' do not verify; nothing is drafted or approved on a broken chain:"]
        lines += [f"  - {p.path}: {p.message}" for p in problems]
        lines.append(f"Repair it first (envctl ecr verify {stack} says how).")
        super().__init__("\n".join(lines))


class WaiverFileError(EcrError):
    def __init__(self, path: str, problems: Sequence[str]):
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join([f"{path}: invalid waivers, no policy config was written:"] + [f"  - {p}" for p in problems]))


# --------------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------------
def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a time zone: write UTC times as YYYY-MM-DDTHH:MM:SSZ")
    return value.astimezone(timezone.utc)


def utc_text(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


UtcDateTime = Annotated[datetime, AfterValidator(_utc), PlainSerializer(utc_text, return_type=str)]


def same_person(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().casefold() == b.strip().casefold()


def canonical_json(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


class ChangeRecord(BaseModel):
    """One ECR. Frozen; :meth:`seal` computes ``hash``; :meth:`computed_hash` re-derives it."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=ID_RE.pattern)
    stack: str = Field(pattern=rf"^{STACK_NAME}$")
    title: str = Field(min_length=3, max_length=120)
    classification: Literal[CLASSIFICATIONS]  # type: ignore[valid-type]
    reason: str = Field(min_length=3, max_length=4000)
    requested_by: str = Field(min_length=2, max_length=100)
    requested_at: UtcDateTime
    digest: str = Field(pattern=HASH_PATTERN)
    previous: str | None = Field(pattern=HASH_PATTERN)
    approved_by: str | None = Field(None, min_length=2, max_length=100)
    approved_at: UtcDateTime | None = None
    hash: str = Field(pattern=HASH_PATTERN)

    @model_validator(mode="after")
    def _consistent(self) -> "ChangeRecord":
        m = ID_RE.match(self.id)
        if m and m["stack"] != self.stack:
            raise ValueError(f"id {self.id} is not a record of stack '{self.stack}' (expected ECR-{self.stack}-NNNN)")
        if (self.approved_by is None) != (self.approved_at is None):
            raise ValueError("approved_by and approved_at go together: both set (approved) or both null (pending)")
        if self.approved_at is not None and self.approved_at < self.requested_at:
            raise ValueError(f"approved_at {utc_text(self.approved_at)} is before requested_at {utc_text(self.requested_at)}")
        if same_person(self.approved_by, self.requested_by):
            raise ValueError(f"approved by its own requester '{self.requested_by}': approval needs a second person")
        return self

    @classmethod
    def seal(cls, **fields: Any) -> "ChangeRecord":
        """Validate the fields (without ``hash``) and return the record with its own hash."""
        unsealed = cls.model_validate({**fields, "hash": _UNSEALED})
        return unsealed.model_copy(update={"hash": unsealed.computed_hash()})

    def content(self) -> dict[str, Any]:
        """Every field except ``hash``, as the hash sees them."""
        return self.model_dump(mode="json", exclude={"hash"})

    def computed_hash(self) -> str:
        return "sha256:" + hashlib.sha256(canonical_json(self.content()).encode()).hexdigest()

    @property
    def number(self) -> int:
        return int(self.id[-4:])

    @property
    def approved(self) -> bool:
        return self.approved_by is not None

    def to_yaml(self) -> str:
        return RECORD_HEADER + yaml.dump(self.model_dump(mode="json"), Dumper=_Dumper, sort_keys=False,
                                         allow_unicode=True, width=100)


class _Dumper(yaml.SafeDumper):
    """Multi-line text (a long reason) as a literal block, everything else as SafeDumper does."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def record_id(stack: str, number: int) -> str:
    return f"ECR-{stack}-{number:04d}"


def stack_of(record: str) -> str:
    m = ID_RE.match(record)
    if not m:
        raise EcrError(f"'{record}' is not an ECR id: expected ECR-<stack>-NNNN, such as ECR-prod-0001")
    return m["stack"]


def records_dir(project_dir: Path) -> Path:
    return Path(project_dir) / RECORDS_DIR


def record_path(project_dir: Path, record: str) -> Path:
    return records_dir(project_dir) / stack_of(record) / f"{record}.yaml"


def _rel(project_dir: Path, path: Path) -> str:
    try:
        return path.relative_to(project_dir).as_posix()
    except ValueError:
        return str(path)


def _validation_message(err: ValidationError) -> str:
    parts = []
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "missing"
        elif e["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# Chains and their verification
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One thing wrong with a chain: which file, what is wrong, what to do."""

    stack: str
    path: str  # relative to the project directory
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}\n    what to do: {self.fix}"


_RESTORE = "restore it from version control (git log --follow -- {path}; git checkout <commit> -- {path})"
_NEW_STATE = "a change of state needs a new record: envctl ecr new {stack} ..."


@dataclass
class Chain:
    """The records of one stack, in order, and what verification found wrong with them."""

    stack: str
    records: list[ChangeRecord] = field(default_factory=list)  # those that parse, in numbering order
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def last(self) -> ChangeRecord | None:
        return self.records[-1] if self.records else None

    def get(self, record: str) -> ChangeRecord | None:
        return next((r for r in self.records if r.id == record), None)

    @property
    def approvals(self) -> list[ChangeRecord]:
        """Approved records of this stack; none at all when the chain does not verify (fail closed)."""
        if not self.ok:
            return []
        return [r for r in self.records if r.approved and r.stack == self.stack]

    @property
    def approved_digests(self) -> list[str]:
        return list(dict.fromkeys(r.digest for r in self.approvals))

    @property
    def approved_records(self) -> list[str]:
        return [r.id for r in self.approvals]

    def approving(self, digest: str) -> ChangeRecord | None:
        """The (latest) approved record that approves exactly this digest."""
        found = [r for r in self.approvals if r.digest == digest]
        return found[-1] if found else None


def _read_record(project_dir: Path, stack: str, path: Path, problems: list[Problem]) -> ChangeRecord | None:
    rel = _rel(project_dir, path)
    restore = _RESTORE.format(path=rel)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        problems.append(Problem(stack, rel, f"not readable YAML ({e})", restore))
        return None
    if not isinstance(doc, dict):
        problems.append(Problem(stack, rel, "not a record (expected a mapping of the record's fields)", restore))
        return None
    try:
        return ChangeRecord.model_validate(doc)
    except ValidationError as e:
        problems.append(Problem(stack, rel, f"not a valid record: {_validation_message(e)}",
                                f"{restore}; records are written only by envctl ecr new / approve"))
        return None


def load_chain(project_dir: Path, stack: str) -> Chain:
    """Read and verify the chain of one stack (an absent directory is an empty, valid chain)."""
    project_dir = Path(project_dir)
    chain = Chain(stack)
    directory = records_dir(project_dir) / stack
    if not directory.is_dir():
        return chain
    name_re = re.compile(rf"^ECR-{re.escape(stack)}-(\d{{4}})\.yaml$")
    files: list[tuple[int, Path]] = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith("."):
            continue
        m = name_re.match(path.name)
        if not m or not path.is_file():
            chain.problems.append(Problem(
                stack, _rel(project_dir, path),
                f"unexpected entry in the records of stack '{stack}' (records are files named ECR-{stack}-NNNN.yaml)",
                f"move it out of {RECORDS_DIR}/{stack}/; if it is a record of another stack, it belongs in that "
                "stack's directory and approves nothing here",
            ))
            continue
        files.append((int(m[1]), path))
    files.sort()

    parsed: list[tuple[int, Path, ChangeRecord | None]] = []
    for number, path in files:
        rel = _rel(project_dir, path)
        restore = _RESTORE.format(path=rel)
        rec = _read_record(project_dir, stack, path, chain.problems)
        parsed.append((number, path, rec))
        if rec is None:
            continue
        chain.records.append(rec)
        if rec.stack != stack:
            chain.problems.append(Problem(
                stack, rel, f"a record of stack '{rec.stack}' filed under '{stack}': an ECR of another stack never "
                f"approves this one", f"remove it from {RECORDS_DIR}/{stack}/, or {restore}"))
        if rec.id != path.stem:
            chain.problems.append(Problem(
                stack, rel, f"the record's id is {rec.id} but its file is {path.name}: renamed or replaced", restore))
        if rec.hash != rec.computed_hash():
            chain.problems.append(Problem(
                stack, rel, "the content does not match the record's hash: it was edited after it was written",
                f"{restore}; {_NEW_STATE.format(stack=stack)}"))

    # Numbering: 0001, 0002, ... without gaps. A gap is a removed record.
    expected = 1
    for number, path, _ in parsed:
        if number > expected:
            missing = [record_id(stack, n) for n in range(expected, number)]
            where = "the chain starts" if expected == 1 else f"the chain jumps from {record_id(stack, expected - 1)}"
            chain.problems.append(Problem(
                stack, _rel(project_dir, path),
                f"{where} at {path.stem}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing "
                "(a record was removed)",
                f"restore the removed record from version control "
                f"(git log --diff-filter=D --name-only -- {RECORDS_DIR}/{stack}/)"))
        expected = number + 1

    # Links: each record holds the hash of the one right before it.
    before: tuple[int, ChangeRecord | None] | None = None
    for number, path, rec in parsed:
        rel = _rel(project_dir, path)
        if rec is not None:
            if number == 1 and rec.previous is not None:
                chain.problems.append(Problem(
                    stack, rel, "the first record of a chain names a previous record; it must be null",
                    _RESTORE.format(path=rel)))
            elif number > 1 and rec.previous is None:
                chain.problems.append(Problem(
                    stack, rel, f"previous is null, but {record_id(stack, number - 1)} comes before it",
                    _RESTORE.format(path=rel)))
            elif before is not None and before[0] == number - 1 and before[1] is not None \
                    and rec.previous != before[1].hash:
                prior = before[1]
                chain.problems.append(Problem(
                    stack, rel,
                    f"previous is {rec.previous}, but {prior.id} has hash {prior.hash}: {prior.id} was altered "
                    "(and re-hashed) or replaced after this record was written",
                    f"restore {prior.id} from version control "
                    f"(git log -p -- {RECORDS_DIR}/{stack}/{prior.id}.yaml)"))
        before = (number, rec)
    return chain


def stacks_with_records(project_dir: Path) -> list[str]:
    directory = records_dir(project_dir)
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))


def verify(project_dir: Path, stack: str | None = None) -> list[Problem]:
    """Every problem of one chain, or of every chain under change-records/ (empty: all verify)."""
    stacks = [stack] if stack is not None else stacks_with_records(project_dir)
    problems: list[Problem] = []
    for s in stacks:
        problems += load_chain(project_dir, s).problems
    return problems


def list_records(project_dir: Path, stack: str) -> list[ChangeRecord]:
    """The records of a stack that parse, in order (use :func:`load_chain` for its problems too)."""
    return load_chain(project_dir, stack).records


def approved_digests(project_dir: Path, stack: str) -> list[str]:
    """Digests approved by the stack's own, fully verified chain; [] when the chain is broken."""
    return load_chain(project_dir, stack).approved_digests


def approved_records(project_dir: Path, stack: str) -> list[str]:
    """Ids of the approved records of the stack's own, fully verified chain; [] when broken."""
    return load_chain(project_dir, stack).approved_records


# --------------------------------------------------------------------------------------------
# Stacks and their current desired state
# --------------------------------------------------------------------------------------------
def stack_settings(project_dir: Path, stack: str, today: date) -> StackSettings:
    """The stack's validated settings (raises UnknownStack, StackFileError or InvalidStackConfig)."""
    project_dir = Path(project_dir)
    known = stackfile.discover(project_dir)
    if stack not in known:
        raise UnknownStack(stack, known, project_dir)
    return stackfile.load_stack_settings(project_dir, stack, today)


def current_digest(project_dir: Path, stack: str, today: date) -> str:
    """The desired-state digest the stack would deploy now (the program's `desiredStateDigest`)."""
    return desired_state_digest(stack_settings(project_dir, stack, today), stackfile.program_dir(project_dir))


def _utc_now(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise EcrError("the time of a record must be timezone-aware (UTC)")
    return now.astimezone(timezone.utc).replace(microsecond=0)


def _write(path: Path, record: ChangeRecord, *, create: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = record.to_yaml()
    if create:
        try:
            with path.open("x", encoding="utf-8") as f:  # never overwrite a record drafted meanwhile
                f.write(text)
        except FileExistsError:
            raise EcrError(f"{path.name} exists already (drafted meanwhile?): run envctl ecr verify "
                           f"{record.stack} and try again") from None
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def draft(project_dir: Path, stack: str, title: str, reason: str, by: str, classification: str,
          now: datetime) -> ChangeRecord:
    """Append a pending record approving the stack's CURRENT desired state; return it."""
    project_dir = Path(project_dir)
    now = _utc_now(now)
    settings = stack_settings(project_dir, stack, now.date())
    phase = settings.phase_spec
    if not phase.controlled:
        raise EcrError(f"stack '{stack}' (phase {phase.name}) is not change-controlled: uncontrolled stacks need "
                       "no ECR, run pulumi up directly")
    if not re.fullmatch(STACK_NAME, stack):
        raise EcrError(f"stack name '{stack}' cannot carry ECR ids (ECR-<stack>-NNNN needs lowercase letters, "
                       "digits and single hyphens)")
    if classification not in CLASSIFICATIONS:
        raise EcrError(f"classification '{classification}' unknown; accepted: {', '.join(CLASSIFICATIONS)}")
    digest = desired_state_digest(settings, stackfile.program_dir(project_dir))
    chain = load_chain(project_dir, stack)
    if not chain.ok:
        raise BrokenChain(stack, chain.problems)
    already = chain.approving(digest)
    if already is not None:
        raise EcrError(f"{already.id} (approved by {already.approved_by} at {utc_text(already.approved_at)}) already "
                       f"approves exactly this desired state {digest}: no new record is needed")
    last = chain.last
    if last is not None and not last.approved and last.digest == digest:
        raise EcrError(f"{last.id} (requested by {last.requested_by}) is pending and names exactly this desired "
                       f"state {digest}: have it approved: envctl ecr approve {last.id} --by <someone else>")
    number = (last.number if last else 0) + 1
    if number > 9999:
        raise EcrError(f"stack '{stack}' has 9999 records; ids have four digits")
    try:
        record = ChangeRecord.seal(
            id=record_id(stack, number), stack=stack, title=title, reason=reason, classification=classification,
            requested_by=by, requested_at=now, digest=digest, previous=last.hash if last else None,
            approved_by=None, approved_at=None,
        )
    except ValidationError as e:
        raise EcrError(f"record refused: {_validation_message(e)}") from None
    _write(record_path(project_dir, record.id), record, create=True)
    return record


def approve(project_dir: Path, record_id: str, by: str, now: datetime) -> ChangeRecord:
    """Approve the last, pending record of its chain, by someone other than its requester."""
    project_dir = Path(project_dir)
    now = _utc_now(now)
    stack = stack_of(record_id)
    chain = load_chain(project_dir, stack)
    record = chain.get(record_id)
    if record is None:
        ids = ", ".join(r.id for r in chain.records) or "none"
        raise EcrError(f"no record {record_id} in {RECORDS_DIR}/{stack}/; records of stack '{stack}': {ids}")
    if not chain.ok:
        raise BrokenChain(stack, chain.problems)
    if record.approved:
        raise EcrError(f"{record_id} was already approved by {record.approved_by} at {utc_text(record.approved_at)}; "
                       "an approval is never changed: a new state needs a new record (envctl ecr new)")
    last = chain.last
    assert last is not None
    if record.id != last.id:
        following = chain.records[chain.records.index(record) + 1]
        raise EcrError(
            f"{record_id} is not the last record of stack '{stack}' ({last.id} is). Approving it would change its "
            f"hash, which {following.id} holds as `previous`, and break the chain. It stays unapproved (superseded); "
            f"approve {last.id} if it names the state you mean, or draft a new record: envctl ecr new {stack} ...")
    if same_person(by, record.requested_by):
        raise EcrError(f"'{by}' requested {record_id} and may not approve it: approval needs a second person")
    if now < record.requested_at:
        raise EcrError(f"approval time {utc_text(now)} is before the request time {utc_text(record.requested_at)}: "
                       "check the clock")
    try:
        approved = ChangeRecord.seal(**{**record.content(), "approved_by": by, "approved_at": now})
    except ValidationError as e:
        raise EcrError(f"approval refused: {_validation_message(e)}") from None
    _write(record_path(project_dir, record_id), approved, create=False)
    return approved


# --------------------------------------------------------------------------------------------
# Waivers
# --------------------------------------------------------------------------------------------
class Waiver(BaseModel):
    """One accepted finding: a rule not applied to one resource, for a reason, until a date."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    rule: str = Field(min_length=1)
    resource: str = Field(min_length=1)  # the resource's name or its URN
    reason: str = Field(min_length=3)
    expires: date
    ecr: str | None = Field(None, pattern=ID_RE.pattern)

    def policy_entry(self) -> dict[str, str]:
        """The waiver as the policy config carries it (see policies.framework.WAIVER_SCHEMA)."""
        entry = {"resource": self.resource, "reason": self.reason, "expires": self.expires.isoformat()}
        if self.ecr:
            entry["ecr"] = self.ecr
        return entry


WAIVER_KEYS = tuple(Waiver.model_fields)


def waivers_path(project_dir: Path, stack: str) -> Path:
    return Path(project_dir) / WAIVERS_DIR / f"{stack}.yaml"


def _waiver_error(e: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in e["loc"])
    if e["type"] == "missing":
        return f"{loc}: missing"
    if e["type"] == "extra_forbidden":
        return f"unknown key '{loc}'; accepted keys: {', '.join(WAIVER_KEYS)}"
    got = e.get("input")
    if loc == "expires":
        return f"expires: give a date YYYY-MM-DD (got {got!r})"
    if loc == "ecr":
        return f"ecr: not an ECR id such as ECR-prod-0001 (got {got!r})"
    return f"{loc}: {e['msg'].removeprefix('Value error, ')} (got {got!r})"


def load_waivers(project_dir: Path, stack: str, controlled: bool,
                 rules: Iterable[str] | None = None) -> list[Waiver]:
    """The waivers of a stack ([] without a file); WaiverFileError lists every bad entry."""
    project_dir = Path(project_dir)
    path = waivers_path(project_dir, stack)
    rel = _rel(project_dir, path)
    if not path.exists():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise WaiverFileError(rel, [f"not readable YAML ({e})"]) from None
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise WaiverFileError(rel, [f"expected a list of waivers ({', '.join(WAIVER_KEYS)}), got a {type(doc).__name__}"])
    known = list(rules) if rules is not None else None
    problems: list[str] = []
    waivers: list[Waiver] = []
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(doc, start=1):
        if not isinstance(entry, dict):
            problems.append(f"entry {i}: expected a mapping with keys {', '.join(WAIVER_KEYS)}, got {entry!r}")
            continue
        label = f"entry {i} (rule {entry.get('rule', '?')}, resource {entry.get('resource', '?')})"
        try:
            w = Waiver.model_validate(entry)
        except ValidationError as e:
            problems += [f"{label}: {_waiver_error(err)}" for err in e.errors(include_url=False)]
            continue
        own: list[str] = []
        if known is not None and w.rule not in known:
            own.append(f"rule: '{w.rule}' is not a rule of the policy pack; rules: {', '.join(known) or 'none'}")
        if w.rule == APPROVED_STATE_RULE:
            own.append(f"rule: {APPROVED_STATE_RULE} cannot be waived: approve the state with an ECR instead "
                       f"(envctl ecr new {stack} ...)")
        if controlled and w.ecr is None:
            own.append(f"ecr: missing; stack '{stack}' is change-controlled: a waiver needs the id of an approved ECR "
                       "of this stack")
        if not controlled and w.ecr is not None:
            own.append(f"ecr: stack '{stack}' is not change-controlled and has no ECRs: remove the key")
        if w.ecr is not None and stack_of(w.ecr) != stack:
            own.append(f"ecr: {w.ecr} is a record of stack '{stack_of(w.ecr)}', not '{stack}': an ECR of another "
                       "stack never approves this one")
        key = (w.rule, w.resource)
        if key in seen:
            own.append(f"duplicate: entry {seen[key]} waives the same rule for the same resource already")
        seen.setdefault(key, i)
        problems += [f"{label}: {p}" for p in own]
        if not own:
            waivers.append(w)
    if problems:
        raise WaiverFileError(rel, problems)
    return waivers


# --------------------------------------------------------------------------------------------
# Policy-pack config
# --------------------------------------------------------------------------------------------
def policy_config(project_dir: Path, stack: str, policy_names: Iterable[str], advisory: Iterable[str] = (),
                  today: date | None = None) -> dict[str, Any]:
    """The `--policy-pack-config` document of a stack: approvals from its verified chain, its waivers.

    Every rule stays mandatory, except rules named in ``advisory`` for an uncontrolled stack; that
    request is refused for a change-controlled stack. A broken chain approves nothing.
    """
    project_dir = Path(project_dir)
    today = today or datetime.now(timezone.utc).date()
    names = list(dict.fromkeys(policy_names))
    advisory = list(dict.fromkeys(advisory))
    settings = stack_settings(project_dir, stack, today)
    phase = settings.phase_spec
    if advisory and phase.controlled:
        raise EcrError(f"stack '{stack}' is change-controlled (phase {phase.name}): every rule stays mandatory and "
                       f"--advisory is refused. Fix the finding, or waive it for one resource in "
                       f"{WAIVERS_DIR}/{stack}.yaml with a reason, an expiry date and an approved ECR.")
    unknown = [r for r in advisory if r not in names]
    if unknown:
        raise EcrError(f"--advisory names unknown rules: {', '.join(unknown)}; rules: {', '.join(names) or 'none'}")
    waivers = load_waivers(project_dir, stack, phase.controlled, names)
    chain = load_chain(project_dir, stack)
    records = chain.approved_records

    config: dict[str, Any] = {"all": "mandatory"}
    for rule in names:
        entry: dict[str, Any] = {}
        if rule in advisory:
            entry["enforcementLevel"] = "advisory"
        if rule == APPROVED_STATE_RULE:
            entry.update({"approvedDigests": chain.approved_digests, "stack": stack,
                          "approvals": {r.id: r.digest for r in chain.approvals}})
        own = [w.policy_entry() for w in waivers if w.rule == rule]
        if own:
            entry["waivers"] = own
        if rule == APPROVED_STATE_RULE or own:
            entry["approvedRecords"] = list(records)
        if entry:
            config[rule] = entry
    return config
