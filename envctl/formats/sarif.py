"""`envctl check` results as SARIF 2.1.0, so that code-scanning tools annotate the stack files.

One run, whose driver lists every rule of the pack (id, name, descriptions, the remediation as
help, the FSBP page as helpUri, the severity as default level and as GitHub's numeric
`security-severity`, the FSBP control and Checkov ids as properties). Each violation is a result
located in the stack's file (`Pulumi.<stack>.yaml`, the file a change to the stack edits) with
the resource's URN as logical location. A finding a waiver accepted is a result with an external,
accepted suppression carrying the waiver's reason. A stack that could not be checked is a tool
execution notification (and the invocation is not successful); the rules that applied to nothing
are listed per stack in the run's properties.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from policies.framework import Rule

    from ..check import StackCheck

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "envctl check"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}  # GitHub's scale, 0-10
URI_BASE = "%SRCROOT%"


def rule_name(rule_id: str) -> str:
    """A rule's SARIF name: its id in PascalCase (`rds-encrypted-cmk` -> `RdsEncryptedCmk`)."""
    return "".join(part.capitalize() for part in rule_id.split("-"))


def reporting_descriptor(rule: Rule) -> dict[str, Any]:
    severity = rule.severity.value
    descriptor: dict[str, Any] = {
        "id": rule.id,
        "name": rule_name(rule.id),
        "shortDescription": {"text": rule.description},
        "fullDescription": {"text": f"{rule.description} ({rule.family} rule of the clinspark-environments pack)"},
        "help": {"text": rule.remediation, "markdown": f"**Remediation:** {rule.remediation}"},
        "defaultConfiguration": {"level": LEVELS[severity]},
        "properties": {
            # "security" on every rule: code-scanning tools read security-severity of such rules only
            "tags": list(dict.fromkeys([rule.family, "security", *rule.checkov_ids])),
            "severity": severity,
            "security-severity": SECURITY_SEVERITY[severity],
            "family": rule.family,
            "fsbp": rule.fsbp,
            "checkov": rule.checkov_ids,
        },
    }
    if rule.fsbp:
        from policies.framework import fsbp_url

        descriptor["helpUri"] = fsbp_url(rule.fsbp)
    return descriptor


def _location(stack: str, urn: str, stacks_uri: str) -> dict[str, Any]:
    uri = f"{stacks_uri.rstrip('/')}/Pulumi.{stack}.yaml" if stacks_uri else f"Pulumi.{stack}.yaml"
    logical = ({"fullyQualifiedName": urn, "name": urn.rsplit("::", 1)[-1], "kind": "resource"} if urn
               else {"fullyQualifiedName": f"stack {stack}", "name": stack, "kind": "module"})
    return {"physicalLocation": {"artifactLocation": {"uri": uri, "uriBaseId": URI_BASE}, "region": {"startLine": 1}},
            "logicalLocations": [logical]}


def _fingerprint(stack: str, rule_id: str, urn: str, message: str) -> dict[str, str]:
    """A stable identity per finding: several findings share the stack file's first line, so the
    line hash code-scanning tools compute by default would merge them."""
    digest = hashlib.sha256("\0".join((stack, rule_id, urn, message)).encode()).hexdigest()
    return {"clinsparkFinding/v1": digest}


def render(results: Sequence[StackCheck], rules: Sequence[Rule], *, stacks_uri: str = "") -> str:
    index = {rule.id: i for i, rule in enumerate(rules)}
    by_id = {rule.id: rule for rule in rules}

    def result(stack: str, rule_id: str, urn: str, message: str, level: str | None) -> dict[str, Any]:
        rule = by_id.get(rule_id)
        out: dict[str, Any] = {"ruleId": rule_id, "message": {"text": message},
                               "locations": [_location(stack, urn, stacks_uri)],
                               "partialFingerprints": _fingerprint(stack, rule_id, urn, message),
                               "properties": {"stack": stack}}
        if rule is not None:
            out["ruleIndex"] = index[rule_id]
            out["level"] = LEVELS[rule.severity.value]
        else:
            out["level"] = "error"  # a rule outside the given list: never quieter than the pack's worst
        if level is not None:
            out["properties"]["enforcementLevel"] = level
        return out

    found: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    not_applicable: dict[str, dict[str, list[str]]] = {}
    for r in results:
        if r.error:
            notifications.append({"level": "error", "message": {"text": f"stack {r.stack} was not checked: {r.error}"},
                                  "locations": [_location(r.stack, "", stacks_uri)]})
            continue
        found += [result(r.stack, v.policy, v.urn, v.message, v.level) for v in r.violations]
        for w in r.waivers:
            if w.get("honoured") and w.get("used"):
                waived = result(r.stack, str(w["rule"]), str(w["resource"]),
                                f"finding waived until {w['expires']}: {w['reason']}", None)
                waived["suppressions"] = [{"kind": "external", "state": "accepted", "justification": str(w["reason"])}]
                found.append(waived)
        not_applicable[r.stack] = dict(r.not_applicable)
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "organization": "clinspark",
                                "rules": [reporting_descriptor(rule) for rule in rules]}},
            "invocations": [{"executionSuccessful": not notifications, "toolExecutionNotifications": notifications}],
            "originalUriBaseIds": {URI_BASE: {"description": {"text": "the root of the checked repository"}}},
            "results": found,
            "columnKind": "unicodeCodePoints",
            "properties": {"stacks": [r.stack for r in results], "notApplicable": not_applicable},
        }],
    }
    return json.dumps(log, indent=2)
