"""Type tokens and component output keys are declared once, in components/tokens.py."""

from __future__ import annotations

import importlib
import re

import pulumi_aws
import pulumi_random
import pytest

from components import tokens
from tests.conftest import PROJECT, SHIPPED, altered, of_type
from tests.helpers import verdict

# A type token spelled in source: `aws:<module>/<member>:<Name>`, `random:...`, `clinspark:<module>:<Name>`,
# or the engine's own `pulumi:pulumi:...` / `pulumi:providers:`.
TOKEN_LITERAL = re.compile(
    r"""["'](?:(?:aws|random):[A-Za-z0-9]+/[A-Za-z0-9]+:[A-Za-z]"""
    r"""|clinspark:[a-z]+:[A-Z]|pulumi:(?:pulumi|providers):)"""
)
DECLARED = {value for name, value in vars(tokens).items() if name.isupper() and isinstance(value, str)}


def _sources():
    for folder in ("components", "policies", "envctl"):
        for path in sorted((PROJECT / folder).rglob("*.py")):
            if path != PROJECT / "components" / "tokens.py":
                yield path


def test_no_module_but_tokens_spells_a_type_token():
    found = [f"{path.relative_to(PROJECT)}:{n}: {line.strip()}"
             for path in _sources()
             for n, line in enumerate(path.read_text().splitlines(), 1) if TOKEN_LITERAL.search(line)]
    assert found == [], "use components.tokens instead of spelling these tokens"


def test_the_scan_recognises_a_token_literal():
    assert TOKEN_LITERAL.search('BUCKET = "aws:s3/bucket:Bucket"')
    assert TOKEN_LITERAL.search("super().__init__('clinspark:environment:Instance', name)")
    assert not TOKEN_LITERAL.search('{"sse_algorithm": "aws:kms"}, "aws:SourceAccount", "aws:kms:dsse"')


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_type_the_shipped_stacks_register_is_declared(shipped, stack):
    registered = {reg.type for reg in shipped[stack].registrations}
    assert registered - DECLARED == set()


def _class_of(token: str):
    package, module_member, name = token.split(":")
    module = module_member.split("/")[0]
    root = {"aws": pulumi_aws, "random": pulumi_random}[package]
    where = root if module == "index" else importlib.import_module(f"{root.__name__}.{module}")
    return getattr(where, name)


@pytest.mark.parametrize("token", sorted(t for t in DECLARED if t.startswith(("aws:", "random:"))
                                         and t.rsplit(":", 1)[1][:1].isupper()))
def test_every_declared_provider_token_is_the_token_of_its_pulumi_class(token):
    assert _class_of(token).pulumi_type == token


def test_the_environment_outputs_are_registered_under_the_keys_the_pack_reads(shipped):
    (env,) = shipped["prod"].by_type(tokens.ENVIRONMENT)
    # PROD has no expiry date, and an output that is None is not registered at all
    assert set(env.outputs) == set(tokens.ENVIRONMENT_KEYS) - {tokens.ENVIRONMENT_KEYS.expires_on}
    assert env.outputs[tokens.ENVIRONMENT_KEYS.desired_state_digest].startswith("sha256:")
    restored = {inst.outputs[tokens.INSTANCE_KEYS.role]: inst.outputs.get(tokens.INSTANCE_KEYS.restored_from)
                for inst in shipped["prod"].by_type(tokens.INSTANCE)}
    assert restored == {"main": {"kind": "clone", "snapshot": "golive", "customer": "acme",
                                 "stack": "clinspark/clinspark-environments/preprod"}, "test": None}
    for inst in shipped["prod"].by_type(tokens.INSTANCE):
        assert set(inst.outputs) | {tokens.INSTANCE_KEYS.restored_from} == set(tokens.INSTANCE_KEYS)


def test_an_output_the_structure_lacks_is_an_error_not_none():
    with pytest.raises(AttributeError, match="no output 'expiry'"):
        _ = tokens.ENVIRONMENT_KEYS.expiry


def test_a_bucket_registered_under_its_other_spelling_is_held_to_change_control_all_the_same(shipped):
    # change control once knew aws:s3/bucket:Bucket only: a BucketV2 escaped protection and forceDestroy
    run = altered(shipped["prod"], of_type(tokens.S3_BUCKET), type=tokens.LEGACY_S3_BUCKET, protect=False,
                  inputs={"forceDestroy": True})
    found = verdict(run, ["change-stateful-protected", "change-bucket-not-force-destroyed"])
    buckets = {reg.urn for reg in run.by_type(tokens.LEGACY_S3_BUCKET)}
    assert len(buckets) == 4  # access logs, exchange, and the documents of main and test
    for policy in ("change-stateful-protected", "change-bucket-not-force-destroyed"):
        assert {v.urn for v in found if v.policy == policy} == buckets
