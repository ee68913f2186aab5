"""Check results kept by everything they read, so that a fleet re-check plans only what changed.

A stack's result (`envctl check`: its phase, resource count, violations and waivers) is stored
under a key that hashes every input the result reads:

* the stack's own files, by their bytes: its stack file (in every extension the CLI reads), its
  waivers file, its chain of records, and the same chain in the trust root's copy of the checked
  directory;
* the answers to its stack references: the key of each referenced local stack (a clone's
  Pre-PROD), recursively, since the offline engine answers a reference by planning that stack;
* what every stack of the run shares: the checked directory's signers file, signers and tooling
  chains and project files; the trust root's (the checker's checkout) signers file and chains; the
  checker's whole tree as the integrity check reads it (every file of the program, the policy pack,
  envctl and changecontrol, their bytecode, the root's files and importable names); the virtualenv
  as the integrity check reads it (every top-level file and each distribution's metadata and
  RECORD); the Python version; the `ssh-keygen` that verifies signatures; `ENVCTL_SIGNERS_GENESIS`;
  example mode and its pinned date and keys; the policy config; the date of the run.

The date is the granularity at which the settings, the rules and the approvals read the clock
(`changecontrol.clock.today()`); the one finer reading, the time the offline engine gives a
mocked snapshot, reaches only plan outputs no result carries.

Where in doubt nothing is cached: a checked tree with a program of its own (CI's checker on a
candidate) is never cached, nor is a result with an error. The cache lives outside the checked
tree (a cache directory inside it is refused), entries are written atomically, and an entry that is
unreadable, corrupt, of another format or another key is a miss. Whoever can write the cache
directory can make a check pass: see README, "Threat model".
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from changecontrol import integrity, layout, stackfiles
from changecontrol.digest import canonical_json
from changecontrol.trust import (
    GENESIS_ENV,
    OWN_ROOT,
    TrustRoot,
    checkout_root,
    counterpart,
)

FORMAT = "envctl-check-cache/2"
RULE_FIELDS = {"severity", "remediation", "fsbp", "checkov"}  # what a stored violation carries of its rule
CACHE_ENV = "ENVCTL_CACHE_DIR"
ROOT = OWN_ROOT  # the checker's checkout: its code and its trust root (a test may point it at a copy)
_ABSENT = "absent"


def default_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$ENVCTL_CACHE_DIR`, else `$XDG_CACHE_HOME/envctl`, else `~/.cache/envctl`."""
    environ = os.environ if environ is None else environ
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV])
    base = environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "envctl"


# --------------------------------------------------------------------------------------------
# Fingerprints: the bytes of what a result reads
# --------------------------------------------------------------------------------------------
def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_STATS: list[dict[str, Any]] = []  # while keys are made: the inode state of every path they read


def _note(path: Path) -> None:
    """Remember the inode state (device, inode, size, change time) of what a key reads, through links: a file
    replaced or rewritten while a run reads it changes its change time, which no user can set back."""
    if _STATS:
        for follow in (False, True):
            try:
                st = os.stat(path, follow_symlinks=follow)
            except OSError:
                _STATS[-1][f"{path}|{follow}"] = None
                continue
            if not stat.S_ISDIR(st.st_mode):  # a directory's entries are noted one by one
                _STATS[-1][f"{path}|{follow}"] = (st.st_dev, st.st_ino, st.st_size, st.st_ctime_ns)


def _entry(path: Path) -> Any:
    """One path as it is: absent, a link (its target and what it leads to: readers follow links), a
    directory, or a file (its content)."""
    _note(path)
    try:
        if path.is_symlink():
            try:
                resolved = path.resolve(strict=True)
            except (OSError, RuntimeError):
                return ["link", os.readlink(path), "dangling"]
            return ["link", os.readlink(path), _tree(resolved) if resolved.is_dir() else _entry(resolved)]
        if path.is_dir():
            return ["dir"]
        return ["file", _sha(path.read_bytes())]
    except FileNotFoundError:
        return _ABSENT
    except OSError as e:
        return ["unreadable", str(e)]


