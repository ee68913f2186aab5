"""Security rules for database forms the program does not use today: snapshots shared out of the
account, parameter groups that accept plain-text connections, and Aurora clusters.

The program runs RDS instances (judged in :mod:`.security_rds`); these rules make sure that an
Aurora cluster, a shared snapshot or a lax parameter group added later meets the same bar. What a
phase requires (backup days, whether the stack is controlled) comes from the Environment component
and the pack's own facts, never from a resource's tags.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from components import tokens
from components.phases import PHASES

from ..framework import (
    COMPLIANT,
    FACTS,
    UNKNOWN,
    Finding,
    NotApplicable,
    Resource,
    ResourceResult,
    Rule,
    StackResult,
    StackView,
    Violated,
    as_days,
    as_list,
    flag,
    read_known,
)

SNAPSHOT_TYPES = (tokens.RDS_SNAPSHOT, tokens.RDS_SNAPSHOT_COPY, tokens.RDS_CLUSTER_SNAPSHOT)
PARAMETER_GROUP_TYPES = (tokens.RDS_PARAMETER_GROUP, tokens.RDS_CLUSTER_PARAMETER_GROUP)
CLUSTER = tokens.RDS_CLUSTER
CLUSTER_INSTANCE = tokens.RDS_CLUSTER_INSTANCE
AWS_BACKUP_DAYS = range(1, 36)  # what RDS accepts for automated backups

# Per engine family: the parameter that refuses unencrypted connections, and the values that turn it on.
TLS_PARAMETERS = {"postgres": ("rds.force_ssl", ("1",)), "aurora-postgresql": ("rds.force_ssl", ("1",)),
                  "mysql": ("require_secure_transport", ("1", "ON")),
                  "aurora-mysql": ("require_secure_transport", ("1", "ON")),
                  "mariadb": ("require_secure_transport", ("1", "ON"))}




def rds_snapshot_not_shared(snapshot: Resource, config: Mapping[str, Any]) -> ResourceResult:
    shared = read_known(lambda: as_list(snapshot.props.get("sharedAccounts")))
    if shared is UNKNOWN:
        return NotApplicable("whom it is shared with is not known yet (the update judges it)")
    if shared:
        whom = "every AWS account" if "all" in shared else f"account(s) {', '.join(map(str, shared))}"
        return Violated(f"{snapshot.label} is shared with {whom}: remove shared_accounts; a clone is a copy made "
                        f"inside the account (envctl clone-check)")
    return COMPLIANT


def rds_force_ssl(group: Resource, config: Mapping[str, Any]) -> ResourceResult:
    family = str(group.props.get("family") or "")
    engine = next((e for e in sorted(TLS_PARAMETERS, key=len, reverse=True) if family.startswith(e)), None)
    if engine is None:
        return NotApplicable(f"family {family or '(none)'} has no TLS-only parameter this rule knows")
    name, on = TLS_PARAMETERS[engine]
    values = {str(p.get("name")): str(p.get("value")) for p in as_list(group.props.get("parameters"))
              if isinstance(p, Mapping)}
    if values.get(name) not in on:
        return Violated(f"{group.label} ({family}) accepts unencrypted connections: add the parameter {name}={on[0]}")
    return COMPLIANT


def _customer_key(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and "alias/aws/" not in value


def _cluster_problems(cluster: Resource, minimum_days: int, controlled: bool, retiring: bool) -> list[str]:
    p = cluster.props
    problems = []
    if flag(p.get("storageEncrypted")) is not True or not _customer_key(p.get("kmsKeyId")):
        problems.append("set storage_encrypted=True and kms_key_id to the instance's customer-managed key")
    raw = p.get("backupRetentionPeriod", 1)  # unset: AWS keeps one day
    days = as_days(raw)
    if days is None:
        problems.append(f"backup_retention_period {raw!r} is not a number of days")
    else:
        if days not in AWS_BACKUP_DAYS:
            problems.append(f"backup_retention_period {days} is outside what RDS accepts (1 to 35 days)")
        elif days < minimum_days:
            problems.append(f"keep backups at least {minimum_days} days (backup_retention_period is {days})")
    if controlled and not retiring:
        if flag(p.get("deletionProtection")) is not True:
            problems.append("set deletion_protection=True (the stack is change-controlled)")
        if flag(p.get("skipFinalSnapshot")) is True:
            problems.append("set skip_final_snapshot=False with a final_snapshot_identifier (the stack is "
                            "change-controlled)")
    return problems


def aurora_secure(view: StackView, config: Mapping[str, Any]) -> StackResult:
    clusters = view.of_type(CLUSTER)
    instances = view.of_type(CLUSTER_INSTANCE)
    if not clusters and not instances:
        return NotApplicable("the stack has no Aurora cluster")
    return _aurora_findings(view, config, clusters, instances)


def _aurora_findings(view: StackView, config: Mapping[str, Any], clusters: list[Resource],
                     instances: list[Resource]) -> Iterator[Finding]:
    env = view.environment
    phase = PHASES.get(str((env.props if env else {}).get("phase")))
    if phase is None:
        for r in clusters:  # fail closed: without the Environment the phase's minimum is unknown
            yield Finding(r.urn, f"{r.label}: the stack has no readable Environment, so its phase's backup minimum "
                                 f"cannot be read: register the cluster inside the Environment component", r.name)
        minimum, retiring = max(p.backup_retention_days for p in PHASES.values()), False
    else:
        minimum, retiring = phase.backup_retention_days, bool((env.props if env else {}).get("retiring"))
    facts = config.get(FACTS)
    controlled = bool(getattr(facts, "controlled", True))  # no facts: judge as controlled (fail closed)
    for cluster in clusters:
        problems = _cluster_problems(cluster, minimum, controlled, retiring)
        if problems:
            yield Finding(cluster.urn, f"Aurora {cluster.label}: {'; '.join(problems)}", cluster.name)
    for instance in instances:
        if flag(instance.props.get("publiclyAccessible")) is True:
            yield Finding(instance.urn, f"Aurora {instance.label} is publicly accessible: set "
                                        f"publicly_accessible=False", instance.name)


RULES: list[Rule] = [
    Rule("rds-snapshot-not-shared", "security", "Database snapshots and their copies are not shared with other accounts",
         rds_snapshot_not_shared, types=SNAPSHOT_TYPES, fsbp="RDS.1", severity=Severity.CRITICAL,
         remediation="Remove shared_accounts; clone inside the account from a copy under the target's own key"),
    Rule("rds-force-ssl", "security", "Database parameter groups refuse unencrypted connections",
         rds_force_ssl, types=PARAMETER_GROUP_TYPES, severity=Severity.HIGH,
         remediation="Add rds.force_ssl=1 (PostgreSQL) or require_secure_transport=ON (MySQL, MariaDB)"),
    Rule("aurora-secure", "security",
         "Aurora clusters are encrypted with a customer key, keep the phase's backups, are protected when "
         "controlled, and their instances are private",
         aurora_secure, scope="stack", fsbp="RDS.27", checkov="CKV_AWS_96, CKV_AWS_139",
         severity=Severity.HIGH,
         remediation="Encrypt with the instance key, keep the phase's backup days, protect controlled clusters, "
                     "keep instances private"),
]
