"""Where everything of change control lives, declared once: files, directories, ids and namespaces.

The program, the policy pack, envctl and the tests ask this module; nobody re-derives a path,
a record's file name or a signature namespace.
"""

from __future__ import annotations

import re
from pathlib import Path

# What the program is: the files and packages that decide what a stack deploys (the desired-state
# digest covers every file in them). The program imports nothing local outside these packages.
PROGRAM_FILES = ("__main__.py", "Pulumi.yaml", "requirements.txt")
PROGRAM_PACKAGES = ("components", "changecontrol")
# What it is checked with: the policy pack and envctl (the tooling digest covers every file in them),
# what builds the virtualenv they run in besides the runtime pins (the test pins, the Makefile), and
# the releases file the pack's release rules read (a fleet-wide fact, reviewed once like the rules).
RELEASES_FILE = "releases.yaml"
TOOLING_FILES = ("pyproject.toml", "requirements-dev.txt", "Makefile", RELEASES_FILE)
TOOLING_PACKAGES = ("policies", "envctl")
# Importable names that may exist at the project root but never run as part of the program.
OTHER_PACKAGES = ("tests", "bench", "tools")
VIRTUALENV = ".venv"

RECORDS_DIR = "change-records"
WAIVERS_DIR = "waivers"
SIGNERS_FILE = "signers/allowed_signers"
# Chains that are not stacks: the signers file and the tooling each have a chain of their own.
SIGNERS_CHAIN = "signers"
TOOLING_CHAIN = "tooling"
SPECIAL_CHAINS = (SIGNERS_CHAIN, TOOLING_CHAIN)
# The shipped example: its keys, signers file and pinned date (never trusted outside example mode).
EXAMPLE_DIR = "tests/example"
EXAMPLE_FILE = "example.yaml"

# SSH signature namespaces: what a signature means. A key may sign only the namespaces its line of
# the signers file lists, so requesters and approvers are told apart by the signers file itself.
AUTHORED = "clinspark-ecr-authored"
APPROVED = "clinspark-ecr-approved"
# Installation Qualification of a deployed record: executed (by who ran the IQ), approved (by Quality).
IQ_EXECUTED = "clinspark-iq-executed"
IQ_APPROVED = "clinspark-iq-approved"
NAMESPACES = (AUTHORED, APPROVED, IQ_EXECUTED, IQ_APPROVED)

CHAIN_NAME = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"
RECORD_ID = re.compile(rf"^ECR-(?P<chain>{CHAIN_NAME})-(?P<number>[0-9]{{4}})$", re.ASCII)
SHA256 = r"^sha256:[0-9a-f]{64}$"


def stack_file(directory: Path, stack: str) -> Path:
    return Path(directory) / f"Pulumi.{stack}.yaml"


def waivers_file(directory: Path, stack: str) -> Path:
    return Path(directory) / WAIVERS_DIR / f"{stack}.yaml"


def chain_dir(directory: Path, chain: str) -> Path:
    return Path(directory) / RECORDS_DIR / chain


def record_id(chain: str, number: int) -> str:
    return f"ECR-{chain}-{number:04d}"


def record_files(record: str) -> dict[str, str]:
    """The files of one record: the request and its signature, the approval and its signature; and, once the
    state it approves was installed and qualified, the IQ entry and its signature, the IQ's approval and its
    signature."""
    return {"record": f"{record}.yaml", "record_sig": f"{record}.yaml.sig",
            "approval": f"{record}.approval.yaml", "approval_sig": f"{record}.approval.yaml.sig",
            "iq": f"{record}.iq.yaml", "iq_sig": f"{record}.iq.yaml.sig",
            "iq_approval": f"{record}.iq.approval.yaml", "iq_approval_sig": f"{record}.iq.approval.yaml.sig"}


RECORD_FILE_KINDS = {".yaml": "record", ".yaml.sig": "record_sig", ".approval.yaml": "approval",
                     ".approval.yaml.sig": "approval_sig", ".iq.yaml": "iq", ".iq.yaml.sig": "iq_sig",
                     ".iq.approval.yaml": "iq_approval", ".iq.approval.yaml.sig": "iq_approval_sig"}
RECORD_FILE = re.compile(
    rf"^(?P<id>ECR-(?P<chain>{CHAIN_NAME})-(?P<number>[0-9]{{4}}))"
    rf"(?P<kind>{'|'.join(re.escape(k) for k in RECORD_FILE_KINDS)})$", re.ASCII)
