"""The CI examples in docs/ci/ call commands that exist, in the order the README's threat model needs.

Each example runs `make test`, the offline check by the protected branch's envctl (SARIF for GitHub
code scanning, JUnit for GitLab) before anything of the candidate runs, and per stack `pulumi
preview` with the protected branch's pack and the config `envctl policy-config` wrote.
"""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from envctl.cli import build_parser
from envctl.formats import FORMATS
from tests.conftest import PROJECT

CI = PROJECT / "docs" / "ci"
ENVCTL = re.compile(r"(\S*bin/envctl)((?:[ \t]+[^\s|;&>]+)*)")


def github() -> dict:
    return yaml.safe_load((CI / "github-actions.yml").read_text())


def gitlab() -> dict:
    return yaml.safe_load((CI / "gitlab-ci.yml").read_text())


def flat(items) -> list[str]:
    """Script lines, GitLab's nested (anchored) lists flattened."""
    out: list[str] = []
    for item in items:
        out += flat(item) if isinstance(item, list) else [str(item)]
    return out


def github_steps(job: str) -> list[str]:
    """The shell text of each step of a job (a step that uses an action: `uses: <action>`)."""
    return [s["run"] if "run" in s else f"uses: {s['uses']}" for s in github()["jobs"][job]["steps"]]


def gitlab_script(job: str) -> list[str]:
    return flat(gitlab()[job]["script"])


def shell_lines(texts: list[str]) -> list[str]:
    joined = "\n".join(texts).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip()]


def envctl_calls(texts: list[str]) -> list[tuple[str, list[str]]]:
    """(the envctl executable, its arguments) of every envctl command line."""
    return [(m.group(1), shlex.split(m.group(2))) for line in shell_lines(texts) for m in ENVCTL.finditer(line)]


def all_texts() -> list[str]:
    return [*(t for job in github()["jobs"] for t in github_steps(job)),
            *(t for job in ("test", "check", "preview") for t in gitlab_script(job))]


def test_both_examples_are_valid_yaml_with_the_three_jobs():
    assert set(github()["jobs"]) == {"test", "check", "preview"}
    assert {"test", "check", "preview"} <= set(gitlab()) and gitlab()["stages"] == ["test", "check", "preview"]
    triggers = github().get("on", github().get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"pull_request_target", "push"}


def test_every_envctl_call_is_a_command_envctl_has():
    calls = envctl_calls(all_texts())
    assert len(calls) >= 6
    parser = build_parser()
    for exe, args in calls:
        assert exe in ("../trusted/.venv/bin/envctl",), exe  # always the protected branch's envctl
        parsed = parser.parse_args(args)
        assert parsed.name in ("check", "policy-config"), args
        if "--format" in args:
            assert parsed.format in FORMATS and parsed.format == args[args.index("--format") + 1]


def test_make_test_runs_in_both_and_is_a_make_target():
    assert "make test" in github_steps("test") and "make test" in gitlab_script("test")
    assert re.search(r"^test:", (PROJECT / "Makefile").read_text(), re.MULTILINE)
    assert re.search(r"^\.venv/\.installed|^\$\(STAMP\):", (PROJECT / "Makefile").read_text(), re.MULTILINE)


def test_github_uploads_the_sarif_of_the_check_to_code_scanning():
    steps = github()["jobs"]["check"]["steps"]
    (check,) = [s for s in steps if "envctl" in s.get("run", "")]
    assert "--dir . check --no-cache --format sarif > ../envctl-check.sarif" in check["run"]
    (upload,) = [s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif")]
    assert upload["with"]["sarif_file"] == "envctl-check.sarif" and upload["if"] == "always()"
    assert github()["jobs"]["check"]["permissions"]["security-events"] == "write"


def test_gitlab_reports_the_check_as_junit():
    job = gitlab()["check"]
    assert "../trusted/.venv/bin/envctl --dir . check --no-cache --format junit > envctl-check.xml" in gitlab_script("check")
    assert job["artifacts"]["reports"]["junit"] == "envctl-check.xml" and job["artifacts"]["when"] == "always"


@pytest.mark.parametrize("texts", [
    [t for t in github_steps("check")], [t for t in github_steps("preview")],
    gitlab_script("check"), gitlab_script("preview"),
], ids=["github-check", "github-preview", "gitlab-check", "gitlab-preview"])
def test_the_trusted_checkout_is_built_and_the_candidate_checked_before_any_of_its_code_runs(texts):
    lines = shell_lines(texts)
    built = next(i for i, l in enumerate(lines) if re.search(r"make -C \S*trusted \.venv/\.installed", l))
    checked = next(i for i, l in enumerate(lines) if "bin/envctl --dir . check" in l)
    candidate_code = [i for i, l in enumerate(lines) if re.search(r"python3 -m venv \.venv|^pulumi |^make test", l)]
    assert built < checked and all(checked < i for i in candidate_code)


@pytest.mark.parametrize("texts", [github_steps("preview"), gitlab_script("preview")], ids=["github", "gitlab"])
def test_each_stack_is_previewed_with_the_trusted_pack_and_its_policy_config(texts):
    lines = shell_lines(texts)
    (preview,) = [l for l in lines if l.startswith("pulumi preview")]
    args = shlex.split(preview)
    config = args[args.index("--policy-pack-config") + 1]
    assert args[args.index("--policy-pack") + 1] == "../trusted/policies"
    (written,) = [args for exe, args in envctl_calls(texts) if args[2] == "policy-config"]
    assert written[written.index("--output") + 1] == config


def test_previews_get_cloud_credentials_from_the_ci_s_oidc_token_only():
    job = github()["jobs"]["preview"]
    assert job["permissions"]["id-token"] == "write" and job["needs"] == "check"
    (aws,) = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")]
    assert set(aws["with"]) == {"role-to-assume", "aws-region"}
    assert "id-token" not in github()["jobs"]["check"]["permissions"]
    assert "id-token" not in github()["jobs"]["test"].get("permissions", {})
    lab = gitlab()["preview"]
    assert lab["id_tokens"]["AWS_ID_TOKEN"]["aud"] == "sts.amazonaws.com" and lab["needs"] == ["check"]
    assert "id_tokens" not in gitlab()["check"] and "id_tokens" not in gitlab()["test"]
