"""Clone VAL / promote PROD from Pre-PROD snapshots: the part done with boto3, around `pulumi up`.

Two operations read and change the cloud directly (RDS, KMS, S3 and the Resource Groups Tagging
API), so they need neither the Pulumi CLI nor a stack's outputs:

* :func:`clone_check` is the pre-flight check before `pulumi up` of a VAL or PROD stack: is the
  Pre-PROD snapshot the stack clones from there, usable, encrypted, this customer's, taken for this
  phase, and can each restored instance make its own copy of it?
* :func:`copy_documents` copies the documents of the customer's Pre-PROD instance, server side,
  into the document bucket of every restored instance of the VAL or PROD stack (VAL main and test;
  PROD main only). It never copies across customers, never into PROD test, and a second run copies
  nothing again.

Names follow the Pulumi program (components/clone.py and components/instance.py): Pre-PROD's
snapshot N is ``<customer>-preprod-N``; the instance ``<env>-<role>`` copies it as
``<env>-<role>-from-N`` under its own key ``alias/clinspark/<env>-<role>-key``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from changecontrol import clock
from components import naming
from components.naming import Names
from components.phases import CLONE_SOURCE_PHASE, PHASES, Role
from components.settings import MANAGED_BY, InvalidStackConfig, StackSettings

from . import stackfile

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

DOCUMENTS = "documents"  # the `purpose` tag of an instance's document bucket
KEY_ALIAS_PREFIX = naming.KEY_ALIAS_PREFIX
SOURCE_ETAG = "source-etag"  # user metadata (x-amz-meta-source-etag): the Pre-PROD object a copy holds
MAX_COPY_OBJECT_BYTES = 5 * 1024**3  # the largest object one CopyObject may copy
MIN_PART_BYTES = 5 * 1024**2  # the smallest part of a multipart copy (but the last)
PART_BYTES = 256 * 1024**2  # part size of a multipart copy; boto3 raises it for very large objects
WAITING_STATES = ("creating", "copying", "pending")

# Headers that travel with a document; MetadataDirective REPLACE would drop them unless sent again.
CARRIED_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl", "Expires")

_PHASE_WORDS = {"preprod": "Pre-PROD", "val": "VAL", "prod": "PROD"}
_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})


def words(phase: str) -> str:
    """A phase as the team writes it: Pre-PROD, VAL, PROD, sandbox, ..."""
    return _PHASE_WORDS.get(phase, phase)


# --- names, as the Pulumi program makes them ---------------------------------------------------


def instance_name(settings: StackSettings, role: Role) -> str:
    return settings.names.instance(role)


def key_alias(settings: StackSettings, role: Role) -> str:
    """The alias of an instance's own KMS key."""
    return Names.key_alias(settings.names.key(role))


def restored_roles(settings: StackSettings) -> tuple[Role, ...]:
    """The instances restored from Pre-PROD: VAL main and test, PROD main; none elsewhere."""
    return tuple(r for r in settings.roles if r in settings.phase_spec.restored_roles)


def source_snapshot_identifier(target: StackSettings) -> str:
    """The DB snapshot that Pre-PROD published under the name the VAL or PROD stack clones from."""
    _require_clone_target(target)
    assert target.clone_from is not None
    return naming.clone_source(str(target.customer)).published_snapshot(target.clone_from.snapshot)


def copy_identifier(target: StackSettings, role: Role) -> str:
    """The restored instance's own copy of the Pre-PROD snapshot."""
    assert target.clone_from is not None
    return target.names.snapshot_copy(role, target.clone_from.snapshot)


def source_database_pattern(customer: str) -> re.Pattern[str]:
    """Pre-PROD's database identifier: `<customer>-preprod-single-db`, with Pulumi's random suffix."""
    return naming.clone_source(customer).database_identifier(Role.SINGLE)


