"""Whose signatures count, and whether a stack's desired state is approved: one answer for all.

**The trust root** is the checkout the checker itself runs from: the directory holding the
``changecontrol`` package that is running. envctl and the policy pack read the signers from it;
the records, waivers, stack files and program they check come from the *checked* directory. When
CI runs envctl and the pack from the protected branch against a candidate checkout, nothing the
candidate's author edits can change whose signatures count. When an engineer runs the tools in
their own working tree, both are the same directory, and the tools say so: that stops accidents,
not a hostile engineer (README, Threat model).

**Signers** are read from the signers chain (``change-records/signers/``): each record carries the
whole allowed-signers text it approves, the first one (the genesis) is signed by two people it
lists, and every later one by a requester and an approver listed in the version before it. The
candidate's chain must extend the trust root's unchanged, and ``signers/allowed_signers`` must be
the latest approved version. CI can pin the genesis with ``ENVCTL_SIGNERS_GENESIS``.

**Example mode** trusts the example keys under ``tests/example`` instead, only for the shipped
example stacks of the example customer, as of the date pinned there, and only when an in-process
caller asks for it (:mod:`changecontrol.runcontext`); every output that relies on it says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from components.phases import StackNameError, parse_stack_name

from . import chain as chains
from . import digest as digests
from . import layout, runcontext, stackfiles, strictyaml
from .chain import Chain, Entry, Signers
from .signers import AllowedSigners, SignersError, parse

GENESIS_ENV = "ENVCTL_SIGNERS_GENESIS"
OWN_ROOT = Path(__file__).resolve().parent.parent


def program_of(directory: Path) -> Path:
    """The Pulumi project whose program deploys the stacks of `directory`: the directory itself when the CLI
    would find a project file there, else (a directory of stack files and their records: a fleet) this
    checkout's project."""
    return Path(directory) if stackfiles.has_project(directory) else OWN_ROOT


# --------------------------------------------------------------------------------------------
# Example mode
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    """The shipped example: its customer and stacks, the date it is checked as of, its keys."""

    directory: Path
    customer: str
    stacks: tuple[str, ...]
    as_of: date
    signers: AllowedSigners

    @property
    def banner(self) -> str:
        rel = layout.EXAMPLE_DIR
        return (f"EXAMPLE MODE: approvals verified with the example keys in {rel}/ (published, so not secret), "
                f"trusted only for the shipped example stacks of customer '{self.customer}'; dates as of "
                f"{self.as_of.isoformat()} (pinned in {rel}/{layout.EXAMPLE_FILE}). Not evidence for any real stack.")


class ExampleError(Exception):
    pass


def load_example(root: Path = OWN_ROOT) -> Example:
    directory = Path(root) / layout.EXAMPLE_DIR
    where = f"{layout.EXAMPLE_DIR}/{layout.EXAMPLE_FILE}"
    try:
        doc = strictyaml.load(directory / layout.EXAMPLE_FILE, where)
        signers = parse((directory / "allowed_signers").read_text(encoding="ascii"),
                        f"{layout.EXAMPLE_DIR}/allowed_signers")
        as_of = date.fromisoformat(str(doc["as_of"]))
        return Example(directory, str(doc["customer"]), tuple(str(s) for s in doc["stacks"]), as_of, signers)
    except (strictyaml.StrictYamlError, SignersError, OSError, KeyError, TypeError, ValueError) as e:
        raise ExampleError(f"the shipped example cannot be used ({where}): {e}") from None


# --------------------------------------------------------------------------------------------
# The trust root and the signers in force
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrustRoot:
    directory: Path
    example: Example | None = None

    @staticmethod
    def own() -> "TrustRoot":
        """The checkout this code runs from, in example mode when the in-process caller says so."""
        return TrustRoot(OWN_ROOT, runcontext.current().example)

    def describe(self, checked: Path) -> str:
        if self.example is not None:
            return self.example.banner
        if _same(self.directory, checked):
            return (f"trust root: {self.directory} (the checker checks the tree it runs from: this stops accidents; "
                    "against a hostile engineer CI runs the checker from the protected branch)")
        return f"trust root: {self.directory} (the checker's own checkout); checked tree: {checked}"


