"""Plain, frozen values the components hand each other: who and where, network, exchange, restore, lifecycle."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from .phases import CLONE, ITERATION


@dataclass(frozen=True)
class Account:
    """Who and where: read once per stack from the provider."""

    account_id: pulumi.Output[str]
    partition: pulumi.Output[str]
    region: str
    zone_id: pulumi.Output[str]
    image_repository: pulumi.Output[str]


@dataclass(frozen=True)
class NetworkRefs:
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    public_subnet_ids: list[pulumi.Input[str]]
    origin: str = ""  # what the stack's settings say of the VPC: its cidr (a VPC of its own) or the existing vpc_id


@dataclass(frozen=True)
class ExchangeRefs:
    """The pair's export/import location, which the instance's task role is granted."""

    bucket_arn: pulumi.Input[str]
    bucket_name: pulumi.Input[str]
    key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class RestoreFrom:
    """A snapshot the instance's database is restored from (through its own copy): a Pre-PROD snapshot (a
    clone), the vendor's seed of the release, or the migration tooling's current iteration."""

    snapshot_name: str  # the published snapshot's name, or the iteration's label
    snapshot_arn: pulumi.Input[str]
    allocated_storage_gb: int  # a restored database is at least as large as the snapshot
    copy_identifier: str | None = None  # pinned: the instance's copy, made before copy identifiers were unique
    kind: str = CLONE  # components.phases: CLONE, SEED or ITERATION
    customer: str | None = None  # whose data the snapshot holds (None: a seed, no customer's)
    stack: str | None = None  # the stack that published it (None: an iteration, made by the migration tooling)
    release: str | None = None  # a seed's release

    @property
    def pinned(self) -> bool:
        """Whether the restored database keeps its source when a newer one is published (ignore_changes). An
        iteration is not pinned: a new iteration replaces the database, nothing of the previous one is kept."""
        return self.kind != ITERATION

    def describe(self) -> dict[str, str | None]:
        """Where the database comes from, as the Instance registers it (the pack reads it: `restoredFrom`)."""
        return {"kind": self.kind, "snapshot": self.snapshot_name, "customer": self.customer, "stack": self.stack,
                "release": self.release}


@dataclass(frozen=True)
class Lifecycle:
    """How stateful resources live and end. The defaults are the strictest (protected, never destroyed by
    one command, a final snapshot kept); only the stack's settings loosen them, and never into a
    contradiction: a protected resource is not destroyable, and only a destroyable one skips its final
    snapshot or lets its logs go."""

    protected: bool = True
    destroyable: bool = False
    final_snapshot: bool = True
    # Logs outlive the stack: a phase whose logs are evidence (the controlled ones) keeps its log groups, and the
    # keys they are encrypted under, when the stack is destroyed (retiring VAL keeps its 365 days of logs).
    keep_logs: bool = True

    def __post_init__(self) -> None:
        if self.protected and self.destroyable:
            raise ValueError("a protected resource cannot also be destroyable")
        if not self.final_snapshot and not self.destroyable:
            raise ValueError("only a destroyable stack may skip the final snapshot")
        if not self.keep_logs and not self.destroyable:
            raise ValueError("only a destroyable stack may let its logs go with it")
