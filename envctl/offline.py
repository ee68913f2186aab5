"""Run the unchanged Pulumi program of one stack under the offline engine, and keep what it did."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import json
import logging
import os
import runpy
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pulumi
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime import stack as runtime_stack
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import set_mocks
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

from . import stackfile
from .mocks import AwsMocks, RunningDatabase
from .monitor import SECRET_MARK, RecordingMonitor, Registration, ResourceRejected

DEFAULT_REGION = "us-east-1"
_NO_ROOT_YET = object()


# The SDK's private names the offline engine relies on, in the pinned pulumi version. An upgrade that
# drops one fails tests/test_offline_engine.py with this list, not a confusing error mid-plan.
PRIVATE_SDK_NAMES = (
    (runtime_resource, "_get_stack_trace"),
    (runtime_stack, "wait_for_rpcs"),
    (runtime_settings, "_get_rpc_manager"),
    (runtime_settings, "SETTINGS"),
)


def missing_private_sdk_names() -> list[str]:
    missing = [f"{module.__name__}.{name}" for module, name in PRIVATE_SDK_NAMES if not hasattr(module, name)]
    settings = getattr(runtime_settings, "SETTINGS", None)
    missing += [f"pulumi.runtime.settings.SETTINGS.{a}" for a in ("outputs", "lock") if not hasattr(settings, a)]
    return missing


async def _wait_for_everything(await_all_outstanding_tasks: bool = True) -> None:
    """The SDK's wait for quiescence, with every outstanding output awaited together, round after
    round, instead of one completion at a time (quadratic in their number)."""
    manager = runtime_settings._get_rpc_manager()
    while True:
        while manager.rpcs:
            await asyncio.sleep(0)
            await manager.rpcs.pop()
        if manager.unhandled_exception is not None:
            raise manager.unhandled_exception.with_traceback(manager.exception_traceback)
        while await_all_outstanding_tasks:
            with runtime_settings.SETTINGS.lock:
                pending = list(runtime_settings.SETTINGS.outputs)
                runtime_settings.SETTINGS.outputs.clear()
            if not pending:
                break
            results = await asyncio.gather(*pending, return_exceptions=True)  # every outcome retrieved
            failed = next((r for r in results if isinstance(r, BaseException)), None)
            if failed is not None:
                raise failed
        if not manager.rpcs:
            return


_SHORTCUT_DEPTH: list[int] = [0]


@contextlib.contextmanager
def engine_shortcuts() -> Iterator[None]:
    """What the offline engine does differently from the CLI's, for speed at fleet scale, for the
    length of an offline run only (the SDK is left as it was afterwards; runs may nest):

    * Source positions: the SDK captures a stack trace per resource for the engine to display;
      nothing here displays them.
    * Quiescence: all outstanding outputs are awaited together (:func:`_wait_for_everything`). The
      program and the order it registers in are unchanged.
    * Garbage collection runs less often: the SDK allocates thousands of short-lived futures and
      tasks per stack, and collecting the young generation every 700 allocations took a third of a plan.
    """
    missing = missing_private_sdk_names()
    if missing:
        raise RuntimeError(f"the pinned pulumi SDK lacks {', '.join(missing)}, which the offline engine relies on: "
                           "pin the version envctl was written for, or adapt envctl/offline.py")
    if _SHORTCUT_DEPTH[0]:
        _SHORTCUT_DEPTH[0] += 1
        try:
            yield
        finally:
            _SHORTCUT_DEPTH[0] -= 1
        return
    saved = (runtime_resource._get_stack_trace, runtime_stack.wait_for_rpcs, gc.get_threshold())
    runtime_resource._get_stack_trace = lambda: source_pb2.StackTrace()
    runtime_stack.wait_for_rpcs = _wait_for_everything
    gen0, gen1, gen2 = saved[2]
    gc.set_threshold(max(gen0, 10_000), max(gen1, 20), max(gen2, 50))
    _SHORTCUT_DEPTH[0] = 1
    try:
        yield
    finally:
        _SHORTCUT_DEPTH[0] = 0
        runtime_resource._get_stack_trace, runtime_stack.wait_for_rpcs = saved[0], saved[1]
        gc.set_threshold(*saved[2])


class StackRunError(Exception):
    """The program refused the stack, or could not run it.

    ``kind``: ``invalid`` (a configuration the program refuses), ``unapproved`` (a change-controlled
    stack whose desired state no verified ECR approves: the program refused it before registering
    anything), ``unreviewed`` (a checked tree's program that is neither the checker's own nor approved:
    never run), ``rejected`` (a resource AWS would refuse) or ``failed`` (anything else)."""

    def __init__(self, stack: str, message: str, *, kind: str, registered: int = 0):
        super().__init__(message)
        self.stack = stack
        self.kind = kind
        self.registered = registered  # resources registered before the refusal

    @property
    def user_error(self) -> bool:
        return self.kind in ("invalid", "unapproved")


# The program's refusals are RunErrors (printed by the CLI without a traceback); the offline engine
# tells them apart by name, because a checked tree's program brings its own classes.
_REFUSALS = {"InvalidStackConfig": "invalid", "UntrackedChange": "unapproved"}


@dataclass
class StackRun:
    """What one offline run of a stack registered and exported."""

    stack: str
    project: str
    path: Path
    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)  # what the program logged as warning or error

    def by_type(self, typ: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == typ]

    def one(self, typ: str, name: str) -> Registration:
        found = [r for r in self.registrations if r.type == typ and r.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources of type {typ} named {name}")
        return found[0]

    @property
    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}


StackOutputs = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class RunOptions:
    """How the offline engine runs the program (handed to it through changecontrol.runcontext)."""

    now: datetime | None = None  # the clock; None: the real time
    example: Any = None  # changecontrol.trust.Example: example mode
    review_only: bool = False  # envctl check: an unapproved state is reported, not refused
    program_root: Path | None = None  # the checked tree whose byte-identical program this one stands for
    running_databases: tuple[RunningDatabase, ...] = ()  # databases the account already runs (default: none)


class LocalStacks:
    """Resolves stack references from the stack files beside the program, planned offline.

    A reference `<org>/<project>/<stack>` is answered with the outputs of the local `<stack>`, so
    the whole Pre-PROD -> VAL -> PROD chain plans without a cloud account. Sources are planned
    before the stack that references them (the engine cannot be re-entered), each once.
    """

    def __init__(self, project_dir: Path, stacks_dir: Path | None = None, options: RunOptions = RunOptions()):
        self.project_dir = Path(project_dir)
        self.stacks_dir = Path(stacks_dir) if stacks_dir else self.project_dir
        self.options = options
        self._runs: dict[str, StackRun | StackRunError] = {}

    def run(self, stack: str) -> StackRun:
        if stack not in self._runs:
            try:
                self._runs[stack] = run_stack(self.project_dir, stack, self, stacks_dir=self.stacks_dir,
                                              options=self.options)
            except StackRunError as e:
                self._runs[stack] = e
        result = self._runs[stack]
        if isinstance(result, StackRunError):
            raise result
        return result

    def prepare(self, references: list[str]) -> None:
        for ref in references:
            stack = ref.rsplit("/", 1)[-1]
            if stackfile.stack_path(self.stacks_dir, stack).is_file():
                try:
                    self.run(stack)
                except StackRunError:
                    pass  # the referencing stack reports a source without outputs

    def __call__(self, reference: str) -> Mapping[str, Any] | None:
        result = self._runs.get(reference.rsplit("/", 1)[-1])
        return result.outputs if isinstance(result, StackRun) else None


def _references(sf: stackfile.StackFile, project: str) -> list[str]:
    """Stack references a stack file asks for (its clone source, its seed source), read before the run."""
    found = []
    for key in ("clone_from", "seed_from"):
        raw = sf.config.get(f"{project}:{key}")
        try:
            ref = json.loads(raw).get("stack") if raw else None
        except (ValueError, AttributeError, RecursionError):
            ref = None
        if isinstance(ref, str):
            found.append(ref)
    return found


def run_stack(
    project_dir: Path, stack: str, stack_outputs: StackOutputs | None = None, stacks_dir: Path | None = None,
    options: RunOptions = RunOptions(),
) -> StackRun:
    """Plan `stack` offline: the program in `project_dir/__main__.py` under mocks, with the stack
    file `Pulumi.<stack>.yaml` from `stacks_dir` (default: the project directory)."""
    project_dir = Path(project_dir)
    stacks_dir = Path(stacks_dir) if stacks_dir else project_dir
    try:
        project = stackfile.project_name(project_dir)
        sf = stackfile.read(stacks_dir, stack, project)
    except stackfile.StackFileError as e:
        raise StackRunError(stack, str(e), kind="invalid") from None
    if stack_outputs is None:
        stack_outputs = LocalStacks(project_dir, stacks_dir, options)
    if isinstance(stack_outputs, LocalStacks):
        stack_outputs.prepare(_references(sf, project))
    mocks = AwsMocks(sf.config.get("aws:region") or DEFAULT_REGION, stack_outputs, now=options.now,
                     running=options.running_databases)
    monitor = RecordingMonitor(mocks, stack, project)
    program = str(project_dir / "__main__.py")
    engine_log = _EngineLog(stack)

    def body() -> StackRun:
        _enter_run_context(stacks_dir, options)
        # set_mocks would make (and at once close) a root stack; run_in_stack, the SDK's own entry
        # for programs, makes the root instead, so `pulumi.run(main)` runs as under the CLI.
        runtime_settings.set_root_resource(_NO_ROOT_YET)
        set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=engine_log.logger)
        runtime_settings.ROOT.set(None)
        set_all_config(dict(sf.config), list(sf.secret_keys))
        roots: list[Any] = []

        def program_body() -> None:
            roots.append(runtime_settings.get_root_resource())  # the Stack lives in run_in_stack's task context
            runpy.run_path(program, run_name="__main__")

        try:
            with _engine_config(sf):
                _sync_await(run_in_stack(program_body))
        except pulumi.RunError as e:
            _drop_leftovers()
            kind = _REFUSALS.get(type(e).__name__, "failed")
            managed = sum(1 for r in monitor.registrations.values() if not r.read)
            raise StackRunError(stack, str(e), kind=kind, registered=managed) from None
        except ResourceRejected as e:
            _drop_leftovers()
            raise StackRunError(stack, f"stack '{stack}': a resource would be rejected: {e}", kind="rejected") from None
        outputs, secret = _resolve_exports(getattr(roots[0], "outputs", {}) if roots else {})
        regs = [monitor.registrations[u] for u in monitor.order]
        return StackRun(stack=stack, project=project, path=sf.path, registrations=regs, outputs=outputs,
                        secret_outputs=secret, warnings=engine_log.messages)

    # A fresh context per stack: the SDK keeps its settings and root resource in context variables.
    _quiet_reported_failures()
    with engine_shortcuts():
        return contextvars.Context().run(body)


def _enter_run_context(stacks_dir: Path, options: RunOptions) -> None:
    """Tell the program (through its own changecontrol.runcontext) the clock, example mode, where
    the records are and whether to review only. Imported here, at run time, so that a checked
    tree's program receives it in its own module."""
    from changecontrol import runcontext

    runcontext.set_for_this_context(runcontext.RunContext(
        now=options.now, example=options.example, stacks_dir=Path(stacks_dir), review_only=options.review_only,
        program_root=options.program_root))


