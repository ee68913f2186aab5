"""Security rules for IAM and KMS key policies: no administrator grants, no roles or keys open to anyone,
key rotation at least yearly.

The program's roles are the ECS execution and task roles, trusted by `ecs-tasks.amazonaws.com` only,
with inline policies naming their secret, key and buckets; its keys are administered by the account
through IAM and used by named AWS services under conditions. These rules keep it that way for
whatever is added later, in every form the provider accepts a document (see :mod:`.documents`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from components import tokens

from ..framework import (
    COMPLIANT,
    UNKNOWN,
    NotApplicable,
    Resource,
    ResourceResult,
    Rule,
    Violated,
    as_days,
    as_list,
    flag,
    read_known,
)
from .documents import Statement, Unreadable, statements

IAM_POLICY = tokens.IAM_POLICY
ROLE_POLICY = tokens.IAM_ROLE_POLICY
USER_POLICY = tokens.IAM_USER_POLICY
GROUP_POLICY = tokens.IAM_GROUP_POLICY
ROLE = tokens.IAM_ROLE
ATTACHMENTS = (tokens.IAM_ROLE_POLICY_ATTACHMENT, tokens.IAM_USER_POLICY_ATTACHMENT,
               tokens.IAM_GROUP_POLICY_ATTACHMENT, tokens.IAM_POLICY_ATTACHMENT)
KMS_KEY = tokens.KMS_KEY
KMS_KEY_POLICY = tokens.KMS_KEY_POLICY

# AWS-managed policies that grant every action (or every IAM action) on every resource.
ADMIN_MANAGED_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess")
MAX_ROTATION_DAYS = 365  # FSBP KMS.4 asks for yearly rotation; AWS accepts 90 to 2560 days


def _policy_documents(r: Resource) -> list[tuple[str, Any]]:
    """(where, document) of every identity-policy document the resource carries."""
    if r.type == ROLE:
        return [(f"inline policy '{p.get('name', '?')}'", p.get("policy"))
                for p in (r.props.get("inlinePolicies") or []) if isinstance(p, Mapping)]
    return [("policy", r.props.get("policy"))]


def _admin_managed(arn: Any) -> str | None:
    name = str(arn).rsplit("/", 1)[-1] if isinstance(arn, str) else ""
    if isinstance(arn, str) and arn.startswith("arn:aws") and ":iam::aws:policy/" in arn and name in ADMIN_MANAGED_POLICIES:
        return name
    return None


def iam_no_admin(r: Resource, config: Mapping[str, Any]) -> ResourceResult:
    arns = [r.props.get("policyArn")] if r.type in ATTACHMENTS else as_list(r.props.get("managedPolicyArns"))
    admin = [name for arn in arns if (name := _admin_managed(read_known(lambda a=arn: a)))]
    if admin:
        return Violated(f"{r.label} attaches the AWS-managed {admin[0]}, which grants every action: attach a policy "
                        f"that names the actions and resources the role needs")
    if r.type in ATTACHMENTS:
        return COMPLIANT
    documents = read_known(lambda: _policy_documents(r))
    if documents is UNKNOWN:
        return NotApplicable("its policy is not known yet (the update judges it)")
    if not documents:
        return NotApplicable("the role has no inline policies (its own policies are judged as resources)")
    for where, document in documents:
        try:
            found = statements(document)
        except Unreadable as e:
            return Violated(f"{r.label}: the {where} cannot be read ({e}): write a JSON policy document")
        for s in found or ():
            if s.allows and s.grants_every_action() and s.on_every_resource():
                return Violated(f"{r.label}: {s.label} of the {where} allows every action on every resource "
                                f"(Action or NotAction `*`, Resource `*`): name the actions and the resources")
    return COMPLIANT


def _document(r: Resource, prop: str, what: str) -> list[Statement] | None | Violated:
    """The statements of the document in `prop`; None when not known yet or not given; a Violated for a
    document AWS would refuse."""
    try:
        return statements(read_known(lambda: r.props.get(prop)))
    except Unreadable as e:
        return Violated(f"{r.label}: its {what} cannot be read ({e}): write a JSON policy document")


def iam_trust_not_open(role: Resource, config: Mapping[str, Any]) -> ResourceResult:
    found = _document(role, "assumeRolePolicy", "trust policy")
    if isinstance(found, Violated):
        return found
    if found is None:
        return NotApplicable("its trust policy is not known yet (the update judges it)")
    for s in found:
        if s.allows and s.anyone():
            return Violated(f"{role.label}: {s.label} of its trust policy lets anyone assume it (Principal `*`): "
                            f"name the service or role that assumes it")
    return COMPLIANT


def kms_policy_not_open(key: Resource, config: Mapping[str, Any]) -> ResourceResult:
    found = _document(key, "policy", "key policy")
    if isinstance(found, Violated):
        return found
    if found is None:
        return NotApplicable("no key policy given (AWS's default lets the account administer the key through IAM)"
                             if key.props.get("policy") is None else "its key policy is not known yet")
    for s in found:
        if s.allows and s.anyone() and not s.has_condition:
            return Violated(f"{key.label}: {s.label} of its key policy allows anyone (Principal `*`) with no condition: "
                            f"name the account, role or service, or add a condition such as aws:SourceAccount")
    return COMPLIANT


def kms_rotation_period(key: Resource, config: Mapping[str, Any]) -> ResourceResult:
    if flag(read_known(lambda: key.props.get("enableKeyRotation"))) is not True:
        return NotApplicable("the key does not rotate (kms-rotation judges that)")
    days = read_known(lambda: key.props.get("rotationPeriodInDays"))
    if days is UNKNOWN:
        return NotApplicable("its rotation period is not known yet (the update judges it)")
    if days is None:
        return COMPLIANT  # AWS's default period is 365 days
    period = as_days(days)
    if period is None:
        return Violated(f"{key.label}: rotation_period_in_days {days!r} is not a number of days: set at most "
                        f"{MAX_ROTATION_DAYS}")
    if period > MAX_ROTATION_DAYS:
        return Violated(f"{key.label} rotates only every {period} days: set rotation_period_in_days to at most "
                        f"{MAX_ROTATION_DAYS} (or leave it unset for AWS's yearly default)")
    return COMPLIANT


RULES: list[Rule] = [
    Rule("iam-no-admin", "security", "IAM policies do not allow every action on every resource",
         iam_no_admin, types=(IAM_POLICY, ROLE_POLICY, USER_POLICY, GROUP_POLICY, ROLE, *ATTACHMENTS), fsbp="IAM.1",
         checkov="CKV_AWS_62, CKV_AWS_63, CKV_AWS_274", severity=Severity.CRITICAL,
         remediation="Name the actions and the resources the principal needs; attach no AdministratorAccess, "
                     "PowerUserAccess or IAMFullAccess"),
    Rule("iam-trust-not-open", "security", "No IAM role may be assumed by anyone (Principal `*`)",
         iam_trust_not_open, types=(ROLE,), checkov="CKV_AWS_60, CKV_AWS_61", severity=Severity.CRITICAL,
         remediation="Name the service or role that assumes the role in its trust policy"),
    Rule("kms-policy-not-open", "security", "KMS key policies allow no one-for-all principal without a condition",
         kms_policy_not_open, types=(KMS_KEY, KMS_KEY_POLICY), checkov="CKV_AWS_33", severity=Severity.CRITICAL,
         remediation="Name the account, role or service in the key policy, or restrict `*` with a condition"),
    Rule("kms-rotation-period", "security", "Rotating KMS keys rotate at least every 365 days",
         kms_rotation_period, types=(KMS_KEY,), fsbp="KMS.4", checkov="CKV_AWS_7", severity=Severity.MEDIUM,
         remediation="Set rotation_period_in_days to at most 365, or leave it unset"),
]
