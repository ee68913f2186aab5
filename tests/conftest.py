"""Shared fixtures: the shipped stacks planned once, stacks planned from edited stack files; altering a plan."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import replace
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from changecontrol import layout, runcontext
from changecontrol.trust import TrustRoot, load_example
from envctl import ecr
from envctl.monitor import Registration
from envctl.offline import LocalStacks, RunOptions, StackRun, StackRunError, run_stack
from policies.framework import ENVIRONMENT_TYPE

PROJECT = Path(__file__).resolve().parent.parent
NS = "clinspark-environments"
SHIPPED = ("sandbox", "migration", "preprod", "val", "prod", "demo", "community-dev", "seed")
# The shipped stacks are the example, checked in example mode as of its pinned date. Tests never
# read the system clock: NOW is the one clock of every test (noon of the example's date).
EXAMPLE = load_example(PROJECT)
NOW = datetime.combine(EXAMPLE.as_of, time(12, 0), tzinfo=timezone.utc)
TODAY = NOW.date()
OPTIONS = RunOptions(now=NOW, example=EXAMPLE)
REVIEW = RunOptions(now=NOW, example=EXAMPLE, review_only=True)  # plans an edited, unapproved state too
KEYS = PROJECT / "tests" / "example" / "keys"


def _private_copies(*names: str) -> tuple[Path, ...]:
    """The example's keys, copied with the permissions OpenSSH requires (git keeps none; the repository's
    own files are left as they are)."""
    directory = Path(tempfile.mkdtemp(prefix="example-keys-"))
    copies = []
    for name in names:
        for suffix in ("", ".pub"):
            shutil.copyfile(KEYS / f"{name}{suffix}", directory / f"{name}{suffix}")
        (directory / name).chmod(0o600)
        copies.append(directory / name)
    return tuple(copies)


REQUESTER_KEY, APPROVER_KEY = _private_copies("a.berger", "m.keller")


@pytest.fixture(autouse=True)
def private_check_cache(tmp_path_factory, monkeypatch) -> None:
    """envctl check keeps results in a cache by default: each test gets its own, never the user's, so no test
    is served by another's results (tests of the cache itself set their own)."""
    monkeypatch.setenv("ENVCTL_CACHE_DIR", str(tmp_path_factory.mktemp("check-cache")))


@pytest.fixture(autouse=True)
def example_context() -> Iterator[None]:
    """Every test runs with the fixed clock, in example mode, unless it sets another context."""
    with runcontext.using(runcontext.RunContext(now=NOW, example=EXAMPLE)):
        yield


@pytest.fixture(scope="session")
def shipped() -> dict[str, StackRun]:
    """Every shipped stack planned offline once (VAL and PROD resolve Pre-PROD locally).

    Shared by every test of the session: never change a StackRun or Registration of it in place;
    alter copies (:func:`altered`, ``dataclasses.replace``, ``copy.deepcopy``).
    """
    local = LocalStacks(PROJECT, options=OPTIONS)
    try:
        return {stack: local.run(stack) for stack in SHIPPED}
    except StackRunError as e:
        if e.kind == "unapproved":
            pytest.fail("the shipped example's records no longer approve the current program or tooling: run "
                        f"change-records/regenerate-shipped.sh (maintainers) and commit them.\n{e}", pytrace=False)
        raise


def stack_config(stack: str) -> dict[str, Any]:
    """The `config:` mapping of a shipped stack file, as YAML data."""
    return dict(yaml.safe_load((PROJECT / f"Pulumi.{stack}.yaml").read_text())["config"])


@pytest.fixture
def stacks_dir(tmp_path: Path) -> Path:
    """A directory with copies of every shipped stack file, for edits that never touch the repo."""
    for stack in SHIPPED:
        shutil.copy(PROJECT / f"Pulumi.{stack}.yaml", tmp_path)
    return tmp_path


def without_pins(config: dict[str, Any]) -> dict[str, Any]:
    """A shipped stack's settings as a new stack (another customer's, a fresh one) takes them: no pins of names
    from before identifiers were unique (`snapshots[].identifier`, `clone_from.copies`, `log_groups_pinned`)."""
    snapshots = config.get(f"{NS}:snapshots")
    if snapshots:
        config[f"{NS}:snapshots"] = [{k: v for k, v in s.items() if k != "identifier"} for s in snapshots]
    if isinstance(config.get(f"{NS}:clone_from"), dict):
        config[f"{NS}:clone_from"].pop("copies", None)
    config.pop(f"{NS}:log_groups_pinned", None)
    return config


def write_stack(directory: Path, stack: str, config: dict[str, Any]) -> Path:
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