def _utc(now: datetime | None = None) -> str:
    moment = (now or clock.now()).astimezone(timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --- clients -------------------------------------------------------------------------------------


def make_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A boto3 session from a named profile (or the usual credential chain) and a default region."""
    return boto3.Session(profile_name=profile, region_name=region)


@dataclass
class AwsClients:
    """Clients of one session, made on first use per service and region.

    ``region`` overrides every stack's own ``aws:region``; ``endpoint_url`` sends every call to
    another endpoint (a local moto server, a VPC endpoint) instead of AWS's public one.
    """

    session: boto3.Session
    endpoint_url: str | None = None
    region: str | None = None
    _made: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def region_for(self, stack_region: str | None) -> str:
        where = self.region or stack_region or self.session.region_name
        if not where:
            raise NoRegionError()
        return where

    def client(self, service: str, stack_region: str | None = None) -> Any:
        where = self.region_for(stack_region)
        if (service, where) not in self._made:
            self._made[(service, where)] = self.session.client(
                service, region_name=where, endpoint_url=self.endpoint_url, config=_RETRIES
            )
        return self._made[(service, where)]


def clients(session: boto3.Session, endpoint_url: str | None = None, region: str | None = None) -> AwsClients:
    return AwsClients(session=session, endpoint_url=endpoint_url, region=region)


def _as_clients(aws: boto3.Session | AwsClients) -> AwsClients:
    return aws if isinstance(aws, AwsClients) else clients(aws)


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


# --- clone-check ---------------------------------------------------------------------------------


class NotACloneTarget(ValueError):
    """clone-check or copy-documents asked of a stack whose phase starts empty (a usage error)."""


@dataclass(frozen=True)
class CheckRow:
    """One check: what was checked, whether it passed, what was found, and what to do if not."""

    name: str
    passed: bool
    detail: str
    remedy: str | None = None


@dataclass(frozen=True)
class CloneCheckReport:
    """Whether a VAL or PROD stack may be cloned from its Pre-PROD snapshot, check by check."""

    stack: str
    customer: str
    phase: str
    source_stack: str
    snapshot: str
    snapshot_identifier: str
    region: str
    checked_at: str  # UTC, ISO 8601
    rows: tuple[CheckRow, ...]

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.passed for r in self.rows)

    @property
    def failures(self) -> tuple[CheckRow, ...]:
        return tuple(r for r in self.rows if not r.passed)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def _require_clone_target(target: StackSettings) -> None:
    if not target.phase_spec.may_clone or target.clone_from is None or not target.customer:
        cloning = ", ".join(words(p.name) for p in PHASES.values() if p.may_clone)
        raise NotACloneTarget(
            f"stack '{target.stack}' is a {words(target.phase)} stack, which starts empty and is never cloned "
            f"from {words(CLONE_SOURCE_PHASE)}; only {cloning} stacks are"
        )


def clone_check(
    aws: boto3.Session | AwsClients, target: StackSettings, *, now: datetime | None = None
) -> CloneCheckReport:
    """Check, before `pulumi up` of a VAL or PROD stack, that its Pre-PROD snapshot may be cloned.

    A failed check is a row of the report, never an exception; only a stack whose phase starts
    empty (sandbox, migration, Pre-PROD, demo, community-dev) raises :class:`NotACloneTarget`.
    AWS errors other than "not found" propagate.
    """
    _require_clone_target(target)
    assert target.clone_from is not None and target.customer is not None
    aws = _as_clients(aws)
    region = aws.region_for(target.region)
    rds, kms = aws.client("rds", target.region), aws.client("kms", target.region)
    checked_at = _utc(now)
    identifier = source_snapshot_identifier(target)
    snapshot = _describe_snapshot(rds, identifier)
    rows = [_exists_row(target, identifier, region, snapshot)]
    if snapshot is not None:
        tags = _snapshot_tags(rds, snapshot)
        rows += [
            _available_row(target, snapshot, region),
            _encrypted_row(target, snapshot),
            _customer_row(target, snapshot, tags),
            _source_database_row(target, snapshot, tags),
            _published_row(target, tags),
            _purpose_row(target, tags),
        ]
        if snapshot.get("Encrypted") and snapshot.get("KmsKeyId"):
            rows.append(_source_key_row(kms, target, snapshot["KmsKeyId"]))
        for role in restored_roles(target):
            rows.append(_copy_row(rds, target, role, snapshot, region))
            rows.append(_target_key_row(kms, target, role))
    return CloneCheckReport(
        stack=target.stack, customer=target.customer, phase=target.phase, source_stack=target.clone_from.stack,
        snapshot=target.clone_from.snapshot, snapshot_identifier=identifier, region=region, checked_at=checked_at,
        rows=tuple(rows),
    )


def _describe_snapshot(rds: Any, identifier: str) -> dict[str, Any] | None:
    try:
        found = rds.describe_db_snapshots(DBSnapshotIdentifier=identifier)["DBSnapshots"]
    except ClientError as e:
        if _error_code(e) == "DBSnapshotNotFound":
            return None
        raise
    return found[0] if found else None


def _snapshot_tags(rds: Any, snapshot: dict[str, Any]) -> dict[str, str]:
    tag_list = snapshot.get("TagList")
    if tag_list is None:
        tag_list = rds.list_tags_for_resource(ResourceName=snapshot["DBSnapshotArn"])["TagList"]
    return {t["Key"]: t["Value"] for t in tag_list}


def _take_snapshot(target: StackSettings, name: str | None = None) -> str:
    """The remedy for a missing or unfit snapshot: take one in Pre-PROD, through its stack."""
    assert target.clone_from is not None
    src = target.clone_from
    name = name or src.snapshot
    remedy = (
        f"take the snapshot in {words(CLONE_SOURCE_PHASE)}: add {{name: {name}, purpose: {target.phase}}} to "
        f"{target.project}:snapshots in Pulumi.{src.stack_name}.yaml, draft an ECR, pulumi up -s {src.stack_name}"
    )
    if name != src.snapshot:
        remedy += f"; then set {target.project}:clone_from.snapshot to {name} in Pulumi.{target.stack}.yaml"
    return remedy


def _stop_foreign(target: StackSettings, identifier: str) -> str:
    return (
        f"do not clone: {words(target.phase)} of {target.customer} is made only from {target.customer}'s own "
        f"{words(CLONE_SOURCE_PHASE)}; find out who created or re-tagged snapshot {identifier} (CloudTrail) and "
        f"{_take_snapshot(target, f'{target.phase}-<date>')}"
    )


def _exists_row(
    target: StackSettings, identifier: str, region: str, snapshot: dict[str, Any] | None
) -> CheckRow:
    assert target.clone_from is not None
    if snapshot is not None:
        return CheckRow("snapshot exists", True, f"{identifier} found in {region}")
    return CheckRow(
        "snapshot exists", False,
        f"no DB snapshot {identifier} in {region}: {target.clone_from.stack} has not published "
        f"snapshot '{target.clone_from.snapshot}'",
        _take_snapshot(target),
    )


def _available_row(target: StackSettings, snapshot: dict[str, Any], region: str) -> CheckRow:
    status = snapshot.get("Status", "unknown")
    identifier = snapshot["DBSnapshotIdentifier"]
    if status == "available":
        return CheckRow("snapshot available", True, "status available")
    if status in WAITING_STATES:
        remedy = (
            f"wait until it is available: aws rds wait db-snapshot-available --db-snapshot-identifier {identifier} "
            f"--region {region}; then run envctl clone-check {target.stack} again"
        )
    else:
        remedy = f"the snapshot is unusable; {_take_snapshot(target, f'{target.phase}-<date>')}"
    return CheckRow("snapshot available", False, f"status {status}, not available", remedy)


def _encrypted_row(target: StackSettings, snapshot: dict[str, Any]) -> CheckRow:
    assert target.clone_from is not None
    if snapshot.get("Encrypted"):
        return CheckRow("snapshot encrypted", True, f"encrypted with {snapshot.get('KmsKeyId', 'a KMS key')}")
    return CheckRow(
        "snapshot encrypted", False,
        f"{snapshot['DBSnapshotIdentifier']} is not encrypted: its database was not encrypted at rest",
        f"do not clone it: an unencrypted copy of {target.customer}'s data must not spread; find out why "
        f"{words(CLONE_SOURCE_PHASE)}'s database is unencrypted (the program always encrypts it: "
        f"pulumi preview -s {target.clone_from.stack_name} shows the drift), fix it through an ECR and take a new "
        "snapshot",
    )


def _customer_row(target: StackSettings, snapshot: dict[str, Any], tags: dict[str, str]) -> CheckRow:
    owner = tags.get("customer")
    name = f"snapshot is {target.customer}'s"
    if owner == target.customer:
        return CheckRow(name, True, f"tagged customer={owner}")
    return CheckRow(
        name, False, f"tagged customer={owner or '(none)'}, but {target.stack} serves {target.customer}",
        _stop_foreign(target, snapshot["DBSnapshotIdentifier"]),
    )


def _source_database_row(target: StackSettings, snapshot: dict[str, Any], tags: dict[str, str]) -> CheckRow:
    assert target.customer is not None
    name = f"taken from {target.customer}'s {words(CLONE_SOURCE_PHASE)} database"
    database = snapshot.get("DBInstanceIdentifier", "")
    problems = []
    if tags.get("phase") != CLONE_SOURCE_PHASE:
        problems.append(f"tagged phase={tags.get('phase') or '(none)'}, not {CLONE_SOURCE_PHASE}")
    if tags.get("role") != Role.SINGLE.value:
        problems.append(f"tagged role={tags.get('role') or '(none)'}, not {Role.SINGLE.value}")
    if not source_database_pattern(target.customer).match(database):
        problems.append(
            f"taken from database '{database}', not {target.customer}-{CLONE_SOURCE_PHASE}-{Role.SINGLE.value}-db-*"
        )
    if not problems:
        return CheckRow(name, True, f"taken from {database}, tagged phase={CLONE_SOURCE_PHASE}")
    return CheckRow(name, False, "; ".join(problems), _stop_foreign(target, snapshot["DBSnapshotIdentifier"]))


def _published_row(target: StackSettings, tags: dict[str, str]) -> CheckRow:
    assert target.clone_from is not None
    name = f"published by the {words(CLONE_SOURCE_PHASE)} stack"
    problems = []
    if tags.get("snapshot") != target.clone_from.snapshot:
        problems.append(f"tagged snapshot={tags.get('snapshot') or '(none)'}, not {target.clone_from.snapshot}")
    if tags.get("managed-by") != MANAGED_BY:
        problems.append(f"tagged managed-by={tags.get('managed-by') or '(none)'}, not {MANAGED_BY} (taken by hand?)")
    if not problems:
        return CheckRow(name, True, f"snapshot={target.clone_from.snapshot}, managed-by={MANAGED_BY}")
    return CheckRow(
        name, False, "; ".join(problems),
        "a snapshot taken by hand has no ECR behind it: " + _take_snapshot(target, f"{target.phase}-<date>"),
    )


def _purpose_row(target: StackSettings, tags: dict[str, str]) -> CheckRow:
    purpose = tags.get("snapshot-purpose")
    name = f"taken for {words(target.phase)}"
    if purpose == target.phase:
        return CheckRow(name, True, f"snapshot-purpose={purpose}")
    return CheckRow(
        name, False, f"snapshot-purpose={purpose or '(none)'}: it was taken for {words(purpose or 'nothing')}, "
        f"not {words(target.phase)}",
        _take_snapshot(target, f"{target.phase}-<date>"),
    )


def _key_state(kms: Any, key_id: str) -> tuple[str | None, str]:
    """(KeyState or None if there is no such key, the key's ARN or the id asked for)."""
    try:
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    except ClientError as e:
        if _error_code(e) == "NotFoundException":
            return None, key_id
        raise
    return meta.get("KeyState", "Enabled" if meta.get("Enabled") else "Disabled"), meta.get("Arn", key_id)


def _key_remedy(state: str, arn: str, region: str, whose: str) -> str:
    if state == "PendingDeletion":
        return (f"through an ECR of {whose}: aws kms cancel-key-deletion --key-id {arn} --region {region}, "
                f"then aws kms enable-key --key-id {arn} --region {region}")
    return f"through an ECR of {whose}: aws kms enable-key --key-id {arn} --region {region}"


def _source_key_row(kms: Any, target: StackSettings, key_id: str) -> CheckRow:
    assert target.clone_from is not None
    name = "snapshot's key usable"
    state, arn = _key_state(kms, key_id)
    if state == "Enabled":
        return CheckRow(name, True, f"{arn} is enabled")
    if state is None:
        return CheckRow(
            name, False, f"key {key_id} does not exist (in this account and region): the snapshot cannot be decrypted",
            f"the snapshot is lost for cloning; {_take_snapshot(target, f'{target.phase}-<date>')}",
        )
    region = key_id.split(":")[3] if key_id.startswith("arn:") else target.region
    return CheckRow(name, False, f"{arn} is {state}: the snapshot cannot be copied",
                    _key_remedy(state, arn, region, target.clone_from.stack_name))


def _same_source(copy: dict[str, Any], source: dict[str, Any]) -> bool:
    """Whether an existing snapshot is a copy of the source (AWS names the source only across regions)."""
    declared = copy.get("SourceDBSnapshotIdentifier")
    if declared:
        return declared in (source.get("DBSnapshotArn"), source.get("DBSnapshotIdentifier"))

    def taken(s: dict[str, Any]) -> Any:
        return s.get("OriginalSnapshotCreateTime") or s.get("SnapshotCreateTime")

    return copy.get("DbiResourceId") == source.get("DbiResourceId") and taken(copy) == taken(source)


def _copy_row(rds: Any, target: StackSettings, role: Role, source: dict[str, Any], region: str) -> CheckRow:
    identifier = copy_identifier(target, role)
    name = f"{role.value}: copy {identifier} can be made"
    existing = _describe_snapshot(rds, identifier)
    taken = existing and (existing.get("OriginalSnapshotCreateTime") or existing.get("SnapshotCreateTime"))
    if existing is None:
        return CheckRow(name, True,
                        f"free; pulumi up -s {target.stack} copies the snapshot under {key_alias(target, role)}")
    if _same_source(existing, source):
        return CheckRow(name, True,
                        f"exists already as a copy of {source['DBSnapshotIdentifier']}; pulumi up reuses it")
    return CheckRow(
        name, False,
        f"{identifier} exists but is not a copy of {source['DBSnapshotIdentifier']} (taken from "
        f"{existing.get('DBInstanceIdentifier', '?')} at {taken})",
        f"if no database of {target.stack} was restored from it, delete the stale copy through an ECR: "
        f"aws rds delete-db-snapshot --db-snapshot-identifier {identifier} --region {region}; "
        f"otherwise {_take_snapshot(target, f'{target.phase}-<date>')}",
    )


def _target_key_row(kms: Any, target: StackSettings, role: Role) -> CheckRow:
    alias = key_alias(target, role)
    name = f"{role.value}: its own key usable"
    state, arn = _key_state(kms, alias)
    if state is None:
        return CheckRow(name, True, f"{alias} does not exist yet; pulumi up -s {target.stack} creates it")
    if state == "Enabled":
        return CheckRow(name, True, f"{alias} ({arn}) is enabled")
    return CheckRow(name, False, f"{alias} ({arn}) is {state}: the copy cannot be encrypted under it",
                    _key_remedy(state, arn, target.region, target.stack))


def render_clone_check(report: CloneCheckReport) -> str:
    """The report as the engineer reads it in the terminal (and pastes into the ECR)."""
    lines = [
        f"clone-check of {report.stack} ({words(report.phase)} of {report.customer}) from {report.source_stack}, "
        f"snapshot '{report.snapshot}'",
        f"  DB snapshot {report.snapshot_identifier} in {report.region}, checked {report.checked_at}",
        "",
    ]
    width = max((len(r.name) for r in report.rows), default=0)
    for row in report.rows:
        lines.append(f"  {'PASS' if row.passed else 'FAIL'}  {row.name.ljust(width)}  {row.detail}")
        if row.remedy:
            lines.append(f"        {''.ljust(width)}  what to do: {row.remedy}")
    lines.append("")
    if report.passed:
        lines.append(f"PASSED: all {len(report.rows)} checks passed; pulumi up -s {report.stack} may clone "
                     f"{report.snapshot_identifier}.")
    else:
        lines.append(f"FAILED: {len(report.failures)} of {len(report.rows)} checks failed; do not run "
                     f"pulumi up -s {report.stack} until they pass.")
    return "\n".join(lines)


# --- copy-documents ------------------------------------------------------------------------------


class CopyRefused(Exception):
    """Documents may not be copied between these two stacks (or their buckets do not fit)."""

    def __init__(self, source_stack: str, target_stack: str, reasons: Sequence[str]):
        self.source_stack = source_stack
        self.target_stack = target_stack
        self.reasons = tuple(reasons)
        lines = [f"refused to copy documents from stack '{source_stack}' to stack '{target_stack}':"]
        lines += [f"  - {r}" for r in self.reasons]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class BucketCopy:
    """What one run copied into the document bucket of one restored instance."""

    role: str
    bucket: str
    documents: int  # objects in the source bucket
    copied: int
    skipped: int  # already there from an earlier run, unchanged
    replaced: int  # of the copied: the target held another version of the document
    bytes_copied: int


@dataclass(frozen=True)
class CopyReport:
    source_stack: str
    target_stack: str
    customer: str
    target_phase: str
    source_bucket: str
    started_at: str  # UTC, ISO 8601
    finished_at: str
    targets: tuple[BucketCopy, ...]

    @property
    def copied(self) -> int:
        return sum(t.copied for t in self.targets)

    @property
    def skipped(self) -> int:
        return sum(t.skipped for t in self.targets)

    @property
    def bytes_copied(self) -> int:
        return sum(t.bytes_copied for t in self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "copied": self.copied, "skipped": self.skipped, "bytes_copied": self.bytes_copied}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def copy_refusals(source: StackSettings, target: StackSettings, roles: Sequence[Role] | None = None) -> list[str]:
    """Why documents may not go from `source` into `target` (by their settings alone); empty if they may."""
    reasons: list[str] = []
    if not source.phase_spec.publishes_snapshots:
        reasons.append(f"'{source.stack}' is a {words(source.phase)} stack; documents are copied only from "
                       f"{words(CLONE_SOURCE_PHASE)}")
    if not target.phase_spec.may_clone:
        reasons.append(f"'{target.stack}' is a {words(target.phase)} stack, which starts empty and is never cloned "
                       f"from {words(CLONE_SOURCE_PHASE)}")
    if source.customer != target.customer:
        reasons.append(f"'{source.stack}' belongs to customer {source.customer or '(none)'} and '{target.stack}' to "
                       f"{target.customer or '(none)'}: documents never cross customers")
    elif target.clone_from is not None and target.clone_from.stack_name != source.stack:
        reasons.append(f"'{target.stack}' clones from '{target.clone_from.stack}', not from '{source.stack}'")
    restored = restored_roles(target)
    for role in roles or ():
        if role not in target.roles:
            reasons.append(f"'{target.stack}' has no {role.value} instance (it has {', '.join(target.roles)})")
        elif role not in restored and target.phase_spec.may_clone:
            reasons.append(
                f"{words(target.phase)} {role.value} is never restored from {words(CLONE_SOURCE_PHASE)} "
                f"({target.phase_spec.data}): real documents go only into "
                f"{' and '.join(f'{words(target.phase)} {r.value}' for r in restored)}"
            )
    return reasons


def _wanted_tags(settings: StackSettings, role: Role) -> dict[str, str]:
    tags = settings.tags_for(role)
    return {k: tags[k] for k in ("customer", "phase", "role", "managed-by")} | {"purpose": DOCUMENTS}


def documents_buckets(aws: AwsClients, settings: StackSettings, role: Role) -> list[str]:
    """The buckets the tagging API knows as the documents of this stack's instance `role`."""
    wanted = _wanted_tags(settings, role)
    tagging = aws.client("resourcegroupstaggingapi", settings.region)
    names: list[str] = []
    for page in tagging.get_paginator("get_resources").paginate(
        TagFilters=[{"Key": k, "Values": [v]} for k, v in wanted.items()], ResourceTypeFilters=["s3"]
    ):
        for mapping in page.get("ResourceTagMappingList", []):
            arn = mapping["ResourceARN"]
            if ":::" in arn and "/" not in arn.split(":::", 1)[1]:
                names.append(arn.split(":::", 1)[1])
    return sorted(set(names))


def _actual_tags(s3: Any, bucket: str) -> dict[str, str]:
    try:
        tag_set = s3.get_bucket_tagging(Bucket=bucket)["TagSet"]
    except ClientError as e:
        if _error_code(e) in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        raise
    return {t["Key"]: t["Value"] for t in tag_set}


def _documents_bucket(
    aws: AwsClients, settings: StackSettings, role: Role, reasons: list[str]
) -> tuple[str, dict[str, str]] | None:
    """The one document bucket of an instance, checked against its actual tags; else a reason why not."""
    label = f"{words(settings.phase)} {role.value} of '{settings.stack}'"
    names = documents_buckets(aws, settings, role)
    if not names:
        reasons.append(f"no documents bucket of {label} found (tags {_wanted_tags(settings, role)}): "
                       f"run pulumi up -s {settings.stack} first")
        return None
    if len(names) > 1:
        reasons.append(f"{len(names)} buckets are tagged as the documents of {label} ({', '.join(names)}): "
                       "it must be exactly one; fix their tags")
        return None
    bucket = names[0]
    actual = _actual_tags(aws.client("s3", settings.region), bucket)
    wrong = {k: actual.get(k) for k, v in _wanted_tags(settings, role).items() if actual.get(k) != v}
    if wrong:
        found = ", ".join(f"{k}={v or '(none)'}" for k, v in wrong.items())
        reasons.append(f"bucket {bucket} was found as the documents of {label}, but its tags say {found}")
        return None
    return bucket, actual


def copy_documents(
    aws: boto3.Session | AwsClients,
    source: StackSettings,
    target: StackSettings,
    *,
    roles: Sequence[Role] | None = None,
    multipart_threshold: int = MAX_COPY_OBJECT_BYTES,
    now: datetime | None = None,
) -> CopyReport:
    """Copy the documents of the customer's Pre-PROD into every restored instance of VAL or PROD.

    Server side (CopyObject; a multipart copy above `multipart_threshold`), keeping content, content
    type and user metadata; each copy records the Pre-PROD object's ETag, so that a second run skips
    what is already there and copies only what is missing or changed. `roles` defaults to every
    restored role (VAL main and test, PROD main). Raises :class:`CopyRefused` naming both stacks if
    the copy would cross customers, go into PROD test, come from anything but Pre-PROD or go into a
    phase that starts empty, or if a bucket is missing or tagged otherwise than its stack says.
    """
    if not MIN_PART_BYTES <= multipart_threshold <= MAX_COPY_OBJECT_BYTES:
        raise ValueError(f"multipart_threshold must be between {MIN_PART_BYTES} and {MAX_COPY_OBJECT_BYTES} bytes")
    chosen = tuple(dict.fromkeys(roles)) if roles else restored_roles(target)
    reasons = copy_refusals(source, target, chosen)
    if not chosen and not reasons:
        reasons.append(f"'{target.stack}' has no instance restored from {words(CLONE_SOURCE_PHASE)}")
    if reasons:
        raise CopyRefused(source.stack, target.stack, reasons)
    aws = _as_clients(aws)
    started = _utc(now)
    found = _documents_bucket(aws, source, Role.SINGLE, reasons)
    into = {role: _documents_bucket(aws, target, role, reasons) for role in chosen}
    if reasons or found is None:
        raise CopyRefused(source.stack, target.stack, reasons)
    source_s3 = aws.client("s3", source.region)
    source_bucket = found[0]
    documents = list(_list_objects(source_s3, source_bucket))
    heads = _SourceHeads(source_s3, source_bucket)
    results = []
    for role, dest in into.items():
        assert dest is not None
        results.append(_copy_into(aws.client("s3", target.region), heads, documents, dest[0], role,
                                  multipart_threshold))
    assert target.customer is not None
    return CopyReport(
        source_stack=source.stack, target_stack=target.stack, customer=target.customer, target_phase=target.phase,
        source_bucket=source_bucket, started_at=started, finished_at=_utc(), targets=tuple(results),
    )


def _list_objects(s3: Any, bucket: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        yield from page.get("Contents", [])


class _SourceHeads:
    """HeadObject of each Pre-PROD document, asked once per run however many buckets it goes into."""

    def __init__(self, s3: Any, bucket: str):
        self.s3, self.bucket = s3, bucket
        self._seen: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any]:
        if key not in self._seen:
            self._seen[key] = self.s3.head_object(Bucket=self.bucket, Key=key)
        return self._seen[key]


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


def _recorded_source_etag(s3: Any, bucket: str, key: str) -> str | None:
    return s3.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get(SOURCE_ETAG)


def _copy_into(
    s3: Any, heads: _SourceHeads, documents: list[dict[str, Any]], bucket: str, role: Role, threshold: int
) -> BucketCopy:
    present = {o["Key"]: o["Size"] for o in _list_objects(s3, bucket)}
    copied = skipped = replaced = nbytes = 0
    for document in documents:
        key, size = document["Key"], document["Size"]
        if key in present:
            if present[key] == size and _recorded_source_etag(s3, bucket, key) == _etag(document["ETag"]):
                skipped += 1
                continue
            replaced += 1
        head = heads.get(key)
        _copy_one(s3, heads, head, bucket, key, threshold)
        copied += 1
        nbytes += head["ContentLength"]
    return BucketCopy(role=role.value, bucket=bucket, documents=len(documents), copied=copied, skipped=skipped,
                      replaced=replaced, bytes_copied=nbytes)


def _copy_args(head: dict[str, Any]) -> dict[str, Any]:
    """Content headers and user metadata of the source, plus the source's ETag, for a REPLACE copy."""
    args = {h: head[h] for h in CARRIED_HEADERS if head.get(h)}
    args["Metadata"] = {**head.get("Metadata", {}), SOURCE_ETAG: _etag(head.get("ETag"))}
    args["MetadataDirective"] = "REPLACE"
    args["TaggingDirective"] = "COPY"  # a multipart copy then copies the object's tags as CopyObject does
    return args


def _copy_one(s3: Any, heads: _SourceHeads, head: dict[str, Any], bucket: str, key: str, threshold: int) -> None:
    source: dict[str, str] = {"Bucket": heads.bucket, "Key": key}
    if head.get("VersionId") and head["VersionId"] != "null":
        source["VersionId"] = head["VersionId"]  # exactly the version whose ETag is recorded
    args = _copy_args(head)
    if head["ContentLength"] <= threshold:
        s3.copy_object(Bucket=bucket, Key=key, CopySource=source, **args)
        return
    config = TransferConfig(multipart_threshold=threshold, multipart_chunksize=min(threshold, PART_BYTES))
    s3.copy(source, bucket, key, ExtraArgs=args, SourceClient=heads.s3, Config=config)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def render_copy_report(report: CopyReport) -> str:
    """What one copy-documents run did, per restored instance."""
    lines = [
        f"copy-documents from {report.source_stack} ({words(CLONE_SOURCE_PHASE)} of {report.customer}) "
        f"to {report.target_stack} ({words(report.target_phase)}), {report.started_at} to {report.finished_at}",
        f"  source  {report.source_bucket}",
    ]
    for t in report.targets:
        replaced = f" ({t.replaced} replaced a changed document)" if t.replaced else ""
        lines.append(f"  {t.role.ljust(6)}  {t.bucket}: {t.documents} documents, {t.copied} copied{replaced}, "
                     f"{t.skipped} already there, {_size(t.bytes_copied)} copied")
    lines.append("")
    lines.append(f"DONE: {report.copied} copied, {report.skipped} already there. Running it again copies only "
                 f"documents that are missing or have changed in {words(CLONE_SOURCE_PHASE)}.")
    return "\n".join(lines)


# --- envctl subcommands --------------------------------------------------------------------------


def utc_today() -> date:
    return clock.today()


def load_stack(project_dir: Path, stack: str, today: date | None = None) -> StackSettings:
    """A stack's validated settings from its stack file, as the program would see them today (UTC)."""
    return stackfile.load_stack_settings(project_dir, stack, today or utc_today())


_CONFIG_ERRORS = (ProfileNotFound, NoCredentialsError, PartialCredentialsError, NoRegionError)


def _aws_from(args: argparse.Namespace) -> AwsClients:
    profile, region = getattr(args, "profile", None), getattr(args, "region", None)
    return clients(make_session(profile, region), getattr(args, "endpoint_url", None), region)


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def cmd_clone_check(args: argparse.Namespace) -> int:
    """envctl clone-check STACK: 0 all checks passed, 1 a check failed, 2 usage or configuration error."""
    try:
        target = load_stack(Path(args.dir), args.stack)
        report = clone_check(_aws_from(args), target)
    except (InvalidStackConfig, stackfile.StackFileError, NotACloneTarget) as e:
        _error(str(e))
        return EXIT_USAGE
    except _CONFIG_ERRORS as e:
        _error(f"AWS credentials or region: {e}")
        return EXIT_USAGE
    except (ClientError, BotoCoreError) as e:
        _error(f"could not complete the checks, so the clone may not go ahead: {e}")
        return EXIT_FAILED
    print(report.to_json() if getattr(args, "json", False) else render_clone_check(report))
    return EXIT_OK if report.passed else EXIT_FAILED


def cmd_copy_documents(args: argparse.Namespace) -> int:
    """envctl copy-documents --from STACK --to STACK: 0 copy done, 1 refused or failed, 2 usage error."""
    as_json = getattr(args, "json", False)
    try:
        roles = [Role(r) for r in getattr(args, "roles", None) or ()]
        source = load_stack(Path(args.dir), args.from_stack)
        target = load_stack(Path(args.dir), args.to_stack)
        report = copy_documents(_aws_from(args), source, target, roles=roles or None)
    except (InvalidStackConfig, stackfile.StackFileError, ValueError) as e:
        _error(str(e))
        return EXIT_USAGE
    except CopyRefused as e:
        if as_json:
            print(json.dumps({"refused": True, "source_stack": e.source_stack, "target_stack": e.target_stack,
                              "reasons": list(e.reasons)}, indent=2))
        _error(str(e))
        return EXIT_FAILED
    except _CONFIG_ERRORS as e:
        _error(f"AWS credentials or region: {e}")
        return EXIT_USAGE
    except (ClientError, BotoCoreError) as e:
        _error(f"the copy stopped: {e}. Run it again: what was copied is kept and skipped.")
        return EXIT_FAILED
    print(report.to_json() if as_json else render_copy_report(report))
    return EXIT_OK


def _aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--endpoint-url", dest="endpoint_url", metavar="URL",
                        help="send every AWS call to this endpoint (a local moto server, a VPC endpoint)")
    parser.add_argument("--profile", metavar="NAME", help="AWS profile to use (default: the usual credential chain)")
    parser.add_argument("--region", metavar="REGION", help="AWS region (default: each stack's aws:region)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def register(subparsers: Any) -> None:
    """Add `clone-check` and `copy-documents` to envctl's subcommands."""
    p = subparsers.add_parser(
        "clone-check",
        help="before pulumi up of a VAL or PROD stack: check the Pre-PROD snapshot it clones from",
    )
    p.add_argument("stack", metavar="STACK", help="the VAL or PROD stack to be cloned")
    _aws_options(p)
    p.set_defaults(func=cmd_clone_check)

    q = subparsers.add_parser(
        "copy-documents",
        help="after pulumi up of a VAL or PROD stack: copy Pre-PROD's documents into its restored instances",
    )
    q.add_argument("--from", dest="from_stack", required=True, metavar="STACK", help="the customer's Pre-PROD stack")
    q.add_argument("--to", dest="to_stack", required=True, metavar="STACK", help="the VAL or PROD stack")
    q.add_argument("--role", dest="roles", action="append", choices=[Role.MAIN.value, Role.TEST.value],
                   help="copy into this instance only (repeatable; default: every restored instance, "
                        "VAL main and test, PROD main)")
    _aws_options(q)
    q.set_defaults(func=cmd_copy_documents)
