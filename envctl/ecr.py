"""Environment Change Records for envctl: draft and sign, approve and sign, verify, list.

The records, their signatures and their verification are changecontrol's (records, chain, trust);
this module is what an engineer does with them. Three kinds of chain, one workflow:

* a stack's chain approves its desired state (``envctl ecr new prod ...``);
* the ``tooling`` chain approves the policy pack and envctl, once for the whole fleet;
* the ``signers`` chain approves the signers file itself, signed by people it already lists.

Identity is a key, never a typed name: the requester and the approver are whoever the signers file
lists for the key that signed (``--key``), and they must be two different keys.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from changecontrol import chain as chains
from changecontrol import digest as digests
from changecontrol import layout, sshsig
from changecontrol.records import (
    APPROVAL_FORMAT,
    CLASSIFICATIONS,
    RECORD_FORMAT,
    Approval,
    Record,
    utc_text,
    validation_message,
)
from changecontrol.signers import AllowedSigners, SignersError, parse
from changecontrol.trust import (
    SignersInForce,
    TrustRoot,
    load_chain,
    root_divergence,
    signers_chain,
    signers_in_force,
    signers_version,
)
from components import tokens
from components.phases import StackNameError, parse_stack_name
from components.settings import load_settings
from components.tokens import ENVIRONMENT_KEYS as ENV_KEYS

from . import stackfile
from .errors import UsageError

KEY_ENV = "ENVCTL_SIGNING_KEY"
DEFAULT_KEY = Path("~/.ssh/id_ed25519")


class EcrError(UsageError):
    """A refused request (the message says why and what to do instead): exit 2."""


class UnknownStack(EcrError):
    def __init__(self, stack: str, known: list[str], stacks_dir: Path):
        self.stack = stack
        self.known = known
        super().__init__(f"no stack file Pulumi.{stack}.yaml in {stacks_dir}; stacks there: {', '.join(known) or 'none'}"
                         f"; chains of their own: {', '.join(layout.SPECIAL_CHAINS)}")


def signing_key(key: Path | None) -> Path:
    if key is not None:
        return Path(key).expanduser()
    env = os.environ.get(KEY_ENV)
    return Path(env).expanduser() if env else DEFAULT_KEY.expanduser()


def chains_present(stacks_dir: Path) -> list[str]:
    base = Path(stacks_dir) / layout.RECORDS_DIR
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def chain_kind(stacks_dir: Path, chain: str) -> str:
    """'stack', 'tooling' or 'signers'; UnknownStack for a name that is none of them."""
    if chain in layout.SPECIAL_CHAINS:
        return chain
    known = stackfile.discover(stacks_dir)
    if chain not in known:
        raise UnknownStack(chain, known, Path(stacks_dir))
    return "stack"


# --------------------------------------------------------------------------------------------
# What a chain would approve now
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Current:
    digest: str
    state: dict[str, Any]


def current(stacks_dir: Path, chain: str, today: date) -> Current:
    """The document a new record of `chain` would approve: the stack's desired state, the tooling,
    or the signers file as it is in the working tree."""
    stacks_dir = Path(stacks_dir)
    kind = chain_kind(stacks_dir, chain)
    try:
        if kind == layout.TOOLING_CHAIN:
            state = digests.tooling_document(stacks_dir)
        elif kind == layout.SIGNERS_CHAIN:
            path = stacks_dir / layout.SIGNERS_FILE
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise EcrError(f"{layout.SIGNERS_FILE}: cannot be read ({e}); write the signers file first") from None
            try:
                parse(text)
            except SignersError as e:
                raise EcrError(str(e)) from None
            state = digests.signers_document(text)
        else:
            project = stackfile.project_name(stackfile.program_dir(stacks_dir))
            sf = stackfile.read(stacks_dir, chain, project)
            settings = load_settings(chain, project, sf.config, today=today, source=sf.path.name)
            if not settings.phase_spec.controlled:
                raise EcrError(f"stack '{chain}' (phase {settings.phase}) is not change-controlled: uncontrolled stacks "
                               "need no ECR, run pulumi up directly")
            state = digests.state_document(stackfile.program_dir(stacks_dir), stacks_dir, chain, project, sf.config,
                                           sf.secret_keys)
    except digests.DigestError as e:
        raise EcrError(f"the desired state of '{chain}' cannot be computed: {e}") from None
    return Current(digests.digest_of(state), state)


# --------------------------------------------------------------------------------------------
# Who signs
# --------------------------------------------------------------------------------------------
def _signers_for_new(stacks_dir: Path, chain: str, trust: TrustRoot) -> tuple[AllowedSigners | None, str]:
    """The signers a new record or approval of `chain` is signed under."""
    if chain == layout.SIGNERS_CHAIN and trust.example is None:
        signers = signers_chain(stacks_dir)
        entries = signers.entries
        pending = entries[-1] if entries and not entries[-1].approved else None
        if pending is not None:
            return signers_version(entries[:-1], pending)
        if entries:
            return signers_version(entries, chains.Entry(len(entries) + 1, ""))
        return None, "no signers record yet"
    found: SignersInForce = signers_in_force(trust, stacks_dir)
    return found.signers, "; ".join(found.problems)


def principal_of(signers: AllowedSigners | None, why: str, key: Path, namespace: str, role: str) -> str:
    public = sshsig.public_key(key)
    if signers is None:
        raise EcrError(f"no signers in force: {why}")
    signer = signers.by_key(public)
    if signer is None:
        raise EcrError(f"the key {key} ({sshsig.fingerprint(public)}) is not in the signers file in force: only "
                       f"people it lists may {role}")
    if not signer.may(namespace):
        raise EcrError(f"{signer.principal} may not {role}: their line of the signers file lacks namespace "
                       f"{namespace}")
    return signer.principal


def write_signed(path: Path, text: str, key: Path, namespace: str) -> None:
    """Write `text` and its signature beside it, both new files; nothing is left behind on failure."""
    data = text.encode("utf-8")
    signature = sshsig.sign(key, namespace, data)
    sig_path = path.with_name(path.name + ".sig")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("xb") as f:
            f.write(data)
    except FileExistsError:
        raise EcrError(f"{path.name} exists already (written meanwhile?): run envctl ecr verify and try again") from None
    try:
        with sig_path.open("xb") as f:
            f.write(signature)
    except OSError:
        path.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------
# Draft and approve
# --------------------------------------------------------------------------------------------
def draft(stacks_dir: Path, chain: str, title: str, reason: str, classification: str, key: Path, trust: TrustRoot,
          now: datetime) -> Record:
    """Append a record approving what `chain` would approve now, signed by its requester's key."""
    stacks_dir = Path(stacks_dir)
    if classification not in CLASSIFICATIONS:
        raise EcrError(f"classification '{classification}' unknown; accepted: {', '.join(CLASSIFICATIONS)}")
    kind = chain_kind(stacks_dir, chain)
    if kind == "stack":
        try:
            parse_stack_name(chain)
        except StackNameError as e:
            raise EcrError(str(e)) from None
    state = current(stacks_dir, chain, now.date())
    if kind == layout.SIGNERS_CHAIN:
        existing = signers_chain(stacks_dir)
    else:
        existing = load_chain(stacks_dir, chain, signers_in_force(trust, stacks_dir))
    if not existing.ok:
        raise EcrError("\n".join([f"the records of '{chain}' do not verify; nothing is drafted on a broken chain:"]
                                 + [f"  - {p}" for p in existing.problems]))
    latest = existing.latest_decided
    already = latest if latest is not None and latest.approved and latest.record is not None \
        and latest.record.digest == state.digest else None
    if already is not None and already.approval is not None:
        raise EcrError(f"{already.id} (approved by {already.approval.approved_by} at "
                       f"{utc_text(already.approval.approved_at)}) is the latest approved record and approves exactly "
                       f"this state {state.digest}: no new record is needed")
    last = existing.last
    if last is not None and last.approval is None and last.record is not None and last.record.digest == state.digest:
        raise EcrError(f"{last.id} (requested by {last.record.requested_by}) is pending and names exactly this state "
                       f"{state.digest}: have it approved: envctl ecr approve {last.id} --key <approver's key>")
    number = (last.number if last else 0) + 1
    if number > 9999:
        raise EcrError(f"'{chain}' has 9999 records; ids have four digits")
    if kind == layout.SIGNERS_CHAIN and number == 1:
        signers, why = parse(state.state["allowed_signers"]), ""  # the genesis: signed by people it lists
    else:
        signers, why = _signers_for_new(stacks_dir, chain, trust)
    requester = principal_of(signers, why, key, layout.AUTHORED, "author records")
    rid = layout.record_id(chain, number)
    try:
        record = Record(format=RECORD_FORMAT, id=rid, chain=chain, meaning="authored", title=title, reason=reason,
                        classification=classification, requested_by=requester, requested_at=now,
                        previous=last.sha256 if last else None, digest=state.digest, state=state.state)
    except ValidationError as e:
        raise EcrError(f"record refused: {validation_message(e)}") from None
    path = layout.chain_dir(stacks_dir, chain) / layout.record_files(rid)["record"]
    write_signed(path, record.to_yaml(), key, layout.AUTHORED)
    return record


