"""envctl: what Pulumi alone does not give the platform team (offline plan, ECRs, evidence)."""
