"""Offline engine: the monitor that records every registration as a real engine would see it (URNs built
from the whole parent-type chain, aliases resolved, duplicates refused), and the plain-data view of what it
recorded, secrets marked."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2

from components import tokens

SECRET_MARK = "[secret]"
STACK_TYPE = tokens.STACK


class ResourceRejected(Exception):
    """What the provider would refuse at `pulumi up` (so the offline plan refuses it too)."""


@dataclass
class Registration:
    """One resource as the engine saw it: the request and the state the provider answered."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    protect: bool
    dependencies: list[str]
    provider: str
    ignore_changes: list[str]
    delete_before_replace: bool
    retain_on_delete: bool
    deleted_with: str
    replace_on_changes: list[str]
    aliases: list[str]
    inputs: dict[str, Any]
    id: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] | None = None  # what a component passed to register_outputs
    read: bool = False  # read (a stack reference), not managed
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)  # input -> URNs its value came from
    custom_timeouts: dict[str, str] = field(default_factory=dict)  # operation (create/update/delete) -> duration


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration request, as a real engine would see it."""

    def __init__(self, mocks: pulumi_mocks.Mocks, stack: str, project: str):
        super().__init__(mocks)
        self.stack, self.project = stack, project
        self.registrations: dict[str, Registration] = {}
        self.order: list[str] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine builds: the parent's whole qualified type chain (the root stack not
        included), `$`, the resource's type; waivers and reports name resources by these URNs."""
        if parent:
            qualified = parent.split("::")[2]
            if qualified != STACK_TYPE:
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([self.stack, self.project, type_, name])

    def alias_urns(self, request) -> list[str]:
        """The URNs a registration's aliases name, as the engine resolves them: a full URN as given, a
        spec (what the SDK sends to an engine that supports them) from its name, type and parent,
        each defaulting to the resource's own (a spec of another stack or project keeps that one)."""
        urns = []
        for alias in request.aliases:
            if alias.urn:
                urns.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            urn = self.make_urn(parent, spec.type or request.type, spec.name or request.name)
            if spec.stack or spec.project:
                rest = urn.split("::", 2)[2]
                urn = f"urn:pulumi:{spec.stack or self.stack}::{spec.project or self.project}::{rest}"
            urns.append(urn)
        return urns

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        if urn in self.registrations:
            raise ResourceRejected(f"Duplicate resource URN '{urn}'; try giving it a unique name")
        inputs = _plain_struct(request.object)
        args = pulumi_mocks.MockResourceArgs(
            typ=request.type, name=request.name, inputs=inputs, provider=request.provider,
            resource_id=request.importId, custom=request.custom or False,
        )
        rid, state = self.mocks.new_resource(args)
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, rid, state)
        self.registrations[urn] = Registration(
            urn=urn, type=request.type, name=request.name, custom=bool(request.custom), parent=request.parent,
            protect=bool(request.protect), dependencies=list(request.dependencies), provider=request.provider,
            ignore_changes=list(request.ignoreChanges), delete_before_replace=bool(request.deleteBeforeReplace),
            retain_on_delete=bool(request.retainOnDelete), deleted_with=request.deletedWith,
            replace_on_changes=list(request.replaceOnChanges), aliases=self.alias_urns(request),
            inputs=inputs, id=rid or "", state=state,
            property_dependencies={key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
            custom_timeouts=_timeouts(request),
        )
        self.order.append(urn)
        obj = struct_pb2.Struct()
        obj.update(state)  # plain wire values in, plain wire values out: no serializer round trip
        return resource_pb2.RegisterResourceResponse(urn=urn, id=rid, object=obj)

    def ReadResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if urn in self.registrations:
            raise ResourceRejected(f"Duplicate resource URN '{urn}'; try giving it a unique name")
        try:
            response = super().ReadResource(request)
        finally:
            _close_thread_loop()
        state = self.resources[response.urn].state
        self.registrations[response.urn] = Registration(
            urn=response.urn, type=request.type, name=request.name, custom=True, parent=request.parent, protect=False,
            dependencies=list(request.dependencies), provider=request.provider, ignore_changes=[],
            delete_before_replace=False, retain_on_delete=False, deleted_with="", replace_on_changes=[], aliases=[],
            inputs=rpc.deserialize_properties(request.properties), id=request.id, state=state, read=True,
        )
        self.order.append(response.urn)
        return response

    def Invoke(self, request):
        try:
            return super().Invoke(request)
        finally:
            _close_thread_loop()

    def RegisterResourceOutputs(self, request):
        reg = self.registrations.get(request.urn)
        if reg is not None:
            reg.outputs = rpc.deserialize_properties(request.outputs)
        return super().RegisterResourceOutputs(request)


def _close_thread_loop() -> None:
    """The SDK answers an invoke and a read (a stack reference) on a worker thread, where the mock monitor makes an
    event loop of that thread's own and leaves it open; closed here, so that none is left for the interpreter's
    shutdown to collect (asyncio then prints a traceback under a command that had already reported its result)."""
    if threading.current_thread() is not threading.main_thread():
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_event_loop_policy().get_event_loop()
            if not loop.is_running():
                loop.close()
                asyncio.set_event_loop(None)


def _timeouts(request) -> dict[str, str]:
    """The custom timeouts a registration asks for, by operation (the ones it leaves at the provider's default
    are not listed)."""
    if not request.HasField("customTimeouts"):
        return {}
    given = request.customTimeouts
    return {op: getattr(given, op) for op in ("create", "update", "delete") if getattr(given, op)}


def _plain_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A request's properties as plain data in the wire format (secrets stay marked as such).

    The inputs of a resource registration carry only plain values, secrets and unknowns; none of
    them needs the SDK's deserializer, whose output for them is this same data."""
    return json_format.MessageToDict(struct)


def map_secrets(value: Any, secret: Callable[[Any], Any]) -> Any:
    """`value` with every secret (as the wire format marks it) replaced by `secret(its plain value)`."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return secret(value.get("value"))
        return {k: map_secrets(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [map_secrets(v, secret) for v in value]
    return value


def reveal(value: Any) -> Any:
    """Every secret replaced with a mark: plans never print secrets."""
    return map_secrets(value, lambda _plain_value: SECRET_MARK)
