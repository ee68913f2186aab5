"""kms-own-keys: where a customer key is required, it is one of this stack's own KMS keys.

A key reference can be written many ways the provider accepts: a key id, a key ARN, an alias, an
alias ARN, or `alias/aws/<service>` (the AWS-managed key, which no key policy of ours governs). None
of those strings says whose key it is. The engine does: in stack analysis every input carries the
resources its value came from (property dependencies), so a key reference is this stack's own key
exactly when the input depends on an `aws:kms/key:Key` registered in the stack and, where its value is
known, is the ARN or id of one of the keys the Environment reports (a dependency says where a value came
from, not what it became). Anything else (another stack's or account's key, an AWS-managed key, a pasted
ARN, a value derived from a key and then replaced) is refused.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from components import tokens
from components.tokens import ENVIRONMENT_KEYS as ENV_KEYS

from ..framework import (
    UNKNOWN,
    Finding,
    NotApplicable,
    Resource,
    Rule,
    StackResult,
    StackView,
    read_known,
)

# Per type: the inputs that hold a key reference (top-level; nested references live under these inputs).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    tokens.RDS_INSTANCE: ("kmsKeyId", "performanceInsightsKmsKeyId", "masterUserSecretKmsKeyId"),
    tokens.RDS_SNAPSHOT_COPY: ("kmsKeyId",),
    tokens.RDS_CLUSTER: ("kmsKeyId", "performanceInsightsKmsKeyId", "masterUserSecretKmsKeyId"),
    tokens.SECRET: ("kmsKeyId",),
    tokens.LOG_GROUP: ("kmsKeyId",),
    tokens.EBS_VOLUME: ("kmsKeyId",),
    tokens.ECS_CLUSTER: ("configuration",),
    tokens.S3_BUCKET_ENCRYPTION: ("rules",),
    tokens.LEGACY_S3_BUCKET_ENCRYPTION: ("rules",),
}
KEY_FIELDS = ("kmsKeyId", "kmsMasterKeyId", "fargateEphemeralStorageKmsKeyId", "performanceInsightsKmsKeyId",
              "kmsKeyArn")


def _references(value: Any) -> Iterator[str]:
    """The key references inside an input: the value itself, or any KEY_FIELDS below it."""
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            if key in KEY_FIELDS and isinstance(inner, str) and inner:
                yield inner
            elif isinstance(inner, (Mapping, list, tuple)):
                yield from _references(inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            yield from _references(inner)


def kms_own_keys(view: StackView, config: Mapping[str, Any]) -> StackResult:
    judged = view.of_type(*KEY_INPUTS)
    if not judged:
        return NotApplicable("no resource in the stack takes a KMS key")
    own = {r.urn for r in view.of_type(tokens.KMS_KEY)}
    env = view.environment
    arns = read_known(lambda: list((env.props if env else {}).get(ENV_KEYS.key_arns) or []))
    known = None if arns is UNKNOWN or not arns else {a for a in arns if isinstance(a, str)} | {
        a.rsplit("/", 1)[-1] for a in arns if isinstance(a, str)}
    return list(_findings(judged, own, known))


def _findings(judged: list[Resource], own: set[str], known: set[str] | None) -> Iterator[Finding]:
    for r in judged:
        for name in KEY_INPUTS[r.type]:
            value = read_known(lambda: r.props.get(name))
            if value is UNKNOWN or value is None:
                continue
            refs = list(_references(value))
            if not refs:
                continue
            managed = [ref for ref in refs if "alias/aws/" in ref]
            if managed:
                yield Finding(r.urn, f"{r.label}: {name} uses the AWS-managed key {managed[0]}, which no key policy of "
                                     f"this stack governs: use the instance's own customer-managed key", r.name)
            elif not own & set(r.property_dependencies.get(name, ())) or (
                    known is not None and any(ref not in known for ref in refs)):
                yield Finding(r.urn, f"{r.label}: {name} names {refs[0]}, which is not one of this stack's own KMS "
                                     f"keys: pass the key of the instance (key.arn), not an id, alias or ARN written "
                                     f"by hand", r.name)


RULES: list[Rule] = [
    Rule("kms-own-keys", "security", "Customer keys are this stack's own KMS keys, never another's or AWS-managed",
         kms_own_keys, scope="stack", severity=Severity.HIGH,
         remediation="Pass the instance's own key (key.arn) to every kms_key_id, never a written ARN or an alias"),
]
