"""A Main/Test pair: two instances and the exchange location only they can read and write."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi

from . import tokens
from .instance import Instance, InstanceArgs, kms_key
from .naming import Names
from .phases import Role
from .refs import Account, ExchangeRefs, Lifecycle
from .storage import SecureBucket, SecureBucketArgs

ROLES = (Role.MAIN, Role.TEST)


@dataclass(frozen=True)
class InstancePairArgs:
    """The pair's own part (the exchange location) and its two instances' args, built at the edge."""

    customer: str | None
    phase: str
    names: Names
    account: Account
    instances: Mapping[Role, InstanceArgs]  # main and test; the pair adds the exchange location to both
    tags: Mapping[str, str] = field(default_factory=dict)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)

    def __post_init__(self) -> None:
        if set(self.instances) != set(ROLES):
            raise ValueError(f"a pair is main and test, not {', '.join(sorted(r.value for r in self.instances))}")


class InstancePair(pulumi.ComponentResource):
    instances: dict[Role, Instance]

    def __init__(self, name: str, args: InstancePairArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.INSTANCE_PAIR, name, None, opts)
        acct, names, life = args.account, args.names, args.lifecycle
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        # The export (from main) / import (into test) location: its own key, and object data for
        # the two task roles alone. Their ARNs are known by name before the roles exist.
        key = kms_key(names.exchange_key, f"{name}: study export/import exchange", life, acct, tags, self)
        principals = pulumi.Output.all(acct.partition, acct.account_id).apply(
            lambda v: [f"arn:{v[0]}:iam::{v[1]}:role/{names.task_role(r)}" for r in ROLES]
        )
        exchange = SecureBucket(
            f"{names.env}-exchange",
            SecureBucketArgs(tags=tags, kms_key_arn=key.arn, protect=life.protected, force_destroy=life.destroyable,
                             data_principals=principals, purpose="exchange",
                             access_log_bucket=next(iter(args.instances.values())).logs_bucket_name,
                             access_log_prefix=names.server_access_log_prefix(f"{names.env}-exchange")),
            opts=child,
        )
        refs = ExchangeRefs(bucket_arn=exchange.arn, bucket_name=exchange.bucket_name, key_arn=key.arn)
        self.instances = {
            role: Instance(names.instance(role), args.instances[role].with_exchange(refs), opts=child)
            for role in ROLES
        }
        self.exchange_bucket = exchange.bucket_name
        self.exchange_key_arn = key.arn
        self.register_outputs(
            {"customer": args.customer, "phase": args.phase, "role": "pair",
             "instanceNames": [names.instance(r) for r in ROLES], "exchangeBucket": exchange.bucket_name}
        )
