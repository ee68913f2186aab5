"""The project file (`Pulumi.yaml`) and stack files (`Pulumi.<stack>.yaml`), read as the Pulumi CLI
reads them and hands them to a program, and refused where the CLI would read them differently.

Everything that reads a stack file (the offline engine, the policy pack computing the digest,
envctl) reads it here, strictly (:mod:`changecontrol.strictyaml`), into the flat
``namespace:key -> text`` map the engine passes to the program.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import layout, strictyaml

SECURE_PLACEHOLDER = "[secure value: not decrypted offline]"
# Top-level keys of Pulumi.yaml this project accepts; the CLI honours more (main, stackConfigDir,
# config, ...), each of which would make it run or configure something the offline check does not.
PROJECT_KEYS = ("name", "description", "runtime", "author", "website", "license")
_REFUSED_PROJECT_KEYS = {
    "main": "it would make the CLI run another program than __main__.py; keep the program in __main__.py",
    "stackConfigDir": "it would make the CLI read stack files from another directory; keep them beside Pulumi.yaml",
    "config": "project-wide config would reach every stack without appearing in its stack file; set it per stack",
    "options": "it changes how the CLI loads the program; remove it",
    "plugins": "it would load provider plugins from local paths; install the pinned providers instead",
    "backend": "the backend is chosen by `pulumi login`, not by the project file",
    "packages": "local packages are not part of the reviewed program; remove it",
}
STACK_FILE_KEYS = ("config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment")


class StackFileError(Exception):
    """A project or stack file that cannot be used (missing, not strict YAML, wrong shape, refused key)."""


@dataclass(frozen=True)
class StackFile:
    stack: str
    path: Path
    config: dict[str, str]  # namespace:key -> text, as the engine passes PULUMI_CONFIG
    secret_keys: tuple[str, ...]
    environment: tuple[str, ...] = ()  # Pulumi ESC environments the stack imports (top-level `environment:`)


# The Pulumi CLI looks for these extensions in this order: Pulumi.json wins over Pulumi.yaml, and a
# stack file Pulumi.<stack>.json over Pulumi.<stack>.yaml. This project's files are YAML only.
CLI_EXTENSIONS = (".json", ".yaml", ".yml")


def has_project(directory: Path) -> bool:
    """Whether the Pulumi CLI would find a project file here (in any of the extensions it reads)."""
    return any((Path(directory) / f"Pulumi{ext}").exists() for ext in CLI_EXTENSIONS)


def project_root(directory: Path) -> Path | None:
    """The project a directory belongs to: itself when it holds a project file, else the nearest parent
    that does (a fleet directory inside a repository), else None."""
    here = Path(directory).resolve()
    for candidate in (here, *here.parents):
        if has_project(candidate):
            return candidate
    return None


def _others(directory: Path, stem: str) -> list[str]:
    return [f"{stem}{ext}" for ext in CLI_EXTENSIONS if ext != ".yaml" and (Path(directory) / f"{stem}{ext}").exists()]


def read_project(project_dir: Path) -> dict[str, Any]:
    """Pulumi.yaml, checked: a Python program in __main__.py, its virtualenv .venv, nothing else."""
    rivals = _others(project_dir, "Pulumi")
    if rivals:
        raise StackFileError(f"{', '.join(rivals)}: a project file the Pulumi CLI would read instead of, or besides, "
                             "Pulumi.yaml (it looks for .json first); this project's project file is Pulumi.yaml "
                             "alone: remove it")
    path = Path(project_dir) / "Pulumi.yaml"
    try:
        doc = strictyaml.load(path, "Pulumi.yaml")
    except strictyaml.StrictYamlError as e:
        raise StackFileError(str(e)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
        raise StackFileError("Pulumi.yaml: the project file needs a `name`")
    for key in doc:
        if key in _REFUSED_PROJECT_KEYS:
            raise StackFileError(f"Pulumi.yaml: key `{key}` is refused: {_REFUSED_PROJECT_KEYS[key]}. "
                                 f"Accepted keys: {', '.join(PROJECT_KEYS)}")
        if key not in PROJECT_KEYS:
            raise StackFileError(f"Pulumi.yaml: unknown key `{key}`. Accepted keys: {', '.join(PROJECT_KEYS)}")
    runtime = doc.get("runtime")
    name = runtime.get("name") if isinstance(runtime, dict) else runtime
    options = (runtime.get("options") or {}) if isinstance(runtime, dict) else {}
    extra = sorted(set(runtime) - {"name", "options"}) if isinstance(runtime, dict) else []
    if name != "python" or not isinstance(options, dict) or extra:
        raise StackFileError("Pulumi.yaml: `runtime` must be python (name: python, options: {toolchain: pip, "
                             f"virtualenv: {layout.VIRTUALENV}}}), got {runtime!r}")
    unknown = sorted(set(options) - {"toolchain", "virtualenv"})
    if unknown or options.get("toolchain", "pip") != "pip" or options.get("virtualenv", layout.VIRTUALENV) != layout.VIRTUALENV:
        raise StackFileError(f"Pulumi.yaml: runtime.options must be toolchain: pip and virtualenv: {layout.VIRTUALENV} "
                             f"(the environment the pinned requirements are installed in), got {options!r}")
    return doc


def project_name(project_dir: Path) -> str:
    return read_project(project_dir)["name"]


def discover(directory: Path) -> list[str]:
    """Every stack with a stack file in the directory, sorted."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in Path(directory).glob("Pulumi.*.yaml")
                  if p.is_file())


