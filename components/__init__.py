"""Reusable Pulumi components of the onboarding environments (type tokens `clinspark:<module>:<Name>`)."""
