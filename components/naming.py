"""Every name an environment gives AWS, derived once (the idea of pulumi-awsx's `ec2/subnetNaming.ts`).

The program names its resources through this module; envctl's live-account commands (clone-check,
copy-documents) and the policy pack find them through it; a test holds the names the shipped
stacks register against it. Nobody re-derives a name with an f-string.

An environment's name is `<customer>-<phase>`, or the stack's name when it serves no customer
(`demo`, `demo-<label>`, `community-dev`); an instance is `<environment>-<role>`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .phases import CLONE_SOURCE_PHASE, SEED_SOURCE_PHASE, Role

KEY_ALIAS_PREFIX = "alias/clinspark/"
LOG_GROUP_PREFIX = "/clinspark/"
LB_NAME_LIMIT = 32  # load balancers and target groups
IAM_ROLE_LIMIT = 64
SNAPSHOT_ID_LIMIT = 255


def environment_name(customer: str | None, phase: str, stack: str) -> str:
    return f"{customer}-{phase}" if customer else stack


def within(full: str, limit: int) -> str:
    """`full` when it fits, else as much of it as fits and a hash of the whole (unique, stable)."""
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    return f"{full[: limit - 7].rstrip('-')}-{digest}"


SNAPSHOT_SUFFIX_LENGTH = 8  # lowercase letters and digits: 36**8 identifiers per name


def unique(base: str, suffix: str | None) -> str:
    """A snapshot identifier: `base-suffix`, within RDS's limit (the base is cut, never the suffix)."""
    if suffix is None:
        return base[:SNAPSHOT_ID_LIMIT]
    return f"{base[: SNAPSHOT_ID_LIMIT - len(suffix) - 1].rstrip('-')}-{suffix}"


SERVER_ACCESS_LOG_ROOT = "s3"  # prefix of every bucket's server access logs in the access-logs bucket


@dataclass(frozen=True)
class Names:
    """The names of one environment."""

    env: str

    def instance(self, role: Role) -> str:
        return f"{self.env}-{role.value}"

    def key(self, role: Role) -> str:
        return f"{self.instance(role)}-key"

    @property
    def exchange_key(self) -> str:
        return f"{self.env}-exchange-key"

    @staticmethod
    def key_alias(key: str) -> str:
        return f"{KEY_ALIAS_PREFIX}{key}"

    def log_group(self, role: Role) -> str:
        return f"{LOG_GROUP_PREFIX}{self.env}/{role.value}"

    def task_family(self, role: Role) -> str:
        return self.instance(role)

    def task_role(self, role: Role) -> str:
        """Named before it exists: the pair's exchange bucket policy grants it."""
        return f"{self.instance(role)}-task"[:IAM_ROLE_LIMIT]

    def load_balancer(self, role: Role) -> str:
        return within(f"{self.instance(role)}-lb", LB_NAME_LIMIT)

    def target_group(self, role: Role) -> str:
        return within(f"{self.instance(role)}-tg", LB_NAME_LIMIT)

    @property
    def access_log_root(self) -> str:
        """Where every load balancer of the environment writes its access logs, one prefix per role below."""
        return self.env

    def server_access_log_prefix(self, bucket: str) -> str:
        """Where S3 writes a bucket's server access logs in the access-logs bucket (one prefix per bucket)."""
        return f"{SERVER_ACCESS_LOG_ROOT}/{bucket}/"

    def access_log_prefix(self, role: Role) -> str:
        return f"{self.access_log_root}/{role.value}"

    def hostname(self, role: Role, zone: str) -> str:
        return f"{self.env}{'-test' if role is Role.TEST else ''}.{zone}"

    # Snapshot identifiers end in a random suffix (`unique`), so that a snapshot taken again (a replacement, a
    # stack made anew) never collides with the one before. Clones never rebuild them: they read Pre-PROD's
    # outputs, or find a snapshot by its tags.
    @property
    def published_snapshot_prefix(self) -> str:
        """What every snapshot this environment publishes for clones starts with."""
        return f"{self.env}-"

    def published_snapshot(self, name: str, suffix: str | None = None) -> str:
        """A snapshot Pre-PROD publishes for clones (`suffix`: its random part; None: the name before it had one)."""
        return unique(f"{self.published_snapshot_prefix}{name}", suffix)

    @property
    def iteration_snapshot_prefix(self) -> str:
        """What every snapshot the migration tooling produces for this (migration) environment starts with."""
        return f"{self.env}-"

    def snapshot_copy(self, role: Role, snapshot: str, suffix: str | None = None) -> str:
        """A restored instance's own copy of the snapshot it is restored from."""
        return unique(f"{self.instance(role)}-from-{snapshot}", suffix)

    def final_snapshot(self, role: Role, suffix: str | None = None) -> str:
        return unique(f"{self.instance(role)}-final", suffix)

    def database_identifier(self, role: Role) -> re.Pattern[str]:
        """The database's identifier: Pulumi names it `<instance>-db` and appends a random suffix."""
        return re.compile(rf"^{re.escape(self.instance(role))}-db(?:-[a-z0-9]+)?$")


def clone_source(customer: str) -> Names:
    """The names of the customer's Pre-PROD, which clones are made from."""
    return Names(environment_name(customer, CLONE_SOURCE_PHASE, CLONE_SOURCE_PHASE))


def seed_source() -> Names:
    """The names of the vendor's seed stack, which publishes one seed snapshot per release (it serves no
    customer: its environment is its stack's name)."""
    return Names(environment_name(None, SEED_SOURCE_PHASE, SEED_SOURCE_PHASE))