class _engine_config:
    """The stack's configuration in the environment variables the Pulumi language host sets for a
    program (PULUMI_CONFIG, PULUMI_CONFIG_SECRET_KEYS), for the length of one run."""

    KEYS = ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")

    def __init__(self, sf: stackfile.StackFile):
        self.values = {"PULUMI_CONFIG": json.dumps(sf.config), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(list(sf.secret_keys))}

    def __enter__(self) -> None:
        self.saved = {k: os.environ.get(k) for k in self.KEYS}
        os.environ.update(self.values)

    def __exit__(self, *exc: Any) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def close_engine_loop() -> None:
    """Close the event loop the SDK ran this process's stacks on, before the interpreter exits.

    Left open, the loop is collected during the interpreter's shutdown, sometimes after its own
    self-pipe socket, and asyncio then prints a traceback ("Invalid file descriptor: -1") under a
    command that had already reported its result. Called once, when a command or plan host is done."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            loop = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            return
    if not loop.is_running() and not loop.is_closed():
        loop.close()
        asyncio.set_event_loop(None)  # a later run in this process makes a new one (pulumi's _ensure_event_loop)


def _drop_leftovers() -> None:
    """A refused run leaves registrations of its program pending on the shared event loop; one of them may
    hold the same refusal and would raise it in whichever stack is planned next in this process (seen: a
    rejected autoname of one stack refusing the seed stack planned after it). Drop them from the SDK's list of
    outputs to await, so they end with the refused run (some wait for values that never come: never awaited)."""
    with runtime_settings.SETTINGS.lock:  # outputs the refused run registered, never to be awaited now
        runtime_settings.SETTINGS.outputs.clear()


def _quiet_reported_failures() -> None:
    """A refused stack leaves SDK futures holding the same error, never awaited; asyncio would
    print each when it is collected. The error is already reported once, as the run's error."""
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:  # closed by an earlier command in this process (close_engine_loop): a new one
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        if isinstance(context.get("exception"), (ResourceRejected, pulumi.RunError)):
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


class _EngineLog(logging.Handler):
    """Collects what the program logs through the engine (`pulumi.log.warn`, deprecations...)."""

    def __init__(self, stack: str):
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.getLogger(f"envctl.engine.{stack}")
        self.logger.propagate = False
        self.logger.handlers = [self]
        self.logger.setLevel(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname.lower()}: {record.getMessage()}")


def _resolve_exports(exports: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    values: dict[str, Any] = {}
    secret: set[str] = set()
    for key, value in exports.items():
        out = pulumi.Output.from_input(value)
        if _sync_await(out.is_secret()):
            secret.add(key)
            values[key] = SECRET_MARK
        else:
            values[key] = _sync_await(out.future(with_unknowns=False))
    return values, secret
