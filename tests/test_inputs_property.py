"""Property-based tests of every reader: whatever an engineer writes into a stack file, a change record,
a waivers file, a policy config or the command line, envctl ends with exit 0, 1 or 2 and a message it
chose, never a traceback and never its "this is a defect" catch-all.

The examples are bounded (see SETTINGS) so the whole file stays within a few seconds per reader; the
generators mix well-formed YAML with values of every type at the keys the readers really read, and raw
bytes, so both the schema checks and the parsers are exercised.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envctl.cli import main
from tests.conftest import NS, PROJECT, SHIPPED

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DEFECT = "defect of envctl"

# Values of every YAML type, nested a little: what a careless edit leaves at a key.
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=True), st.text(max_size=40),
                    st.sampled_from(["2027-02-30", "yes", "no", "on", "0x1F", "1e9", "~", "", " ", "\u200b",
                                     "10.0.0.0/8", "0.0.0.0/16", "alias/aws/rds", "arn:aws:kms:eu-west-1:1:key/x",
                                     "ECR-prod-0001", "ECR-prod-０００１", "2026-11-26T12:00:00Z", "9999-12-31"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner,
                                                                                                max_size=3),
                      max_leaves=8)
raw = st.binary(max_size=300)


def _fleet() -> Path:
    """A private copy of the shipped example: stack files, records, waivers (Hypothesis reruns a test body
    many times, so the directory is made per example, not per test)."""
    target = Path(tempfile.mkdtemp(prefix="prop-fleet-"))
    for stack in SHIPPED:
        shutil.copy(PROJECT / f"Pulumi.{stack}.yaml", target)
    shutil.copytree(PROJECT / "change-records", target / "change-records", ignore=shutil.ignore_patterns("*.sh", "*.md"))
    if (PROJECT / "waivers").is_dir():
        shutil.copytree(PROJECT / "waivers", target / "waivers")
    return target


def envctl(capsys, directory: Path, *args: str) -> tuple[int, str]:
    try:
        code = main(["--example", "--dir", str(directory), *args])
    finally:
        out, err = capsys.readouterr()
    return code, err


def assert_handled(code: int, err: str) -> None:
    assert code in (0, 1, 2), f"exit {code}: {err}"
    assert DEFECT not in err and "Traceback" not in err, err


def _dump(doc: Any) -> bytes:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()


# --------------------------------------------------------------------------------------------
# Stack files
# --------------------------------------------------------------------------------------------
STACK_KEYS = ["customer", "release", "expires_on", "network", "domain", "change_record", "clone_from",
              "snapshots", "retire", "sizes", "tags"]


@SETTINGS
@given(stack=st.sampled_from(["sandbox", "prod"]), key=st.sampled_from(STACK_KEYS), value=values)
def test_any_value_at_a_stack_key_is_handled(capsys, stack, key, value):
    fleet = _fleet()
    path = fleet / f"Pulumi.{stack}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"][f"{NS}:{key}"] = value
    path.write_bytes(_dump(doc))
    code, err = envctl(capsys, fleet, "plan", stack)
    assert_handled(code, err)


@SETTINGS
@given(doc=values)
def test_any_document_as_a_stack_file_is_handled(capsys, doc):
    fleet = _fleet()
    (fleet / "Pulumi.sandbox.yaml").write_bytes(_dump(doc))
    code, err = envctl(capsys, fleet, "plan", "sandbox")
    assert_handled(code, err)
    assert code == 2 or isinstance(doc, dict), "a stack file that is not a mapping is refused"


@SETTINGS
@given(data=raw, at=st.integers(min_value=0, max_value=400))
def test_any_bytes_in_a_stack_file_are_handled(capsys, data, at):
    fleet = _fleet()
    path = fleet / "Pulumi.sandbox.yaml"
    text = path.read_bytes()
    path.write_bytes(text[:at] + data + text[at:])
    code, err = envctl(capsys, fleet, "plan", "sandbox")
    assert_handled(code, err)


# --------------------------------------------------------------------------------------------
# Change records
# --------------------------------------------------------------------------------------------
@SETTINGS
@given(key=st.sampled_from(["format", "id", "chain", "meaning", "title", "classification", "reason", "requested_by",
                            "requested_at", "previous", "digest", "state"]), value=values)
def test_any_value_in_a_record_is_handled(capsys, key, value):
    fleet = _fleet()
    path = fleet / "change-records" / "prod" / "ECR-prod-0001.yaml"
    doc = yaml.safe_load(path.read_text())
    doc[key] = value
    path.write_bytes(_dump(doc))
    for args in (("ecr", "verify", "prod"), ("ecr", "list", "prod")):
        code, err = envctl(capsys, fleet, *args)
        assert_handled(code, err)


@SETTINGS
@given(data=raw, name=st.sampled_from(["ECR-prod-0002.yaml", "ECR-prod-0002.yaml.sig", "ECR-prod-0001.approval.yaml",
                                       "ECR-prod-0001.approval.yaml.sig"]))
def test_any_bytes_as_a_record_file_are_handled(capsys, data, name):
    fleet = _fleet()
    (fleet / "change-records" / "prod" / name).write_bytes(data)
    code, err = envctl(capsys, fleet, "ecr", "verify", "prod")
    assert_handled(code, err)
    assert code != 0, "a stray or damaged record file never verifies"


# --------------------------------------------------------------------------------------------
# Waivers and policy config
# --------------------------------------------------------------------------------------------
waiver = st.fixed_dictionaries({}, optional={"rule": st.sampled_from(["s3-versioning", "change-approved-state", "*"]) | scalars,
                                             "resource": scalars, "reason": scalars, "expires": scalars,
                                             "record": scalars, "approved_by": values})


@settings(SETTINGS, max_examples=12)
@given(doc=st.one_of(values, st.fixed_dictionaries({"waivers": st.lists(waiver, max_size=3)})))
def test_any_waivers_file_is_handled(capsys, doc):
    fleet = _fleet()
    (fleet / "waivers").mkdir(exist_ok=True)
    (fleet / "waivers" / "sandbox.yaml").write_bytes(_dump(doc))
    code, err = envctl(capsys, fleet, "check", "sandbox", "--jobs", "1")
    assert_handled(code, err)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
                           max_leaves=8)
policy_doc = st.one_of(json_values, st.dictionaries(
    st.sampled_from(["all", "s3-versioning", "change-approved-state", "rds-backup-retention", "projectDir"]),
    st.one_of(st.sampled_from(["advisory", "mandatory", "disabled", "remediate"]),
              st.fixed_dictionaries({}, optional={"enforcementLevel": json_values, "approvedDigests": json_values,
                                                  "projectDir": json_values}),
              json_values), max_size=3))


@settings(SETTINGS, max_examples=12)
@given(doc=policy_doc)
def test_any_policy_config_is_handled(capsys, doc):
    fleet = _fleet()
    config = fleet / "policy-config.json"
    config.write_text(json.dumps(doc))
    code, err = envctl(capsys, fleet, "check", "sandbox", "--jobs", "1", "--policy-config", str(config))
    assert_handled(code, err)


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------
WORDS = ["plan", "check", "ecr", "new", "approve", "verify", "list", "digest", "policy-config", "--json", "--jobs",
         "0", "-1", "99999", "--policy-config", "--title", "--reason", "--key", "--state", "prod", "sandbox",
         "val", "ECR-prod-0001", "ECR-prod-9999", "./", "..", "/", "nonexistent", "--help", "-h", "", "\x00", "--",
         "--dir", "--example", "=", "Pulumi.prod.yaml"]


@settings(SETTINGS, max_examples=40)
@given(argv=st.lists(st.sampled_from(WORDS) | st.text(max_size=8), max_size=5))
def test_any_command_line_is_handled(capsys, argv):
    # AWS commands are left out: they would reach for a network this machine does not have (their argument
    # errors are covered in tests/test_aws_ops.py).
    fleet = _fleet()
    try:
        code = main(["--example", "--dir", str(fleet), *argv])
    except SystemExit as e:  # argparse's --help exits through SystemExit(0) only when main lets it
        code = e.code
    _, err = capsys.readouterr()
    assert_handled(code, err)