def _tree(base: Path, *, code: bool = False) -> Any:
    """Every entry below `base`, walked without following links. With `code`: bytecode is left out (Python
    writes it as it imports; whether it is its source's code is the integrity check's verdict, which the key
    holds), and the whole-second modification time of each source file is in (Python decides by it whether
    bytecode is used)."""
    mtimes = code
    if not base.is_dir() or base.is_symlink():
        return _entry(base)
    found = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        if code:
            dirnames[:] = [d for d in dirnames if d != "__pycache__" or (here / d).is_symlink()]
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = here / name
            item = [path.relative_to(base).as_posix(), _entry(path)]
            if mtimes and name.endswith(".py") and not path.is_symlink():
                try:
                    st = path.stat()
                    item.append([int(st.st_mtime), st.st_size])
                except OSError:
                    item.append(_ABSENT)
            found.append(item)
    return found


def _checkout(root: Path) -> dict[str, Any]:
    """What the integrity check reads of a checkout: its root entries (files by content, except
    stack files, which are each stack's own input), its importable names, every file of its program
    and tooling packages, and its verdict on their bytecode (a forged or foreign `.pyc` is a problem
    there; bytecode Python writes for a source is not, so importing does not change the key)."""
    entries = []
    for path in sorted(root.iterdir()):
        name = path.name
        stack_file = name.startswith("Pulumi.") and name.count(".") >= 2 and path.is_file() and not path.is_symlink()
        if name in (".git", layout.VIRTUALENV):  # by kind only: the virtualenv is fingerprinted on its own
            entries.append([name, "link" if path.is_symlink() else "dir" if path.is_dir() else "file"])
        elif stack_file:
            entries.append([name, "stack file"])
        else:
            entries.append([name, _entry(path)])
    packages = {p: _tree(root / p, code=True) for p in (*layout.PROGRAM_PACKAGES, *layout.TOOLING_PACKAGES)}
    return {"root": str(root), "entries": entries, "modules": sorted(integrity._root_modules(root)),
            "packages": packages, "example": _tree(root / layout.EXAMPLE_DIR),
            "integrity": integrity.tree_problems(root)}


def _site_packages(program_dir: Path) -> list[Path]:
    """The site-packages the integrity check reads (the project's `.venv`, else this interpreter's), and this
    interpreter's, whose packages run."""
    venv = program_dir / layout.VIRTUALENV
    return integrity.site_packages(venv if venv.is_dir() else None) + integrity.site_packages(None)


def _virtualenv(program_dir: Path) -> list[Any]:
    """What the integrity check reads of the virtualenv (top-level entries, `.pth` files, each
    distribution's metadata and RECORD), and the interpreter's own site-packages: which versions run."""
    found: list[Any] = []
    for directory in sorted(set(_site_packages(program_dir))):
        for path in sorted(directory.iterdir()):
            name = path.name
            if name.endswith((".dist-info", ".egg-info")) and path.is_dir():
                found.append([str(path), _tree(path)])
            elif path.is_dir() and not path.is_symlink():
                found.append([str(path), "dir"])
            else:
                found.append([str(path), _entry(path)])
    return found


def _ssh_keygen() -> Any:
    from changecontrol import sshsig

    try:
        tool = Path(sshsig._tool())
    except sshsig.SignatureError as e:
        return ["missing", str(e)]
    return [str(tool), _entry(tool.resolve())]


def _chain(directory: Path, chain: str) -> Any:
    return _tree(layout.chain_dir(directory, chain))


def _project_files(directory: Path) -> list[Any]:
    return [[f"Pulumi{ext}", _entry(directory / f"Pulumi{ext}")] for ext in stackfiles.CLI_EXTENSIONS]


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------
def cacheable(program_dir: Path, stacks_dir: Path, cache_dir: Path | None) -> bool:
    """Whether results of this run may be cached at all: a cache directory outside the checked tree and
    the checker's checkout, and stacks planned with the checker's own program (a checked tree with a
    program of its own, CI's candidate, is never cached)."""
    if cache_dir is None:
        return False
    root, program, stacks = ROOT.resolve(), Path(program_dir).resolve(), Path(stacks_dir).resolve()
    if program != OWN_ROOT.resolve():
        return False
    owner = stackfiles.project_root(stacks)
    if owner is not None and owner != OWN_ROOT.resolve():
        return False
    cache = Path(cache_dir).resolve()
    for tree in {root, program, stacks, checkout_root(stacks) or stacks}:
        if cache == tree or tree in cache.parents:
            return False
    return True


