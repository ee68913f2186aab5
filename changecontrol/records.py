"""Environment Change Records and their approvals: the files, as they are written and signed.

A record is four files in ``change-records/<chain>/`` (see :func:`layout.record_files`):

* ``ECR-<chain>-NNNN.yaml`` -- the request: what changes and why, who asks and when, the exact
  document it approves (``state``) and its digest, and the SHA-256 of the record before it
  (``previous``). Written once, never changed.
* ``ECR-<chain>-NNNN.yaml.sig`` -- the requester's SSH signature of that file (namespace
  ``clinspark-ecr-authored``).
* ``ECR-<chain>-NNNN.approval.yaml`` -- the approval: the record and its SHA-256, who approves, when.
* ``ECR-<chain>-NNNN.approval.yaml.sig`` -- the approver's SSH signature of it (``clinspark-ecr-approved``).

Each signed file carries the signer's name, the UTC time and its meaning (``authored`` or
``approved``), so a signature says who did what and when without envctl.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, ValidationError, model_validator

from . import digest as digests
from . import layout, strictyaml
from .signers import PRINCIPAL

RECORD_FORMAT = "clinspark-ecr/2"
APPROVAL_FORMAT = "clinspark-ecr-approval/2"
CLASSIFICATIONS = ("standard", "minor", "emergency")
RECORD_HEADER = ("# Environment Change Record, written and signed by `envctl ecr new`; approved by `envctl ecr approve`\n"
                 "# in the .approval.yaml beside it. Never edit: its signature and the next record's `previous` hold it.\n")
APPROVAL_HEADER = "# Approval of an Environment Change Record, written and signed by `envctl ecr approve`.\n"


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a time zone: UTC times are written YYYY-MM-DDTHH:MM:SSZ")
    return value.astimezone(timezone.utc)


def utc_text(value: datetime) -> str:
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


UtcDateTime = Annotated[datetime, AfterValidator(_utc), PlainSerializer(utc_text, return_type=str)]
Principal = Annotated[str, Field(pattern=PRINCIPAL.pattern, max_length=254)]
Sha256 = Annotated[str, Field(pattern=layout.SHA256)]
RecordId = Annotated[str, Field(pattern=layout.RECORD_ID.pattern)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Record(_Model):
    """The request: immutable once written and signed."""

    format: Literal[RECORD_FORMAT]  # type: ignore[valid-type]
    id: RecordId
    chain: str = Field(pattern=rf"^{layout.CHAIN_NAME}$")
    meaning: Literal["authored"]
    title: str = Field(min_length=3, max_length=120)
    classification: Literal[CLASSIFICATIONS]  # type: ignore[valid-type]
    reason: str = Field(min_length=3, max_length=4000)
    requested_by: Principal
    requested_at: UtcDateTime
    previous: Sha256 | None
    digest: Sha256
    state: dict[str, Any]

    @model_validator(mode="after")
    def _consistent(self) -> "Record":
        m = layout.RECORD_ID.match(self.id)
        if m and m["chain"] != self.chain:
            raise ValueError(f"id {self.id} is not a record of chain '{self.chain}'")
        if digests.digest_of(self.state) != self.digest:
            raise ValueError("`digest` is not the digest of `state`")
        if not (self.title.isprintable() and self.title.strip() == self.title):
            raise ValueError("title: one printable line without leading or trailing blanks")
        return self

    @property
    def number(self) -> int:
        return int(self.id[-4:])

    def to_yaml(self) -> str:
        return RECORD_HEADER + strictyaml.dumps(self.model_dump(mode="json"))


class Approval(_Model):
    """The approval of one record, by another person."""

    format: Literal[APPROVAL_FORMAT]  # type: ignore[valid-type]
    record: RecordId
    record_sha256: Sha256
    meaning: Literal["approved"]
    approved_by: Principal
    approved_at: UtcDateTime

    def to_yaml(self) -> str:
        return APPROVAL_HEADER + strictyaml.dumps(self.model_dump(mode="json"))


def validation_message(err: ValidationError) -> str:
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


def _parse(model: type[_Model], data: bytes, where: str, what: str) -> Any:
    doc = strictyaml.loads(data, where)
    if not isinstance(doc, dict):
        raise ValueError(f"not {what} (expected a mapping of its fields)")
    try:
        return model.model_validate(doc)
    except ValidationError as e:
        raise ValueError(f"not a valid {what.removeprefix('an ').removeprefix('a ')}: {validation_message(e)}") from None


def parse_record(data: bytes, where: str) -> Record:
    """The record in a file's bytes; ValueError (with what is wrong) otherwise."""
    return _parse(Record, data, where, "a record")


def parse_approval(data: bytes, where: str) -> Approval:
    return _parse(Approval, data, where, "an approval")


# --------------------------------------------------------------------------------------------
# Installation Qualification: an entry of its own after the record whose deployment it qualifies
# --------------------------------------------------------------------------------------------
QUALIFICATION_FORMAT = "clinspark-iq/1"
QUALIFICATION_APPROVAL_FORMAT = "clinspark-iq-approval/1"
QUALIFICATION_HEADER = ("# Installation Qualification of the state an Environment Change Record approved, written and signed\n"
                        "# by `envctl iq sign` from a passed IQ report; approved by Quality with `envctl iq approve`.\n")
QUALIFICATION_APPROVAL_HEADER = "# Approval of an Installation Qualification, written and signed by `envctl iq approve`.\n"
DOCUMENT_ID = r"^IQ-[a-z0-9-]+-[0-9]{8}T[0-9]{6}Z$"


class Qualification(_Model):
    """A passed IQ of the state one approved record approves, by the person who executed it. It names the record
    and its approval by their SHA-256 (they stay sealed: nothing of them changes) and the report, its PDF and its
    evidence bundle by theirs."""

    format: Literal[QUALIFICATION_FORMAT]  # type: ignore[valid-type]
    record: RecordId
    chain: str = Field(pattern=rf"^{layout.CHAIN_NAME}$")
    meaning: Literal["executed"]
    record_sha256: Sha256
    approval_sha256: Sha256
    digest: Sha256  # the desired state qualified: the record's digest
    document_id: str = Field(pattern=DOCUMENT_ID, max_length=80)
    verdict: Literal["passed"]
    checks: int = Field(ge=1)
    account: str = Field(pattern=r"^[0-9]{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")
    report_sha256: Sha256
    pdf_sha256: Sha256 | None
    evidence_sha256: Sha256
    executed_by: Principal
    executed_at: UtcDateTime

    def to_yaml(self) -> str:
        return QUALIFICATION_HEADER + strictyaml.dumps(self.model_dump(mode="json"))


class QualificationApproval(_Model):
    """Quality's approval of one IQ entry, by another person than who executed it."""

    format: Literal[QUALIFICATION_APPROVAL_FORMAT]  # type: ignore[valid-type]
    record: RecordId
    iq_sha256: Sha256
    meaning: Literal["approved"]
    approved_by: Principal
    approved_at: UtcDateTime

    def to_yaml(self) -> str:
        return QUALIFICATION_APPROVAL_HEADER + strictyaml.dumps(self.model_dump(mode="json"))


def parse_qualification(data: bytes, where: str) -> Qualification:
    return _parse(Qualification, data, where, "an IQ entry")


def parse_qualification_approval(data: bytes, where: str) -> QualificationApproval:
    return _parse(QualificationApproval, data, where, "an IQ approval")
