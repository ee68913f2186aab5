"""Policy pack of the onboarding environments (see README.md, rule table)."""
