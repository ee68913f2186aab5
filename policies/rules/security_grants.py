"""grants-stay-in-account: bucket policies, key policies and KMS grants give nothing to another account.

An `Allow` may name only:

* this account (its root or its roles);
* an AWS service the program needs, each named, under a condition that names this account
  (`aws:SourceAccount`, `aws:SourceArn`, or the service's own account context key, such as the
  encryption context CloudWatch Logs and Fargate put on their KMS calls);
* the regional ELB log-delivery account, which every customer's load balancers in a region share,
  with `s3:PutObject` under `AWSLogs/<this account>/` only.

`Deny` statements are not grants. Which account is "this account" comes from the Environment (the
engine's caller identity), never from a policy.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from pulumi_policy import Severity

from components import tokens
from components.regions import ELB_LOG_ACCOUNTS
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
from .documents import Statement, Unreadable, statements

KMS_GRANT = tokens.KMS_GRANT
DOCUMENT_TYPES = (tokens.S3_BUCKET_POLICY, tokens.KMS_KEY, tokens.KMS_KEY_POLICY)
# The services the program grants to, and where: a new one is a review of this list.
SERVICES = {
    tokens.S3_BUCKET_POLICY: ("delivery.logs.amazonaws.com", "logdelivery.elasticloadbalancing.amazonaws.com",
                              "logging.s3.amazonaws.com"),
    tokens.KMS_KEY: ("logs.{region}.amazonaws.com", "fargate.amazonaws.com"),
    tokens.KMS_KEY_POLICY: ("logs.{region}.amazonaws.com", "fargate.amazonaws.com"),
}
POSITIVE_OPERATORS = ("StringEquals", "ArnEquals", "ArnLike")
# The condition keys that pin a service's request to the account it acts for.
ACCOUNT_KEYS = ("aws:SourceAccount", "aws:SourceArn", "aws:SourceOwner", "kms:EncryptionContext:aws:logs:arn",
                "kms:EncryptionContext:aws:ecs:clusterAccount")
_ACCOUNT_IN_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):")


def _account_of(principal: str) -> str | None:
    """The account an AWS principal belongs to: an ARN's account, a bare account id; None for anything else."""
    if re.fullmatch(r"\d{12}", principal):
        return principal
    match = _ACCOUNT_IN_ARN.match(principal)
    return match.group(1) if match else None


def _values(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _values(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _values(v)
    elif value is not None:
        yield str(value)


def _names_account(condition: Any, account: str) -> bool:
    """Whether a condition pins the request to this account: a positive operator (StringEquals, ArnEquals,
    ArnLike; no IfExists, no ForAnyValue) on a key that names the caller's account or resource, every value
    of which is this account or an ARN in it. A negated or optional operator pins nothing."""
    if not isinstance(condition, Mapping):
        return False
    for operator, tests in condition.items():
        if operator not in POSITIVE_OPERATORS or not isinstance(tests, Mapping):
            continue
        for key, value in tests.items():
            values = list(_values(value))
            if key in ACCOUNT_KEYS and values and all(v == account or f":{account}:" in v for v in values):
                return True
    return False


def _log_delivery_only(s: Statement, account: str, prefix: str) -> bool:
    """s3:PutObject only (named, not by NotAction), on this environment's log path in this account only."""
    return (bool(s.actions) and set(s.actions) <= {"s3:PutObject"} and not s.not_actions and bool(s.resources)
            and not s.not_resources
            and all(re.fullmatch(rf"arn:aws[a-z-]*:s3:::[a-z0-9.-]+/{re.escape(prefix)}/[^*]*\*?/AWSLogs/{account}/\*", r)
                    for r in s.resources))


def _statement_problems(s: Statement, typ: str, account: str, region: str, prefix: str) -> list[str]:
    if not s.allows:
        return []
    problems = []
    if s.anyone():
        problems.append(f"{s.label} allows anyone (Principal `*` or NotPrincipal)")
    for principal in s.aws_principals():
        if principal == "*":
            continue
        owner = _account_of(principal)
        if owner == account:
            continue
        elb = ELB_LOG_ACCOUNTS.get(region)
        if owner is not None and owner == elb and typ == tokens.S3_BUCKET_POLICY and _log_delivery_only(s, account,
                                                                                                      prefix):
            continue  # the regional ELB log-delivery account, on this environment's log path in this account only
        problems.append(f"{s.label} grants {principal}, outside account {account}")
    allowed = tuple(x.format(region=region) for x in SERVICES.get(typ, ()))
    for service in s.principals.get("Service", ()):
        if service not in allowed:
            problems.append(f"{s.label} grants the service {service}, which the program does not use here "
                            f"(allowed: {', '.join(allowed) or 'none'})")
        elif not _names_account(s.condition, account):
            problems.append(f"{s.label} grants {service} with no condition naming account {account} "
                            f"(aws:SourceAccount or aws:SourceArn), so any account's use of the service could reach "
                            f"it")
    for kind in s.principals:
        if kind not in ("AWS", "Service", "*"):
            problems.append(f"{s.label} grants {kind} principals {', '.join(s.principals[kind])}")
    return problems


def grants_stay_in_account(view: StackView, config: Mapping[str, Any]) -> StackResult:
    documents = view.of_type(*DOCUMENT_TYPES)
    grants = view.of_type(KMS_GRANT)
    if not documents and not grants:
        return NotApplicable("no bucket policy, key policy or KMS grant in the stack")
    return list(_findings(view, documents, grants))


def _findings(view: StackView, documents: list[Resource], grants: list[Resource]) -> Iterator[Finding]:
    env = view.environment
    account = str((env.props if env else {}).get(ENV_KEYS.account_id) or "")
    region = str((env.props if env else {}).get(ENV_KEYS.region) or "")
    prefix = str((env.props if env else {}).get(ENV_KEYS.environment_name) or "")
    if not re.fullmatch(r"\d{12}", account):
        yield Finding(env.urn if env else "", "the stack's account is not known from its Environment, so grants to "
                                              "other accounts cannot be told apart: build it with the project's "
                                              "program", env.name if env else "")
        return
    for r in documents:
        document = read_known(lambda: r.props.get("policy"))
        if document is UNKNOWN or document is None:
            continue  # not known yet (the update judges it), or the key's default policy (the account only)
        try:
            found = statements(document)
        except Unreadable as e:
            yield Finding(r.urn, f"{r.label}: its policy cannot be read ({e}): write a JSON policy document", r.name)
            continue
        problems = [p for s in found or [] for p in _statement_problems(s, r.type, account, region, prefix)]
        if problems:
            yield Finding(r.urn, f"{r.label}: {'; '.join(problems)}: grant only this account, the services the "
                                 f"program needs under a condition naming this account, and the regional ELB "
                                 f"account on AWSLogs/{account}/ only", r.name)
    for g in grants:
        grantee = read_known(lambda: g.props.get("granteePrincipal"))
        if isinstance(grantee, str) and _account_of(grantee) not in (account,):
            yield Finding(g.urn, f"{g.label} grants key use to {grantee}, outside account {account}: grant only "
                                 f"principals of this account", g.name)


RULES: list[Rule] = [
    Rule("grants-stay-in-account", "security",
         "Bucket policies, key policies and KMS grants allow nothing to another account",
         grants_stay_in_account, scope="stack", fsbp="S3.6", checkov="CKV_AWS_70", severity=Severity.CRITICAL,
         remediation="Grant only this account, the services the program needs under aws:SourceAccount, and the "
                     "regional ELB account on AWSLogs/<account>/ only"),
]
