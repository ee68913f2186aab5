"""Stack files (`Pulumi.<stack>.yaml`) read the way the Pulumi CLI hands them to a program."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

SECURE_PLACEHOLDER = "[secure value: not decrypted offline]"


class StackFileError(Exception):
    """A stack file that cannot be read at all (missing, not YAML, wrong shape)."""


@dataclass(frozen=True)
class StackFile:
    stack: str
    path: Path
    config: dict[str, str]  # namespace:key -> string, as the engine passes PULUMI_CONFIG
    secret_keys: tuple[str, ...]


def program_dir(directory: Path) -> Path:
    """The Pulumi project whose program deploys the stacks of `directory`: the directory itself, or,
    for a directory holding only stack files and their records (a fleet), this repository's project."""
    from components.digest import PROJECT_DIR

    return Path(directory) if (Path(directory) / "Pulumi.yaml").exists() else PROJECT_DIR


def project_name(project_dir: Path) -> str:
    path = project_dir / "Pulumi.yaml"
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise StackFileError(f"{path}: cannot read the project file ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise StackFileError(f"{path}: the project file has no name")
    return doc["name"]


def stack_path(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def discover(project_dir: Path) -> list[str]:
    """Every stack with a stack file in the directory, sorted."""
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=_json_default, sort_keys=True)
    return "" if value is None else str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"cannot represent {type(value).__name__}")


def read(project_dir: Path, stack: str, project: str) -> StackFile:
    path = stack_path(project_dir, stack)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise StackFileError(f"stack '{stack}': no stack file {path.name} in {project_dir}") from None
    except (OSError, yaml.YAMLError) as e:
        raise StackFileError(f"stack '{stack}': {path.name} is not readable YAML ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config", {}), dict):
        raise StackFileError(f"stack '{stack}': {path.name} must be a mapping with a 'config' mapping")
    config: dict[str, str] = {}
    secret: list[str] = []
    for key, value in (doc.get("config") or {}).items():
        key = str(key) if ":" in str(key) else f"{project}:{key}"  # the CLI's default namespace
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = SECURE_PLACEHOLDER
            secret.append(key)
        else:
            config[key] = _text(value)
    return StackFile(stack=stack, path=path, config=config, secret_keys=tuple(secret))


def load_stack_settings(directory: Path, stack: str, today: date):
    """A stack's validated settings from its stack file, as the program would see them on `today`
    (raises StackFileError or InvalidStackConfig)."""
    from components.settings import load_settings

    project = project_name(program_dir(directory))
    sf = read(Path(directory), stack, project)
    return load_settings(stack, project, sf.config, today=today, source=sf.path.name)
