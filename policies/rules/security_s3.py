"""Security rules for S3 buckets: customer-key encryption, public access block, versioning, TLS only, no ACLs.

pulumi-aws v7 keeps every bucket setting in a resource of its own (BucketVersioning,
BucketServerSideEncryptionConfiguration, ...), which names its bucket by the `bucket` input. A
bucket rule therefore looks at the whole stack (a stack rule) and first pairs each bucket with
its settings, in :func:`pair_buckets`:

1. The names a bucket is known by: its own `bucket` input when it is named explicitly, and, when
   it is the only bucket of a ``clinspark:storage:SecureBucket`` component, the `bucketName` the
   component registered as output. In stack analysis a bucket's props are its *inputs*, so an
   autonamed bucket has no name of its own; the component's output carries it.
2. A settings resource belongs to the bucket whose names contain its `bucket` input (under the
   offline engine, and in every update, that input is the bucket's id, i.e. its name).
3. A settings resource whose `bucket` input names no bucket of the stack (the bucket is autonamed
   outside a SecureBucket) or is not known yet (a preview of a new stack, where ids are unknown)
   belongs to the one bucket among its siblings (same parent) that could be it; with none or
   several such siblings it stays unpaired and no bucket rule counts it.

So a bucket is judged only by settings that provably belong to it: a bucket whose settings are
missing, or live where they cannot be paired, is reported. Deprecated inline arguments on the
Bucket itself (``versioning``, ``server_side_encryption_configuration``, ``policy``) are not
accepted in place of the settings resources: the provider does not detect drift on them.
Values the engine does not know yet (preview) are not judged; the update judges them again.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from pulumi_policy import Severity

from components import tokens

from ..framework import (
    COMPLIANT,
    Finding,
    NotApplicable,
    Resource,
    ResourceResult,
    Rule,
    StackResult,
    StackView,
    Violated,
    as_list,
    flag,
    read_known,
)

BUCKET_TYPES = tokens.RECOGNISED_BUCKETS
SECURE_BUCKET_TYPE = tokens.SECURE_BUCKET
ENCRYPTION_TYPES = tokens.RECOGNISED_BUCKET_ENCRYPTIONS
VERSIONING_TYPES = tokens.RECOGNISED_BUCKET_VERSIONINGS
PUBLIC_ACCESS_BLOCK_TYPES = (tokens.S3_BUCKET_PUBLIC_ACCESS_BLOCK,)
OWNERSHIP_TYPES = (tokens.S3_BUCKET_OWNERSHIP_CONTROLS,)
POLICY_TYPES = (tokens.S3_BUCKET_POLICY,)
ACL_TYPES = tokens.RECOGNISED_BUCKET_ACLS
SETTINGS_TYPES = (ENCRYPTION_TYPES + VERSIONING_TYPES + PUBLIC_ACCESS_BLOCK_TYPES + OWNERSHIP_TYPES + POLICY_TYPES
                  + ACL_TYPES)

KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
ACCESS_LOGS = "access-logs"  # purpose of the bucket AWS services deliver logs to
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")

# --------------------------------------------------------------------------------------------
# Pairing buckets with their settings
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairedBucket:
    bucket: Resource
    names: frozenset[str]
    purpose: str | None
    settings: tuple[Resource, ...]

    def of(self, types: tuple[str, ...]) -> list[Resource]:
        return [s for s in self.settings if s.type in types]

    @property
    def label(self) -> str:
        known = sorted(self.names)
        return f"bucket '{self.bucket.name}'" + (f" ({known[0]})" if known else "")


@dataclass(frozen=True)
class BucketPairing:
    buckets: tuple[PairedBucket, ...]
    unpaired: tuple[Resource, ...]  # settings resources that belong to no bucket of the stack


def pair_buckets(view: StackView) -> BucketPairing:
    """Every bucket of the stack with the settings resources that provably belong to it."""
    index = view.by_urn()
    buckets = view.of_type(*BUCKET_TYPES)
    names: dict[str, frozenset[str]] = {}
    purposes: dict[str, str | None] = {}
    for b in buckets:
        found: set[str] = set()
        own = read_known(lambda: b.props.get("bucket"))
        if isinstance(own, str) and own:
            found.add(own)
        parent = index.get(b.parent or "")
        purpose = read_known(lambda: b.tags.get("purpose"))
        if parent is not None and parent.type == SECURE_BUCKET_TYPE:
            if sum(1 for c in view.children(parent.urn) if c.type in BUCKET_TYPES) == 1:
                out = read_known(lambda: parent.props.get("bucketName"))
                if isinstance(out, str) and out:
                    found.add(out)
            if not isinstance(purpose, str):
                purpose = read_known(lambda: parent.props.get("purpose"))
        names[b.urn] = frozenset(found)
        purposes[b.urn] = purpose if isinstance(purpose, str) else None

    owned: dict[str, list[Resource]] = {b.urn: [] for b in buckets}
    unpaired: list[Resource] = []
    for s in view.of_type(*SETTINGS_TYPES):
        target = read_known(lambda: s.props.get("bucket"))
        siblings = [b for b in buckets if s.parent is not None and b.parent == s.parent]
        if isinstance(target, str) and target:
            by_name = [b for b in buckets if target in names[b.urn]]
            candidates = by_name or [b for b in siblings if not names[b.urn]]
        else:
            candidates = siblings
        if len(candidates) == 1:
            owned[candidates[0].urn].append(s)
        else:
            unpaired.append(s)
    return BucketPairing(
        tuple(PairedBucket(b, names[b.urn], purposes[b.urn], tuple(owned[b.urn])) for b in buckets),
        tuple(unpaired),
    )


NO_BUCKET = NotApplicable("no S3 bucket in the stack")


def _bucket_findings(view: StackView, judge: Callable[[PairedBucket], str | None]) -> StackResult:
    """What `judge` says of each bucket of the stack; not applicable to a stack without buckets."""
    buckets = pair_buckets(view).buckets
    if not buckets:
        return NO_BUCKET
    findings = []
    for paired in buckets:
        message = read_known(lambda: judge(paired))
        if isinstance(message, str):
            findings.append(Finding(paired.bucket.urn, message, paired.bucket.name))
    return findings


# --------------------------------------------------------------------------------------------
# s3-kms-encryption
# --------------------------------------------------------------------------------------------
def _encryption_problem(paired: PairedBucket) -> str | None:
    configs = paired.of(ENCRYPTION_TYPES)
    logs = paired.purpose == ACCESS_LOGS
    accepted = "SSE-KMS with a customer key, or SSE-S3 (AES256)" if logs else "SSE-KMS with a customer key"
    if not configs:
        return (f"{paired.label} has no BucketServerSideEncryptionConfiguration: add one with "
                f"sse_algorithm 'aws:kms' and kms_master_key_id set to a customer-managed KMS key "
                f"(or build the bucket with SecureBucket)")
    for config in configs:
        rules = as_list(config.props.get("rules"))
        defaults = [r.get("applyServerSideEncryptionByDefault") or {} for r in rules if isinstance(r, Mapping)]
        if not defaults:
            return (f"{paired.label}: its encryption configuration '{config.name}' sets no default encryption: "
                    f"add apply_server_side_encryption_by_default with {accepted}")
        for default in defaults:
            algorithm = default.get("sseAlgorithm")
            key = default.get("kmsMasterKeyId")
            if algorithm in KMS_ALGORITHMS and isinstance(key, str) and key and not key.startswith("alias/aws/"):
                continue
            if algorithm == "AES256" and logs:
                continue  # load balancer access logs cannot be delivered to an SSE-KMS bucket
            if algorithm in KMS_ALGORITHMS:
                return (f"{paired.label}: its encryption configuration '{config.name}' uses the AWS-managed S3 key: "
                        f"set kms_master_key_id to a customer-managed KMS key")
            exemption = ("" if logs else
                         "; only buckets tagged purpose=access-logs may use SSE-S3 (AES256), because load balancer "
                         "access logs cannot be delivered to an SSE-KMS bucket")
            return (f"{paired.label}: its encryption configuration '{config.name}' uses {algorithm or 'no algorithm'}: "
                    f"use sse_algorithm 'aws:kms' with kms_master_key_id set to a customer-managed KMS key{exemption}")
    return None


def s3_kms_encryption(view: StackView, config: Mapping[str, Any]) -> StackResult:
    return _bucket_findings(view, _encryption_problem)


# --------------------------------------------------------------------------------------------
# s3-public-access-block
# --------------------------------------------------------------------------------------------
def _public_access_problem(paired: PairedBucket) -> str | None:
    blocks = paired.of(PUBLIC_ACCESS_BLOCK_TYPES)
    if not blocks:
        return (f"{paired.label} has no BucketPublicAccessBlock: add one with block_public_acls, "
                f"block_public_policy, ignore_public_acls and restrict_public_buckets all true")
    for block in blocks:
        off = [name for name in PUBLIC_ACCESS_FLAGS if flag(block.props.get(name)) is not True]
        if off:
            return (f"{paired.label}: its public access block '{block.name}' does not set {', '.join(off)}: "
                    f"set all four of {', '.join(PUBLIC_ACCESS_FLAGS)} to true")
    return None


def s3_public_access_block(view: StackView, config: Mapping[str, Any]) -> StackResult:
    return _bucket_findings(view, _public_access_problem)


# --------------------------------------------------------------------------------------------
# s3-versioning
# --------------------------------------------------------------------------------------------
def _versioning_problem(paired: PairedBucket) -> str | None:
    configs = paired.of(VERSIONING_TYPES)
    if not configs:
        return (f"{paired.label} has no BucketVersioning: add one with versioning_configuration "
                f"status 'Enabled' (or build the bucket with SecureBucket)")
    for config in configs:
        status = (config.props.get("versioningConfiguration") or {}).get("status")
        if status != "Enabled":
            return (f"{paired.label}: its versioning '{config.name}' has status {status!r}: "
                    f"set versioning_configuration status to 'Enabled'")
    return None


def s3_versioning(view: StackView, config: Mapping[str, Any]) -> StackResult:
    return _bucket_findings(view, _versioning_problem)


# --------------------------------------------------------------------------------------------
# s3-tls-only
# --------------------------------------------------------------------------------------------
def _is_everyone(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in as_list(principal.get("AWS"))


def _denies_insecure_transport(condition: Any) -> bool:
    if not isinstance(condition, Mapping):
        return False
    for operator in ("Bool", "BoolIfExists"):
        block = condition.get(operator)
        if isinstance(block, Mapping):
            for key, value in block.items():
                if key.lower() == "aws:securetransport" and any(str(v).lower() == "false" for v in as_list(value)):
                    return True
    return False


def _resource_part(pattern: str) -> str:
    """The part of an S3 ARN pattern after `arn:<partition>:s3:::`; `*` stays `*`."""
    return pattern.split(":::", 1)[1] if ":::" in pattern else pattern


def _covers_bucket_and_objects(resources: Any, names: frozenset[str]) -> bool:
    parts = [_resource_part(r) for r in as_list(resources) if isinstance(r, str)]
    if names:
        return all(
            any(fnmatch.fnmatchcase(name, p) for p in parts)
            and any(fnmatch.fnmatchcase(f"{name}/any/object-key", p) for p in parts)
            for name in names
        )
    return any("/" not in p for p in parts) and any(p == "*" or p.endswith("/*") for p in parts)


def _tls_deny_statement(document: Mapping[str, Any], names: frozenset[str]) -> bool:
    for st in as_list(document.get("Statement")):
        if not isinstance(st, Mapping) or st.get("Effect") != "Deny" or not _is_everyone(st.get("Principal")):
            continue
        if not any(a in ("*", "s3:*") for a in as_list(st.get("Action"))):
            continue
        if _denies_insecure_transport(st.get("Condition")) and _covers_bucket_and_objects(st.get("Resource"), names):
            return True
    return False


TLS_STATEMENT = ("a statement that denies Principal '*' the Action 's3:*' on the bucket and its objects "
                 "when Bool aws:SecureTransport is 'false'")


def _tls_problem(paired: PairedBucket) -> str | None:
    policies = paired.of(POLICY_TYPES)
    if not policies:
        return f"{paired.label} has no BucketPolicy: add one with {TLS_STATEMENT} (SecureBucket does)"
    for policy in policies:
        raw = policy.props.get("policy")
        try:
            document = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return f"{paired.label}: its policy '{policy.name}' is not valid JSON: write a policy with {TLS_STATEMENT}"
        if isinstance(document, Mapping) and _tls_deny_statement(document, paired.names):
            return None
    return f"{paired.label}: its bucket policy does not refuse plain HTTP: add {TLS_STATEMENT}"


def s3_tls_only(view: StackView, config: Mapping[str, Any]) -> StackResult:
    return _bucket_findings(view, _tls_problem)


# --------------------------------------------------------------------------------------------
# s3-no-acls
# --------------------------------------------------------------------------------------------
def _acl_grants(acl: Resource) -> bool:
    """Whether a BucketAcl resource grants anything beyond the private canned ACL."""
    return acl.props.get("acl") not in (None, "private") or acl.props.get("accessControlPolicy") is not None


def _acl_problem(paired: PairedBucket) -> str | None:
    inline = paired.bucket.props.get("acl")
    if inline not in (None, "private") or as_list(paired.bucket.props.get("grants")):
        return (f"{paired.label} sets an ACL on the bucket itself: remove acl/grants; grant access in the "
                f"bucket policy or IAM")
    granting = [a.name for a in paired.of(ACL_TYPES) if _acl_grants(a)]
    if granting:
        return (f"{paired.label} is granted access by the ACL resource {', '.join(granting)}: remove it and grant "
                f"access in the bucket policy or IAM")
    controls = paired.of(OWNERSHIP_TYPES)
    if not controls:
        return (f"{paired.label} has no BucketOwnershipControls: add one with object_ownership "
                f"'BucketOwnerEnforced' so that ACLs are disabled")
    for control in controls:
        ownership = (control.props.get("rule") or {}).get("objectOwnership")
        if ownership != "BucketOwnerEnforced":
            return (f"{paired.label}: its ownership controls '{control.name}' set {ownership!r}: set object_ownership "
                    f"to 'BucketOwnerEnforced' so that ACLs are disabled")
    return None


def s3_no_acls(view: StackView, config: Mapping[str, Any]) -> StackResult:
    unpaired_acls = [s for s in pair_buckets(view).unpaired if s.type in ACL_TYPES]
    judged = _bucket_findings(view, _acl_problem)
    if judged is NO_BUCKET and not unpaired_acls:
        return NO_BUCKET
    findings = [] if judged is NO_BUCKET else list(judged)  # type: ignore[arg-type]
    for acl in unpaired_acls:
        if read_known(lambda: _acl_grants(acl)) is True:
            findings.append(Finding(acl.urn, f"the bucket ACL '{acl.name}' grants access through an ACL: remove it "
                                             f"and grant access in the bucket policy or IAM", acl.name))
    return findings


# --------------------------------------------------------------------------------------------
# s3-no-inline-settings
# --------------------------------------------------------------------------------------------
# The bucket's deprecated inline arguments and the separate resource that replaces each. The provider does
# not detect drift on them, and the rules above judge the separate resources only, so an inline setting
# would be a setting no rule sees: it is refused, naming the resource to use.
INLINE_SETTINGS = {
    "acl": "BucketAcl (better: none, with BucketOwnershipControls BucketOwnerEnforced)",
    "grants": "BucketAcl (better: none, with BucketOwnershipControls BucketOwnerEnforced)",
    "policy": "BucketPolicy",
    "versioning": "BucketVersioning",
    "serverSideEncryptionConfiguration": "BucketServerSideEncryptionConfiguration",
    "lifecycleRules": "BucketLifecycleConfiguration",
    "logging": "BucketLogging",
    "corsRules": "BucketCorsConfiguration",
    "website": "BucketWebsiteConfiguration",
    "replicationConfiguration": "BucketReplicationConfig",
    "objectLockConfiguration": "BucketObjectLockConfiguration",
    "accelerationStatus": "BucketAccelerateConfiguration",
    "requestPayer": "BucketRequestPaymentConfiguration",
}


def s3_no_inline_settings(bucket: Resource, config: Mapping[str, Any]) -> ResourceResult:
    found = [f"{key} (use {INLINE_SETTINGS[key]})" for key in INLINE_SETTINGS
             if bucket.props.get(key) not in (None, [], {}, "")]
    if found:
        return Violated(f"{bucket.label} sets {', '.join(found)} inline, where no rule judges it and the provider "
                        f"detects no drift: declare each as its separate resource")
    return COMPLIANT


RULES: list[Rule] = [
    Rule("s3-kms-encryption", "security",
         "S3 buckets are encrypted with SSE-KMS under a customer key (access-log buckets may use SSE-S3)",
         s3_kms_encryption, scope="stack", fsbp="S3.17", checkov="CKV_AWS_145",
         severity=Severity.HIGH,
         remediation="Add a BucketServerSideEncryptionConfiguration with sse_algorithm 'aws:kms' and a "
                     "customer-managed KMS key (SecureBucket does)"),
    Rule("s3-public-access-block", "security",
         "S3 buckets have a public access block with all four settings on",
         s3_public_access_block, scope="stack", fsbp="S3.8", checkov="CKV2_AWS_6",
         severity=Severity.HIGH,
         remediation="Add a BucketPublicAccessBlock with all four flags true (SecureBucket does)"),
    Rule("s3-versioning", "security", "S3 buckets have versioning enabled",
         s3_versioning, scope="stack", fsbp="S3.14", checkov="CKV_AWS_21",
         severity=Severity.MEDIUM,
         remediation="Add a BucketVersioning with status 'Enabled' (SecureBucket does)"),
    Rule("s3-tls-only", "security", "S3 bucket policies deny every request not made over TLS",
         s3_tls_only, scope="stack", fsbp="S3.5", checkov=None,
         severity=Severity.MEDIUM,
         remediation="Add a bucket policy statement that denies s3:* to everyone when aws:SecureTransport is false "
                     "(SecureBucket does)"),
    Rule("s3-no-acls", "security", "S3 buckets enforce bucket-owner ownership and no ACL grants access",
         s3_no_acls, scope="stack", fsbp="S3.12", checkov="CKV2_AWS_65",
         severity=Severity.MEDIUM,
         remediation="Add BucketOwnershipControls with object_ownership 'BucketOwnerEnforced' and remove every ACL "
                     "grant"),
    Rule("s3-no-inline-settings", "security", "S3 buckets carry no inline settings; each is its own resource",
         s3_no_inline_settings, types=BUCKET_TYPES, severity=Severity.HIGH,
         remediation="Declare ACLs, policy, versioning, encryption, lifecycle, logging and the rest as their separate "
                     "bucket resources"),
]
