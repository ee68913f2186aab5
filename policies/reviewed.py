"""The reviewed resource types: every type a stack may register, each with the rules that judge it or the
reason no rule is needed.

A type missing here is refused in every stack by ``reviewed-types-only``: a resource nobody has thought
about is exactly what a rule cannot miss by accident. Reviewing a type means adding it here with the
rules that judge it (writing them first if none fits) or why none is needed; like any change of the pack
it needs an approved tooling record. A test holds every entry's rules to the pack (they exist, and a
resource rule named here does look at the type) and the README's "judges" column to this table.
"""

from __future__ import annotations

from dataclasses import dataclass

from components import tokens


@dataclass(frozen=True)
class Review:
    rules: tuple[str, ...] = ()  # the rules that judge the type
    why_no_rule: str = ""  # or why none is needed

    def __post_init__(self) -> None:
        if bool(self.rules) == bool(self.why_no_rule):
            raise ValueError("a review names the rules that judge a type, or why none is needed: one of the two")


def judged_by(*rules: str) -> Review:
    return Review(rules=rules)


def no_rule(why: str) -> Review:
    return Review(why_no_rule=why)


# Rules that judge every resource, whatever its type: named once here, not in every entry.
EVERY_TYPE = ("reviewed-types-only", "change-inside-environment", "lifecycle-no-cross-customer",
              "lifecycle-tags-agree", "lifecycle-expiry")

_COMPONENT = no_rule("a component of the program: it registers nothing itself; its children are judged")
_BUCKET = judged_by("s3-kms-encryption", "s3-public-access-block", "s3-versioning", "s3-tls-only", "s3-no-acls",
                    "s3-no-inline-settings", "s3-access-logging",
                    "change-stateful-protected", "change-bucket-not-force-destroyed", "change-resource-options")
_BUCKET_SETTING = judged_by("s3-kms-encryption", "s3-public-access-block", "s3-versioning", "s3-tls-only",
                            "s3-no-acls")
_LOAD_BALANCER = judged_by("lb-drop-invalid-headers", "lb-access-logs", "lb-logs-in-environment",
                           "lb-deletion-protection", "sg-no-open-ingress")
_LISTENER = judged_by("lb-http-redirects", "lb-tls-policy")
_IDENTITY_POLICY = judged_by("iam-no-admin")

