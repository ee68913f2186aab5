"""Internet ingress in pieces and TLS 1.3 policies that still accept TLS 1.0: the forms the first
security-group and listener rules missed (issue 8, item 4)."""

from __future__ import annotations

import pytest

from envctl.evaluate import effective_policies, evaluate
from policies.framework import to_policy
from policies.rules.lifecycle import RULES
from tests.test_rules_security import (
    INGRESS,
    LISTENER,
    added,
    edit,
    only,
    setter,
    violations,
)


@pytest.fixture
def prod(shipped):
    return shipped["prod"]


def _open(prod, name, **source):
    def change(inputs):
        inputs.pop("referencedSecurityGroupId", None)
        inputs.pop("cidrIpv4", None)
        inputs.pop("cidrIpv6", None)
        inputs.update(source)
    return edit(prod, INGRESS, name, change)


@pytest.mark.parametrize("source", [{"cidrIpv4": "0.0.0.0/1"}, {"cidrIpv4": "128.0.0.0/1"},
                                    {"cidrIpv4": "8.8.8.0/24"}, {"cidrIpv4": "10.0.0.0/7"},
                                    {"cidrIpv6": "2000::/3"}, {"prefixListId": "pl-0123456789abcdef0"}],
                         ids=["lower-half", "upper-half", "public-24", "straddles-rfc1918", "ipv6-global", "prefix-list"])
def test_internet_ingress_in_pieces_to_the_database_is_reported(prod, source):
    run, rule = _open(prod, "acme-prod-main-db-in-app", **source)
    v = only(violations(run, "sg-no-open-ingress"), rule.urn)
    assert "only TCP 80 and 443 to a load balancer's own security group" in v.message


@pytest.mark.parametrize("source", [{"cidrIpv4": "10.0.0.0/8"}, {"cidrIpv4": "172.16.0.0/12"},
                                    {"cidrIpv4": "100.64.0.0/10"}, {"cidrIpv6": "fd00::/8"}])
def test_private_sources_stay_quiet(prod, source):
    run, _ = _open(prod, "acme-prod-main-db-in-app", **source)
    assert violations(run, "sg-no-open-ingress") == []


def test_https_in_pieces_to_the_load_balancer_stays_allowed(prod):
    run, _ = _open(prod, "acme-prod-main-lb-in-https-ipv4", cidrIpv4="0.0.0.0/1")
    assert violations(run, "sg-no-open-ingress") == []


def test_a_legacy_rule_with_a_prefix_list_is_reported(prod):
    template = prod.one(INGRESS, "acme-prod-main-db-in-app")
    run, rule = added(prod, template, "aws:ec2/securityGroupRule:SecurityGroupRule", "acme-prod-main-pl",
                      {"type": "ingress", "protocol": "tcp", "fromPort": 5432.0, "toPort": 5432.0,
                       "prefixListIds": ["pl-0123456789abcdef0"], "securityGroupId": template.inputs["securityGroupId"]})
    assert "prefix list pl-0123456789abcdef0" in only(violations(run, "sg-no-open-ingress"), rule.urn).message


@pytest.mark.parametrize("policy", ["ELBSecurityPolicy-TLS13-1-0-2021-06", "ELBSecurityPolicy-TLS13-1-1-2021-06"])
def test_a_tls13_policy_that_still_accepts_tls_1_0_or_1_1_is_reported(prod, policy):
    run, listener = edit(prod, LISTENER, "acme-prod-test-https", setter(sslPolicy=policy))
    assert "still accepts TLS 1.0 or 1.1" in only(violations(run, "lb-tls-policy"), listener.urn).message


