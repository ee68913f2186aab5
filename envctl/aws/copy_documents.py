"""copy-documents: after `pulumi up` of a VAL or PROD stack, copy the documents of the customer's
Pre-PROD instance, server side, into the document bucket of every restored instance (VAL main and
test; PROD main only). It never copies across customers, never into PROD test, and a second run
copies nothing again. Buckets are found by their tags (the program's own); the report is rendered
by :mod:`.render`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from components.phases import CLONE_SOURCE_PHASE, Role
from components.settings import StackSettings

from ..errors import Problem
from .session import AwsClients, as_clients, error_code
from .targets import restored_roles, utc_stamp, words

DOCUMENTS = "documents"  # the `purpose` tag of an instance's document bucket
SOURCE_ETAG = "source-etag"  # user metadata (x-amz-meta-source-etag): the Pre-PROD object a copy holds
MAX_COPY_OBJECT_BYTES = 5 * 1024**3  # the largest object one CopyObject may copy
MIN_PART_BYTES = 5 * 1024**2  # the smallest part of a multipart copy (but the last)
PART_BYTES = 256 * 1024**2  # part size of a multipart copy; boto3 raises it for very large objects

# Headers that travel with a document; MetadataDirective REPLACE would drop them unless sent again.
CARRIED_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl", "Expires")


class CopyRefused(Problem):
    """Documents may not be copied between these two stacks (or their buckets do not fit): exit 1."""

    def __init__(self, source_stack: str, target_stack: str, reasons: Sequence[str]):
        self.source_stack = source_stack
        self.target_stack = target_stack
        self.reasons = tuple(reasons)
        lines = [f"refused to copy documents from stack '{source_stack}' to stack '{target_stack}':"]
        lines += [f"  - {r}" for r in self.reasons]
        super().__init__("\n".join(lines), report={"refused": True, "source_stack": source_stack,
                                                   "target_stack": target_stack, "reasons": list(self.reasons)})


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
    if source.phase != CLONE_SOURCE_PHASE:
        reasons.append(f"'{source.stack}' is a {words(source.phase)} stack; documents are copied only from "
                       f"{words(CLONE_SOURCE_PHASE)}")
    if not target.phase_spec.may_clone:
        reasons.append(f"'{target.stack}' is a {words(target.phase)} stack, which is never cloned "
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
        if error_code(e) in ("NoSuchTagSet", "NoSuchTagSetError"):
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
    aws = as_clients(aws)
    started = utc_stamp(now)
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
        source_bucket=source_bucket, started_at=started, finished_at=utc_stamp(), targets=tuple(results),
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