def config_text(value: Any) -> str:
    """A stack-file value as the engine hands it to the program: scalars as text, objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "" if value is None else str(value)


def _holds_secret(value: Any) -> bool:
    """A `{secure: ...}` anywhere inside a structured value."""
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


def read(directory: Path, stack: str, project: str) -> StackFile:
    path = layout.stack_file(directory, stack)
    where = path.name
    rivals = _others(directory, f"Pulumi.{stack}")
    if rivals:
        raise StackFileError(f"stack '{stack}': {', '.join(rivals)}: a stack file the Pulumi CLI would read instead of "
                             f"{where} (it looks for .json first); a stack's settings are in {where} alone: remove it")
    if path.is_dir():
        raise StackFileError(f"{where} is a directory, not a stack file")
    try:
        doc = strictyaml.load(path, where)
    except strictyaml.StrictYamlError as e:
        if e.problem == "no such file":
            raise StackFileError(f"stack '{stack}': no stack file {where} in {directory}") from None
        raise StackFileError(f"stack '{stack}': {e}") from None
    doc = doc or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), (dict, type(None))):
        raise StackFileError(f"stack '{stack}': {where} must be a mapping with a `config` mapping")
    unknown = sorted(str(k) for k in doc if k not in STACK_FILE_KEYS)
    if unknown:
        raise StackFileError(f"stack '{stack}': {where}: unknown top-level key(s) {', '.join(unknown)}; accepted: "
                             f"{', '.join(STACK_FILE_KEYS)}")
    env = doc.get("environment")
    imports = env.get("imports") if isinstance(env, dict) else env  # `environment: [...]` or `{imports: [...]}`
    environments = tuple(str(e) for e in imports) if isinstance(imports, list) else ((str(env),) if env else ())
    config: dict[str, str] = {}
    secret: list[str] = []
    for raw_key, value in (doc.get("config") or {}).items():
        key = str(raw_key) if ":" in str(raw_key) else f"{project}:{raw_key}"  # the CLI's default namespace
        if key in config:
            raise StackFileError(f"stack '{stack}': {where}: {key} is given twice (once without its namespace); the "
                                 "Pulumi CLI would keep either one: write it once")
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = SECURE_PLACEHOLDER
            secret.append(key)
        else:
            config[key] = config_text(value)
            if _holds_secret(value):
                secret.append(key)
    return StackFile(stack=stack, path=path, config=config, secret_keys=tuple(secret), environment=environments)
