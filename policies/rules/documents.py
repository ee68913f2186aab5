"""IAM policy documents as rules read them: IAM policies, trust policies and KMS key policies.

The provider takes a document as a JSON string (or, through some SDK paths, as plain data); AWS
accepts a single value wherever a list is allowed (`"Action": "s3:GetObject"`) and a principal as
`"*"` or as a mapping of kinds to one value or a list. :func:`statements` turns any of those forms
into :class:`Statement` s with lists everywhere, so a rule never meets a form it did not expect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..framework import UNKNOWN, as_list

_ANY_SERVICE = re.compile(r"^arn:(\*|[^:]*:\*)")


class Unreadable(ValueError):
    """A document that is not a JSON object with statements: AWS refuses it too."""


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    principals: Mapping[str, tuple[str, ...]]  # kind ("AWS", "Service", "Federated", "*") -> values
    condition: Any  # as written: operator -> key -> value(s)
    sid: str

    @property
    def has_condition(self) -> bool:
        return bool(self.condition)

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    @property
    def label(self) -> str:
        return f"statement '{self.sid}'" if self.sid else "a statement"

    def grants_every_action(self) -> bool:
        """`*` (or `*:*`) among the actions, or any NotAction (allowed: everything but a few)."""
        return bool(self.not_actions) or any(a in ("*", "*:*") for a in self.actions)

    def on_every_resource(self) -> bool:
        """NotResource, `*`, or an ARN pattern whose partition or service is a wildcard (`arn:aws:*:*:*:*`)."""
        return bool(self.not_resources) or any(r == "*" or _ANY_SERVICE.match(r) for r in self.resources)

    def anyone(self) -> bool:
        """The principal is everyone: `"Principal": "*"` or `{"AWS": "*"}` (or `*` among the AWS values)."""
        return "*" in self.principals.get("*", ()) or "*" in self.principals.get("AWS", ())

    def aws_principals(self) -> tuple[str, ...]:
        return self.principals.get("AWS", ())


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in as_list(value))


def _principals(value: Any) -> Mapping[str, tuple[str, ...]]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"*": (value,)} if value == "*" else {"AWS": (value,)}
    if isinstance(value, Mapping):
        return {str(kind): _strings(v) for kind, v in value.items()}
    raise Unreadable(f"a Principal must be \"*\" or an object, not {type(value).__name__}")


def statements(document: Any) -> list[Statement] | None:
    """The statements of a policy document; None when the engine does not know it yet (preview).
    Raises :class:`Unreadable` for a document AWS would refuse."""
    if document is UNKNOWN or document is None:
        return None
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as e:
            raise Unreadable(f"not JSON ({e})") from None
    if not isinstance(document, Mapping):
        raise Unreadable("not a JSON object")
    found = []
    for raw in as_list(document.get("Statement")):
        if not isinstance(raw, Mapping):
            raise Unreadable("a Statement is not an object")
        found.append(Statement(
            effect=str(raw.get("Effect", "")),
            actions=_strings(raw.get("Action")),
            not_actions=_strings(raw.get("NotAction")),
            resources=_strings(raw.get("Resource")),
            not_resources=_strings(raw.get("NotResource")),
            principals=_principals(raw.get("Principal")) if "NotPrincipal" not in raw else {"*": ("*",)},
            condition=raw.get("Condition"),
            sid=str(raw.get("Sid") or ""),
        ))
    return found
