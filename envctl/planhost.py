"""Plan reviewed program code of a checked tree in a process of its own; the offline engine is the checker's.

When the program of a checked tree differs from the checker's own but an approved record of the
stack approves exactly its files (see :mod:`envctl.planning`), it is planned here. The parent
copies exactly those files, and the signers the program verifies itself with, into a private
directory and checks their hashes again there; the child imports the checker's offline engine,
forgets every program module, takes the checker off the import path, puts the private copy first
and runs its ``__main__.py``. Nothing else of the checked tree is importable, and the child gets no
credentials, no caller's ``PATH`` and a bytecode cache of its own. The results come back as JSON
(never pickle) and are validated before use.

Run as ``python -P -m envctl.planhost REQUEST RESULT`` (``-P``: the working directory is not put
on the import path).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, fields
from datetime import datetime
from pathlib import Path
from typing import Any

PROGRAM_TOP_LEVEL = ("components", "changecontrol", "policies")  # forgotten in the child before the copy runs


class PlanRefused(Exception):
    """The reviewed files could not be copied as they were reviewed."""


def private_copy(program_dir: Path, reviewed: dict[str, str], target: Path) -> None:
    """Exactly the reviewed program files (relative path -> sha256), hashed again after copying, and the signers
    file and chain the program verifies itself with."""
    from changecontrol import digest as digests
    from changecontrol import layout

    for rel in reviewed:
        source = Path(program_dir) / rel
        if source.is_symlink():
            raise PlanRefused(f"{rel}: a symbolic link")
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target / rel)
    copied = {rel: digests.sha256_bytes((target / rel).read_bytes().replace(b"\r\n", b"\n")) for rel in reviewed}
    if copied != reviewed:
        changed = sorted(rel for rel in reviewed if copied.get(rel) != reviewed[rel])
        raise PlanRefused(f"changed while being copied: {', '.join(changed)}")
    signers_file = Path(program_dir) / layout.SIGNERS_FILE
    if signers_file.is_file() and not signers_file.is_symlink():
        (target / layout.SIGNERS_FILE).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(signers_file, target / layout.SIGNERS_FILE)
    chain = layout.chain_dir(program_dir, layout.SIGNERS_CHAIN)
    if chain.is_dir() and not chain.is_symlink():
        shutil.copytree(chain, layout.chain_dir(target, layout.SIGNERS_CHAIN), symlinks=True)


def _child_environment(checker_root: Path, tmp: Path) -> dict[str, str]:
    """Nothing of the caller's environment but what Python needs: no cloud or backend credentials, no
    PATH a program could have extended, a home and a bytecode cache of its own."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "LANG": "C.UTF-8", "PYTHONPATH": str(checker_root),
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}


def plan(program_dir: Path, stacks_dir: Path, stacks: list[str], options: Any, checker_root: Path,
         reviewed: dict[str, str]) -> dict[str, Any]:
    """Plan `stacks` with the reviewed program files of `program_dir`; stack -> StackRun or StackRunError."""
    from .offline import StackRunError

    with tempfile.TemporaryDirectory(prefix="envctl-plan-") as tmp:
        copy = Path(tmp) / "program"
        try:
            private_copy(program_dir, reviewed, copy)
        except (PlanRefused, OSError) as e:
            return {s: StackRunError(s, f"stack '{s}' was not planned: its reviewed program {e}", kind="unreviewed")
                    for s in stacks}
        request = {"program_dir": str(copy), "stacks_dir": str(stacks_dir), "stacks": list(stacks),
                   "now": options.now.isoformat() if options.now else None, "example": options.example is not None,
                   "review_only": options.review_only, "checker_root": str(checker_root)}
        req, res = Path(tmp) / "request.json", Path(tmp) / "result.json"
        req.write_text(json.dumps(request))
        done = subprocess.run([sys.executable, "-P", "-m", "envctl.planhost", str(req), str(res)],
                              env=_child_environment(checker_root, Path(tmp)), cwd=tmp, capture_output=True,
                              text=True, timeout=1800, check=False)
        try:
            return parse_result(res.read_text(encoding="utf-8"), stacks)
        except (OSError, ValueError, TypeError, KeyError) as e:
            why = (done.stderr or done.stdout).strip().splitlines()[-3:]
            message = (f"the program of {program_dir} could not be planned ({e}): " + (" / ".join(why) or "no output"))
            return {s: StackRunError(s, message, kind="failed") for s in stacks}


def parse_result(text: str, stacks: list[str]) -> dict[str, Any]:
    """The child's JSON, checked for shape: ValueError, TypeError or KeyError on anything else."""
    from .monitor import Registration
    from .offline import StackRun, StackRunError

    doc = json.loads(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("stacks"), dict):
        raise ValueError("the result is not a mapping of stacks")
    misplaced = doc.get("misplaced_modules") or []
    names = {f.name for f in fields(Registration)}
    runs: dict[str, Any] = {}
    for stack in stacks:
        item = doc["stacks"].get(stack)
        if misplaced:
            runs[stack] = StackRunError(stack, f"stack '{stack}': the program's modules {', '.join(misplaced)} were "
                                               "not loaded from its reviewed files", kind="invalid")
        elif not isinstance(item, dict):
            runs[stack] = StackRunError(stack, f"stack '{stack}' was not planned", kind="failed")
        elif "error" in item:
            runs[stack] = StackRunError(stack, str(item["error"]), kind=str(item["kind"]),
                                        registered=int(item.get("registered", 0)))
        else:
            regs = []
            for r in item["registrations"]:
                if not isinstance(r, dict) or set(r) != names:
                    raise ValueError("a registration of another shape")
                regs.append(Registration(**r))
            runs[stack] = StackRun(stack=str(item["stack"]), project=str(item["project"]), path=Path(item["path"]),
                                   registrations=regs, outputs=dict(item["outputs"]),
                                   secret_outputs=set(item["secret_outputs"]), warnings=list(item["warnings"]))
    return runs


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _child(request_path: str, result_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    checker_root = Path(request["checker_root"]).resolve()
    from changecontrol.trust import (
        load_example,  # the checker's: read before its modules are forgotten
    )

    from . import (
        offline,  # the checker's engine; it keeps its own references to what it imported
    )

    example = load_example(checker_root) if request["example"] else None
    for name in list(sys.modules):
        if name.split(".")[0] in PROGRAM_TOP_LEVEL:
            del sys.modules[name]
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != checker_root]
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
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
    misplaced = sorted(name for name, module in list(sys.modules.items())
                       if name.split(".")[0] in ("components", "changecontrol")
                       and not _inside(getattr(module, "__file__", None), program_dir))
    Path(result_path).write_text(json.dumps({"stacks": stacks, "misplaced_modules": misplaced}))
    offline.close_engine_loop()
    return 0


def _inside(path: str | None, root: Path) -> bool:
    if not path:
        return False
    try:
        Path(path).resolve().relative_to(root)
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2]))