@dataclass
class Keys:
    """The keys of one run's stacks. Made once per run, in the process that reads and writes the cache."""

    program_dir: Path
    stacks_dir: Path
    now: datetime
    example: Any  # changecontrol.trust.Example or None
    policy_config: Mapping[str, Any] | None
    _run: str = ""
    _stacks: dict[str, str] = field(default_factory=dict)
    _local: set[str] | None = None
    _exact: dict[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)  # the inode state of everything the keys read

    def __post_init__(self) -> None:
        _STATS.append(self.stats)
        try:
            self._make()
        finally:
            _STATS.pop()

    def _make(self) -> None:
        self.stacks_dir = Path(self.stacks_dir)
        stacks = self.stacks_dir.resolve()
        trusted = ROOT
        example = None
        if self.example is not None:
            example = {"as_of": self.example.as_of.isoformat(), "customer": self.example.customer,
                       "stacks": list(self.example.stacks), "directory": str(self.example.directory),
                       "files": _tree(Path(self.example.directory))}
        run = {
            "format": FORMAT,
            "python": [sys.version, sys.implementation.cache_tag, sys.executable],
            "checker": _checkout(trusted),
            "virtualenv": _virtualenv(Path(self.program_dir)),
            "ssh-keygen": _ssh_keygen(),
            "genesis": os.environ.get(GENESIS_ENV),
            "example": example,
            "date": self.now.astimezone(UTC).date().isoformat(),
            "policy_config": None if self.policy_config is None else canonical_json(self.policy_config),
            "program_dir": str(Path(self.program_dir).resolve()),
            "stacks_dir": str(stacks),
            "checkout": str(checkout_root(stacks)),
            "project": str(stackfiles.project_root(stacks)),
            "trust": {"signers_file": _entry(trusted / layout.SIGNERS_FILE),
                      **{c: _chain(trusted, c) for c in layout.SPECIAL_CHAINS}},
            "checked": {"signers_file": _entry(stacks / layout.SIGNERS_FILE), "project_files": _project_files(stacks),
                        **{c: _chain(stacks, c) for c in layout.SPECIAL_CHAINS}},
        }
        self._run = _sha(canonical_json(run).encode())
        self._counterpart = counterpart(TrustRoot(trusted), stacks)

    def key(self, stack: str) -> str:
        """The stack's key; a stack whose references lead back to itself gets a key no run repeats (never served,
        never stored): what the engine makes of a cycle is not worth reasoning about."""
        _STATS.append(self.stats)
        try:
            return self._key_of(stack)
        finally:
            _STATS.pop()

    def _key_of(self, stack: str) -> str:
        for exact in (False, True):  # the quick superset of references may see a cycle the engine's reading has not
            try:
                return self._key(stack, (), exact)
            except _Cycle:
                continue
        return "cycle-" + os.urandom(16).hex()

    def _key(self, stack: str, seen: tuple[str, ...], exact: bool) -> str:
        memo = self._exact if exact else self._stacks
        if stack in memo:
            return memo[stack]
        if stack in seen:
            raise _Cycle(stack)
        references = self._references_as_read(stack) if exact else self._references(stack)
        own = {
            "run": self._run,
            "stack": stack,
            "stack_files": [[f"Pulumi.{stack}{ext}", _entry(self.stacks_dir / f"Pulumi.{stack}{ext}")]
                            for ext in stackfiles.CLI_EXTENSIONS],
            "waivers": _entry(layout.waivers_file(self.stacks_dir, stack)),
            "chain": _chain(self.stacks_dir, stack),
            "trusted_chain": _chain(self._counterpart, stack),
            "references": {ref: self._key(ref, (*seen, stack), exact) for ref in references},
        }
        memo[stack] = _sha(canonical_json(own).encode())
        return memo[stack]

    def _references(self, stack: str) -> list[str]:
        """The local stacks whose outputs may answer this stack's references: every stack of the directory
        that any string of its stack file (or of JSON text in one) names as its last path segment, as the
        offline engine takes a reference's stack name. More than the engine plans, never fewer."""
        if self._local is None:
            self._local = {p.name[len("Pulumi."):-len(".yaml")] for p in self.stacks_dir.glob("Pulumi.*.yaml")}
        try:
            data = layout.stack_file(self.stacks_dir, stack).read_bytes()
        except OSError:
            return []
        named = _names_in(data)
        if named is None:  # not even YAML tokens: the engine refuses it, but key it exactly all the same
            return self._references_as_read(stack)
        return sorted((named & self._local) - {stack})

    def _references_as_read(self, stack: str) -> list[str]:
        from .offline import _references

        project = stackfiles.project_name(Path(self.program_dir))
        try:
            refs = _references(stackfiles.read(self.stacks_dir, stack, project), project)
        except (stackfiles.StackFileError, RecursionError, ValueError):
            return []
        names = [ref.rsplit("/", 1)[-1] for ref in refs]
        return sorted(n for n in names if layout.stack_file(self.stacks_dir, n).is_file())


