"""What runs is what the digest covers: no file outside it can change the program's behaviour.

The desired-state digest hashes source files and pins. These checks refuse what would make Python
run something else while those stay unchanged:

* **bytecode** that Python would load instead of a source file but that is not that source's code
  (a forged timestamp ``.pyc``, an unchecked-hash ``.pyc``, a source-less ``.pyc``);
* **local modules** at the project root other than the declared packages (a ``yaml.py`` or a
  ``pulumi_aws/`` beside ``__main__.py`` shadows the pinned dependency), and program files that
  import local modules outside the program's packages;
* **the virtualenv**: a ``.pth`` file (Python executes its import lines at start-up) or a
  top-level module in site-packages that no installed distribution's RECORD lists with that
  content, and installed versions that differ from the pins of ``requirements.txt``.

In CI the virtualenv is built from the hash-pinned requirements on every run; on an engineer's
machine these checks catch accidents and the easy tricks, not an engineer who edits site-packages
and its RECORD files by hand (README, Threat model).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import sysconfig
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from . import layout
from .stackfiles import StackFileError, read_project

_BOOTSTRAP = {"pip", "setuptools", "wheel", "distribute"}  # what `python -m venv` installs itself
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --------------------------------------------------------------------------------------------
# The tree
# --------------------------------------------------------------------------------------------
def _declared() -> set[str]:
    return {*layout.PROGRAM_PACKAGES, *layout.TOOLING_PACKAGES, *layout.OTHER_PACKAGES, "__main__"}


_LOADABLE = (".py", ".pyc", ".pyw", ".so", ".pyd")


def _holds_code(directory: Path) -> bool:
    """Loadable files anywhere below, or a link (which Python follows, to code the walk never sees)."""
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=False):
        if any(f.endswith(_LOADABLE) for f in filenames):
            return True
        if any((Path(dirpath) / n).is_symlink() for n in dirnames + filenames):
            return True
    return False


def _root_modules(root: Path) -> dict[str, Path]:
    """Every top-level name Python could import from the project root (which is first on sys.path):
    modules, packages, and directories holding code, which Python imports as (a portion of) a namespace
    package, even of an installed one such as `google`."""
    found: dict[str, Path] = {}
    for entry in root.iterdir():
        name = entry.name
        if entry.is_dir():
            if name.isidentifier() and name != "__pycache__" and (entry.is_symlink() or _holds_code(entry)):
                found[name] = entry
        elif name.endswith((".py", ".pyc", ".pyw")) or (".cpython-" in name and name.endswith((".so", ".pyd"))) \
                or name.endswith((".so", ".pyd")):
            found[name.split(".", 1)[0]] = entry
    return found


def _pyc_problem(pyc: Path, source: Path, root: Path) -> str | None:
    """Why Python would run `pyc` instead of `source` although it is not that source's code."""
    try:
        data = pyc.read_bytes()
    except OSError:
        return None
    rel = pyc.relative_to(root).as_posix()
    if len(data) < 16 or data[:4] != importlib.util.MAGIC_NUMBER or sys.implementation.cache_tag not in pyc.name:
        return (f"{rel} is bytecode of another Python than this one ({sys.implementation.cache_tag}), which cannot be "
                "checked against its source here but would run under that Python: delete the __pycache__ directory")
    flags = int.from_bytes(data[4:8], "little")
    src = source.read_bytes()
    if flags == 0:
        stat = source.stat()
        used = (int.from_bytes(data[8:12], "little") == (int(stat.st_mtime) & 0xFFFFFFFF)
                and int.from_bytes(data[12:16], "little") == (stat.st_size & 0xFFFFFFFF))
    elif flags & 0b10:  # checked hash-based: used when the source hash matches
        used = data[8:16] == importlib.util.source_hash(src)
    else:
        return f"{rel} is unchecked-hash bytecode, which Python runs without looking at {source.name}: delete it"
    if not used:
        return None  # stale: Python recompiles the source and never runs it
    return _SAME_CODE  # compared in a process of its own (see _compare_in_child)


_SAME_CODE = object()
# Reads bytecode and compiles sources in a throwaway process: marshal.loads of bytes someone else wrote can
# crash or exhaust the interpreter (marshal is not meant for untrusted data), and then only that process dies.
_COMPARE = """
import json, marshal, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
sys.setrecursionlimit(2000)
out = []
for pyc, source in json.load(sys.stdin):
    try:
        data = open(pyc, "rb").read()
        optimize = 0 if ".opt-" not in pyc else int(pyc.split(".opt-")[1][0])
        same = marshal.loads(data[16:]) == compile(open(source, "rb").read(), source, "exec", dont_inherit=True,
                                                   optimize=optimize)
    except BaseException:
        same = False
    out.append(same)
print(json.dumps(out))
"""


