"""Found by the hostile review of the new rules: insecure inputs the AWS provider accepts, each once passed,
each now refused."""

from __future__ import annotations

import dataclasses
import json

from components import tokens
from tests.helpers import verdict
from tests.test_rules_security import edit

ACCOUNT, OTHER = "123456789012", "210987654321"
LOGS_POLICY = "acme-prod-access-logs-policy"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def _add_statement(run, statement):
    def change(inputs):
        doc = json.loads(inputs["policy"])
        doc["Statement"].append(statement)
        inputs["policy"] = json.dumps(doc)
    return edit(run, tokens.S3_BUCKET_POLICY, LOGS_POLICY, change)


def test_grants_a_condition_that_excludes_this_account_counts_as_naming_it(shipped):
    # Any account but ours may have the log-delivery service write here: the condition "names" the account.
    run, _ = _add_statement(shipped["prod"], {
        "Sid": "AnyOtherAccount", "Effect": "Allow", "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*",
        "Condition": {"StringNotEquals": {"aws:SourceAccount": ACCOUNT}}})
    assert verdict(run, ["grants-stay-in-account"])


def test_grants_notaction_passes_as_log_delivery_for_a_foreign_account(shipped):
    # NotAction: no Action at all, so "only s3:PutObject" holds vacuously; OTHER may read/delete this account's logs.
    run, _ = _add_statement(shipped["prod"], {
        "Sid": "Foreign", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "NotAction": "s3:PutBucketPolicy", "Resource": f"arn:aws:s3:::b/acme-prod/main/AWSLogs/{ACCOUNT}/*"})
    assert verdict(run, ["grants-stay-in-account"])


def test_grants_any_foreign_account_passes_as_the_elb_account(shipped):
    # Not the regional ELB account: any account id at all.
    run, _ = _add_statement(shipped["prod"], {
        "Sid": "Foreign", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::b/*/AWSLogs/{ACCOUNT}/*"})
    assert verdict(run, ["grants-stay-in-account"])


def _role(run, change):
    return edit(run, tokens.IAM_ROLE, "acme-prod-main-task", change)


def test_iam_admin_through_the_roles_managed_policy_arns(shipped):
    run, _ = _role(shipped["prod"], lambda i: i.__setitem__("managedPolicyArns", [ADMIN]))
    assert verdict(run, ["iam-no-admin"])


def test_iam_every_resource_spelt_as_an_arn_pattern(shipped):
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:*:*:*:*"}]}
    run, _ = _role(shipped["prod"], lambda i: i.__setitem__("inlinePolicies", [{"name": "x", "policy": json.dumps(doc)}]))
    assert verdict(run, ["iam-no-admin"])


def test_kms_own_keys_ignores_the_master_user_secret_key(shipped):
    def change(i):
        i["manageMasterUserPassword"] = True
        i.pop("password", None)
        i["masterUserSecretKmsKeyId"] = "alias/aws/secretsmanager"
    run, _ = edit(shipped["prod"], tokens.RDS_INSTANCE, "acme-prod-main-db", change)
    assert verdict(run, ["kms-own-keys"])


def test_kms_own_keys_takes_the_dependency_for_the_value(shipped):
    # key.arn.apply(lambda _: FOREIGN): depends on the own key, names another account's key.
    foreign = f"arn:aws:kms:eu-central-1:{OTHER}:key/11111111-2222-3333-4444-555555555555"
    run, _ = edit(shipped["prod"], tokens.RDS_INSTANCE, "acme-prod-main-db", lambda i: i.__setitem__("kmsKeyId", foreign))
    assert verdict(run, ["kms-own-keys"])


def _replace(run, old, new):
    return dataclasses.replace(run, registrations=[new if r is old else r for r in run.registrations])


def test_db_subnet_public_through_an_igw_route_the_plan_did_not_produce(shipped):
    # aws.ec2.get_internet_gateway(...) (an invoke) or a pasted igw- id: no property dependency on the IGW.
    prod = shipped["prod"]
    rt = prod.one(tokens.ROUTE_TABLE, "acme-prod-network-private-0-rt")
    routes = [*rt.inputs["routes"], {"ipv6CidrBlock": "::/0", "gatewayId": "igw-0123456789abcdef0"}]
    run = _replace(prod, rt, dataclasses.replace(rt, inputs={**rt.inputs, "routes": routes}))
    assert verdict(run, ["rds-subnets-private"])


def test_db_subnet_public_through_the_vpcs_main_route_table(shipped):
    # Subnets without an association use the VPC's main route table; a Route on vpc.main_route_table_id to the IGW.
    prod = shipped["prod"]
    vpc, igw = prod.one(tokens.VPC, "acme-prod-network-vpc"), prod.one(tokens.INTERNET_GATEWAY, "acme-prod-network-igw")
    gone = prod.one(tokens.ROUTE_TABLE_ASSOCIATION, "acme-prod-network-private-0-rta")
    run = dataclasses.replace(prod, registrations=[r for r in prod.registrations if r is not gone])
    template = prod.one(tokens.ROUTE_TABLE_ASSOCIATION, "acme-prod-network-public-0-rta")
    head = template.urn.rsplit("::", 1)[0]
    route = dataclasses.replace(template, urn=f"{head[:-len(template.type)]}{tokens.ROUTE}::main-default", type=tokens.ROUTE,
                                name="main-default", inputs={"routeTableId": "rtb-main", "destinationCidrBlock": "0.0.0.0/0",
                                                             "gatewayId": "igw-x"},
                                property_dependencies={"routeTableId": [vpc.urn], "gatewayId": [igw.urn]})
    run = dataclasses.replace(run, registrations=[*run.registrations, route])
    assert verdict(run, ["rds-subnets-private"])
