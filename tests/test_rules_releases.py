"""The releases file and the rules that read it: every stack runs a listed release; community-dev follows
the newest (a warning while behind, a failure beyond the limit); a malformed file is refused whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from components.tokens import ENVIRONMENT_KEYS as ENV_KEYS
from components.tokens import INSTANCE_KEYS
from envctl.evaluate import PolicyConfigError
from envctl.offline import StackRun
from policies import releases
from policies.framework import INSTANCE_TYPE
from tests.conftest import (
    NS,
    PROJECT,
    SHIPPED,
    altered,
    environment,
    of_type,
    set_config,
)
from tests.helpers import envctl, only, verdict

LISTED = "lifecycle-release-listed"
LATEST = "lifecycle-release-latest"
LIMIT = "lifecycle-release-behind-limit"
RULES = [LISTED, LATEST, LIMIT]
SHIPPED_RELEASES = releases.load(PROJECT)
NEWEST = SHIPPED_RELEASES.newest.version


def running(run: StackRun, release: str) -> StackRun:
    """The run as the program builds it for another release: the Environment's and every instance's."""
    changed = altered(run, of_type(INSTANCE_TYPE), outputs={INSTANCE_KEYS.release: release})
    return altered(changed, lambda reg: reg.urn == environment(run).urn, outputs={ENV_KEYS.release: release})


def project_with(tmp_path: Path, text: str) -> Path:
    """A project directory whose releases file is `text` (the pack reads the file of the project it checks)."""
    directory = tmp_path / "project"
    directory.mkdir()
    shutil.copy(PROJECT / "Pulumi.yaml", directory)
    (directory / releases.RELEASES_FILE).write_text(text)
    return directory


def located(directory: Path) -> dict[str, Any]:
    return {rule: {"projectDir": str(directory)} for rule in RULES}


def behind(count: int) -> str:
    return SHIPPED_RELEASES.releases[-1 - count].version


# --------------------------------------------------------------------------------------------
# the file
# --------------------------------------------------------------------------------------------
def test_the_shipped_file_lists_every_release_a_shipped_stack_runs_oldest_first():
    from tests.conftest import stack_config

    versions = [r.version for r in SHIPPED_RELEASES.releases]
    assert versions == sorted(versions, key=releases.version_order) and len(set(versions)) == len(versions)
    assert {stack_config(s)[f"{NS}:release"] for s in SHIPPED} <= set(versions)
    assert stack_config("community-dev")[f"{NS}:release"] == NEWEST


def test_versions_are_ordered_as_numbers_not_as_text():
    parsed = releases.parse({"releases": [{"version": "2026.9.0", "date": "2026-09-01"},
                                          {"version": "2026.10.0", "date": "2026-10-01"}]})
    assert parsed.newest.version == "2026.10.0"
    assert [r.version for r in parsed.newer_than("2026.9.0")] == ["2026.10.0"]


def test_a_patch_of_an_older_line_may_be_dated_after_a_newer_release():
    parsed = releases.parse({"releases": [{"version": "2026.3.1", "date": "2026-05-01"},
                                          {"version": "2026.4.0", "date": "2026-04-20"}]})
    assert parsed.newest.version == "2026.4.0"


@pytest.mark.parametrize("text, where, accepted", [
    ("- version: 2026.4.2\n  date: 2026-05-18\n", "releases.yaml: expected a mapping with the one key releases",
     "oldest first"),
    ("releases: []\n", "releases.yaml: releases: expected a list of at least one release", "Accepted"),
    ("releases:\n  - version: 2026.4.2\n", "releases.yaml: releases[0]: expected the keys version, date",
     "Accepted: {version:"),
    ("releases:\n  - {version: 2026.4.2, date: 2026-05-18, notes: x}\n", "releases[0]: expected the keys version, date",
     "got ['date', 'notes', 'version']"),
    ("releases:\n  - {version: 2026.4, date: 2026-05-18}\n", "releases[0].version: 2026.4 is not a release",
     "Accepted: MAJOR.MINOR.PATCH"),
    ("releases:\n  - {version: v2026.4.2, date: 2026-05-18}\n", "releases[0].version: 'v2026.4.2' is not a release",
     "Accepted: MAJOR.MINOR.PATCH"),
    ("releases:\n  - {version: 2026.4.2, date: 2026-02-30}\n", "releases[0].date: '2026-02-30' is not a date of the "
     "calendar", "Accepted: the release date YYYY-MM-DD"),
    ("releases:\n  - {version: 2026.4.2, date: 20260518}\n", "releases[0].date: 20260518 is not a date",
     "Accepted: the release date YYYY-MM-DD"),
    ("releases:\n  - {version: 2026.4.2, date: 2026-05-18}\n  - {version: 2026.4.2, date: 2026-05-19}\n",
     "releases[1].version: 2026.4.2 is listed twice (also releases[0])", "each release once"),
    ("releases:\n  - {version: 2026.4.2, date: 2026-05-18}\n  - {version: 2026.4.1, date: 2026-05-04}\n",
     "releases[1].version: 2026.4.1 is listed after 2026.4.2", "a new release goes at the end"),
    ("releases:\n  - &r {version: 2026.4.2, date: 2026-05-18}\n  - *r\n", "releases.yaml", "anchor"),
])
def test_a_malformed_file_is_refused_naming_the_file_the_key_and_what_is_accepted(tmp_path, text, where, accepted):
    with pytest.raises(releases.ReleasesError) as refused:
        releases.load(project_with(tmp_path, text))
    assert where in str(refused.value) and accepted in str(refused.value)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(releases.ReleasesError, match="releases.yaml: missing in"):
        releases.load(tmp_path)


# --------------------------------------------------------------------------------------------
# lifecycle-release-listed
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", SHIPPED)
def test_the_shipped_stacks_run_listed_releases_and_community_dev_the_newest(shipped, stack):
    assert verdict(shipped[stack], RULES) == []


@pytest.mark.parametrize("stack", ("demo", "prod", "community-dev"))
def test_a_release_nobody_listed_is_refused_in_every_stack(shipped, stack):
    run = running(shipped[stack], "2026.4.20")
    v = only(verdict(run, [LISTED]), LISTED)
    assert v.urn == environment(run).urn and "runs release '2026.4.20', which releases.yaml does not list" in v.message


@pytest.mark.parametrize("release", [r.version for r in SHIPPED_RELEASES.releases])
def test_a_demo_may_run_any_listed_release(shipped, release):
    assert verdict(running(shipped["demo"], release), RULES) == []


def test_a_stack_runs_one_release_in_all_its_instances(shipped):
    run = shipped["sandbox"]
    (test,) = [r for r in run.by_type(INSTANCE_TYPE) if r.outputs[INSTANCE_KEYS.role] == "test"]
    v = only(verdict(altered(run, lambda reg: reg.urn == test.urn, outputs={INSTANCE_KEYS.release: behind(1)}),
                     RULES), LISTED)
    assert v.urn == test.urn and f"runs release '{behind(1)}', not the stack's '{NEWEST}'" in v.message


def test_a_malformed_file_fails_the_rule_closed_in_the_pack(shipped, tmp_path):
    directory = project_with(tmp_path, "releases:\n  - {version: 2026.4.2, date: 2026-13-01}\n")
    found = verdict(shipped["demo"], RULES, located(directory))
    v = only(found, LISTED)
    assert "releases.yaml: releases[0].date: '2026-13-01' is not a date of the calendar" in v.message
    assert [x.policy for x in found] == [LISTED]  # demo: the community-dev rules do not apply


# --------------------------------------------------------------------------------------------
# lifecycle-release-latest, lifecycle-release-behind-limit
# --------------------------------------------------------------------------------------------
def test_community_dev_one_release_behind_is_warned_not_failed(shipped):
    found = verdict(running(shipped["community-dev"], behind(1)), RULES)
    v = only(found, LATEST)
    assert v.level == "advisory" and [x.policy for x in found] == [LATEST]
    assert f"runs {behind(1)} (released " in v.message and "1 release behind the newest listed" in v.message
    assert f"set release to {NEWEST}" in v.message


def test_community_dev_at_the_limit_is_still_only_warned(shipped):
    assert [v.policy for v in verdict(running(shipped["community-dev"], behind(2)), RULES)] == [LATEST]


def test_community_dev_beyond_the_limit_fails(shipped):
    found = verdict(running(shipped["community-dev"], behind(3)), RULES)
    v = only(found, LIMIT)
    assert v.level == "mandatory" and {x.policy for x in found} == {LATEST, LIMIT}
    assert "3 releases behind" in v.message and "at most 2 may be (maxReleasesBehind)" in v.message


def test_the_limit_is_a_policy_config_key(shipped):
    run = running(shipped["community-dev"], behind(3))
    assert [v.policy for v in verdict(run, RULES, {LIMIT: {"maxReleasesBehind": 3}})] == [LATEST]
    assert {v.policy for v in verdict(running(shipped["community-dev"], behind(1)), RULES,
                                      {LIMIT: {"maxReleasesBehind": 0}})} == {LATEST, LIMIT}
    with pytest.raises(PolicyConfigError, match="maxReleasesBehind"):
        verdict(run, RULES, {LIMIT: {"maxReleasesBehind": -1}})
    with pytest.raises(PolicyConfigError, match="maxReleasesBehind"):  # a limit that would limit nothing
        verdict(run, RULES, {LIMIT: {"maxReleasesBehind": 1000}})
    assert [v.policy for v in verdict(run, RULES, {LIMIT: {"maxReleasesBehind": 6}})] == [LATEST]


def test_a_demo_or_a_customer_stack_on_an_old_release_is_not_held_to_the_newest(shipped):
    assert verdict(running(shipped["demo"], behind(5)), RULES) == []
    assert verdict(running(shipped["migration"], behind(5)), RULES) == []


def test_the_newest_comes_from_the_file_the_pack_reads(shipped, tmp_path):
    newer = (PROJECT / releases.RELEASES_FILE).read_text() + "  - version: 2026.5.0\n    date: 2026-06-15\n"
    v = only(verdict(shipped["community-dev"], RULES, located(project_with(tmp_path, newer))), LATEST)
    assert "the newest listed in releases.yaml, 2026.5.0 (released 2026-06-15)" in v.message


# --------------------------------------------------------------------------------------------
# through envctl
# --------------------------------------------------------------------------------------------
def test_check_refuses_a_malformed_releases_file_before_planning(capsys, tmp_path):
    directory = project_with(tmp_path, "releases:\n  - {version: 2026.4.2, date: 2026-05-18}\n"
                                       "  - {version: 2026.4.2, date: 2026-05-19}\n")
    shutil.copy(PROJECT / "Pulumi.community-dev.yaml", directory)
    code, out, err = envctl(capsys, directory, "check", "community-dev")
    assert code == 2 and "stack community-dev" not in out
    assert "error: releases.yaml: releases[1].version: 2026.4.2 is listed twice (also releases[0]). Accepted: each " \
           "release once" in err and "nothing was checked" in err and "Traceback" not in err


def test_check_warns_then_fails_community_dev_as_it_falls_behind(capsys, example_copy):
    set_config(example_copy, "community-dev", f"{NS}:release", behind(1))
    code, out, _ = envctl(capsys, example_copy, "check", "--json", "community-dev")
    (result,) = json.loads(out)["stacks"]
    assert code == 0 and [(v["policy"], v["level"]) for v in result["violations"]] == [(LATEST, "advisory")]
    set_config(example_copy, "community-dev", f"{NS}:release", behind(3))
    code, out, _ = envctl(capsys, example_copy, "check", "community-dev")
    assert code == 1 and f"[mandatory] {LIMIT}" in out and f"[advisory] {LATEST}" in out


def test_policy_config_keeps_the_warning_advisory_for_community_dev_only(capsys, example_copy):
    code, out, _ = envctl(capsys, example_copy, "policy-config", "community-dev")
    config = json.loads(out)
    assert code == 0 and config[LATEST]["enforcementLevel"] == "advisory" and "enforcementLevel" not in config[LIMIT]
    code, out, _ = envctl(capsys, example_copy, "policy-config", "prod")
    assert code == 0 and all("enforcementLevel" not in v for k, v in json.loads(out).items() if k != "all")


def test_a_controlled_stack_keeps_the_warning_at_its_own_level_but_may_not_disable_it(capsys, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({LATEST: "disabled"}))
    code, out, _ = envctl(capsys, PROJECT, "check", "--policy-config", str(config), "prod")
    assert code == 2 and "may not lower lifecycle-release-latest below mandatory" in out
    config.write_text("{}")  # every rule at its own level: the warning is advisory by nature, not lowered
    assert envctl(capsys, PROJECT, "check", "--policy-config", str(config), "prod")[0] == 0
