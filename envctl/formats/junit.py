"""`envctl check` results as JUnit XML, the test report CI systems (GitLab, Jenkins, ...) read.

One testsuite per stack, one testcase per rule of the pack: a failure when the rule has mandatory
violations in the stack (each violation a line of the failure's text), skipped when the rule
applied to nothing in the stack (with the reasons), passed otherwise; advisory violations and
waived findings are written to the testcase's output. A stack that could not be checked is one
testcase in error.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from policies.framework import Rule

    from ..check import StackCheck

MANDATORY = "mandatory"


def _suite(r: StackCheck, rules: Sequence[Rule]) -> ET.Element:
    suite = ET.Element("testsuite", name=f"stack {r.stack}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if r.error:
        case = ET.SubElement(suite, "testcase", classname=r.stack, name="envctl check")
        ET.SubElement(case, "error", message=f"stack {r.stack} was not checked", type="not checkable").text = r.error
        counts.update(tests=1, errors=1)
    else:
        for rule in rules:
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=r.stack, name=rule.id)
            mine = [v for v in r.violations if v.policy == rule.id]
            mandatory = [v for v in mine if v.level == MANDATORY]
            notes = [f"[{v.level}] {v.urn or r.stack}: {v.message}" for v in mine if v.level != MANDATORY]
            notes += [f"[waived until {w['expires']}] {w['resource']}: {w['reason']}" for w in r.waivers
                      if w.get("rule") == rule.id and w.get("honoured") and w.get("used")]
            if mandatory:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", type=MANDATORY,
                                        message=f"{len(mandatory)} mandatory violation(s) of {rule.id} "
                                                f"({rule.severity.value}): {rule.remediation}")
                failure.text = "\n".join(f"{v.urn or r.stack}: {v.message}" for v in mandatory)
            elif not mine and rule.id in r.not_applicable:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message="not applicable: " + "; ".join(r.not_applicable[rule.id]))
            if notes:
                ET.SubElement(case, "system-out").text = "\n".join(notes)
    for key, value in counts.items():
        suite.set(key, str(value))
    return suite


def render(results: Sequence[StackCheck], rules: Sequence[Rule]) -> str:
    root = ET.Element("testsuites", name="envctl check")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for r in results:
        suite = _suite(r, rules)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key) or 0)
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
