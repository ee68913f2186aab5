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
from dataclasses import asdict
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
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
        env["PYTHONPATH"] = str(checker_root)
        done = subprocess.run([sys.executable, "-P", "-m", "envctl.planhost", str(req), str(res)], env=env,
                              cwd=tmp, capture_output=True, text=True, timeout=1800, check=False)
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
    sys.dont_write_bytecode = True
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


class ForeignStacks:
    """Like offline.LocalStacks, for a checked tree whose program is not the checker's: every stack is
    planned in one child process, on first use."""

    def __init__(self, program_dir: Path, stacks_dir: Path, options: Any, stacks: list[str], checker_root: Path):
        self.args = (Path(program_dir), Path(stacks_dir), list(stacks), options, Path(checker_root))
        self._runs: dict[str, Any] | None = None

    def run(self, stack: str) -> Any:
        if self._runs is None:
            program_dir, stacks_dir, stacks, options, root = self.args
            self._runs = plan(program_dir, stacks_dir, stacks, options, root)
        from .offline import StackRunError

        result = self._runs.get(stack) or StackRunError(stack, f"stack '{stack}' was not planned", kind="failed")
        if isinstance(result, StackRunError):
            raise result
        return result


def stacks_for(program_dir: Path, stacks_dir: Path, options: Any, stacks: list[str]) -> Any:
    """The planner for a run: in this process when the program is the checker's own, else a child."""
    from changecontrol.trust import OWN_ROOT

    from .offline import LocalStacks

    if Path(program_dir).resolve() == OWN_ROOT.resolve():
        return LocalStacks(program_dir, stacks_dir, options)
    return ForeignStacks(program_dir, stacks_dir, options, stacks, OWN_ROOT)
