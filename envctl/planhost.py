"""Plan a checked tree's own program in a process of its own: the offline engine is the checker's.

When envctl checks a tree that is not its own checkout (CI's checker from the protected branch
against a candidate, or a copy), the program to plan is the tree's: its ``components`` and
``changecontrol``, not envctl's. Both are called the same, so they cannot share a process. The
child imports the checker's offline engine first, forgets the checker's program modules, puts the
checked tree first on the import path and runs its ``__main__.py``; the results come back as JSON
(never pickle: the child ran code from the checked tree).

What the checked program does in the child cannot change what the checker computes from the files
(the digest, the signatures): it can only make its own offline plan wrong, which the real engine
with the trusted pack judges again at ``pulumi up``.

Run as ``python -P -m envctl.planhost REQUEST RESULT`` (``-P``: the working directory is not put
on the import path).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

_PROGRAM_MODULES = ("components", "changecontrol", "policies")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def plan(program_dir: Path, stacks_dir: Path, stacks: list[str], options: Any, checker_root: Path) -> dict[str, Any]:
    """Plan `stacks` with the program of `program_dir` in a child process; stack -> StackRun or StackRunError."""
    from .mocks import Registration
    from .offline import StackRun, StackRunError

    request = {"program_dir": str(program_dir), "stacks_dir": str(stacks_dir), "stacks": list(stacks),
               "now": options.now.isoformat() if options.now else None, "example": options.example is not None,
               "review_only": options.review_only, "checker_root": str(checker_root)}
    with tempfile.TemporaryDirectory(prefix="envctl-plan-") as tmp:
        req, res = Path(tmp) / "request.json", Path(tmp) / "result.json"
        req.write_text(json.dumps(request))
        done = subprocess.run([sys.executable, "-P", "-m", "envctl.planhost", str(req), str(res)],
                              env=_child_environment(checker_root, Path(tmp)), cwd=tmp, capture_output=True,
                              text=True, timeout=1800, check=False)
        try:
            result = json.loads(res.read_text())
        except (OSError, ValueError):
            why = (done.stderr or done.stdout).strip().splitlines()[-3:]
            message = f"the program of {program_dir} could not be planned: " + (" / ".join(why) or "no output")
            return {s: StackRunError(s, message, kind="failed") for s in stacks}
    runs: dict[str, Any] = {}
    stray = result.get("foreign_modules") or []
    for stack in stacks:
        item = result["stacks"].get(stack) or {"error": "not planned", "kind": "failed"}
        if stray:
            runs[stack] = StackRunError(stack, f"stack '{stack}': the program imported module(s) outside its "
                                               f"packages ({', '.join(stray)}): what they do is not part of the "
                                               "approved program; move it into components/", kind="invalid")
        elif "error" in item:
            runs[stack] = StackRunError(stack, item["error"], kind=item["kind"], registered=item.get("registered", 0))
        else:
            regs = [Registration(**r) for r in item["registrations"]]
            runs[stack] = StackRun(stack=item["stack"], project=item["project"], path=Path(item["path"]),
                                   registrations=regs, outputs=item["outputs"],
                                   secret_outputs=set(item["secret_outputs"]), warnings=item["warnings"])
    return runs


def _child_environment(checker_root: Path, tmp: Path) -> dict[str, str]:
    """Nothing of the caller's environment but what Python needs: no cloud or backend credentials, no
    PATH a program could have extended, a home of its own."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "LANG": "C.UTF-8", "PYTHONPATH": str(checker_root),
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}


def _child(request_path: str, result_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    from changecontrol.trust import load_example  # the checker's: read before its modules are forgotten

    from . import offline  # the checker's engine; it keeps its own references to what it imported

    example = load_example(Path(request["checker_root"])) if request["example"] else None
    for name in list(sys.modules):
        if name.split(".")[0] in _PROGRAM_MODULES:
            del sys.modules[name]
    program_dir = Path(request["program_dir"]).resolve()
    sys.path.insert(0, str(program_dir))
    sys.dont_write_bytecode = True  # and PYTHONPYCACHEPREFIX: the checked tree's __pycache__ is never read
    options = offline.RunOptions(now=datetime.fromisoformat(request["now"]) if request["now"] else None,
                                 example=example, review_only=request["review_only"])
    local = offline.LocalStacks(program_dir, Path(request["stacks_dir"]), options)
    stacks: dict[str, Any] = {}
    for stack in request["stacks"]:
        try:
            run = local.run(stack)
        except offline.StackRunError as e:
            stacks[stack] = {"error": str(e), "kind": e.kind, "registered": e.registered}
            continue
        stacks[stack] = _jsonable({"stack": run.stack, "project": run.project, "path": str(run.path),
                                   "registrations": [asdict(r) for r in run.registrations], "outputs": run.outputs,
                                   "secret_outputs": sorted(run.secret_outputs), "warnings": run.warnings})
    foreign = sorted({name.split(".")[0] for name, module in list(sys.modules.items())
                      if _inside(getattr(module, "__file__", None), program_dir)
                      and name.split(".")[0] not in ("components", "changecontrol", "__main__")})
    Path(result_path).write_text(json.dumps({"stacks": stacks, "foreign_modules": foreign}))
    return 0


def _inside(path: str | None, root: Path) -> bool:
    if not path:
        return False
    try:
        Path(path).resolve().relative_to(root)
    except ValueError:
        return False
    return ".venv" not in Path(path).resolve().relative_to(root).parts


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2]))


