"""Where a stack is planned, and whether the checker may run its program at all.

The checker never runs program code nobody approved: unreviewed code, run as the checker's user,
could rewrite the checker, its virtualenv or ``PATH`` before anything is verified. A checked tree's
program is planned:

* in this process, when it is this checkout's program, or byte for byte the same files (this
  process has them loaded already; the program is told which tree it stands for);
* in a child process (:mod:`envctl.planhost`), from a private copy of exactly its files, when the
  stack's own latest approved record approves exactly those files, in a chain that extends the
  trust root's;
* not at all otherwise: the stack is "not planned", and its approval is judged from the files.

A checked tree that brings a virtualenv is refused: CI builds it after the check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from changecontrol import digest as digests
from changecontrol import layout
from changecontrol.stackfiles import StackFileError, read_project
from changecontrol.trust import (
    OWN_ROOT,
    TrustRoot,
    load_chain,
    root_divergence,
    signers_in_force,
)

from . import planhost
from .offline import LocalStacks, StackRun, StackRunError

NOT_REVIEWED = ("the checked tree's program differs from the trust root's and the stack's latest approved record "
                "does not approve it, so the checker does not run it (unreviewed code would run as the checker's "
                "user); draft and approve the state (envctl ecr new {stack} ...), or plan it in your own checkout")


def program_files(directory: Path) -> dict[str, str]:
    return digests.file_hashes(directory, layout.PROGRAM_FILES, layout.PROGRAM_PACKAGES)


def reviewed_for(stack: str, program: dict[str, str], stacks_dir: Path, trust: TrustRoot) -> bool:
    """Whether the stack's own latest approved record approves exactly these program files, in a chain that
    verifies and extends the trust root's copy of it."""
    signers = signers_in_force(trust, stacks_dir)
    if signers.signers is None:
        return False
    chain = load_chain(stacks_dir, stack, signers)
    latest = chain.latest_decided
    return (chain.ok and latest is not None and latest.approved and latest.record is not None
            and latest.record.state.get("program") == program
            and not root_divergence(trust, stacks_dir, stack, chain, signers))


class CheckedTree:
    """Like offline.LocalStacks, for a checked directory whose program is not this checkout's."""

    def __init__(self, program_dir: Path, stacks_dir: Path, options: Any, stacks: list[str]):
        self.program_dir, self.stacks_dir = Path(program_dir), Path(stacks_dir)
        self.options, self.stacks = options, list(stacks)
        self._runs: dict[str, StackRun | StackRunError] | None = None

    def run(self, stack: str) -> StackRun:
        if self._runs is None:
            self._runs = self._plan_all()
        result = self._runs.get(stack) or StackRunError(stack, f"stack '{stack}' was not planned", kind="failed")
        if isinstance(result, StackRunError):
            raise result
        return result

    def _refuse(self, message: str, kind: str) -> dict[str, StackRun | StackRunError]:
        return {s: StackRunError(s, message.format(stack=s), kind=kind) for s in self.stacks}

    def _plan_all(self) -> dict[str, StackRun | StackRunError]:
        if (self.program_dir / layout.VIRTUALENV).exists():
            return self._refuse(f"stack '{{stack}}': the checked tree brings a virtualenv ({layout.VIRTUALENV}/), "
                                "which pulumi up would run the program in: CI builds it fresh from the hash-pinned "
                                "requirements after this check; remove it from the checkout", "invalid")
        try:
            read_project(self.program_dir)
            mine = program_files(self.program_dir)
        except (StackFileError, digests.DigestError) as e:
            return self._refuse(f"stack '{{stack}}': {e}", "invalid")
        if mine == program_files(OWN_ROOT):
            # Byte for byte this checkout's program, loaded here already: planning it here runs the same code,
            # with the checked tree's stack files, records and waivers, standing for the checked tree.
            from dataclasses import replace

            local = LocalStacks(OWN_ROOT, self.stacks_dir, replace(self.options, program_root=self.program_dir))
            runs: dict[str, StackRun | StackRunError] = {}
            for s in self.stacks:
                try:
                    runs[s] = local.run(s)
                except StackRunError as e:
                    runs[s] = e
            return runs
        trust = TrustRoot.own()
        runnable = [s for s in self.stacks if reviewed_for(s, mine, self.stacks_dir, trust)]
        runs = {s: StackRunError(s, f"stack '{s}' was not planned: " + NOT_REVIEWED.format(stack=s),
                                 kind="unreviewed") for s in self.stacks if s not in runnable}
        if runnable:
            runs.update(planhost.plan(self.program_dir, self.stacks_dir, runnable, self.options, OWN_ROOT, mine))
        return runs


def stacks_for(program_dir: Path, stacks_dir: Path, options: Any, stacks: list[str]) -> LocalStacks | CheckedTree:
    """The planner for a run: this checkout's program in this process, any other through CheckedTree."""
    if Path(program_dir).resolve() == OWN_ROOT.resolve():
        return LocalStacks(program_dir, stacks_dir, options)
    return CheckedTree(program_dir, stacks_dir, options, stacks)


def plan_all(program_dir: Path, stacks_dir: Path, options: Any, stacks: list[str],
             progress: Any = None) -> list[tuple[str, StackRun | None, StackRunError | None]]:
    """Plan each stack (`envctl plan`); a stack that fails carries its error instead of a run. `progress`
    (envctl.progress.Progress) reports "stack n of N" on a terminal."""
    local = stacks_for(program_dir, stacks_dir, options, list(stacks))
    results: list[tuple[str, StackRun | None, StackRunError | None]] = []
    if progress is not None:
        progress.start(len(stacks))
    try:
        for stack in stacks:
            try:
                results.append((stack, local.run(stack), None))
            except StackRunError as e:
                results.append((stack, None, e))
            if progress is not None:
                progress.advance()
    finally:
        if progress is not None:
            progress.finish()
    return results
