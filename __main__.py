"""clinspark-environments: one onboarding environment per stack (see README.md)."""

from components.program import main

main()