def _compare_in_child(pairs: list[tuple[Path, Path]]) -> list[bool]:
    """Whether each bytecode file is its source's code; all False when the comparison itself fails."""
    if not pairs:
        return []
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", _COMPARE], capture_output=True, text=True,
                              input=json.dumps([[str(a), str(b)] for a, b in pairs]), timeout=120, check=False)
        result = json.loads(done.stdout) if done.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        result = None
    if not isinstance(result, list) or len(result) != len(pairs):
        return [False] * len(pairs)
    return [r is True for r in result]


def _pycs(root: Path, package: str, problems: list[str]) -> list[Path]:
    """The bytecode files of a package, walked without following links (a link is refused: Python
    would follow it, to a `__pycache__` the walk never saw)."""
    base = root / package
    if package == ".":
        if (base / "__pycache__").exists():
            problems.append("__pycache__/ at the project root: bytecode Python may run for __main__.py instead of it; "
                            "delete it")
        return sorted(base.glob("*.pyc"))
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        for name in dirnames + filenames:
            if (here / name).is_symlink():
                problems.append(f"{(here / name).relative_to(root).as_posix()}: a symbolic link inside {package}/, "
                                "which Python follows (to bytecode or code no digest covers): remove it")
        found += [here / f for f in filenames if f.endswith(".pyc") and not (here / f).is_symlink()]
    return sorted(found)


def bytecode_problems(root: Path) -> list[str]:
    problems: list[str] = []
    compare: list[tuple[Path, Path]] = []
    for package in (".", *layout.PROGRAM_PACKAGES, *layout.TOOLING_PACKAGES):
        base = root / package
        if not base.is_dir():
            continue
        for pyc in _pycs(root, package, problems):
            rel = pyc.relative_to(root).as_posix()
            if pyc.parent.name != "__pycache__":
                problems.append(f"{rel}: source-less bytecode, which Python imports as a module: delete it")
                continue
            stem = pyc.name.split(".", 1)[0]
            source = pyc.parent.parent / f"{stem}.py"
            if source.is_file():
                why = _pyc_problem(pyc, source, root)
                if why is _SAME_CODE:
                    compare.append((pyc, source))
                elif why:
                    problems.append(why)
    for (pyc, source), same in zip(compare, _compare_in_child(compare)):
        if not same:
            problems.append(f"{pyc.relative_to(root).as_posix()} is bytecode that Python would run instead of "
                            f"{source.relative_to(root).as_posix()}, but it is not that file's code (forged or left "
                            "behind): delete the __pycache__ directory")
    return problems


def _imports(path: Path) -> set[str]:
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (SyntaxError, ValueError, RecursionError, MemoryError, OSError):
        return set()  # a program file Python cannot compile never imports anything
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _tree_signature(root: Path) -> tuple:
    """What tree_problems reads, by name, size and modification time (a cache key; stat only)."""
    entries = []
    for base in (root, *(root / p for p in (*layout.PROGRAM_PACKAGES, *layout.TOOLING_PACKAGES))):
        if not base.is_dir():
            continue
        paths = base.iterdir() if base == root else base.rglob("*")
        for path in paths:
            try:
                st = path.lstat()
            except OSError:
                continue
            entries.append((str(path), st.st_size, st.st_mtime_ns, st.st_mode))
    return tuple(sorted(entries))


def tree_problems(root: Path) -> list[str]:
    """The project tree: its project file, its importable top-level names, bytecode, local imports."""
    root = Path(root).resolve()
    return list(_tree_problems(root, _tree_signature(root)))


@lru_cache(maxsize=16)
def _tree_problems(root: Path, signature: tuple) -> tuple[str, ...]:
    problems = []
    try:
        read_project(root)
    except StackFileError as e:
        problems.append(str(e))
    local = _root_modules(root)
    for name, path in sorted(local.items()):
        if name not in _declared():
            problems.append(f"{path.relative_to(root).as_posix()}: a module at the project root that is not one of the "
                            f"declared packages ({', '.join(sorted(_declared() - {'__main__'}))}); Python imports it "
                            "before any installed package of that name: remove it or move it into components/")
    problems += bytecode_problems(root)
    for package in layout.PROGRAM_PACKAGES:
        for dirpath, dirnames, filenames in os.walk(root / package, followlinks=False):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            if any(f.endswith(".py") for f in filenames) and "__init__.py" not in filenames:
                rel = Path(dirpath).relative_to(root).as_posix()
                problems.append(f"{rel}/ has no __init__.py: the program's packages are regular packages (a namespace "
                                "package would merge with any other directory of that name on the import path)")
    program = [root / f for f in layout.PROGRAM_FILES if f.endswith(".py")]
    for package in layout.PROGRAM_PACKAGES:
        if (root / package).is_dir():
            program += sorted(p for p in (root / package).rglob("*.py")
                              if "__pycache__" not in p.parts and p.is_file() and not p.is_symlink())
    outside = set(local) - set(layout.PROGRAM_PACKAGES)
    for path in program:
        for name in sorted(_imports(path) & outside):
            problems.append(f"{path.relative_to(root).as_posix()} imports {name}, which is not part of the program "
                            f"(the program is {', '.join(layout.PROGRAM_PACKAGES)}): move what it needs into them")
    return tuple(problems)