def _program(directory: Path) -> dict[str, str]:
    from changecontrol import digest as digests
    from changecontrol import layout

    return digests.file_hashes(directory, layout.PROGRAM_FILES, layout.PROGRAM_PACKAGES)


def unreviewed_program(program_dir: Path, stacks_dir: Path) -> str | None:
    """Why the checker must not run a checked tree's program, or None: it runs only code that is the trust
    root's own, byte for byte, or that a verified approved record of the checked tree approves. A checked
    tree's unreviewed code, run as the checker's user, could rewrite the checker, its virtualenv or PATH."""
    from changecontrol import digest as digests
    from changecontrol import layout
    from changecontrol.trust import OWN_ROOT, TrustRoot, load_chain, signers_in_force

    try:
        mine, ours = _program(program_dir), _program(OWN_ROOT)
    except digests.DigestError as e:
        return f"its program cannot be read ({e})"
    if mine == ours:
        return None
    trust = TrustRoot.own()
    signers = signers_in_force(trust, stacks_dir)
    base = Path(stacks_dir) / layout.RECORDS_DIR
    names = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    for name in names:
        if name in layout.SPECIAL_CHAINS or signers.signers is None:
            continue
        chain = load_chain(stacks_dir, name, signers)
        if any(e.record is not None and e.record.state.get("program") == mine for e in chain.approvals):
            return None
    return ("the checked tree's program differs from the trust root's and no verified record approves it, so the "
            "checker does not run it (unreviewed code would run as the checker's user); its approval is judged from "
            "the files; draft and approve the state (envctl ecr new <stack> ...), or plan it in your own checkout")


class ForeignStacks:
    """Like offline.LocalStacks, for a checked tree whose program is not the checker's: every stack is
    planned in one child process, on first use, if the program is reviewed code (:func:`unreviewed_program`)."""

    def __init__(self, program_dir: Path, stacks_dir: Path, options: Any, stacks: list[str], checker_root: Path):
        self.args = (Path(program_dir), Path(stacks_dir), list(stacks), options, Path(checker_root))
        self._runs: dict[str, Any] | None = None

    def run(self, stack: str) -> Any:
        from .offline import StackRunError

        if self._runs is None:
            self._runs = self._plan_all()
        result = self._runs.get(stack) or StackRunError(stack, f"stack '{stack}' was not planned", kind="failed")
        if isinstance(result, StackRunError):
            raise result
        return result

    def _plan_all(self) -> dict[str, Any]:
        """Plan every stack, after refusing a project file the CLI would read otherwise and unreviewed code."""
        from changecontrol.stackfiles import StackFileError, read_project

        from changecontrol.trust import OWN_ROOT

        from .offline import LocalStacks, StackRunError

        program_dir, stacks_dir, stacks, options, root = self.args
        try:
            read_project(program_dir)
        except StackFileError as e:
            return {s: StackRunError(s, f"stack '{s}': {e}", kind="invalid") for s in stacks}
        why = unreviewed_program(program_dir, stacks_dir)
        if why is not None:
            return {s: StackRunError(s, f"stack '{s}' was not planned: {why}", kind="unreviewed") for s in stacks}
        if _program(program_dir) == _program(OWN_ROOT):
            # Byte for byte the checker's own program, which this process has loaded already: planning it here
            # runs the same code, with the checked tree's stack files, records and waivers.
            local = LocalStacks(OWN_ROOT, stacks_dir, replace(options, program_root=Path(program_dir)))
            runs: dict[str, Any] = {}
            for s in stacks:
                try:
                    runs[s] = local.run(s)
                except StackRunError as e:
                    runs[s] = e
            return runs
        return plan(program_dir, stacks_dir, stacks, options, root)


def stacks_for(program_dir: Path, stacks_dir: Path, options: Any, stacks: list[str]) -> Any:
    """The planner for a run: in this process when the program is the checker's own, else a child."""
    from changecontrol.trust import OWN_ROOT

    from .offline import LocalStacks

    if Path(program_dir).resolve() == OWN_ROOT.resolve():
        return LocalStacks(program_dir, stacks_dir, options)
    return ForeignStacks(program_dir, stacks_dir, options, stacks, OWN_ROOT)
