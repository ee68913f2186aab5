"""Fleet benchmark: check N customers x 5 phases of stack files offline, and compare with the bare SDK.

    .venv/bin/python bench/fleet.py --customers 100

Prints stacks per second, milliseconds per stack, peak memory, and, measured in the same run, the
time the bare Pulumi SDK needs under mocks to register the same number of resources (a flat
program of plain custom resources with trivial mocks), serially and with the same worker pool.
Not a test: speed targets live here, and the README records what it printed.
"""

from __future__ import annotations

import argparse
import contextvars
import gc
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
if "--measure" not in sys.argv:  # the inner run imports the team's checkout (PYTHONPATH), its trust root
    sys.path.insert(0, str(PROJECT))

NS = "clinspark-environments"
PHASES = ("sandbox", "migration", "preprod", "val", "prod")


def generate(directory: Path, customers: int, today: date) -> list[str]:
    """Stack files of `customers` customers, each through the five onboarding phases."""
    stacks = []
    for i in range(customers):
        customer = f"c{i:04d}"
        base = {"aws:region": "eu-central-1", f"{NS}:customer": customer, f"{NS}:release": "2026.4.2",
                f"{NS}:domain": {"zone": "onboarding.clinspark.example"}}
        preprod = f"{customer}-preprod"
        configs = {
            "sandbox": {f"{NS}:expires_on": (today + timedelta(days=200)).isoformat()},
            "migration": {f"{NS}:expires_on": (today + timedelta(days=90)).isoformat()},
            "preprod": {f"{NS}:change_record": f"ECR-{preprod}-0001",
                        f"{NS}:snapshots": [{"name": "val-1", "purpose": "val"}, {"name": "golive", "purpose": "prod"}]},
            "val": {f"{NS}:change_record": f"ECR-{customer}-val-0001",
                    f"{NS}:expires_on": (today + timedelta(days=60)).isoformat(),
                    f"{NS}:clone_from": {"stack": f"clinspark/{NS}/{preprod}", "snapshot": "val-1"}},
            "prod": {f"{NS}:change_record": f"ECR-{customer}-prod-0001",
                     f"{NS}:clone_from": {"stack": f"clinspark/{NS}/{preprod}", "snapshot": "golive"}},
        }
        for n, phase in enumerate(PHASES):
            stack = f"{customer}-{phase}"
            cidr = f"10.{(i * 5 + n) // 16 % 256}.{((i * 5 + n) % 16) * 16}.0/20"
            config = {**base, **configs[phase], f"{NS}:network": {"cidr": cidr}}
            (directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}, sort_keys=False))
            stacks.append(stack)
    return stacks


TEAM_IGNORE = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info",
                                     "change-records", "tests", "bench")


def make_team(workdir: Path, now: datetime) -> tuple[Path, dict[str, Path]]:
    """A real team's checkout (this code, its own keys): the trust root the fleet is checked from."""
    from changecontrol import layout
    from changecontrol.trust import TrustRoot
    from envctl import ecr

    team = workdir / "team"
    shutil.copytree(PROJECT, team, ignore=TEAM_IGNORE)
    keys = {}
    for name in ("requester", "approver"):
        keys[name] = workdir / name
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(keys[name])], check=True)
    lines = [f'{name}@team.example namespaces="{spaces}" {" ".join(keys[name].with_name(name + ".pub").read_text().split()[:2])}'
             for name, spaces in (("requester", layout.AUTHORED), ("approver", f"{layout.AUTHORED},{layout.APPROVED}"))]
    (team / "signers").mkdir(exist_ok=True)
    (team / layout.SIGNERS_FILE).write_text("\n".join(lines) + "\n")
    for chain in (layout.SIGNERS_CHAIN, layout.TOOLING_CHAIN):
        record = ecr.draft(team, chain, "Team set-up", "Benchmark", "standard", keys["requester"], TrustRoot(team), now)
        ecr.approve(team, record.id, keys["approver"], TrustRoot(team), now)
    return team, keys


def approve_controlled(fleet: Path, team: Path, keys: dict[str, Path], stacks: list[str], now: datetime) -> None:
    """Each controlled stack gets its first ECR, signed and approved, as a real fleet would have."""
    from changecontrol import layout
    from changecontrol.trust import TrustRoot
    from components.phases import PHASES as CATALOG
    from envctl import ecr

    for chain in (layout.SIGNERS_CHAIN, layout.TOOLING_CHAIN):  # the fleet's chains extend the trust root's
        shutil.copytree(layout.chain_dir(team, chain), layout.chain_dir(fleet, chain))
    (fleet / layout.SIGNERS_FILE).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(team / layout.SIGNERS_FILE, fleet / layout.SIGNERS_FILE)
    for stack in stacks:
        if CATALOG[stack.rsplit("-", 1)[1]].controlled:
            record = ecr.draft(fleet, stack, "Initial state", "Onboarding", "standard", keys["requester"],
                               TrustRoot(team), now)
            ecr.approve(fleet, record.id, keys["approver"], TrustRoot(team), now)


# -- the bare SDK: the same number of resources, nothing else ----------------------------------
def _bare_stack(count: int) -> None:
    import pulumi
    from pulumi.runtime.mocks import Mocks, set_mocks
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    class Trivial(Mocks):
        def new_resource(self, args):
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args):
            return {}

    def body() -> None:
        set_mocks(Trivial(), project="bare", stack="bare", preview=False)

        def program() -> None:
            for i in range(count):
                pulumi.CustomResource("bare:index:Resource", f"r{i}", {"index": i, "tags": {"phase": "bare"}})

        _sync_await(run_pulumi_func(program))

    contextvars.Context().run(body)


