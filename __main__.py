"""clinspark-environments: one onboarding environment per stack (see README.md)."""

import pulumi

from components.program import main

pulumi.run(main)
