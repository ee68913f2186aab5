"""The two digests change control approves: the desired state of a stack, and the tooling.

**Desired state** (what a stack's ECR approves): every key of the stack's configuration in every
namespace (provider settings such as ``aws:assumeRoles`` or ``aws:endpoints`` included) except
``change_record``, which names the approval rather than the state; every file of the program
(``__main__.py``, ``Pulumi.yaml``, the hash-pinned ``requirements.txt`` and every file in the
program's packages); and the stack's waivers. The program computes it from the configuration the
engine hands it, the checker from the stack file as the CLI would hand it over: the same document.

**Tooling** (approved once for the whole fleet by a record of the ``tooling`` chain): every file of
the policy pack and of envctl, ``pyproject.toml``, ``requirements-dev.txt``, the ``Makefile`` and the
releases file (``releases.yaml``). The releases file belongs here, not to any stack's desired state: no
program reads it, only the pack's release rules do, so it changes verdicts, never what a stack deploys;
a new release is one reviewed tooling record for the fleet, not a new ECR of every controlled stack;
and a controlled stack's check still fails (``change-approved-state``) while the file differs from what
the tooling chain approves, so no unreviewed edit of it can pass a controlled stack.

A digest is ``sha256:`` of the canonical JSON of its *document*; records carry the document, so an
approver and an auditor see exactly which settings and file contents a record approves.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import layout, strictyaml

STATE_FORMAT = "clinspark-desired-state/2"
TOOLING_FORMAT = "clinspark-tooling/2"
SIGNERS_FORMAT = "clinspark-signers/2"
EXCLUDED_KEY = "change_record"


class DigestError(Exception):
    """A file the digest covers cannot be read or used (named, with what to do)."""


def canonical_json(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def digest_of(document: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(document).encode()).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _value(text: str) -> Any:
    """A config value as the document holds it: objects and lists parsed (their JSON text may be
    spaced or ordered differently by the CLI and by envctl), everything else the text itself."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped)
        except (ValueError, RecursionError):
            return text
        if isinstance(parsed, (dict, list)):
            return parsed
    return text


def config_document(config: Mapping[str, str], secret_keys: Iterable[str], project: str) -> dict[str, Any]:
    """Every config key but `<project>:change_record`; a secret contributes its key, never its value."""
    secret = set(secret_keys)
    excluded = f"{project}:{EXCLUDED_KEY}"
    return {key: ({"secret": True} if key in secret else {"value": _value(str(value))})
            for key, value in sorted(config.items()) if key != excluded}


def _files_of(root: Path, names: Iterable[str], packages: Iterable[str]) -> list[Path]:
    """Every file of the packages, walked without following links; a link anywhere (a file, a directory,
    a `__pycache__`) is refused: Python would follow it to content the digest never saw."""
    files = [root / n for n in names]
    for package in packages:
        base = root / package
        if base.is_symlink():
            raise DigestError(f"{package}/: a symbolic link; the program and tooling are plain directories")
        if not base.is_dir():
            raise DigestError(f"{package}/: missing; it is part of the program or tooling the digest covers")
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            here = Path(dirpath)
            for name in dirnames + filenames:
                if (here / name).is_symlink():
                    rel = (here / name).relative_to(root).as_posix()
                    raise DigestError(f"{rel}: a symbolic link; the program and tooling are plain files and "
                                      "directories (replace it with what it points to, or remove it)")
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")  # bytecode: changecontrol.integrity
            files += [here / f for f in sorted(filenames)]
    return files


def file_hashes(root: Path, names: Iterable[str], packages: Iterable[str]) -> dict[str, str]:
    """relative path -> sha256 of its content (line endings normalised) for every covered file."""
    root = Path(root)
    hashes: dict[str, str] = {}
    for path in _files_of(root, names, packages):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise DigestError(f"{rel}: a symbolic link; the program and tooling are plain files (replace it with "
                              "the file it points to)")
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            raise DigestError(f"{rel}: missing; it is part of the program or tooling the digest covers") from None
        except OSError as e:
            raise DigestError(f"{rel}: cannot be read ({e.strerror or e})") from None
        hashes[rel] = sha256_bytes(content.replace(b"\r\n", b"\n"))
    return hashes


def waivers_document(directory: Path, stack: str) -> list[Any] | None:
    """The stack's waiver entries as plain data (None without a waivers file)."""
    path = layout.waivers_file(directory, stack)
    if not path.exists():
        return None
    try:
        doc = strictyaml.load(path, f"{layout.WAIVERS_DIR}/{stack}.yaml")
    except strictyaml.StrictYamlError as e:
        raise DigestError(str(e)) from None
    if doc is None:
        return []
    if not isinstance(doc, list):
        raise DigestError(f"{layout.WAIVERS_DIR}/{stack}.yaml: expected a list of waivers, got a {type(doc).__name__}")
    return doc


def state_document(program_dir: Path, stacks_dir: Path, stack: str, project: str, config: Mapping[str, str],
                   secret_keys: Iterable[str]) -> dict[str, Any]:
    return {
        "format": STATE_FORMAT,
        "stack": stack,
        "config": config_document(config, secret_keys, project),
        "program": file_hashes(program_dir, layout.PROGRAM_FILES, layout.PROGRAM_PACKAGES),
        "waivers": waivers_document(stacks_dir, stack),
    }


def tooling_document(root: Path) -> dict[str, Any]:
    return {"format": TOOLING_FORMAT, "tooling": file_hashes(root, layout.TOOLING_FILES, layout.TOOLING_PACKAGES)}


def signers_document(text: str) -> dict[str, Any]:
    return {"format": SIGNERS_FORMAT, "allowed_signers": text}
