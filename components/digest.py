"""The desired-state digest: what an Environment Change Record approves.

A deterministic SHA-256 over the validated stack settings (without the change record id, which
names the approval rather than the state) and a fingerprint of the program's own code and pinned
dependencies. The same on every machine and run; any change to a setting, a component or a
dependency version changes it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .settings import StackSettings

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The files that decide what a stack deploys. Policies and tooling are not part of the state.
CODE_FILES = ("__main__.py", "Pulumi.yaml", "requirements.txt")
CODE_DIRS = ("components",)
EXCLUDED_SETTINGS = frozenset({"change_record"})


def code_files(project_dir: Path = PROJECT_DIR) -> list[Path]:
    files = [project_dir / f for f in CODE_FILES]
    for d in CODE_DIRS:
        files += sorted((project_dir / d).rglob("*.py"))
    return files


def code_fingerprint(project_dir: Path = PROJECT_DIR) -> str:
    h = hashlib.sha256()
    for path in code_files(project_dir):
        rel = path.relative_to(project_dir).as_posix()
        content = path.read_bytes().replace(b"\r\n", b"\n")
        h.update(f"{rel}\0{hashlib.sha256(content).hexdigest()}\n".encode())
    return h.hexdigest()


def settings_document(settings: StackSettings) -> dict:
    return settings.model_dump(mode="json", exclude=set(EXCLUDED_SETTINGS))


def desired_state_digest(settings: StackSettings, project_dir: Path = PROJECT_DIR) -> str:
    doc = {"settings": settings_document(settings), "code": code_fingerprint(project_dir)}
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
