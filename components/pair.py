"""A Main/Test pair: two instances and the exchange location only they can read and write."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from . import tokens
from .instance import Account, ExchangeRefs, Instance, InstanceArgs, NetworkRefs, RestoreFrom, kms_key
from .phases import Role
from .settings import StackSettings
from .storage import SecureBucket, SecureBucketArgs


@dataclass(frozen=True)
class InstancePairArgs:
    settings: StackSettings
    account: Account
    network: NetworkRefs
    logs_bucket_name: pulumi.Input[str]
    restore: dict[Role, RestoreFrom]  # the roles the phase restores from a Pre-PROD snapshot


class InstancePair(pulumi.ComponentResource):
    instances: dict[Role, Instance]

    def __init__(self, name: str, args: InstancePairArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(tokens.INSTANCE_PAIR, name, None, opts)
        s, acct = args.settings, args.account
        child = pulumi.ResourceOptions(parent=self)
        tags = s.tags_for(None)
        roles = (Role.MAIN, Role.TEST)

        # The export (from main) / import (into test) location: its own key, and object data for
        # the two task roles alone. Their ARNs are known by name before the roles exist.
        base = s.env_name
        key = kms_key(s.names.exchange_key, f"{name}: study export/import exchange", s, acct, tags, self)
        principals = pulumi.Output.all(acct.partition, acct.account_id).apply(
            lambda v: [f"arn:{v[0]}:iam::{v[1]}:role/{s.names.task_role(r)}" for r in roles]
        )
        exchange = SecureBucket(
            f"{base}-exchange",
            SecureBucketArgs(tags=tags, kms_key_arn=key.arn, protect=s.protected, force_destroy=s.destroyable,
                             data_principals=principals, purpose="exchange"),
            opts=child,
        )
        refs = ExchangeRefs(bucket_arn=exchange.arn, bucket_name=exchange.bucket_name, key_arn=key.arn)
        self.instances = {
            role: Instance(
                f"{base}-{role.value}",
                InstanceArgs(settings=s, role=role, account=acct, network=args.network,
                             logs_bucket_name=args.logs_bucket_name, exchange=refs, restore=args.restore.get(role)),
                opts=child,
            )
            for role in roles
        }
        self.exchange_bucket = exchange.bucket_name
        self.register_outputs(
            {"customer": s.customer, "phase": s.phase, "role": "pair",
             "instanceNames": [f"{base}-{r.value}" for r in roles], "exchangeBucket": exchange.bucket_name}
        )
