"""Inputs that used to be accepted silently are refused before anything is registered, each with one
message naming the key, what was wrong and what is accepted; the accepted neighbours stay accepted."""

from __future__ import annotations

import json

import pytest

from envctl.offline import StackRunError, run_stack
from tests.conftest import NS, PROJECT, REVIEW, stack_config, write_stack


def _plan(stacks_dir, stack, edit):
    config = stack_config(stack)
    edit(config)
    write_stack(stacks_dir, stack, config)
    return run_stack(PROJECT, stack, stacks_dir=stacks_dir, options=REVIEW)


def _refused(stacks_dir, stack, edit, *fragments):
    with pytest.raises(StackRunError) as err:
        _plan(stacks_dir, stack, edit)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


@pytest.mark.parametrize("cidr", ["0.0.0.0/16", "127.0.0.0/16", "169.254.0.0/16", "198.18.0.0/16", "240.0.0.0/16",
                                  "100.64.0.0/16", "8.8.0.0/16"])
def test_a_vpc_outside_rfc1918_is_refused(stacks_dir, cidr):
    _refused(stacks_dir, "sandbox", lambda c: c.__setitem__(f"{NS}:network", {"cidr": cidr}),
             f"{NS}:network.cidr", "RFC 1918", cidr)


@pytest.mark.parametrize("cidr", ["10.200.0.0/16", "172.31.0.0/16", "192.168.0.0/16", "172.16.4.0/22"])
def test_every_rfc1918_range_stays_accepted(stacks_dir, cidr):
    run = _plan(stacks_dir, "sandbox", lambda c: c.__setitem__(f"{NS}:network", {"cidr": cidr}))
    (vpc,) = [r for r in run.registrations if r.type == "aws:ec2/vpc:Vpc"]
    assert vpc.inputs["cidrBlock"] == cidr


def test_a_key_in_a_misspelled_namespace_is_refused(stacks_dir):
    _refused(stacks_dir, "prod", lambda c: c.__setitem__("clinspark-enviroments:retire", "true"),
             "clinspark-enviroments:retire", "namespace 'clinspark-enviroments'",
             "Accepted namespaces: clinspark-environments, aws, random, pulumi")


def test_keys_of_the_providers_namespaces_stay_accepted(stacks_dir):
    run = _plan(stacks_dir, "sandbox", lambda c: c.update({"aws:skipMetadataApiCheck": "true",
                                                          "pulumi:disable-default-providers": '["random"]'}))
    assert run.outputs["phase"] == "sandbox"


@pytest.mark.parametrize("value", ["yes", "on", "1", "y", "TRUE", 1])
def test_retire_takes_only_what_pulumi_reads_as_a_boolean(stacks_dir, value):
    _refused(stacks_dir, "val", lambda c: c.__setitem__(f"{NS}:retire", value), f"{NS}:retire",
             "not a boolean: write true or false")


@pytest.mark.parametrize("value, retiring", [("true", True), ("True", True), ("false", False), ("False", False)])
def test_retire_accepts_pulumis_booleans(value, retiring):
    from components.settings import load_settings
    from tests.conftest import TODAY

    config = {**stack_config("val"), f"{NS}:retire": value}
    assert load_settings("val", NS, config, today=TODAY).retire is retiring


@pytest.mark.parametrize("release", ["2026." + "4" * 30 + ".1", "２０２６.4.2"])
def test_a_release_too_long_for_an_image_tag_or_with_non_ascii_digits_is_refused(stacks_dir, release):
    _refused(stacks_dir, "sandbox", lambda c: c.__setitem__(f"{NS}:release", release), f"{NS}:release")


def test_a_release_of_32_characters_stays_accepted(stacks_dir):
    release = "2026.4." + "1" * 25
    assert len(release) == 32
    run = _plan(stacks_dir, "community-dev", lambda c: c.__setitem__(f"{NS}:release", release))
    assert run.outputs["phase"] == "community-dev" and run.outputs["release"] == release


# --------------------------------------------------------------------------------------------
# Clone sources: this project's own Pre-PROD, in this stack's account and region (issue 8, item 9)
# --------------------------------------------------------------------------------------------
ACCOUNT = "123456789012"  # the account the offline engine answers for (envctl.mocks)


def _clone(**changes):
    def edit(config):
        source = dict(config[f"{NS}:clone_from"])
        source.update(changes)
        config[f"{NS}:clone_from"] = source
    return edit


def _pinned(account=ACCOUNT, region="eu-central-1"):
    return _clone(snapshot_arn=f"arn:aws:rds:{region}:{account}:snapshot:acme-preprod-golive", allocated_storage=100)


def test_a_clone_source_in_another_project_is_refused(stacks_dir):
    _refused(stacks_dir, "prod", _clone(stack="clinspark/other-project/preprod"), f"{NS}:clone_from",
             "is in project 'other-project', not this project 'clinspark-environments'")


