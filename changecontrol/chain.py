"""A chain of records, read and verified: every file named as it must be, every signature good.

One chain per stack (and one for the signers file, one for the tooling), in
``change-records/<chain>/``, numbered ``0001``, ``0002``, ... without gaps. Verification finds:

* a file that is not one of the four files of a numbered record (a decoy, a look-alike name);
* a record removed (a gap), renamed, filed under another chain, or not linked to the one before
  (its ``previous`` is not the SHA-256 of the previous record's file);
* a record or approval that is not plain strict YAML, or whose fields are inconsistent;
* a signature that does not verify with the signers in force: an edited record (its requester's
  signature breaks), a forged approval, an approval by the requester or by someone whose line of
  the signers file does not allow approving.

Rewriting history therefore needs the keys of everyone who signed it. A chain with any problem
approves nothing (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import layout, sshsig
from .digest import sha256_bytes
from .records import (
    Approval,
    Qualification,
    QualificationApproval,
    Record,
    parse_approval,
    parse_qualification,
    parse_qualification_approval,
    parse_record,
    utc_text,
)
from .signers import AllowedSigners

_RESTORE = "restore it from version control (git log -p -- {path})"


@dataclass(frozen=True)
class Problem:
    chain: str
    path: str  # relative to the project directory
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} (what to do: {self.fix})"


@dataclass
class Entry:
    number: int
    id: str
    record: Record | None = None
    record_bytes: bytes = b""
    approval: Approval | None = None
    approval_bytes: bytes = b""
    approved: bool = False  # an approval whose signature, hash and approver all verify, by people listed now
    lapsed: str = ""  # why a verified approval no longer counts (a signer since removed from the signers file)
    # Installation Qualification of the state it approves: the entry by who executed it, Quality's approval
    qualification: Qualification | None = None
    qualification_bytes: bytes = b""
    qualification_approval: QualificationApproval | None = None
    qualification_approval_bytes: bytes = b""
    qualified: bool = False  # a passed IQ, executed and approved, both signatures by people listed now

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.record_bytes)

    @property
    def approval_sha256(self) -> str | None:
        return sha256_bytes(self.approval_bytes) if self.approval_bytes else None


@dataclass
class Chain:
    name: str
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def last(self) -> Entry | None:
        return self.entries[-1] if self.entries else None

    def get(self, record_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == record_id), None)

    @property
    def approvals(self) -> list[Entry]:
        """Approved records, oldest first; none at all while the chain does not verify."""
        return [e for e in self.entries if e.approved] if self.ok else []

    @property
    def latest_decided(self) -> Entry | None:
        """The last record that was approved, whether its approval still counts or has lapsed: the state in
        force. Nothing falls back to an earlier record when a later approval lapses."""
        decided = [e for e in self.entries if e.approved or e.lapsed] if self.ok else []
        return decided[-1] if decided else None

    def approving(self, digest: str) -> Entry | None:
        found = [e for e in self.approvals if e.record is not None and e.record.digest == digest]
        return found[-1] if found else None


@dataclass(frozen=True)
class Signers:
    """Whose signatures count for one record: the signers in force now (an approval counts only when its
    approver and the record's requester are listed there), and every earlier approved version (a
    signature by someone no longer listed still proves the record was not rewritten)."""

    current: AllowedSigners
    earlier: tuple[AllowedSigners, ...] = ()

    def verifies(self, principal: str, namespace: str, message: bytes, signature: bytes) -> str | None:
        """'current', 'earlier' (only an earlier version lists the key) or None (no version does)."""
        for kind, versions in (("current", (self.current,)), ("earlier", self.earlier)):
            for signers in versions:
                signer = signers.by_principal(principal)
                if signer is not None and signer.may(namespace) and \
                        sshsig.verify(signers.text, principal, namespace, message, signature):
                    return kind
        return None


# signers_for(earlier entries, this entry) -> (the signers its signatures are verified with, or None
# with the reason they are not available)
SignersFor = Callable[[list[Entry], Entry], "tuple[Signers | None, str]"]


def _rel(directory: Path, path: Path) -> str:
    try:
        return path.relative_to(directory).as_posix()
    except ValueError:
        return str(path)


def load(directory: Path, name: str, signers_for: SignersFor) -> Chain:
    """Read and verify one chain (no directory: an empty chain, which approves nothing)."""
    directory = Path(directory)
    chain = Chain(name)
    where = layout.chain_dir(directory, name)
    if not where.is_dir():
        return chain

    def problem(path: Path | str, message: str, fix: str) -> None:
        rel = path if isinstance(path, str) else _rel(directory, path)
        chain.problems.append(Problem(name, rel, message, fix))

    files: dict[int, dict[str, Path]] = {}
    for path in sorted(where.iterdir(), key=lambda p: p.name):
        if path.name.startswith("."):
            continue  # never read: editors' and our own temporary files
        m = layout.RECORD_FILE.match(path.name)
        if m is None or m["chain"] != name or path.is_symlink() or not path.is_file():
            problem(path, f"unexpected entry in the records of '{name}': only the files of records (ASCII names "
                          f"ECR-{name}-NNNN.yaml, .approval.yaml, .iq.yaml, .iq.approval.yaml and their .sig) belong "
                          "here",
                    f"move it out of {layout.RECORDS_DIR}/{name}/; it approves nothing")
            continue
        kind = layout.RECORD_FILE_KINDS[m["kind"]]
        files.setdefault(int(m["number"]), {})[kind] = path

    expected = 1
    for number in sorted(files):
        rid = layout.record_id(name, number)
        if number != expected:
            missing = ", ".join(layout.record_id(name, n) for n in range(expected, number))
            problem(f"{layout.RECORDS_DIR}/{name}/{rid}.yaml", f"{missing} missing before it: a record was removed",
                    f"restore the removed record (git log --diff-filter=D --name-only -- {layout.RECORDS_DIR}/{name}/)")
        expected = number + 1
        entry = Entry(number, rid)
        _verify_entry(directory, chain, entry, files[number], signers_for, problem)
        chain.entries.append(entry)
    return chain


def _verify_entry(directory: Path, chain: Chain, entry: Entry, files: dict[str, Path], signers_for: SignersFor,
                  problem) -> None:
    name, rid = chain.name, entry.id
    path = files.get("record")
    if path is None:
        problem(f"{layout.RECORDS_DIR}/{name}/{rid}.yaml", "the record file is missing (only its other files exist)",
                _RESTORE.format(path=f"{layout.RECORDS_DIR}/{name}/{rid}.yaml"))
        return
    restore = _RESTORE.format(path=_rel(directory, path))
    entry.record_bytes = path.read_bytes()
    try:
        record = parse_record(entry.record_bytes, _rel(directory, path))
    except ValueError as e:
        problem(path, str(e), f"{restore}; records are written only by envctl ecr new")
        return
    entry.record = record
    if record.id != rid or record.chain != name:
        problem(path, f"the file holds {record.id} of chain '{record.chain}': renamed, or filed under another chain "
                      "(a record never approves another chain)", restore)
        return
    before = chain.entries[-1] if chain.entries else None
    want = before.sha256 if before is not None and before.record_bytes else None
    if entry.number == 1 and record.previous is not None:
        problem(path, "the first record names a previous record", restore)
    elif entry.number > 1 and record.previous != want:
        problem(path, f"previous is {record.previous}, but the record before it has {want}: the chain was altered "
                      "before this record, or this record was made for another chain", restore)

    if before is not None and before.record is not None and record.requested_at < before.record.requested_at:
        problem(path, f"requested at {utc_text(record.requested_at)}, before the record it follows "
                      f"({utc_text(before.record.requested_at)}): times only move forward along a chain", restore)

    signers, why = signers_for(chain.entries, entry)
    if signers is None:
        problem(path, f"cannot be verified: {why}", "see the signers file (README, Change control)")
        return
    sig = files.get("record_sig")
    authored = None
    if sig is None:
        problem(path, "no signature (.yaml.sig): an unsigned record approves nothing", restore)
    else:
        authored = signers.verifies(record.requested_by, layout.AUTHORED, entry.record_bytes, sig.read_bytes())
        if authored is None:
            problem(path, f"the requester's signature does not verify: the record was changed after "
                          f"{record.requested_by} signed it, the signature is not theirs, or they were never allowed "
                          "to author records", restore)

    _verify_approval(directory, entry, files, signers, authored, restore, problem)
    _verify_qualification(directory, chain, entry, files, signers, problem)


def _verify_approval(directory: Path, entry: Entry, files: dict[str, Path], signers: Signers, authored: str | None,
                     restore: str, problem) -> None:
    """The approval beside a verified record: of exactly that record, by another person, after it was requested,
    signed by a listed approver; `entry.approved` (or `lapsed`) when it counts."""
    record, rid = entry.record, entry.id
    assert record is not None
    apath, asig = files.get("approval"), files.get("approval_sig")
    if apath is None and asig is None:
        return
    if apath is None or asig is None:
        problem(apath or asig, "an approval needs both its statement and its signature", restore)
        return
    entry.approval_bytes = apath.read_bytes()
    arestore = _RESTORE.format(path=_rel(directory, apath))
    try:
        approval = parse_approval(entry.approval_bytes, _rel(directory, apath))
    except ValueError as e:
        problem(apath, str(e), f"{arestore}; approvals are written only by envctl ecr approve")
        return
    entry.approval = approval
    checks = [
        (approval.record == rid, f"approves {approval.record}, not {rid}"),
        (approval.record_sha256 == entry.sha256, "approves other content than the record beside it: the record "
                                                 "was replaced after its approval"),
        (approval.approved_by != record.requested_by, f"approved by its own requester {record.requested_by}: "
                                                      "approval needs a second person with another key"),
        (approval.approved_at >= record.requested_at,
         f"approved at {utc_text(approval.approved_at)}, before it was requested ({utc_text(record.requested_at)})"),
    ]
    failed = [why for ok, why in checks if not ok]
    if failed:
        problem(apath, "; ".join(failed), arestore)
        return
    approved = signers.verifies(approval.approved_by, layout.APPROVED, entry.approval_bytes, asig.read_bytes())
    if approved is None:
        problem(apath, f"the approver's signature does not verify: the approval was changed after "
                       f"{approval.approved_by} signed it, the signature is not theirs, or they were never allowed "
                       "to approve", arestore)
        return
    if approved == "current" and authored == "current":
        entry.approved = True
    else:
        gone = approval.approved_by if approved != "current" else record.requested_by
        entry.lapsed = (f"signed by {gone}, who is no longer in the signers file: it approves nothing any more; "
                        "have the state approved again by people listed now")


def _verify_qualification(directory: Path, chain: Chain, entry: Entry, files: dict[str, Path], signers: Signers,
                          problem) -> None:
    """The IQ entry after an approved record: of exactly that record and approval (which stay sealed), of the
    state it approves, after it was approved, signed by who executed it; and Quality's approval of exactly that
    entry, by another person. A broken one is a problem of the chain (fail closed), like a broken record."""
    ipath, isig = files.get("iq"), files.get("iq_sig")
    qpath, qsig = files.get("iq_approval"), files.get("iq_approval_sig")
    if not (ipath or isig or qpath or qsig):
        return
    record, approval = entry.record, entry.approval
    assert record is not None
    anchor = ipath or isig or qpath or qsig
    restore = _RESTORE.format(path=_rel(directory, anchor))
    if approval is None or not (entry.approved or entry.lapsed):
        problem(anchor, f"qualifies {entry.id}, which is not approved: only the deployment of an approved record is "
                        "qualified", restore)
        return
    if ipath is None or isig is None:
        problem(anchor, "an IQ entry needs both its statement (.iq.yaml) and its signature (.iq.yaml.sig)", restore)
        return
    entry.qualification_bytes = ipath.read_bytes()
    try:
        iq = parse_qualification(entry.qualification_bytes, _rel(directory, ipath))
    except ValueError as e:
        problem(ipath, str(e), f"{restore}; IQ entries are written only by envctl iq sign")
        return
    entry.qualification = iq
    checks = [
        (iq.record == entry.id and iq.chain == chain.name, f"qualifies {iq.record} of '{iq.chain}', not {entry.id}"),
        (iq.record_sha256 == entry.sha256, "names other content than the record beside it"),
        (iq.approval_sha256 == entry.approval_sha256, "names another approval than the one beside the record"),
        (iq.digest == record.digest, f"qualifies state {iq.digest}, not the state {record.digest} the record approves"),
        (iq.executed_at >= approval.approved_at, f"executed at {utc_text(iq.executed_at)}, before the record was "
                                                 f"approved ({utc_text(approval.approved_at)})"),
    ]
    failed = [why for ok, why in checks if not ok]
    if failed:
        problem(ipath, "; ".join(failed), restore)
        return
    executed = signers.verifies(iq.executed_by, layout.IQ_EXECUTED, entry.qualification_bytes, isig.read_bytes())
    if executed is None:
        problem(ipath, f"the executor's signature does not verify: the entry was changed after {iq.executed_by} "
                       "signed it, the signature is not theirs, or they may not sign IQ executions", restore)
        return
    if qpath is None and qsig is None:
        return  # executed, awaiting Quality's approval
    if qpath is None or qsig is None:
        problem(qpath or qsig, "an IQ approval needs both its statement and its signature", restore)
        return
    entry.qualification_approval_bytes = qpath.read_bytes()
    qrestore = _RESTORE.format(path=_rel(directory, qpath))
    try:
        qa = parse_qualification_approval(entry.qualification_approval_bytes, _rel(directory, qpath))
    except ValueError as e:
        problem(qpath, str(e), f"{qrestore}; IQ approvals are written only by envctl iq approve")
        return
    entry.qualification_approval = qa
    checks = [
        (qa.record == entry.id, f"approves the IQ of {qa.record}, not of {entry.id}"),
        (qa.iq_sha256 == sha256_bytes(entry.qualification_bytes), "approves other content than the IQ entry beside "
                                                                  "it: the entry was replaced after its approval"),
        (qa.approved_by != iq.executed_by, f"approved by {iq.executed_by}, who executed it: the IQ is approved by a "
                                           "second person"),
        (qa.approved_at >= iq.executed_at, f"approved at {utc_text(qa.approved_at)}, before it was executed "
                                           f"({utc_text(iq.executed_at)})"),
    ]
    failed = [why for ok, why in checks if not ok]
    if failed:
        problem(qpath, "; ".join(failed), qrestore)
        return
    approved = signers.verifies(qa.approved_by, layout.IQ_APPROVED, entry.qualification_approval_bytes,
                                qsig.read_bytes())
    if approved is None:
        problem(qpath, f"the IQ approver's signature does not verify: the approval was changed after "
                       f"{qa.approved_by} signed it, the signature is not theirs, or they may not approve IQs", qrestore)
        return
    entry.qualified = entry.approved and executed == "current" and approved == "current"
