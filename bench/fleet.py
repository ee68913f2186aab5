"""Fleet benchmark: check N customers x 5 phases of stack files offline, and compare with the bare SDK.

    .venv/bin/python bench/fleet.py --customers 100

Prints, with one pinned clock: a cold check of the whole fleet with an empty cache; a re-check with
nothing changed and with one stack file changed (in the same process, and in a fresh one); and the
floor: the same program under Pulumi's documented mocks (`set_mocks` with mocks that echo inputs as
outputs, the SDK as shipped), with the same workers; then the split of a check and peak memory.
Not a test: speed targets live here, and the README records what it printed.
"""

from __future__ import annotations

import argparse
import contextvars
import json
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


PINNED_ENGINE = json.loads((PROJECT / "components/data/rds-engine-versions.json").read_text())["offered"][-1]


def generate(directory: Path, customers: int, today: date) -> list[str]:
    """Stack files of `customers` customers, each through the five onboarding phases, and the vendor's seed stack
    their sandboxes start from."""
    seed = {"aws:region": "eu-central-1", f"{NS}:release": "2026.4.2", f"{NS}:network": {"cidr": "10.250.0.0/20"},
            f"{NS}:domain": {"zone": "demo.clinspark.example"},
            f"{NS}:snapshots": [{"name": "release-2026-4-2", "purpose": "seed", "release": "2026.4.2"}]}
    (directory / "Pulumi.seed.yaml").write_text(yaml.safe_dump({"config": seed}, sort_keys=False))
    stacks = ["seed"]
    for i in range(customers):
        customer = f"c{i:04d}"
        base = {"aws:region": "eu-central-1", f"{NS}:customer": customer, f"{NS}:release": "2026.4.2",
                f"{NS}:domain": {"zone": "onboarding.clinspark.example"}}
        preprod = f"{customer}-preprod"
        pin = {f"{NS}:engine_version": PINNED_ENGINE}  # controlled phases pin an offered minor
        configs = {
            "sandbox": {f"{NS}:expires_on": (today + timedelta(days=200)).isoformat(),
                        f"{NS}:seed_from": {"stack": f"clinspark/{NS}/seed"}},
            "migration": {f"{NS}:expires_on": (today + timedelta(days=90)).isoformat()},
            "preprod": {**pin, f"{NS}:change_record": f"ECR-{preprod}-0001",
                        f"{NS}:snapshots": [{"name": "val-1", "purpose": "val"}, {"name": "golive", "purpose": "prod"}]},
            "val": {**pin, f"{NS}:change_record": f"ECR-{customer}-val-0001",
                    f"{NS}:expires_on": (today + timedelta(days=60)).isoformat(),
                    f"{NS}:clone_from": {"stack": f"clinspark/{NS}/{preprod}", "snapshot": "val-1"}},
            "prod": {**pin, f"{NS}:change_record": f"ECR-{customer}-prod-0001",
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


def make_team(workdir: Path, now: datetime, code: Path = PROJECT) -> tuple[Path, dict[str, Path]]:
    """A real team's checkout (this code, or an older checkout's, with its own keys): the trust root the fleet
    is checked from."""
    from changecontrol import layout
    from changecontrol.trust import TrustRoot
    from envctl import ecr

    team = workdir / "team"
    shutil.copytree(code, team, ignore=TEAM_IGNORE)
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


# -- the floor: the same program under Pulumi's documented mocks, nothing of envctl -------------
FLOOR_INVOKES = {  # what the program's invokes read; everything else is echoed
    "aws:index/getAvailabilityZones:getAvailabilityZones": {"names": ["eu-central-1a", "eu-central-1b",
                                                                      "eu-central-1c"]},
    "aws:index/getCallerIdentity:getCallerIdentity": {"accountId": "123456789012", "userId": "floor",
                                                      "arn": "arn:aws:iam::123456789012:user/floor"},
    "aws:index/getPartition:getPartition": {"partition": "aws", "dnsSuffix": "amazonaws.com"},
    "aws:route53/getZone:getZone": {"zoneId": "Z0FLOOR"},
    "aws:elb/getServiceAccount:getServiceAccount": {"arn": "arn:aws:iam::054676820928:root"},
    "aws:rds/getSnapshot:getSnapshot": {"snapshotCreateTime": "2026-01-01T00:00:00Z"},
    "aws:rds/getInstances:getInstances": {"instanceIdentifiers": [], "instanceArns": []},  # before the first up
}


def _floor_stack(program: Path, fleet: Path, stack: str, project: str, answers: dict, now: datetime) -> None:
    """One stack as a Pulumi unit test runs a program: `set_mocks` with mocks that echo inputs as outputs
    (a stack reference is answered with its source's outputs), the stack's config, the SDK as shipped."""
    import json

    import pulumi
    from pulumi.runtime.mocks import Mocks, set_mocks
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from changecontrol import runcontext, stackfiles
    from components.program import main

    class Echo(Mocks):
        def new_resource(self, args):
            if args.typ == "pulumi:pulumi:StackReference":
                return f"{args.name}-id", {**args.inputs, "outputs": answers.get(args.inputs.get("name"), {})}
            outputs = dict(args.inputs)
            if args.typ == "aws:acm/certificate:Certificate":  # the one computed output the program indexes
                outputs["domainValidationOptions"] = [{"domainName": args.inputs.get("domainName"),
                                                       "resourceRecordName": "_floor", "resourceRecordType": "CNAME",
                                                       "resourceRecordValue": "_floor.acm-validations.aws"}]
            return f"{args.name}-id", outputs

        def call(self, args):
            return {**dict(args.args), **FLOOR_INVOKES.get(args.token, {})}

    sf = stackfiles.read(fleet, stack, project)

    def body() -> None:
        # The program's one in-process input: where the fleet's records are, and the run's clock.
        runcontext.set_for_this_context(runcontext.RunContext(now=now, stacks_dir=fleet))
        set_mocks(Echo(), project=project, stack=stack, preview=False)
        os.environ["PULUMI_CONFIG"] = json.dumps(sf.config)
        os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(sf.secret_keys))

        async def program() -> None:
            for key, value in (await main()).items():
                pulumi.export(key, value)

        _sync_await(run_pulumi_func(program))

    contextvars.Context().run(body)


def _floor_group(program: str, fleet: str, stacks: list[str], answers: dict, now: datetime) -> int:
    from changecontrol import stackfiles

    project = stackfiles.project_name(Path(program))
    for stack in stacks:
        _floor_stack(Path(program), Path(fleet), stack, project, answers, now)
    return len(stacks)


def floor(program: Path, fleet: Path, stacks: list[str], jobs: int, answers: dict, now: datetime) -> float:
    """The floor with the same workers and the same grouping as the check (fresh spawned processes)."""
    from envctl.check import _customer_groups

    groups = _customer_groups(stacks, max(jobs * 4, min(len(stacks) // 10, jobs * 16)))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_floor_group, [str(program)] * jobs, [str(fleet)] * jobs, [[]] * jobs, [{}] * jobs,
                      [now] * jobs))  # workers started before the clock runs
        start = time.perf_counter()
        done = sum(pool.map(_floor_group, [str(program)] * len(groups), [str(fleet)] * len(groups), groups,
                            [answers] * len(groups), [now] * len(groups)))
        elapsed = time.perf_counter() - start
    assert done == len(stacks)
    return elapsed


def split(program: Path, workdir: Path, stacks: list[str], now: datetime) -> tuple[float, float]:
    """On a sample, serially: planning alone (the SDK running the program) against the whole check."""
    from envctl.check import _check_group
    from envctl.offline import LocalStacks, RunOptions

    _check_group(str(program), str(workdir), stacks[:5], None, RunOptions(now=now))  # warm imports and caches
    start = time.perf_counter()
    local = LocalStacks(program, workdir, RunOptions(now=now, review_only=True))
    for stack in stacks:
        local.run(stack)
    plan = time.perf_counter() - start
    start = time.perf_counter()
    _check_group(str(program), str(workdir), stacks, None, RunOptions(now=now))
    return plan, time.perf_counter() - start


def peak_mib() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


FRESH_PROCESS = """
import sys, time
start = time.perf_counter()
from datetime import datetime
from pathlib import Path
from changecontrol.trust import OWN_ROOT
from envctl.check import check_all
from envctl.offline import RunOptions
fleet, cache, now, jobs = Path(sys.argv[1]), Path(sys.argv[2]), datetime.fromisoformat(sys.argv[3]), int(sys.argv[4])
assert OWN_ROOT == Path(sys.argv[5]), f"the fresh process must run the team's checkout, not {OWN_ROOT}"
stacks = (fleet / "stacks.txt").read_text().split()
results = check_all(OWN_ROOT, fleet, stacks, None, RunOptions(now=now), jobs=jobs, cache_dir=cache)
assert not any(r.error for r in results)
print(time.perf_counter() - start)
"""


def measure(fleet: Path, customers: int, jobs: int, stacks: list[str], now: datetime, cold_only: bool,
            no_floor: bool = False) -> None:
    """The timed part, run from the team's checkout (its trust root)."""
    from changecontrol.trust import OWN_ROOT
    from envctl.check import check_all
    from envctl.offline import LocalStacks, RunOptions

    if OWN_ROOT == PROJECT:
        raise SystemExit("the measured run must import the team's checkout (its trust root), not this one")
    options = RunOptions(now=now)
    cache_dir = Path(tempfile.mkdtemp(prefix="envctl-cache-"))
    start = time.perf_counter()
    if cold_only:  # as an older checkout's check_all is called: no cache
        results = check_all(OWN_ROOT, fleet, stacks, None, options, jobs=jobs)
    else:
        results = check_all(OWN_ROOT, fleet, stacks, None, options, jobs=jobs, cache_dir=cache_dir)
    elapsed = time.perf_counter() - start
    counts = [r.resources for r in results]
    errors = [r for r in results if r.error]
    total = sum(counts)
    print(f"fleet: {customers} customers x {len(PHASES)} phases = {len(stacks)} stacks, "
          f"{total} resources, {os.cpu_count()} cores, {jobs} workers")
    print(f"cold envctl check{'' if cold_only else ' (empty cache)'}: {elapsed:.1f} s, "
          f"{len(stacks) / elapsed:.1f} stacks/s, {elapsed / len(stacks) * 1000:.0f} ms/stack, "
          f"{elapsed / total * 1000:.2f} ms/resource")
    print(f"  stacks with mandatory violations: {sum(1 for r in results if r.mandatory)}, not checkable: {len(errors)}")
    for r in errors[:3]:
        print(f"  error: {r.error.splitlines()[0]}")
    for r in [r for r in results if r.mandatory][:3]:
        print(f"  violation in {r.stack}: {r.mandatory[0].message[:200]}")
    if cold_only:
        return

    start = time.perf_counter()
    warm = check_all(OWN_ROOT, fleet, stacks, None, options, jobs=jobs, cache_dir=cache_dir)
    unchanged = time.perf_counter() - start
    assert [r.to_json() for r in warm] == [r.to_json() for r in results], "a warm run must answer what the cold did"
    changed = f"{stacks[1].rsplit('-', 1)[0]}-sandbox"  # stacks[0] is the vendor's seed stack
    path = fleet / f"Pulumi.{changed}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"][f"{NS}:tags"] = {"cost-centre": "onboarding"}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    start = time.perf_counter()
    again = check_all(OWN_ROOT, fleet, stacks, None, options, jobs=jobs, cache_dir=cache_dir)
    one_changed = time.perf_counter() - start
    assert not any(r.error for r in again)
    path.write_text(path.read_text().replace("onboarding", "migration-team"))
    # -P: nothing from the working directory is importable (as envctl runs), so the team's checkout is the one run
    fresh = subprocess.run([sys.executable, "-P", "-c", FRESH_PROCESS, str(fleet), str(cache_dir), now.isoformat(),
                            str(jobs), str(OWN_ROOT)], capture_output=True, text=True, check=True)
    print(f"re-check, nothing changed: {unchanged:.2f} s; one stack file changed ({changed}): {one_changed:.2f} s "
          f"in the same process, {float(fresh.stdout):.2f} s in a fresh process (its imports included)")

    if no_floor:
        return
    # The floor: the same program, its preprods' outputs answering the clones' references (computed first,
    # not timed, by the offline engine: they are data here).
    answers = {}
    local = LocalStacks(OWN_ROOT, fleet, RunOptions(now=now, review_only=True))
    for stack in stacks:
        if stack.endswith("-preprod"):
            answers[f"clinspark/{NS}/{stack}"] = local.run(stack).outputs
    floor_pool = floor(OWN_ROOT, fleet, stacks, jobs, answers, now)
    print(f"floor: the same program under set_mocks with echo mocks, the SDK unpatched, {jobs} workers: "
          f"{floor_pool:.1f} s")
    print(f"ratio cold envctl check / floor: {elapsed / floor_pool:.2f}x")
    sample = stacks[: 5 * min(5, customers)]
    plan_only, check_sample = split(OWN_ROOT, fleet, sample, now)
    print(f"of which planning (the SDK running the program and the offline engine), serially on {len(sample)} "
          f"stacks: {plan_only / check_sample:.0%}; policy evaluation, signatures and approvals: "
          f"{1 - plan_only / check_sample:.0%}")
    own, children = peak_mib()
    print(f"peak memory: main process {own:.0f} MiB, largest worker {children:.0f} MiB")
    shutil.rmtree(cache_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--keep", action="store_true", help="keep the generated stack files")
    parser.add_argument("--cold-only", action="store_true",
                        help="only the cold check, without a cache (to compare with an older checkout)")
    parser.add_argument("--no-floor", action="store_true", help="leave out the floor and the split")
    parser.add_argument("--code", type=Path, default=PROJECT,
                        help="the checkout whose code the team runs (default: this one; an older one to compare)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the inner run, from the team's checkout
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        stacks = (args.measure / "stacks.txt").read_text().split()
        measure(args.measure, args.customers, args.jobs, stacks, datetime.fromisoformat(args.now), args.cold_only,
                args.no_floor)
        return 0

    now = datetime.now(timezone.utc).replace(microsecond=0)  # one pinned clock for every run of the benchmark
    workdir = Path(tempfile.mkdtemp(prefix="envctl-fleet-"))
    try:
        team, keys = make_team(workdir, now, args.code)
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
                        "--jobs", str(args.jobs), "--now", now.isoformat()]
                       + (["--cold-only"] if args.cold_only else []) + (["--no-floor"] if args.no_floor else []),
                       env=env, check=True)
    finally:
        if args.keep:
            print(f"stack files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