def approve(stacks_dir: Path, record_id: str, key: Path, trust: TrustRoot, now: datetime) -> Approval:
    """Approve the last, pending record of its chain, signed by an approver who is not its requester."""
    stacks_dir = Path(stacks_dir)
    m = layout.RECORD_ID.match(record_id)
    if m is None:
        raise EcrError(f"'{record_id}' is not a record id: expected ASCII ECR-<stack>-NNNN, such as ECR-prod-0002")
    chain = m["chain"]
    chain_kind(stacks_dir, chain)
    existing = (signers_chain(stacks_dir) if chain == layout.SIGNERS_CHAIN
                else load_chain(stacks_dir, chain, signers_in_force(trust, stacks_dir)))
    entry = existing.get(record_id)
    if entry is None or entry.record is None:
        ids = ", ".join(e.id for e in existing.entries) or "none"
        raise EcrError(f"no record {record_id} in {layout.RECORDS_DIR}/{chain}/; records of '{chain}': {ids}")
    if not existing.ok:
        raise EcrError("\n".join([f"the records of '{chain}' do not verify; nothing is approved on a broken chain:"]
                                 + [f"  - {p}" for p in existing.problems]))
    if entry.approval is not None:
        raise EcrError(f"{record_id} was already approved by {entry.approval.approved_by} at "
                       f"{utc_text(entry.approval.approved_at)}; an approval is never changed: a new state needs a "
                       "new record (envctl ecr new)")
    last = existing.last
    assert last is not None
    if entry.id != last.id:
        raise EcrError(f"{record_id} is not the last record of '{chain}' ({last.id} is): a superseded record stays "
                       f"unapproved; approve {last.id} if it names the state you mean, or draft a new record")
    if chain == layout.SIGNERS_CHAIN and trust.example is None:
        signers, why = signers_version(existing.entries[:-1], entry)
    else:
        signers, why = _signers_for_new(stacks_dir, chain, trust)
    approver = principal_of(signers, why, key, layout.APPROVED, "approve records")
    if approver == entry.record.requested_by:
        raise EcrError(f"{approver} requested {record_id} and may not approve it: approval needs a second person with "
                       "another key")
    if now < entry.record.requested_at:
        raise EcrError(f"approval time {utc_text(now)} is before the request time {utc_text(entry.record.requested_at)}:"
                       " check the clock")
    approval = Approval(format=APPROVAL_FORMAT, record=record_id, record_sha256=entry.sha256, meaning="approved",
                        approved_by=approver, approved_at=now)
    path = layout.chain_dir(stacks_dir, chain) / layout.record_files(record_id)["approval"]
    write_signed(path, approval.to_yaml(), key, layout.APPROVED)
    return approval