def test_a_pinned_snapshot_of_another_region_is_refused(stacks_dir):
    _refused(stacks_dir, "prod", _pinned(region="us-east-1"), f"{NS}:clone_from",
             "in region 'us-east-1', not the stack's region 'eu-central-1'")


def test_a_pinned_snapshot_of_another_account_is_refused_before_anything_is_registered(stacks_dir):
    _refused(stacks_dir, "prod", _pinned(account="210987654321"), f"{NS}:clone_from.snapshot_arn",
             "in account 210987654321, not this stack's account 123456789012")


def test_a_pinned_snapshot_of_the_stack_s_own_account_and_region_stays_accepted(stacks_dir):
    run = _plan(stacks_dir, "prod", _pinned())
    copies = [r for r in run.registrations if r.type == "aws:rds/snapshotCopy:SnapshotCopy"]
    assert [c.inputs["sourceDbSnapshotIdentifier"] for c in copies] == [
        f"arn:aws:rds:eu-central-1:{ACCOUNT}:snapshot:acme-preprod-golive"]


# --------------------------------------------------------------------------------------------
# No traceback on any input (issue 8, item 8): each ends in exit 2 naming the file and what is wrong
# --------------------------------------------------------------------------------------------
SANDBOX = (PROJECT / "Pulumi.sandbox.yaml").read_bytes()
BOMB = b"".join([b"  clinspark-environments:tags:\n", b"    a: &a [x, x, x, x, x, x, x, x, x]\n",
                 b"    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n", b"    c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"])


@pytest.mark.parametrize("content, says", [
    (SANDBOX.replace(b"2027-11-20", b"2027-02-30"), f"{NS}:expires_on"),
    (SANDBOX + b"\xff\xfe\n", "not UTF-8 text"),
    (SANDBOX + BOMB, "anchors and aliases are not accepted"),
    (SANDBOX + b"  clinspark-environments:customer: acme\n", "duplicate key"),
    (SANDBOX + b"  clinspark-environments:release: " + b"9" * 3_000_000 + b"\n", "Pulumi.sandbox.yaml"),
], ids=["impossible-date", "not-utf8", "alias-bomb", "duplicate-key", "huge-value"])
def test_a_broken_stack_file_ends_in_exit_2_with_a_message(tmp_path, capsys, content, says):
    from envctl.cli import main

    for stack in ("sandbox",):
        (tmp_path / f"Pulumi.{stack}.yaml").write_bytes(content)
    code = main(["--example", "--dir", str(tmp_path), "check", "sandbox"])
    out, err = capsys.readouterr()
    assert code == 2 and says in out + err and "Traceback" not in err and "defect" not in err, (out, err)


def test_a_project_file_that_is_not_utf8_ends_in_exit_2(tmp_path, capsys):
    from envctl.cli import main

    (tmp_path / "Pulumi.sandbox.yaml").write_bytes(SANDBOX)
    (tmp_path / "Pulumi.yaml").write_bytes(b"name: clinspark-environments\xff\n")
    code = main(["--example", "--dir", str(tmp_path), "check", "sandbox"])
    out, err = capsys.readouterr()
    assert code == 2 and "Pulumi.yaml: not UTF-8 text" in out + err and "Traceback" not in err


def test_a_clone_source_in_another_organization_is_refused_where_the_engine_names_the_organization(
        stacks_dir, monkeypatch):
    import pulumi

    monkeypatch.setattr(pulumi, "get_organization", lambda: "another-org")
    _refused(stacks_dir, "prod", lambda c: None, f"{NS}:clone_from.stack",
             "is in organization 'clinspark', not this stack's organization 'another-org'")
    monkeypatch.setattr(pulumi, "get_organization", lambda: "clinspark")
    assert _plan(stacks_dir, "prod", lambda c: None).outputs["phase"] == "prod"


# --------------------------------------------------------------------------------------------
# Overlapping networks of one customer in the directory checked (issue 8, item 9)
# --------------------------------------------------------------------------------------------
def test_overlapping_networks_of_one_customer_are_found_and_of_two_customers_are_not(example_copy):
    from envctl.fleet import network_overlaps
    from tests.conftest import SHIPPED, TODAY, set_config

    assert network_overlaps(example_copy, SHIPPED, TODAY) == {}  # the shipped stacks each have their own range
    set_config(example_copy, "sandbox", f"{NS}:network", {"cidr": "10.44.0.0/20"})  # inside VAL's 10.44.0.0/16
    found = network_overlaps(example_copy, SHIPPED, TODAY)
    assert set(found) == {"sandbox", "val"}
    assert "overlaps stack 'val' (10.44.0.0/16) of the same customer 'acme'" in found["sandbox"]
    set_config(example_copy, "sandbox", f"{NS}:customer", "globex")
    (example_copy / "Pulumi.sandbox.yaml").rename(example_copy / "Pulumi.globex-sandbox.yaml")
    assert network_overlaps(example_copy, ["globex-sandbox", *SHIPPED], TODAY) == {}