def _same(a: Path, b: Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


@dataclass
class SignersInForce:
    signers: AllowedSigners | None
    source: str
    problems: list[str] = field(default_factory=list)
    chain: Chain | None = None
    earlier: tuple[AllowedSigners, ...] = ()  # every version approved before the one in force

    @property
    def verifier(self) -> Signers | None:
        return Signers(self.signers, self.earlier) if self.signers is not None else None


def _text_of(entry_record) -> str | None:
    state = entry_record.state
    text = state.get("allowed_signers") if state.get("format") == digests.SIGNERS_FORMAT else None
    return text if isinstance(text, str) else None


def signers_version(earlier: list[Entry], entry: Entry) -> tuple[AllowedSigners | None, str]:
    """The signers a record of the signers chain is signed under: the version approved before it
    (the genesis: its own text)."""
    approved = [e for e in earlier if e.approved and e.record is not None]
    source = approved[-1].record if approved else (entry.record if entry.number == 1 else None)
    if source is None:
        return None, "the signers chain's first record (its genesis) is not approved"
    text = _text_of(source)
    if text is None:
        return None, f"{source.id} does not carry an allowed-signers text"
    try:
        return parse(text, f"the signers approved by {source.id}"), ""
    except SignersError as e:
        return None, str(e)


def signers_for_entry(earlier: list[Entry], entry: Entry) -> tuple[Signers | None, str]:
    """The signers chain verifies each record with the version approved before it, and only with that one."""
    version, why = signers_version(earlier, entry)
    return (Signers(version) if version is not None else None), why


def divergence(root: Chain, chain: Chain, what: str) -> list[str]:
    """How `chain` (the checked tree's) fails to extend `root` (the trust root's) unchanged: records of
    the trust root must all be there, byte for byte; approvals and IQ entries it holds may not change."""
    for mine, theirs in zip(root.entries, chain.entries):
        held = ((mine.approval_bytes, theirs.approval_bytes), (mine.qualification_bytes, theirs.qualification_bytes),
                (mine.qualification_approval_bytes, theirs.qualification_approval_bytes))
        if mine.record_bytes != theirs.record_bytes or any(trusted and trusted != checked for trusted, checked in held):
            return [f"the {what} of the checked tree diverge from the trust root's at {mine.id}: records change only "
                    "by new records appended to the trusted chain (and an approval or IQ entry, once there, never "
                    "changes)"]
    if len(chain.entries) < len(root.entries):
        missing = ", ".join(e.id for e in root.entries[len(chain.entries):])
        return [f"the {what} of the checked tree lack {missing}, which the trust root holds: a record is never removed"]
    return []


def signers_chain(directory: Path) -> Chain:
    return chains.load(directory, layout.SIGNERS_CHAIN, signers_for_entry)


def signers_in_force(trust: TrustRoot, checked: Path) -> SignersInForce:
    if trust.example is not None:
        return SignersInForce(trust.example.signers, trust.example.banner)  # no earlier versions
    root = signers_chain(trust.directory)
    chain = root
    problems = [f"signers chain of the trust root: {p}" for p in root.problems]
    if not _same(trust.directory, checked):
        chain = signers_chain(checked)
        problems += [f"signers chain: {p}" for p in chain.problems]
        if not root.entries and chain.entries:
            problems.append(f"the trust root {trust.directory} has no signers chain, so the checked tree's own is "
                            "anchored by nothing: a first signers file takes effect once it is on the protected "
                            "branch the checker runs from")
        problems += divergence(root, chain, "signers records")
    approved = chain.approvals if not problems else []
    if not chain.entries:
        problems.append(f"no signers: {layout.RECORDS_DIR}/{layout.SIGNERS_CHAIN}/ has no records, so no approval "
                        "can be verified; create the team's first signers file (README, 'The first signers file'); "
                        "the shipped example verifies in example mode only (envctl --example ...)")
    elif not approved and not problems:
        problems.append(f"the signers chain has no approved record: approve {chain.entries[0].id}")
    pinned = os.environ.get(GENESIS_ENV)
    if pinned and chain.entries and chain.entries[0].sha256 != pinned:
        problems.append(f"the signers genesis {chain.entries[0].id} is {chain.entries[0].sha256}, not the "
                        f"{pinned} that {GENESIS_ENV} pins")
    if problems:
        return SignersInForce(None, "no signers in force", problems, chain)
    latest = approved[-1]
    assert latest.record is not None
    text = latest.record.state["allowed_signers"]
    signers = parse(text, f"the signers approved by {latest.id}")
    working = Path(checked) / layout.SIGNERS_FILE
    try:
        current = working.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current != text:
        return SignersInForce(None, "no signers in force", [
            f"{layout.SIGNERS_FILE} is not the signers file {latest.id} approves: a changed signers file needs a "
            f"record of the signers chain (envctl ecr new {layout.SIGNERS_CHAIN} ...) approved by a current approver"
        ], chain)
    earlier = tuple(parse(t, "an earlier signers version") for t in
                    dict.fromkeys(_text_of(e.record) for e in approved[:-1] if e.record is not None) if t)
    return SignersInForce(signers, f"signers approved by {latest.id} ({trust.describe(checked)})", [], chain, earlier)


def constant_signers(signers: Signers | None, why: str):
    def signers_for(_earlier: list[Entry], _entry: Entry) -> tuple[Signers | None, str]:
        return signers, why
    return signers_for


def load_chain(checked: Path, name: str, signers: SignersInForce) -> Chain:
    why = "; ".join(signers.problems) or "no signers in force"
    return chains.load(checked, name, constant_signers(signers.verifier, why))


def checkout_root(directory: Path) -> Path | None:
    """The root of the checkout a directory is in: the nearest parent holding `.git` (which CI's clone makes
    and the candidate's content cannot move), else the nearest project, else None."""
    here = Path(directory).resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return stackfiles.project_root(here)


def counterpart(trust: TrustRoot, checked: Path) -> Path:
    """The trust root's copy of a checked directory: the same path inside the trusted checkout (a fleet
    directory `fleet/` of the candidate is `fleet/` of the protected branch); for a directory outside
    any checkout, the trust root itself."""
    root = checkout_root(checked)
    if root is None:
        return Path(trust.directory)
    return Path(trust.directory) / Path(checked).resolve().relative_to(root)


def root_divergence(trust: TrustRoot, checked: Path, name: str, chain: Chain, signers: SignersInForce) -> list[str]:
    """A checked tree's chain must extend the trust root's copy of it, when the trust root holds one (CI's
    protected branch holds every record that was ever approved there). Stacks' chains are compared with
    the same directory of the trusted checkout, the signers and tooling chains with the trust root's own."""
    base = trust.directory if name in layout.SPECIAL_CHAINS else counterpart(trust, checked)
    if _same(base, checked) or not layout.chain_dir(base, name).is_dir():
        return []
    return divergence(load_chain(base, name, signers), chain, f"records of '{name}'")


# --------------------------------------------------------------------------------------------
# Tooling
# --------------------------------------------------------------------------------------------
def tooling_problems(trust: TrustRoot, checked: Path, signers: SignersInForce) -> list[str]:
    """Unapproved tooling: the pack and envctl that run must be approved by a record of the trust root's
    tooling chain; those of the checked project (when it is another checkout) by the latest approved
    record of its own chain, which extends the trust root's."""
    chain = load_chain(checked, layout.TOOLING_CHAIN, signers)
    problems = [f"tooling chain: {p}" for p in chain.problems] if signers.signers is not None else []
    problems += root_divergence(trust, checked, layout.TOOLING_CHAIN, chain, signers)
    fix = (f"a change of the pack or envctl is approved once for the fleet: envctl ecr new {layout.TOOLING_CHAIN} "
           "--title ... --reason ..., then envctl ecr approve it")
    candidate = stackfiles.project_root(checked)
    own = candidate is None or _same(candidate, trust.directory)
    running = chain if own else load_chain(trust.directory, layout.TOOLING_CHAIN, signers)
    try:
        digest = digests.digest_of(digests.tooling_document(trust.directory))
        latest = running.latest_decided
        if own and not (latest is not None and latest.approved and latest.record.digest == digest):
            problems.append(f"unapproved tooling: the policy pack and envctl that run this check ({digest}) are not "
                            f"what the latest approved record of the tooling chain approves; {fix}")
        elif not own and running.approving(digest) is None:
            problems.append(f"unapproved tooling: the policy pack and envctl that run this check ({digest}) are "
                            f"approved by no record of the trust root's tooling chain; {fix}")
    except digests.DigestError as e:
        problems.append(f"the policy pack and envctl that run this check: {e}")
    if not own:
        try:
            digest = digests.digest_of(digests.tooling_document(candidate))
        except digests.DigestError as e:
            problems.append(f"the checked project's tooling: {e}")
        else:
            latest = chain.latest_decided
            if not (latest is not None and latest.approved and latest.record.digest == digest):
                problems.append(f"unapproved tooling: the policy pack and envctl of the checked tree ({digest}) are "
                                f"not what the latest approved record of its tooling chain approves; {fix}")
    return problems


# --------------------------------------------------------------------------------------------
# A stack
# --------------------------------------------------------------------------------------------
@dataclass
class StackVerdict:
    stack: str
    controlled: bool
    digest: str | None = None
    state: dict[str, Any] | None = None
    named: str | None = None  # the record the stack's settings name (change_record)
    approving: Entry | None = None  # the named record, when it approves exactly this state
    problems: list[str] = field(default_factory=list)  # why the state is not approved (each says what to do)
    trust: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def anchor(self) -> dict[str, str | None] | None:
        """What the stack exports so its deployed state anchors the chain."""
        e = self.approving
        if e is None:
            return None
        return {"record": e.id, "recordSha256": e.sha256, "approvalSha256": e.approval_sha256}


def fix_commands(stack: str) -> str:
    return (f"record and approve it: `envctl ecr new {stack} --title ... --reason ... --key <your key>`, then "
            f"`envctl ecr approve <ID> --key <approver's key>` by another person, then set `change_record: <ID>` "
            f"in Pulumi.{stack}.yaml")


def verify_stack(stack: str, project: str, config: Mapping[str, str], secret_keys: tuple[str, ...],
                 program_dir: Path, stacks_dir: Path, trust: TrustRoot, *, tooling: bool = False,
                 environments: tuple[str, ...] = ()) -> StackVerdict:
    """Is the desired state this configuration and program would deploy approved for this stack?"""
    try:
        phase = parse_stack_name(stack).phase
    except StackNameError as e:
        return StackVerdict(stack, True, problems=[str(e)], trust=trust.describe(stacks_dir))
    verdict = StackVerdict(stack, phase.controlled, trust=trust.describe(stacks_dir))
    try:
        verdict.state = digests.state_document(program_dir, stacks_dir, stack, project, config, secret_keys)
        verdict.digest = digests.digest_of(verdict.state)
    except digests.DigestError as e:
        verdict.problems.append(f"the desired state cannot be computed: {e}")
    if not phase.controlled:
        return verdict
    named = config.get(f"{project}:change_record")
    verdict.named = named
    problems = verdict.problems
    if secret_keys:
        problems.append(f"the stack file keeps secret setting(s) {', '.join(sorted(secret_keys))}: a secret's value "
                        "cannot be part of the approved digest, so it could change unapproved; a change-controlled "
                        "stack keeps no secrets in its stack file (deploy credentials come from CI's environment)")
    if environments:
        problems.append(f"the stack file imports Pulumi ESC environment(s) {', '.join(environments)}: their values "
                        "reach the program without being part of the approved desired state; a change-controlled "
                        "stack keeps all of its configuration in its stack file")
    example = trust.example
    if example is not None and (stack not in example.stacks or
                                config.get(f"{project}:customer") not in (example.customer, None)):
        problems.append(f"example mode trusts the example keys only for the shipped example stacks of customer "
                        f"'{example.customer}' ({', '.join(example.stacks)}); check '{stack}' without example mode")
    signers = signers_in_force(trust, stacks_dir)
    problems += signers.problems
    chain = load_chain(stacks_dir, stack, signers)
    if signers.signers is not None:
        problems += [f"change records: {p}" for p in chain.problems]
        problems += root_divergence(trust, stacks_dir, stack, chain, signers)
    if tooling and signers.signers is not None:
        problems += tooling_problems(trust, stacks_dir, signers)
    if verdict.digest is not None and chain.ok and signers.signers is not None:
        entry = chain.get(named) if named else None
        approving = chain.approving(verdict.digest)
        if entry is None:
            which = f"names {named}, which is not a record of this stack" if named else "names no change record"
            problems.append(f"untracked change: stack '{stack}' would apply desired state {verdict.digest}, but its "
                            f"stack file {which}; " + (f"set `change_record: {approving.id}` (it approves this state)"
                                                       if approving else fix_commands(stack)))
        elif not entry.approved and entry.lapsed:
            problems.append(f"untracked change: stack '{stack}' names {named}, which was {entry.lapsed}")
        elif not entry.approved:
            problems.append(f"untracked change: stack '{stack}' would apply desired state {verdict.digest}, but "
                            f"{named} is not approved yet: `envctl ecr approve {named} --key <approver's key>` "
                            "by someone other than its requester")
        elif entry.record is None or entry.record.digest != verdict.digest:
            other = entry.record.digest if entry.record else "?"
            hint = (f"set `change_record: {approving.id}` (it approves this state)" if approving
                    else fix_commands(stack))
            problems.append(f"untracked change: stack '{stack}' would apply desired state {verdict.digest}, but its "
                            f"stack file names {named}, which approves another desired state ({other}); {hint}")
        elif entry.record.state.get("format") != digests.STATE_FORMAT or entry.record.state.get("stack") != stack:
            problems.append(f"{named} approves a document that is not this stack's desired state")
        elif chain.latest_decided is not None and chain.latest_decided.id != entry.id:
            latest = chain.latest_decided
            why = f" (its approval lapsed: {latest.lapsed})" if latest.lapsed else ""
            problems.append(f"untracked change: stack '{stack}' names {named}, but {latest.id} is its latest approved "
                            f"record{why}: going back to an earlier approved state is a change like any other; deploy "
                            f"the state {latest.id} approves, or draft and approve a record for this one (envctl ecr "
                            f"new {stack} ...)")
        else:
            verdict.approving = entry
    elif verdict.digest is not None and not problems:
        problems.append(f"untracked change: stack '{stack}' would apply desired state {verdict.digest}, but its "
                        f"change records do not verify; " + fix_commands(stack))
    if problems and not any(p.startswith("untracked change") for p in problems) and verdict.digest:
        problems.insert(0, f"untracked change: stack '{stack}' would apply desired state {verdict.digest}, which no "
                           f"verified approval covers:")
    return verdict
