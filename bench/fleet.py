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
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
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


def approve_controlled(directory: Path, stacks: list[str]) -> None:
    """Each controlled stack gets its first ECR, approved, as a real fleet would have."""
    from components.phases import PHASES as CATALOG
    from envctl import ecr

    now = datetime.now(timezone.utc)
    for stack in stacks:
        if CATALOG[stack.rsplit("-", 1)[1]].controlled:
            record = ecr.draft(directory, stack, "Initial state", "Onboarding", "a.requester@example.com", "standard", now)
            ecr.approve(directory, record.id, "b.approver@example.com", now)


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


def split(workdir: Path, stacks: list[str], today: date) -> tuple[float, float]:
    """On a sample, serially: planning alone (the SDK running the program) against the whole check."""
    from envctl.check import _check_group
    from envctl.offline import LocalStacks

    _check_group(str(PROJECT), str(workdir), stacks[:5], None, today.isoformat())  # warm imports and caches
    start = time.perf_counter()
    local = LocalStacks(PROJECT, workdir)
    for stack in stacks:
        local.run(stack)
    plan = time.perf_counter() - start
    start = time.perf_counter()
    _check_group(str(PROJECT), str(workdir), stacks, None, today.isoformat())
    return plan, time.perf_counter() - start


def peak_mib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", action="store_true", help="keep the generated stack files")
    args = parser.parse_args()

    from envctl.check import check_all

    today = datetime.now(timezone.utc).date()
    workdir = Path(tempfile.mkdtemp(prefix="envctl-fleet-"))
    try:
        stacks = generate(workdir, args.customers, today)
        approve_controlled(workdir, stacks)
        start = time.perf_counter()
        results = check_all(PROJECT, workdir, stacks, None, today, jobs=args.jobs)
        elapsed = time.perf_counter() - start
        counts = [r.resources for r in results]
        errors = [r for r in results if r.error]
        sample = stacks[: 5 * min(5, args.customers)]
        plan_only, check_sample = split(workdir, sample, today)
        bare_serial = bare(counts, 1)
        bare_pool = bare(counts, args.jobs)
        bare_tuned = bare(counts, args.jobs, gc_threshold=(10_000, 20, 50))
        own, children = peak_mib()
        total = sum(counts)
        print(f"fleet: {args.customers} customers x {len(PHASES)} phases = {len(stacks)} stacks, "
              f"{total} resources, {os.cpu_count()} cores, {args.jobs} workers")
        print(f"envctl check: {elapsed:.1f} s, {len(stacks) / elapsed:.1f} stacks/s, "
              f"{elapsed / len(stacks) * 1000:.0f} ms/stack, {elapsed / total * 1000:.2f} ms/resource")
        print(f"  stacks with mandatory violations: {sum(1 for r in results if r.mandatory)}, not checkable: {len(errors)}")
        print(f"bare SDK, same resources: serial {bare_serial:.1f} s, {args.jobs} workers {bare_pool:.1f} s")
        print(f"bare SDK with envctl's garbage-collection thresholds, {args.jobs} workers: {bare_tuned:.1f} s")
        print(f"ratio envctl check / bare SDK: {elapsed / bare_serial:.2f}x serial, {elapsed / bare_pool:.2f}x same workers, "
              f"{elapsed / bare_tuned:.2f}x same workers and thresholds")
        print(f"of which planning (the SDK running the program and the offline engine), serially on {len(sample)} "
              f"stacks: {plan_only / check_sample:.0%}; policy evaluation and ECR config: {1 - plan_only / check_sample:.0%}")
        print(f"peak memory: main process {own:.0f} MiB, largest worker {children:.0f} MiB")
        for r in errors[:3]:
            print(f"  error: {r.error.splitlines()[0]}")
    finally:
        if args.keep:
            print(f"stack files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
