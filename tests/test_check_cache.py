"""The check cache: a result is served again only while everything it read is unchanged.

Each test checks a fleet directory (the example's stack files and records) with a cache directory
outside it, then marks every stored entry so that an answer served from the cache can be told from
a recomputed one, changes one input, and checks again: the marked answer must not come back, and
where the input changes the verdict, the new verdict is reported.
"""

from __future__ import annotations

import compileall
import json
import shutil
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from changecontrol import layout
from changecontrol.trust import TrustRoot, load_example
from envctl import cache
from envctl import check as check_module
from envctl.check import StackCheck, check_all, render, to_json
from envctl.offline import RunOptions
from tests.conftest import EXAMPLE, NOW, NS, OPTIONS, PROJECT, TODAY, set_config

MARK = {"policy": "served-from-the-cache", "level": "advisory", "urn": "", "message": "a marked cache entry"}


def check(fleet: Path, stacks: Sequence[str], cache_dir: Path | None, options: RunOptions = OPTIONS,
          policy_config: dict[str, Any] | None = None) -> list[StackCheck]:
    return check_all(PROJECT, fleet, list(stacks), policy_config, options, jobs=1, cache_dir=cache_dir)


def mark(cache_dir: Path) -> int:
    """Make every stored entry answer the marker violation; how many there are."""
    entries = list(cache_dir.rglob("*.json"))
    for path in entries:
        doc = json.loads(path.read_text())
        doc["result"]["violations"] = [MARK]
        path.write_text(json.dumps(doc))
    return len(entries)


def served(result: StackCheck) -> bool:
    return any(v.policy == MARK["policy"] for v in result.violations)


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"  # beside the fleet (tmp_path / "fleet"), never inside it


def warm_and_marked(fleet: Path, stacks: Sequence[str], cache_dir: Path, **kw: Any) -> list[StackCheck]:
    """A cold run, every entry marked, and proof that an unchanged input is answered from the cache."""
    cold = check(fleet, stacks, cache_dir, **kw)
    assert all(r.error is None for r in cold), [r.error for r in cold]
    assert mark(cache_dir) == len(set(stacks))
    assert all(served(r) for r in check(fleet, stacks, cache_dir, **kw))
    return cold


def approval_problems(result: StackCheck) -> list[str]:
    return [v.message for v in result.violations if v.policy == "change-approved-state"]


# --------------------------------------------------------------------------------------------
# Each input of a result: changing it is a miss, and the new answer is given
# --------------------------------------------------------------------------------------------
def test_a_changed_stack_file_is_checked_again(example_copy, cache_dir):
    warm_and_marked(example_copy, ["sandbox"], cache_dir)
    set_config(example_copy, "sandbox", f"{NS}:release", "latest")
    (result,) = check(example_copy, ["sandbox"], cache_dir)
    assert not served(result)
    assert "release" in result.error and "latest" in result.error