def test_envctl_check_refuses_overlapping_networks_of_one_customer(example_copy, capsys):
    from envctl.cli import main
    from tests.conftest import set_config

    set_config(example_copy, "sandbox", f"{NS}:network", {"cidr": "10.44.0.0/20"})
    code = main(["--example", "--dir", str(example_copy), "check", "sandbox", "val", "prod"])
    out, err = capsys.readouterr()
    assert code == 2 and "overlaps stack 'val' (10.44.0.0/16) of the same customer 'acme'" in err
    code = main(["--example", "--dir", str(example_copy), "check", "prod"])  # prod overlaps nobody
    assert code == 0 and "overlaps" not in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# One stack per environment; demo stacks one per release (issue 9, item 3)
# --------------------------------------------------------------------------------------------
def _second_stack(directory, source, stack, **changes):
    """A copy of `source`'s stack file as `stack`, with its own network unless told otherwise."""
    import shutil

    from tests.conftest import set_config

    shutil.copy(directory / f"Pulumi.{source}.yaml", directory / f"Pulumi.{stack}.yaml")
    set_config(directory, stack, f"{NS}:network", {"cidr": "10.90.0.0/16"})
    for key, value in changes.items():
        set_config(directory, stack, f"{NS}:{key}", value)


def test_envctl_check_refuses_two_stacks_of_one_environment_naming_both_files(example_copy, capsys):
    from envctl.cli import main

    _second_stack(example_copy, "sandbox", "acme-sandbox")  # customer acme: environment acme-sandbox twice
    code = main(["--example", "--dir", str(example_copy), "check", "sandbox"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert ("Pulumi.sandbox.yaml and Pulumi.acme-sandbox.yaml both make environment 'acme-sandbox'" in err
            and "keep one stack per environment" in err), err
    assert "overlaps" not in err  # the environment, not the network, is what collides here
    (example_copy / "Pulumi.sandbox.yaml").unlink()  # one stack of the environment left: accepted
    assert main(["--example", "--dir", str(example_copy), "check", "acme-sandbox"]) == 0
    assert "both make environment" not in capsys.readouterr().err


def test_envctl_plan_of_a_directory_refuses_two_stacks_of_one_environment(tmp_path, capsys):
    import shutil

    from envctl.cli import main

    fleet = tmp_path / "fleet"
    fleet.mkdir()
    for stack in ("migration", "demo", "seed"):  # the demo starts from the seed stack's seed
        shutil.copy(PROJECT / f"Pulumi.{stack}.yaml", fleet)
    _second_stack(fleet, "migration", "acme-migration")
    code = main(["--example", "plan", "--json", str(fleet)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Pulumi.acme-migration.yaml and Pulumi.migration.yaml both make environment 'acme-migration'" in err
    errors = {s["stack"]: s["error"] for s in json.loads(out)["stacks"]}
    assert errors["demo"] is None and "Pulumi.migration.yaml and Pulumi.acme-migration.yaml" in errors["migration"]
    (fleet / "Pulumi.acme-migration.yaml").rename(fleet / "Pulumi.globex-migration.yaml")
    from tests.conftest import set_config

    set_config(fleet, "globex-migration", f"{NS}:customer", "globex")  # another customer's environment
    set_config(fleet, "globex-migration", f"{NS}:iteration", None)  # before its first iteration: acme's is not its
    assert main(["--example", "plan", "--json", str(fleet)]) == 0
    assert all(s["error"] is None for s in json.loads(capsys.readouterr().out)["stacks"])


def test_demo_stacks_stand_side_by_side_one_per_release(example_copy, capsys):
    from envctl.cli import main
    from tests.conftest import stack_config

    shipped_release = stack_config("demo")[f"{NS}:release"]
    _second_stack(example_copy, "demo", "demo-next", release="2026.4.2")
    assert main(["--example", "--dir", str(example_copy), "check", "demo", "demo-next"]) == 0
    assert "REFUSED" not in capsys.readouterr().err
    _second_stack(example_copy, "demo", "demo-again", release=shipped_release)
    code = main(["--example", "--dir", str(example_copy), "check", "demo", "demo-next", "demo-again"])
    err = capsys.readouterr().err
    assert code == 2
    assert (f"Pulumi.demo-again.yaml and Pulumi.demo.yaml are demo stacks of the same release {shipped_release}"
            in err), err
    assert "demo-next" not in err  # the demo of another release stays accepted
