"""Reviewed types only (issue 8, item 1): every type a stack registers has a review, a type nobody reviewed
is refused in every stack, and the reviews agree with the rules they name."""

from __future__ import annotations

import pytest

from components import tokens
from policies.pack import RULES
from policies.reviewed import EVERY_TYPE, REVIEWED, judged_types, review_of
from tests.conftest import SHIPPED, altered, of_type
from tests.helpers import only, verdict

BY_ID = {rule.id: rule for rule in RULES}


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_type_a_shipped_stack_registers_is_reviewed_and_the_rule_stays_quiet(shipped, stack):
    assert {reg.type for reg in shipped[stack].registrations if review_of(reg.type) is None} == set()
    assert verdict(shipped[stack], ["reviewed-types-only"]) == []


@pytest.mark.parametrize("stack", ["sandbox", "prod"])
def test_a_type_nobody_reviewed_is_refused_in_every_stack(shipped, stack):
    run = altered(shipped[stack], of_type(tokens.KMS_ALIAS), type="aws:sqs/queue:Queue")
    found = [v for v in verdict(run, ["reviewed-types-only"])]
    assert found and all("aws:sqs/queue:Queue, which no one has reviewed" in v.message for v in found)
    assert "policies/reviewed.py" in only(found, "reviewed-types-only", found[0].urn).message


def test_a_provider_is_reviewed_as_a_kind():
    assert review_of("pulumi:providers:aws") is not None and review_of("pulumi:providers:random") is not None


def test_every_review_names_rules_of_the_pack_that_look_at_the_type():
    for typ, review in REVIEWED.items():
        for rule_id in review.rules:
            assert rule_id in BY_ID, (typ, rule_id)
            rule = BY_ID[rule_id]
            assert rule.scope == "stack" or not rule.types or typ in rule.types, (typ, rule_id)


def test_every_type_a_resource_rule_looks_at_is_reviewed_with_that_rule():
    for rule in RULES:
        for typ in rule.types:
            assert typ in REVIEWED and rule.id in REVIEWED[typ].rules, (rule.id, typ)


def test_every_rule_judges_something():
    for rule in RULES:
        assert judged_types(rule.id), f"{rule.id} is named by no review"
    assert set(EVERY_TYPE) <= set(BY_ID)


def test_a_review_names_rules_or_why_none_is_needed_never_both_or_neither():
    from policies.reviewed import Review

    with pytest.raises(ValueError, match="one of the two"):
        Review()
    with pytest.raises(ValueError, match="one of the two"):
        Review(rules=("s3-versioning",), why_no_rule="because")
    assert Review(rules=("s3-versioning",)).rules == ("s3-versioning",)


def test_the_readme_rule_table_says_which_types_each_rule_judges():
    from tests.conftest import PROJECT

    def short(token: str) -> str:
        return "every type" if token == "*" else "{}/{}".format(token.split(":")[1].split("/")[0], token.split(":")[2])

    lines = (PROJECT / "README.md").read_text().split("## The policy pack", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    header, _, *rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[start:end]]
    at = header.index("judges")
    assert {row[0].strip("`"): row[at] for row in rows} == {
        rule.id: ", ".join(short(t) for t in judged_types(rule.id)) for rule in RULES}