# --------------------------------------------------------------------------------------------
# Verify and list
# --------------------------------------------------------------------------------------------
def load(stacks_dir: Path, chain: str, trust: TrustRoot) -> tuple[chains.Chain, list[str]]:
    """A chain as verification sees it, and the problems of the signers it was verified with."""
    if chain == layout.SIGNERS_CHAIN and trust.example is None:
        found = signers_in_force(trust, stacks_dir)
        return (found.chain or signers_chain(stacks_dir)), [p for p in found.problems]
    found = signers_in_force(trust, stacks_dir)
    loaded = load_chain(stacks_dir, chain, found)
    return loaded, list(found.problems) + root_divergence(trust, stacks_dir, chain, loaded, found)


def deployed_anchor(export: Any) -> dict[str, Any] | None:
    """The `approval` a `pulumi stack export` file says the stack was last deployed with."""
    resources = ((export or {}).get("deployment") or {}).get("resources") or []
    for res in resources:
        if res.get("type") == tokens.ENVIRONMENT:
            anchor = (res.get("outputs") or {}).get(ENV_KEYS.approval)
            if isinstance(anchor, dict):
                return anchor
    for res in resources:
        if res.get("type") == tokens.STACK:
            anchor = (res.get("outputs") or {}).get(ENV_KEYS.approval)
            if isinstance(anchor, dict):
                return anchor
    return None


def anchor_problems(chain: chains.Chain, anchor: dict[str, Any] | None, where: str) -> list[str]:
    """Does the chain still hold the record the deployed state says it was deployed under?"""
    if anchor is None:
        return [f"{where}: the exported state names no approval (deployed before approvals were anchored, or not "
                "an export of this project's program)"]
    entry = chain.get(str(anchor.get("record")))
    if entry is None:
        return [f"{where}: the deployed state was approved by {anchor.get('record')}, which the chain no longer holds "
                "(removed)"]
    problems = []
    if entry.sha256 != anchor.get("recordSha256"):
        problems.append(f"{where}: {entry.id} is not the record that was deployed: its SHA-256 is {entry.sha256}, the "
                        f"deployed state recorded {anchor.get('recordSha256')} (replaced after the deployment)")
    if entry.approval_sha256 != anchor.get("approvalSha256"):
        problems.append(f"{where}: the approval of {entry.id} is not the one that was deployed (SHA-256 "
                        f"{entry.approval_sha256}, deployed {anchor.get('approvalSha256')})")
    return problems


def changed_keys(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """What changed between two approved documents: settings, files and waivers, by name."""
    if before is None:
        return ["(first record)"]
    changes = []
    for section in sorted(set(before) | set(after)):
        a, b = before.get(section), after.get(section)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += [f"{section}: {k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            changes.append(section)
    return changes