@pytest.mark.parametrize("spelling", ["as shipped", "escaped", "json text"])
def test_a_changed_clone_source_is_checked_again_for_the_clone(example_copy, cache_dir, spelling):
    prod = example_copy / "Pulumi.prod.yaml"
    if spelling == "escaped":  # the same reference, spelt with a YAML escape
        doc = yaml.safe_load(prod.read_text())
        source = doc["config"].pop(f"{NS}:clone_from")
        text = yaml.safe_dump(doc, sort_keys=False) + (f'  {NS}:clone_from: {{stack: "{source["stack"][:-4]}\\x70rod", '
                                                       f'snapshot: {source["snapshot"]}}}\n')
        prod.write_text(text)
    elif spelling == "json text":  # the reference as JSON text, its name escaped in JSON
        doc = yaml.safe_load(prod.read_text())
        source = doc["config"][f"{NS}:clone_from"]
        doc["config"][f"{NS}:clone_from"] = json.dumps(source).replace("preprod", "pre\\u0070rod")
        prod.write_text(yaml.safe_dump(doc, sort_keys=False))
    warm_and_marked(example_copy, ["preprod", "prod"], cache_dir)
    doc = yaml.safe_load((example_copy / "Pulumi.preprod.yaml").read_text())
    doc["config"][f"{NS}:snapshots"] = [s for s in doc["config"][f"{NS}:snapshots"] if s["name"] != "golive"]
    (example_copy / "Pulumi.preprod.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (prod,) = check(example_copy, ["prod"], cache_dir)  # prod's own files are unchanged: only its source's are
    assert not served(prod)
    assert "'golive' is not published" in prod.error


def test_a_changed_record_is_checked_again(example_copy, cache_dir):
    warm_and_marked(example_copy, ["preprod"], cache_dir)
    sig = layout.chain_dir(example_copy, "preprod") / "ECR-preprod-0001.approval.yaml.sig"
    sig.unlink()
    (result,) = check(example_copy, ["preprod"], cache_dir)
    assert not served(result)
    assert any("approval" in p for p in approval_problems(result))


def test_a_changed_allowed_signers_file_is_checked_again(example_copy, cache_dir, tmp_path):
    # In example mode the signers in force are the example's allowed-signers file: edit a copy of it.
    shutil.copytree(PROJECT / layout.EXAMPLE_DIR, tmp_path / "root" / layout.EXAMPLE_DIR)
    options = RunOptions(now=NOW, example=load_example(tmp_path / "root"))
    warm_and_marked(example_copy, ["preprod"], cache_dir, options=options)
    signers = tmp_path / "root" / layout.EXAMPLE_DIR / "allowed_signers"
    signers.write_text("".join(l for l in signers.read_text().splitlines(keepends=True) if "m.keller" not in l))
    options = RunOptions(now=NOW, example=load_example(tmp_path / "root"))
    (result,) = check(example_copy, ["preprod"], cache_dir, options=options)
    assert not served(result)
    assert any("m.keller" in p for p in approval_problems(result))


def test_a_changed_waivers_file_is_checked_again(example_copy, cache_dir):
    warm_and_marked(example_copy, ["sandbox"], cache_dir)
    (example_copy / "waivers").mkdir()
    (example_copy / "waivers" / "sandbox.yaml").write_text(yaml.safe_dump([{
        "rule": "kms-rotation", "resource": "urn:pulumi:sandbox::clinspark-environments::aws:kms/key:Key::nothing",
        "reason": "The key is rotated by the vendor's HSM procedure.",
        "expires": (TODAY + timedelta(days=30)).isoformat()}]))
    (result,) = check(example_copy, ["sandbox"], cache_dir)
    assert not served(result)
    assert [w["rule"] for w in result.waivers] == ["kms-rotation"]


def test_a_changed_policy_config_is_checked_again(example_copy, cache_dir):
    warm_and_marked(example_copy, ["preprod"], cache_dir)
    (result,) = check(example_copy, ["preprod"], cache_dir, policy_config={"all": "advisory"})
    assert not served(result)
    assert "may not lower" in result.error


@pytest.fixture
def checker_copy(tmp_path, monkeypatch) -> Path:
    """The checker's checkout as the cache sees it (its code and its trust root), in a copy a test may edit."""
    copy = tmp_path / "checker"
    shutil.copytree(PROJECT, copy, symlinks=True,
                    ignore=shutil.ignore_patterns(".git", ".venv", ".pytest_cache", "*.egg-info"))
    monkeypatch.setattr(cache, "ROOT", copy)
    return copy


@pytest.mark.parametrize("path", [
    "envctl/offline.py",                                  # the offline engine
    "policies/rules/lifecycle.py",                        # the policy pack
    "changecontrol/trust.py",                             # the trust library
    "components/settings.py",                             # the program
    "components/__pycache__/naming.cpython-311.pyc",      # bytecode that is not its source's code
    "requirements.txt",                                   # the pins
    "change-records/tooling/ECR-tooling-0001.yaml",       # the trust root's tooling chain
    "change-records/signers/ECR-signers-0001.yaml",       # the trust root's signers chain
])
def test_a_changed_checker_or_trust_root_is_checked_again(example_copy, cache_dir, checker_copy, path):
    warm_and_marked(example_copy, ["sandbox"], cache_dir)
    target = checker_copy / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix == ".pyc":
        target.write_bytes(b"\x00" * 32)
    else:
        with target.open("ab") as f:
            f.write(b"\n# changed\n")
    (result,) = check(example_copy, ["sandbox"], cache_dir)
    assert not served(result)


def test_bytecode_python_writes_as_it_imports_keeps_the_entries(checker_copy, example_copy):
    for pyc in checker_copy.rglob("__pycache__"):
        shutil.rmtree(pyc)
    before = cache.Keys(PROJECT, example_copy, NOW, EXAMPLE, None).key("prod")
    compileall.compile_dir(checker_copy / "components", quiet=1)
    compileall.compile_dir(checker_copy / "policies", quiet=1)
    assert list((checker_copy / "components").rglob("*.pyc"))
    assert cache.Keys(PROJECT, example_copy, NOW, EXAMPLE, None).key("prod") == before


def test_example_mode_is_part_of_the_key(example_copy, cache_dir):
    cold = warm_and_marked(example_copy, ["preprod"], cache_dir)
    (result,) = check(example_copy, ["preprod"], cache_dir, options=RunOptions(now=NOW))  # no example mode
    assert not served(result)
    assert approval_problems(result) != approval_problems(cold[0])


def test_the_signers_genesis_pin_is_part_of_the_key(example_copy, cache_dir, monkeypatch):
    real = RunOptions(now=NOW)
    warm_and_marked(example_copy, ["preprod"], cache_dir, options=real)
    monkeypatch.setenv("ENVCTL_SIGNERS_GENESIS", "sha256:" + "0" * 64)
    (result,) = check(example_copy, ["preprod"], cache_dir, options=real)
    assert not served(result)


def test_another_python_is_checked_again(example_copy, cache_dir, monkeypatch):
    warm_and_marked(example_copy, ["sandbox"], cache_dir)
    monkeypatch.setattr(cache.sys, "version", cache.sys.version + " (another build)")
    (result,) = check(example_copy, ["sandbox"], cache_dir)
    assert not served(result)


def test_another_package_version_is_checked_again(example_copy, cache_dir, tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    dist = site / "pulumi_aws-7.0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pulumi_aws\nVersion: 7.0.0\n")
    real = cache._site_packages
    monkeypatch.setattr(cache, "_site_packages", lambda program_dir: [*real(program_dir), site])
    warm_and_marked(example_copy, ["sandbox"], cache_dir)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pulumi_aws\nVersion: 7.0.1\n")
    (result,) = check(example_copy, ["sandbox"], cache_dir)
    assert not served(result)


def test_the_next_day_is_checked_again_and_the_same_day_is_not(example_copy, cache_dir):
    warm_and_marked(example_copy, ["sandbox"], cache_dir)
    later_that_day = RunOptions(now=NOW + timedelta(hours=11), example=EXAMPLE)
    assert served(check(example_copy, ["sandbox"], cache_dir, options=later_that_day)[0])
    next_day = RunOptions(now=NOW + timedelta(days=1), example=EXAMPLE)
    assert not served(check(example_copy, ["sandbox"], cache_dir, options=next_day)[0])


def test_an_expiry_passing_overnight_is_reported_the_next_day(example_copy, cache_dir):
    set_config(example_copy, "sandbox", f"{NS}:expires_on", TODAY.isoformat())
    (today,) = check(example_copy, ["sandbox"], cache_dir)
    assert today.error is None
    (tomorrow,) = check(example_copy, ["sandbox"], cache_dir,
                        options=RunOptions(now=NOW + timedelta(days=1), example=EXAMPLE))
    assert "expires_on" in tomorrow.error


# --------------------------------------------------------------------------------------------
# What is served, and from where
# --------------------------------------------------------------------------------------------
@pytest.fixture
def counted(monkeypatch) -> list[str]:
    """The stacks actually checked (not answered from the cache)."""
    checked: list[str] = []
    real = check_module.check_stack

    def counting(local, stack, *args, **kw):
        checked.append(stack)
        return real(local, stack, *args, **kw)

    monkeypatch.setattr(check_module, "check_stack", counting)
    return checked


def test_a_warm_run_answers_exactly_what_the_cold_run_did(example_copy, cache_dir, counted):
    (example_copy / "waivers").mkdir()
    (example_copy / "waivers" / "sandbox.yaml").write_text(yaml.safe_dump([{
        "rule": "kms-rotation", "resource": "acme-sandbox-main-key", "reason": "too short",
        "expires": "2027-02-30"}]))
    set_config(example_copy, "prod", f"{NS}:release", "2026.9.9")  # an unapproved change: a violation
    stacks = ["sandbox", "preprod", "val", "prod"]
    trust = TrustRoot(PROJECT, EXAMPLE)
    cold = check(example_copy, stacks, cache_dir)
    assert counted == stacks
    warm = check(example_copy, stacks, cache_dir)
    assert counted == stacks  # nothing checked again
    assert to_json(warm, trust, example_copy) == to_json(cold, trust, example_copy)
    assert render(warm, "trust") == render(cold, "trust")
    uncached = check(example_copy, stacks, None)
    assert to_json(uncached, trust, example_copy) == to_json(cold, trust, example_copy)
    assert approval_problems(warm[3]) and warm[0].waivers


def test_an_error_is_never_cached(example_copy, cache_dir, counted):
    set_config(example_copy, "sandbox", f"{NS}:release", "latest")
    first = check(example_copy, ["sandbox", "demo"], cache_dir)
    assert first[0].error and first[1].error is None
    assert len(list(cache_dir.rglob("*.json"))) == 1  # demo's
    second = check(example_copy, ["sandbox", "demo"], cache_dir)
    assert counted == ["sandbox", "demo", "sandbox"]
    assert second[0].error == first[0].error


def test_an_entry_planted_in_the_checked_tree_is_never_read(example_copy, counted):
    inside = example_copy / ".cache" / "envctl"
    keys = cache.Keys(PROJECT, example_copy, NOW, EXAMPLE, None)
    planted = {"stack": "sandbox", "phase": "sandbox", "resources": 1, "violations": [], "waivers": [], "error": None}
    cache.store(inside, keys.key("sandbox"), planted)  # a well-formed entry under the very key
    (result,) = check(example_copy, ["sandbox"], inside)
    assert counted == ["sandbox"] and result.resources > 1
    assert len(list(inside.rglob("*.json"))) == 1  # the planted one: nothing written there either
    assert not cache.cacheable(PROJECT, PROJECT, PROJECT / ".cache")  # nor inside the checker's checkout


def test_a_checked_tree_with_a_program_of_its_own_is_never_cached(tmp_path, cache_dir):
    candidate = tmp_path / "candidate"
    shutil.copytree(PROJECT, candidate, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "tests"))
    assert not cache.cacheable(candidate, candidate, cache_dir)
    assert not cache.cacheable(PROJECT, candidate / "fleet", cache_dir)  # a fleet inside another project


