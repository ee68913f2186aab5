"""Change control: what decides whether a controlled stack may receive a desired state.

One library, used in three places that must agree: the Pulumi program (which refuses an
unapproved state before registering anything), the policy pack (which verifies the approval
itself when the engine runs it) and envctl (which computes and checks everything offline).
It knows the desired-state digest, signed change records and their chains, the signers file,
waivers, the integrity of what runs, and the one clock. See README.md, "Threat model".
"""