REVIEWED: dict[str, Review] = {
    # the engine's own
    tokens.STACK: no_rule("the stack itself: its outputs are the Environment's, judged there"),
    tokens.STACK_REFERENCE: no_rule("a read of another stack's outputs: what it feeds is judged "
                                    "(lifecycle-restore-allowed)"),
    # the program's components
    tokens.ENVIRONMENT: judged_by("change-approved-state", "lifecycle-topology", "lifecycle-release-listed",
                                  "lifecycle-release-latest", "lifecycle-release-behind-limit"),
    tokens.INSTANCE_PAIR: _COMPONENT,
    tokens.INSTANCE: judged_by("lifecycle-topology", "lifecycle-release-listed", "lifecycle-cross-customer-restore",
                               "lifecycle-iteration-migration-only"),
    tokens.DATABASE: _COMPONENT,
    tokens.APPLICATION: _COMPONENT,
    tokens.HTTPS_ENTRY: _COMPONENT,
    tokens.NETWORK: _COMPONENT,
    tokens.SECURE_BUCKET: _COMPONENT,
    # storage
    tokens.S3_BUCKET: _BUCKET,
    tokens.LEGACY_S3_BUCKET: _BUCKET,
    tokens.S3_BUCKET_VERSIONING: judged_by("s3-versioning"),
    tokens.LEGACY_S3_BUCKET_VERSIONING: judged_by("s3-versioning"),
    tokens.S3_BUCKET_ENCRYPTION: judged_by("kms-own-keys", "s3-kms-encryption"),
    tokens.LEGACY_S3_BUCKET_ENCRYPTION: judged_by("kms-own-keys", "s3-kms-encryption"),
    tokens.S3_BUCKET_PUBLIC_ACCESS_BLOCK: judged_by("s3-public-access-block"),
    tokens.S3_BUCKET_OWNERSHIP_CONTROLS: judged_by("s3-no-acls"),
    tokens.S3_BUCKET_ACL: judged_by("s3-no-acls"),
    tokens.S3_BUCKET_LOGGING: judged_by("s3-access-logging"),
    tokens.LEGACY_S3_BUCKET_ACL: judged_by("s3-no-acls"),
    tokens.S3_BUCKET_POLICY: judged_by("s3-tls-only", "lifecycle-no-cross-customer", "grants-stay-in-account"),
    tokens.S3_BUCKET_LIFECYCLE: no_rule("only expires old object versions and access logs; what it may never "
                                        "remove is kept by versioning (s3-versioning) and protection"),
    # keys and secrets
    tokens.KMS_KEY: judged_by("kms-rotation", "kms-rotation-period", "kms-policy-not-open", "grants-stay-in-account",
                              "change-key-deletion-window", "change-stateful-protected", "change-resource-options"),
    tokens.KMS_KEY_POLICY: judged_by("kms-policy-not-open", "grants-stay-in-account"),
    tokens.KMS_GRANT: judged_by("grants-stay-in-account"),
    tokens.KMS_ALIAS: no_rule("a name for a key of the stack; the key is judged"),
    tokens.SECRET: judged_by("kms-own-keys", "secrets-customer-key", "change-stateful-protected", "change-resource-options"),
    tokens.SECRET_VERSION: no_rule("the secret's value; the secret (its key, its protection) is judged"),
    tokens.RANDOM_PASSWORD: no_rule("a generated value kept in the stack's encrypted state; no AWS resource"),
    tokens.RANDOM_STRING: no_rule("the random part of a snapshot identifier, kept in the stack's state; no AWS resource"),
    # databases
    tokens.RDS_INSTANCE: judged_by("kms-own-keys", "rds-encrypted-cmk", "rds-not-public", "rds-backup-retention",
                                   "rds-multi-az-prod-main", "rds-copy-tags-to-snapshot", "rds-no-auto-minor-upgrade",
                                   "change-database-retained", "change-stateful-protected", "change-resource-options",
                                   "lifecycle-restore-allowed", "lifecycle-dummy-data-only"),
    tokens.RDS_SNAPSHOT: judged_by("rds-snapshot-not-shared", "change-stateful-protected", "change-resource-options"),
    tokens.RDS_SNAPSHOT_COPY: judged_by("kms-own-keys", "rds-snapshot-not-shared", "lifecycle-restore-allowed",
                                        "lifecycle-dummy-data-only", "change-stateful-protected",
                                        "change-resource-options"),
    tokens.RDS_SUBNET_GROUP: judged_by("rds-subnets-private"),
    tokens.RDS_PARAMETER_GROUP: judged_by("rds-force-ssl"),
    tokens.RDS_CLUSTER: judged_by("kms-own-keys", "aurora-secure", "change-resource-options",
                                  "lifecycle-dummy-data-only"),
    tokens.RDS_CLUSTER_INSTANCE: judged_by("aurora-secure"),
    tokens.RDS_CLUSTER_SNAPSHOT: judged_by("rds-snapshot-not-shared", "change-resource-options"),
    tokens.RDS_CLUSTER_PARAMETER_GROUP: judged_by("rds-force-ssl"),
    # network
    tokens.VPC: judged_by("vpc-flow-logs"),
    tokens.SUBNET: judged_by("vpc-subnet-no-auto-public-ip"),
    tokens.SECURITY_GROUP: judged_by("sg-no-open-ingress"),
    tokens.DEFAULT_SECURITY_GROUP: judged_by("sg-no-open-ingress"),
    tokens.SECURITY_GROUP_RULE: judged_by("sg-no-open-ingress"),
    tokens.INGRESS_RULE: judged_by("sg-no-open-ingress"),
    tokens.EGRESS_RULE: no_rule("outbound traffic; every inbound path is judged (sg-no-open-ingress)"),
    tokens.INTERNET_GATEWAY: judged_by("rds-subnets-private"),
    tokens.NAT_GATEWAY: no_rule("outbound only for the private subnets"),
    tokens.EIP: judged_by("eip-not-on-instance"),
    tokens.EIP_ASSOCIATION: judged_by("eip-not-on-instance"),
    tokens.ROUTE_TABLE: judged_by("rds-subnets-private"),
    tokens.ROUTE: judged_by("rds-subnets-private"),
    tokens.ROUTE_TABLE_ASSOCIATION: judged_by("rds-subnets-private"),
    tokens.FLOW_LOG: judged_by("vpc-flow-logs"),
    # entry
    tokens.LOAD_BALANCER: _LOAD_BALANCER,
    tokens.ALB_LOAD_BALANCER: _LOAD_BALANCER,
    tokens.LISTENER: _LISTENER,
    tokens.ALB_LISTENER: _LISTENER,
    tokens.TARGET_GROUP: no_rule("where the load balancer forwards, inside the VPC; the listeners are judged"),
    tokens.CERTIFICATE: no_rule("a public certificate ACM issues and renews; the listener's TLS policy is judged"),
    tokens.CERTIFICATE_VALIDATION: no_rule("waits for ACM to issue the certificate; creates nothing"),
    tokens.DNS_RECORD: no_rule("the environment's hostname, pointing at its own load balancer"),
    # compute
    tokens.ECS_CLUSTER: judged_by("kms-own-keys", "compute-encrypted-volumes"),
    tokens.ECS_TASK_DEFINITION: judged_by("ecs-container-hardening"),
    tokens.ECS_SERVICE: judged_by("compute-no-public-ip"),
    tokens.ECS_TASK_SET: judged_by("ecs-task-set-no-public-ip"),
    tokens.EC2_INSTANCE: judged_by("compute-no-public-ip", "compute-imdsv2", "compute-encrypted-volumes"),
    tokens.LAUNCH_TEMPLATE: judged_by("compute-no-public-ip", "compute-imdsv2", "compute-encrypted-volumes"),
    tokens.LAUNCH_CONFIGURATION: judged_by("compute-instance-forms"),
    tokens.SPOT_INSTANCE_REQUEST: judged_by("compute-instance-forms"),
    tokens.EBS_VOLUME: judged_by("kms-own-keys", "compute-encrypted-volumes"),
    tokens.LOG_GROUP: judged_by("kms-own-keys", "logs-retention"),
    # identity
    tokens.IAM_ROLE: judged_by("iam-trust-not-open", "iam-no-admin"),
    tokens.IAM_ROLE_POLICY: _IDENTITY_POLICY,
    tokens.IAM_POLICY: _IDENTITY_POLICY,
    tokens.IAM_USER_POLICY: _IDENTITY_POLICY,
    tokens.IAM_GROUP_POLICY: _IDENTITY_POLICY,
    tokens.IAM_ROLE_POLICY_ATTACHMENT: _IDENTITY_POLICY,
    tokens.IAM_USER_POLICY_ATTACHMENT: _IDENTITY_POLICY,
    tokens.IAM_GROUP_POLICY_ATTACHMENT: _IDENTITY_POLICY,
    tokens.IAM_POLICY_ATTACHMENT: _IDENTITY_POLICY,
}


def review_of(resource_type: str) -> Review | None:
    """The review of a type; providers are reviewed as a kind (their settings are in the desired-state digest)."""
    if resource_type.startswith(tokens.PROVIDER_PREFIX):
        return no_rule("a provider: its settings are part of the stack's desired state (change-approved-state)")
    return REVIEWED.get(resource_type)


def judged_types(rule_id: str) -> list[str]:
    """The reviewed types whose review names the rule (every type, for the rules of EVERY_TYPE)."""
    if rule_id in EVERY_TYPE:
        return ["*"]
    return [t for t, review in REVIEWED.items() if rule_id in review.rules]