def _bare_group(counts: list[int], gc_threshold: tuple[int, int, int] | None = None) -> None:
    if gc_threshold:
        gc.set_threshold(*gc_threshold)
    for count in counts:
        _bare_stack(count)


def bare(counts: list[int], jobs: int, gc_threshold: tuple[int, int, int] | None = None) -> float:
    """Always in fresh spawned processes, untouched by envctl's imports (serially: one worker)."""
    chunks = [counts[i::jobs * 4] for i in range(jobs * 4)]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_bare_group, [[]] * jobs))  # workers started before the clock runs
        start = time.perf_counter()
        list(pool.map(_bare_group, chunks, [gc_threshold] * len(chunks)))
        return time.perf_counter() - start


def split(program: Path, workdir: Path, stacks: list[str]) -> tuple[float, float]:
    """On a sample, serially: planning alone (the SDK running the program) against the whole check."""
    from envctl.check import _check_group
    from envctl.offline import LocalStacks, RunOptions

    _check_group(str(program), str(workdir), stacks[:5], None, RunOptions())  # warm imports and caches
    start = time.perf_counter()
    local = LocalStacks(program, workdir, RunOptions(review_only=True))
    for stack in stacks:
        local.run(stack)
    plan = time.perf_counter() - start
    start = time.perf_counter()
    _check_group(str(program), str(workdir), stacks, None, RunOptions())
    return plan, time.perf_counter() - start


def peak_mib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def measure(fleet: Path, customers: int, jobs: int, stacks: list[str]) -> None:
    """The timed part, run from the team's checkout (its trust root)."""
    from changecontrol.trust import OWN_ROOT
    from envctl.check import check_all
    from envctl.offline import RunOptions

    if OWN_ROOT == PROJECT:
        raise SystemExit("the measured run must import the team's checkout (its trust root), not this one")
    start = time.perf_counter()
    results = check_all(OWN_ROOT, fleet, stacks, None, RunOptions(), jobs=jobs)
    elapsed = time.perf_counter() - start
    counts = [r.resources for r in results]
    errors = [r for r in results if r.error]
    sample = stacks[: 5 * min(5, customers)]
    plan_only, check_sample = split(OWN_ROOT, fleet, sample)
    bare_serial = bare(counts, 1)
    bare_pool = bare(counts, jobs)
    bare_tuned = bare(counts, jobs, gc_threshold=(10_000, 20, 50))
    own, children = peak_mib()
    total = sum(counts)
    print(f"fleet: {customers} customers x {len(PHASES)} phases = {len(stacks)} stacks, "
          f"{total} resources, {os.cpu_count()} cores, {jobs} workers")
    print(f"envctl check: {elapsed:.1f} s, {len(stacks) / elapsed:.1f} stacks/s, "
          f"{elapsed / len(stacks) * 1000:.0f} ms/stack, {elapsed / total * 1000:.2f} ms/resource")
    print(f"  stacks with mandatory violations: {sum(1 for r in results if r.mandatory)}, not checkable: {len(errors)}")
    print(f"bare SDK, same resources: serial {bare_serial:.1f} s, {jobs} workers {bare_pool:.1f} s")
    print(f"bare SDK with envctl's garbage-collection thresholds, {jobs} workers: {bare_tuned:.1f} s")
    print(f"ratio envctl check / bare SDK: {elapsed / bare_serial:.2f}x serial, {elapsed / bare_pool:.2f}x same workers, "
          f"{elapsed / bare_tuned:.2f}x same workers and thresholds")
    print(f"of which planning (the SDK running the program and the offline engine), serially on {len(sample)} "
          f"stacks: {plan_only / check_sample:.0%}; policy evaluation, signatures and approvals: "
          f"{1 - plan_only / check_sample:.0%}")
    print(f"peak memory: main process {own:.0f} MiB, largest worker {children:.0f} MiB")
    for r in errors[:3]:
        print(f"  error: {r.error.splitlines()[0]}")
    for r in [r for r in results if r.mandatory][:3]:
        print(f"  violation in {r.stack}: {r.mandatory[0].message[:200]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", action="store_true", help="keep the generated stack files")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the inner run, from the team's checkout
    args = parser.parse_args()
    if args.measure is not None:
        stacks = (args.measure / "stacks.txt").read_text().split()
        measure(args.measure, args.customers, args.jobs, stacks)
        return 0

    now = datetime.now(timezone.utc)
    workdir = Path(tempfile.mkdtemp(prefix="envctl-fleet-"))
    try:
        team, keys = make_team(workdir, now)
        fleet = workdir / "fleet"
        fleet.mkdir()
        stacks = generate(fleet, args.customers, now.date())
        start = time.perf_counter()
        approve_controlled(fleet, team, keys, stacks, now)
        print(f"set-up: a team checkout with its own keys, {len(stacks)} stack files, their first records signed "
              f"and approved in {time.perf_counter() - start:.1f} s (not measured below)")
        (fleet / "stacks.txt").write_text("\n".join(stacks))
        env = {**os.environ, "PYTHONPATH": str(team)}
        subprocess.run([sys.executable, __file__, "--measure", str(fleet), "--customers", str(args.customers),
                        "--jobs", str(args.jobs)], env=env, check=True)
    finally:
        if args.keep:
            print(f"stack files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