@pytest.mark.parametrize("policy", ["ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
                                    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", "ELBSecurityPolicy-TLS13-1-3-2021-06"])
def test_tls13_policies_starting_at_1_2_stay_quiet(prod, policy):
    run, _ = edit(prod, LISTENER, "acme-prod-test-https", setter(sslPolicy=policy))
    assert violations(run, "lb-tls-policy") == []


# --------------------------------------------------------------------------------------------
# Context from the Environment (issue 8, item 2) and the phase's log retention (item 4)
# --------------------------------------------------------------------------------------------
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@pytest.mark.parametrize("days, says", [(365.0, "keep logs at least 2557 days"), ("30", "keep logs at least 2557 days"),
                                        (2000.0, "not a period CloudWatch accepts")])
def test_prod_logs_are_kept_at_least_the_phase_s_days(prod, days, says):
    run, group = edit(prod, LOG_GROUP, "acme-prod-main-logs", setter(retentionInDays=days))
    assert says in only(violations(run, "logs-retention"), group.urn).message


def test_a_sandbox_may_keep_logs_for_its_own_shorter_period(shipped):
    sandbox = shipped["sandbox"]
    run, _ = edit(sandbox, LOG_GROUP, "acme-sandbox-main-logs", setter(retentionInDays="14"))
    assert violations(run, "logs-retention") == []


@pytest.mark.parametrize("tags, says", [
    ({"phase": "sandbox"}, "phase='sandbox' (the environment says 'prod')"),
    ({"controlled": "false"}, "controlled='false' (the environment says 'true')"),
    ({"role": "test"}, "role='test' (its place in the environment says 'main')"),
])
def test_a_tag_that_disagrees_with_the_environment_is_reported(prod, tags, says):
    run, db = edit(prod, "aws:rds/instance:Instance", "acme-prod-main-db", lambda i: i["tags"].update(tags))
    (rule,) = [r for r in RULES if r.id == "lifecycle-tags-agree"]
    found = evaluate(run, effective_policies([to_policy(rule)], None)).violations
    assert [v.urn for v in found] == [db.urn] and says in found[0].message


# --------------------------------------------------------------------------------------------
# Inline bucket settings (issue 8, item 3)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("inline, resource", [
    ({"acl": "public-read"}, "BucketAcl"),
    ({"policy": '{"Statement": []}'}, "BucketPolicy"),
    ({"versioning": {"enabled": False}}, "BucketVersioning"),
    ({"serverSideEncryptionConfiguration": {"rule": {}}}, "BucketServerSideEncryptionConfiguration"),
    ({"website": {"indexDocument": "index.html"}}, "BucketWebsiteConfiguration"),
])
def test_an_inline_bucket_setting_is_refused_naming_the_resource_to_use(prod, inline, resource):
    name = prod.by_type("aws:s3/bucket:Bucket")[0].name
    run, bucket = edit(prod, "aws:s3/bucket:Bucket", name, setter(**inline))
    assert f"(use {resource}" in only(violations(run, "s3-no-inline-settings"), bucket.urn).message


def test_buckets_with_separate_settings_stay_quiet(prod):
    assert violations(prod, "s3-no-inline-settings") == []


# --------------------------------------------------------------------------------------------
# String booleans, read as the provider coerces them (issue 8, item 3)
# --------------------------------------------------------------------------------------------
DB = "aws:rds/instance:Instance"


@pytest.mark.parametrize("value", ["true", "True"])
def test_a_database_made_public_by_a_string_is_reported(prod, value):
    run, db = edit(prod, DB, "acme-prod-main-db", setter(publiclyAccessible=value))
    only(violations(run, "rds-not-public"), db.urn)


@pytest.mark.parametrize("rule, inputs", [
    ("rds-not-public", {"publiclyAccessible": "false"}),
    ("rds-encrypted-cmk", {"storageEncrypted": "true"}),
    ("rds-no-auto-minor-upgrade", {"autoMinorVersionUpgrade": "false"}),
])
def test_string_booleans_that_say_the_right_thing_stay_quiet(prod, rule, inputs):
    run, _ = edit(prod, DB, "acme-prod-main-db", setter(**inputs))
    assert violations(run, rule) == []


def test_a_controlled_bucket_force_destroyed_by_a_string_is_reported(shipped):
    from tests.helpers import verdict

    prod = shipped["prod"]
    name = prod.by_type("aws:s3/bucket:Bucket")[0].name
    run, bucket = edit(prod, "aws:s3/bucket:Bucket", name, setter(forceDestroy="true"))
    found = verdict(run, ["change-bucket-not-force-destroyed"])
    assert [v.urn for v in found] == [bucket.urn]


# --------------------------------------------------------------------------------------------
# Redirects elsewhere (issue 8, item 5)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("part, value", [("host", "evil.example"), ("path", "/login"), ("query", "to=x")])
def test_an_http_redirect_to_another_host_or_path_is_reported(prod, part, value):
    def change(inputs):
        inputs["defaultActions"][0]["redirect"][part] = value
    run, listener = edit(prod, LISTENER, "acme-prod-main-http", change)
    assert value in only(violations(run, "lb-http-redirects"), listener.urn).message


def test_a_redirect_that_spells_out_the_defaults_stays_quiet(prod):
    def change(inputs):
        inputs["defaultActions"][0]["redirect"].update(host="#{host}", path="/#{path}", query="#{query}")
    run, _ = edit(prod, LISTENER, "acme-prod-main-http", change)
    assert violations(run, "lb-http-redirects") == []