@pytest.mark.parametrize("damage", ["garbage", "truncated", "other key", "other format", "an error", "a link"])
def test_a_corrupt_entry_is_a_miss(example_copy, cache_dir, counted, damage, tmp_path):
    (cold,) = check(example_copy, ["sandbox"], cache_dir)
    (entry,) = cache_dir.rglob("*.json")
    doc = json.loads(entry.read_text())
    if damage == "garbage":
        entry.write_bytes(b"\x00\xff not json")
    elif damage == "truncated":
        entry.write_text(entry.read_text()[:40])
    elif damage == "other key":
        entry.write_text(json.dumps({**doc, "key": "0" * 64}))
    elif damage == "other format":
        entry.write_text(json.dumps({**doc, "format": "envctl-check-cache/0"}))
    elif damage == "an error":
        entry.write_text(json.dumps({**doc, "result": {**doc["result"], "error": "x"}}))
    else:
        elsewhere = tmp_path / "elsewhere.json"
        elsewhere.write_text(entry.read_text())
        entry.unlink()
        entry.symlink_to(elsewhere)
    (again,) = check(example_copy, ["sandbox"], cache_dir)
    assert counted == ["sandbox", "sandbox"]
    assert again.to_json() == cold.to_json()
    assert not entry.is_symlink() and json.loads(entry.read_text())["result"] == cold.to_json()  # written anew


def test_the_default_cache_directory_is_outside_any_checkout():
    assert cache.default_dir({"ENVCTL_CACHE_DIR": "/srv/envctl-cache", "XDG_CACHE_HOME": "/x"}) == \
        Path("/srv/envctl-cache")
    assert cache.default_dir({"XDG_CACHE_HOME": "/home/u/.cache-x"}) == Path("/home/u/.cache-x/envctl")
    assert cache.default_dir({}) == Path.home() / ".cache" / "envctl"


def test_stacks_whose_references_form_a_cycle_are_never_served(example_copy):
    set_config(example_copy, "preprod", f"{NS}:clone_from", {"stack": "clinspark/clinspark-environments/val",
                                                              "snapshot": "x"})
    first = cache.Keys(PROJECT, example_copy, NOW, EXAMPLE, None)
    again = cache.Keys(PROJECT, example_copy, NOW, EXAMPLE, None)
    assert first.key("val") != again.key("val") and first.key("preprod") != again.key("preprod")
    assert first.key("sandbox") == again.key("sandbox")