class _Cycle(Exception):
    pass


def _names_in(data: bytes) -> set[str] | None:
    """The last path segment of every string in a YAML file and in JSON text inside it; None if unreadable."""
    try:
        strings = [t.value for t in yaml.scan(data.decode("utf-8"), Loader=_Loader) if isinstance(t, yaml.ScalarToken)]
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
        return None
    names: set[str] = set()
    while strings:
        text = strings.pop()
        names.add(text.rsplit("/", 1)[-1])
        if text.strip()[:1] in ("{", "["):
            try:
                values = [json.loads(text)]
            except (ValueError, RecursionError):
                continue
            while values:
                value = values.pop()
                if isinstance(value, str):
                    strings.append(value)
                elif isinstance(value, dict):
                    values += [*value.keys(), *value.values()]
                elif isinstance(value, list):
                    values += value
    return names


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------
def _path(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / "check" / key[:2] / f"{key}.json"


def load(cache_dir: Path, key: str) -> dict[str, Any] | None:
    """The result stored under `key`, or None: absent, unreadable, a link, corrupt, or not this key's."""
    path = _path(cache_dir, key)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            data = f.read(16 * 1024 * 1024 + 1)
        if len(data) > 16 * 1024 * 1024:
            return None
        doc = json.loads(data)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("key") != key:
        return None
    result = doc.get("result")
    return result if _well_formed(result) else None


def store(cache_dir: Path, key: str, result: Mapping[str, Any]) -> None:
    """Write an entry atomically (a complete file or none); a cache that cannot be written is no cache."""
    path = _path(cache_dir, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"format": FORMAT, "key": key, "result": result}, f)  # key order kept: output is identical
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return


def _well_formed(result: Any) -> bool:
    """A stored result as check's StackCheck.to_json writes one, with no error."""
    if not isinstance(result, dict) or set(result) != {"stack", "phase", "resources", "violations", "notApplicable",
                                                       "waivers", "error", "data"}:
        return False
    if not isinstance(result["data"], list) or not all(isinstance(line, str) for line in result["data"]):
        return False
    if result["error"] is not None or not isinstance(result["stack"], str) or not isinstance(result["resources"], int):
        return False
    if result["phase"] is not None and not isinstance(result["phase"], str):
        return False
    violations, waivers, unapplied = result["violations"], result["waivers"], result["notApplicable"]
    if not isinstance(violations, list) or not isinstance(waivers, list) or not isinstance(unapplied, list):
        return False
    fields = {"policy", "level", "urn", "message"}  # the rest of a violation is its rule's, read afresh
    return (all(isinstance(v, dict) and fields <= set(v) <= fields | RULE_FIELDS
                and all(isinstance(v[k], str) for k in fields) for v in violations)
            and all(isinstance(n, dict) and set(n) == {"policy", "reasons"} and isinstance(n["policy"], str)
                    and isinstance(n["reasons"], list) and all(isinstance(r, str) for r in n["reasons"])
                    for n in unapplied)
            and all(isinstance(w, dict) for w in waivers))