@pytest.fixture
def plan_edited(stacks_dir: Path) -> Callable[..., StackRun]:
    """Plan `stack` after `edit(config)` changed a copy of its stack file (the edit may return None)."""

    def plan(stack: str, edit: Callable[[dict[str, Any]], Any] | None = None, *, base: str | None = None) -> StackRun:
        config = stack_config(base or stack)
        if edit is not None:
            edit(config)
        write_stack(stacks_dir, stack, config)
        return run_stack(PROJECT, stack, stacks_dir=stacks_dir, options=REVIEW)

    return plan


# --------------------------------------------------------------------------------------------
# Altering a plan: always on copies, so that `shipped` stays as planned
# --------------------------------------------------------------------------------------------
def altered(run: StackRun, match: Callable[[Registration], bool], **changes: Any) -> StackRun:
    """The run with every matching registration changed; `inputs`/`outputs` changes are merged."""
    regs, matched = [], False
    for reg in run.registrations:
        if match(reg):
            matched = True
            update = dict(changes)
            if "inputs" in update:
                update["inputs"] = {**reg.inputs, **update["inputs"]}
            if "outputs" in update:
                update["outputs"] = {**(reg.outputs or {}), **update["outputs"]}
            reg = replace(reg, **update)
        regs.append(reg)
    assert matched, "the alteration matched nothing"
    return replace(run, registrations=regs)


def of_type(typ: str) -> Callable[[Registration], bool]:
    return lambda reg: reg.type == typ


def environment(run: StackRun) -> Registration:
    (env,) = run.by_type(ENVIRONMENT_TYPE)
    return env


# --------------------------------------------------------------------------------------------
# A copy of the example's stack files and records (a fleet directory: the program is this one)
# --------------------------------------------------------------------------------------------
@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    """The shipped stack files, their change records and waivers, in a directory of their own."""
    target = tmp_path / "fleet"
    target.mkdir()
    for stack in SHIPPED:
        shutil.copy(PROJECT / f"Pulumi.{stack}.yaml", target)
    shutil.copytree(PROJECT / "change-records", target / "change-records",
                    ignore=shutil.ignore_patterns("*.sh", "*.md"))
    return target


def set_config(directory: Path, stack: str, key: str, value: Any) -> None:
    """Set (or, with value None, remove) one key of a stack file, as `pulumi config set` would."""
    path = directory / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    if value is None:
        doc["config"].pop(key, None)
    else:
        doc["config"][key] = value
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture
def plan_in() -> Callable[[Path, str], StackRun]:
    """Plan a stack of a directory with this program, reviewing (not refusing) an unapproved state."""

    def plan(directory: Path, stack: str) -> StackRun:
        return LocalStacks(PROJECT, directory, REVIEW).run(stack)

    return plan


# --------------------------------------------------------------------------------------------
# A real team (no example mode): this repository's code with its own generated keys and signers
# --------------------------------------------------------------------------------------------
TEAM_IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info",
                                     "change-records", "tests", "bench")


def keypair(directory: Path, name: str) -> Path:
    key = directory / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


def line(key: Path, principal: str, *namespaces: str) -> str:
    public = " ".join(key.with_name(key.name + ".pub").read_text().split()[:2])
    return f'{principal} namespaces="{",".join(namespaces)}" {public}\n'


AUTHOR = (layout.AUTHORED,)
APPROVER = (layout.AUTHORED, layout.APPROVED)


def record(root: Path, chain: str, key: Path, trust: TrustRoot | None = None) -> str:
    return ecr.draft(root, chain, "A change", "Because it is needed", "standard", key, trust or TrustRoot(root), NOW).id


def approve(root: Path, record_id: str, key: Path, trust: TrustRoot | None = None) -> None:
    ecr.approve(root, record_id, key, trust or TrustRoot(root), NOW)


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("keys")
    return {name: keypair(directory, name) for name in ("alice", "bob", "carol", "mallory")}


@pytest.fixture(scope="session")
def team_template(tmp_path_factory, keys) -> Path:
    root = tmp_path_factory.mktemp("team") / "project"
    shutil.copytree(PROJECT, root, ignore=TEAM_IGNORE)
    (root / ".git").mkdir()  # a checkout: where CI's clone roots it, whatever its content
    (root / "signers").mkdir(exist_ok=True)
    (root / layout.SIGNERS_FILE).write_text(line(keys["alice"], "alice@team.example", *AUTHOR)
                                            + line(keys["bob"], "bob@team.example", *APPROVER))
    approve(root, record(root, layout.SIGNERS_CHAIN, keys["alice"]), keys["bob"])
    approve(root, record(root, layout.TOOLING_CHAIN, keys["alice"]), keys["bob"])
    for stack in ("preprod", "prod"):  # prod plans through Pre-PROD's outputs
        approve(root, record(root, stack, keys["alice"]), keys["bob"])
    return root


@pytest.fixture
def team(team_template, tmp_path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(team_template, root)
    return root


