"""Entry point of the policy pack: the Pulumi CLI runs `python -m pulumi.policy <engine> policies`.

It only makes the project importable and builds the pack; the rules live in policies.rules and are
bound in policies.pack. Constructing the PolicyPack starts its gRPC server and blocks: never import
this module (tests drive the pack through policies.pack, or launch it as the CLI does).
"""

import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.pack import PACK_NAME, POLICIES  # noqa: E402

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