# --------------------------------------------------------------------------------------------
# The virtualenv
# --------------------------------------------------------------------------------------------
def site_packages(venv: Path | None = None) -> list[Path]:
    """The site-packages of a virtualenv directory, or of the running interpreter."""
    if venv is None:
        paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
        return sorted(Path(p) for p in paths if Path(p).is_dir())
    return sorted(p for p in (Path(venv) / "lib").glob("python*/site-packages") if p.is_dir())


def pins(path: Path, seen: set[Path] | None = None, root: Path | None = None) -> dict[str, str]:
    """name -> version of a pinned requirements file (following -r, to files of the same project only)."""
    seen = seen or set()
    path = Path(path)
    root = Path(root or path.parent).resolve()
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return {}  # a requirements file outside the project pins nothing here
    if path in seen or not path.is_file() or path.stat().st_size > 4 * 1024 * 1024:
        return {}
    seen.add(path)
    found: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    except (OSError, UnicodeDecodeError):
        return {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith(("-r ", "--requirement ")):
            found.update(pins(path.parent / line.split(None, 1)[1].strip(), seen, root))
            continue
        m = _REQ.match(line)
        if m:
            found[normalize(m[1])] = m[2]
    return found


@lru_cache(maxsize=8)
def _venv_problems(dirs: tuple[Path, ...], runtime: tuple[tuple[str, str], ...],
                   allowed: frozenset[str], signature: tuple) -> tuple[str, ...]:
    problems: list[str] = []
    owned: dict[str, tuple[str, str | None]] = {}  # relative path -> (distribution, recorded urlsafe-b64 sha256)
    installed: dict[str, str] = {}
    for dist in metadata.distributions(path=[str(d) for d in dirs]):
        name = normalize(dist.metadata["Name"] or "")
        installed.setdefault(name, dist.version)
        for f in dist.files or ():
            digest = f.hash.value if f.hash is not None and f.hash.mode == "sha256" else None
            owned[Path(str(f)).as_posix()] = (name, digest)
    tops = {p.split("/", 1)[0] for p in owned}
    for d in dirs:
        for entry in sorted(d.iterdir()):
            name = entry.name
            if name.endswith((".dist-info", ".egg-info")) or name == "__pycache__":
                continue
            if name.endswith(".pth"):
                owner, want = owned.get(name, ("", None))
                got = base64.urlsafe_b64encode(hashlib.sha256(entry.read_bytes()).digest()).decode().rstrip("=")
                if want is None or want != got or (owner not in allowed and owner not in _BOOTSTRAP):
                    problems.append(f"{entry}: a .pth file that no pinned distribution lists with this content; "
                                    "Python runs its import lines at every start: remove it (or rebuild the "
                                    "virtualenv with make)")
            elif name not in tops:
                problems.append(f"{entry}: in site-packages but no installed distribution's RECORD lists it; it can "
                                "shadow or change a pinned dependency: remove it (or rebuild the virtualenv with make)")
    for name, version in runtime:
        got = installed.get(name)
        if got != version:
            problems.append(f"{name} is pinned to {version} in requirements.txt but "
                            f"{'not installed' if got is None else got + ' is installed'}: rebuild the virtualenv "
                            "with make (it installs exactly the pins, with their hashes)")
    for name, version in sorted(installed.items()):
        if name not in allowed and name not in _BOOTSTRAP:
            problems.append(f"{name} {version} is installed but pinned in no requirements file: remove it or pin it")
    return tuple(problems)


def venv_problems(program_dir: Path, venv: Path | None = None) -> list[str]:
    """The virtualenv the program runs in (``<project>/.venv`` if it exists, else this interpreter's)."""
    program_dir = Path(program_dir)
    if venv is None and (program_dir / layout.VIRTUALENV).is_dir():
        venv = program_dir / layout.VIRTUALENV
    dirs = tuple(site_packages(venv))
    if not dirs:
        return [f"{venv}: no site-packages found: create the virtualenv with make"]
    runtime = pins(program_dir / "requirements.txt")
    allowed = frozenset(runtime) | frozenset(pins(program_dir / "requirements-dev.txt")) | {
        normalize(_project_dist(program_dir))}
    signature = tuple((str(d), d.stat().st_mtime_ns) for d in dirs)
    return list(_venv_problems(dirs, tuple(sorted(runtime.items())), allowed, signature))


def _project_dist(program_dir: Path) -> str:
    try:
        import tomllib

        name = tomllib.loads((program_dir / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    except (OSError, KeyError, ValueError, TypeError, RecursionError):
        name = None
    return name if isinstance(name, str) else "clinspark-environments"


def problems(program_dir: Path, venv: Path | None = None) -> list[str]:
    """Everything that could make the program run other code than the digest covers."""
    return tree_problems(Path(program_dir)) + venv_problems(Path(program_dir), venv)


def running_under(program_dir: Path) -> bool:
    """Whether this interpreter is the program's own virtualenv."""
    return Path(sys.prefix).resolve() == (Path(program_dir) / layout.VIRTUALENV).resolve()
