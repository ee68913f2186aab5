"""Every name an environment gives AWS, derived once (the idea of pulumi-awsx's `ec2/subnetNaming.ts`).

The program names its resources through this module; envctl's live-account commands (clone-check,
copy-documents) and the policy pack find them through it; a test holds the names the shipped
stacks register against it. Nobody re-derives a name with an f-string.

An environment's name is `<customer>-<phase>`, or the stack's name when it serves no customer
(`demo`, `demo-<label>`, `community-dev`); an instance is `<environment>-<role>`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .phases import CLONE_SOURCE_PHASE, SEED_SOURCE_PHASE, Role

KEY_ALIAS_PREFIX = "alias/clinspark/"
LOG_GROUP_PREFIX = "/clinspark/"
LB_NAME_LIMIT = 32  # load balancers and target groups
IAM_ROLE_LIMIT = 64
SNAPSHOT_ID_LIMIT = 255
ACM_DOMAIN_LIMIT = 64  # ACM takes at most 64 characters in a certificate's domain name (its first, the CN)
TAG_LIMIT = 50  # user tags per resource, every service the program uses


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


def replacement_digest(forcing: Mapping[str, object]) -> str:
    """A short digest of the inputs that force AWS to replace a resource: a replacement gets another name."""
    text = json.dumps(dict(forcing), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:6]


# Names that survive replacement. The engine creates a replacement before it deletes the old resource, so an
# explicit name that stayed the same would collide with itself (AWS refuses a second load balancer or target
# group of one name). A load balancer's and a target group's name therefore carry a digest of every input that
# forces their replacement (terraform-provider-aws, internal/service/elbv2: ForceNew): a change of any of them
# is a new name. The inputs every load balancer and target group were created with before names carried a
# digest (the first generation) keep the plain name, so no deployed one is renamed: renaming a load balancer
# replaces it, and the deletion protection of a controlled stack's load balancer would stop the `up` at the
# delete. A first-generation target group's name does not carry its VPC (README, "Names that survive
# replacement").
FIRST_LOAD_BALANCER: Mapping[str, object] = {"internal": False, "load_balancer_type": "application"}
FIRST_TARGET_GROUP: Mapping[str, object] = {"port": 8080, "protocol": "HTTP", "target_type": "ip"}
TARGET_GROUP_VPC = "vpc_id"  # the target group's VPC, as the stack's network settings name it (cidr or vpc_id)


def replaceable(base: str, forcing: Mapping[str, object], first: Mapping[str, object], limit: int,
                beside_first: tuple[str, ...] = ()) -> str:
    """`base` for the first generation's forcing inputs (those in `beside_first` aside), else `base` and the
    digest of all of them; cut to `limit` (components.naming.within)."""
    if {k: v for k, v in forcing.items() if k not in beside_first} == dict(first):
        return within(base, limit)
    return within(f"{base}-{replacement_digest(forcing)}", limit)


def default_image_repository(account_id: str, region: str) -> str:
    """Where the release images are when a stack names no `image_repository`: the account's own ECR repository."""
    return f"{account_id}.dkr.ecr.{region}.amazonaws.com/clinspark/edc"


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

    def log_group(self, role: Role, generation: str | None = None) -> str:
        """`generation`: where the log group outlives its stack, a random part the stack keeps for its whole life,
        so that the next stack of the same environment (the next VAL pair of a customer) never meets the log
        group a retired one left behind. None: the name of a log group that needs none (it goes with its
        stack), or one made before names carried a generation (pinned: `log_groups_pinned`)."""
        plain = f"{LOG_GROUP_PREFIX}{self.env}/{role.value}"
        return f"{plain}/{generation}" if generation else plain

    def task_family(self, role: Role) -> str:
        return self.instance(role)

    def task_role(self, role: Role) -> str:
        """Named before it exists: the pair's exchange bucket policy grants it."""
        return f"{self.instance(role)}-task"[:IAM_ROLE_LIMIT]

    def load_balancer(self, role: Role, forcing: Mapping[str, object] = FIRST_LOAD_BALANCER) -> str:
        """`forcing`: the load balancer's inputs that force its replacement (internal, load_balancer_type)."""
        return replaceable(f"{self.instance(role)}-lb", forcing, FIRST_LOAD_BALANCER, LB_NAME_LIMIT)

    def target_group(self, role: Role, forcing: Mapping[str, object] = FIRST_TARGET_GROUP) -> str:
        """`forcing`: the target group's inputs that force its replacement (port, protocol, target_type and its
        VPC under TARGET_GROUP_VPC)."""
        return replaceable(f"{self.instance(role)}-tg", forcing, FIRST_TARGET_GROUP, LB_NAME_LIMIT,
                           beside_first=(TARGET_GROUP_VPC,))

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

    def names_published_snapshot(self, identifier: str, name: str) -> bool:
        """Is `identifier` the snapshot this environment published as `name`: its plain name (taken before
        identifiers were unique) or that name and a random suffix? Nothing else is (another customer's
        snapshot, another name of this one's, a name merely starting alike)."""
        plain = self.published_snapshot(name)
        return identifier == plain or bool(re.fullmatch(rf"{re.escape(plain)}-[a-z0-9]{{{SNAPSHOT_SUFFIX_LENGTH}}}",
                                                        identifier))

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
