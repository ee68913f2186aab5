"""Found by the hostile review of the cache: ways to get a clean result served for a state a fresh check
refuses. Each worked once; the cache now keys links by what they lead to and stores nothing when a file it
read was replaced or rewritten during the run."""

from __future__ import annotations

import shutil

from changecontrol import layout
from envctl import check as check_module
from envctl.check import check_all
from tests.conftest import OPTIONS, PROJECT


def _check(fleet, stacks, cache_dir):
    return check_all(PROJECT, fleet, list(stacks), None, OPTIONS, jobs=1, cache_dir=cache_dir)


def _approval(results):
    return [v.message for r in results for v in r.violations if v.policy == "change-approved-state"]


def test_symlinked_stack_file_edited_after_caching(example_copy, tmp_path):
    cache_dir = tmp_path / "cache"
    real = example_copy / "preprod-settings.yaml"
    (example_copy / "Pulumi.preprod.yaml").rename(real)
    (example_copy / "Pulumi.preprod.yaml").symlink_to(real.name)
    assert not _approval(_check(example_copy, ["preprod"], cache_dir))
    real.write_text(real.read_text().replace("release: 2026.4.2", "release: 2026.4.3"))
    assert _approval(_check(example_copy, ["preprod"], None))            # fresh: untracked change
    assert _approval(_check(example_copy, ["preprod"], cache_dir))       # FAILS: served clean from the cache


def test_symlinked_chain_directory_edited_after_caching(example_copy, tmp_path):
    cache_dir = tmp_path / "cache"
    chain = layout.chain_dir(example_copy, "preprod")
    shutil.move(chain, example_copy / "preprod-chain")
    chain.symlink_to("../preprod-chain")
    assert not _approval(_check(example_copy, ["preprod"], cache_dir))
    (example_copy / "preprod-chain" / "ECR-preprod-0001.approval.yaml.sig").unlink()
    assert _approval(_check(example_copy, ["preprod"], None))
    assert _approval(_check(example_copy, ["preprod"], cache_dir))       # FAILS


def test_a_file_swapped_during_the_run_is_stored_under_the_other_state(example_copy, tmp_path, monkeypatch):
    """Keys are hashed before and after the run, not from the bytes the run read: a writer who swaps a file
    in for the run and back before it ends gets the good state's result stored under the bad state's key."""
    cache_dir = tmp_path / "cache"
    path = example_copy / "Pulumi.preprod.yaml"
    good = path.read_text()
    bad = good.replace("release: 2026.4.2", "release: 2026.4.3")
    path.write_text(bad)
    real_check = check_module._check

    def racing(*a, **kw):
        path.write_text(good)        # the writer's loop, between the key and the run ...
        try:
            return real_check(*a, **kw)
        finally:
            path.write_text(bad)     # ... and back before the run ends
    monkeypatch.setattr(check_module, "_check", racing)
    _check(example_copy, ["preprod"], cache_dir)
    monkeypatch.setattr(check_module, "_check", real_check)
    assert _approval(_check(example_copy, ["preprod"], None))
    assert _approval(_check(example_copy, ["preprod"], cache_dir))       # FAILS
