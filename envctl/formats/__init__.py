"""The output formats of `envctl check`: one pure function per format from the check results to a string.

`text` and `json` are the formats `envctl check` always had (:mod:`envctl.check`); `sarif` (SARIF
2.1.0, for code-scanning tools) and `junit` (JUnit XML, for CI test reports) are
:mod:`envctl.formats.sarif` and :mod:`envctl.formats.junit`. The command line picks one with
:func:`render`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import junit, sarif

if TYPE_CHECKING:
    from changecontrol.trust import TrustRoot
    from policies.framework import Rule

    from ..check import StackCheck

FORMATS = ("text", "json", "sarif", "junit")


def render(fmt: str, results: Sequence[StackCheck], *, trust: TrustRoot, checked: Path,
           rules: Sequence[Rule] | None = None, stacks_uri: str = "") -> str:
    """`results` in format `fmt` (one of :data:`FORMATS`).

    `trust` and `checked` are the trust root and the checked directory (the first line of `text`,
    the `mode` of `json`); `rules` the pack's rules (default: the pack's own); `stacks_uri` where
    the stack files are relative to the repository root, for SARIF's file locations ("" for the root).
    """
    from ..check import render as render_text
    from ..check import to_json

    if fmt == "text":
        return render_text(results, trust.describe(checked))
    if fmt == "json":
        return to_json(results, trust, checked)
    if rules is None:
        from policies.pack import RULES

        rules = RULES
    if fmt == "sarif":
        return sarif.render(results, rules, stacks_uri=stacks_uri)
    if fmt == "junit":
        return junit.render(results, rules)
    raise ValueError(f"unknown output format {fmt!r}; accepted: {', '.join(FORMATS)}")
