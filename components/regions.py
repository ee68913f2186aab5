"""Facts about AWS regions that the program, its offline engine and the policy pack rely on, declared once."""

from __future__ import annotations

# Elastic Load Balancing's log-delivery account of each region launched before August 2022 (AWS's published
# list, as the provider's aws.elb.get_service_account answers it): the only other account that may write, and
# only load-balancer logs.
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-south-1": "718504428378", "ap-northeast-1": "582318560864", "ap-northeast-2": "600734575887",
    "ap-northeast-3": "383597477331", "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-southeast-3": "589379963580", "ca-central-1": "985666609251", "eu-central-1": "054676820928",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-west-3": "009996457667",
    "eu-south-1": "635631232127", "eu-north-1": "897822967062", "me-south-1": "076674570225",
    "sa-east-1": "507241528517",
}

# Regions launched in August 2022 or later: Elastic Load Balancing has no log-delivery account there, and the
# bucket policy grants the log-delivery service principal (logdelivery.elasticloadbalancing.amazonaws.com)
# instead (AWS, "Enable access logs for your Application Load Balancer", step 2). The provider's
# get_service_account knows none of them and fails.
ELB_LOG_SERVICE_REGIONS = frozenset({
    "ap-south-2", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ap-east-2",
    "ca-west-1", "eu-central-2", "eu-south-2", "il-central-1", "me-central-1", "mx-central-1",
})

# The regions a stack may use: those whose load balancers can deliver their access logs to the stack's bucket.
SUPPORTED_REGIONS = tuple(sorted({*ELB_LOG_ACCOUNTS, *ELB_LOG_SERVICE_REGIONS}))


def elb_log_account(region: str) -> str | None:
    """The region's ELB log-delivery account, or None where the log-delivery service principal writes instead."""
    return ELB_LOG_ACCOUNTS.get(region)


# How many availability zones an account typically sees in each region (for the offline engine only: the
# program asks the account). Most accounts see two zones in us-west-1 and three in the others listed.
ZONES_SEEN = {
    "us-east-1": 6, "us-east-2": 3, "us-west-1": 2, "us-west-2": 4, "ca-central-1": 3, "eu-central-1": 3,
    "eu-west-1": 3, "eu-west-2": 3, "eu-west-3": 3, "eu-north-1": 3, "eu-central-2": 3, "ap-northeast-1": 3,
    "ap-northeast-3": 3, "ap-southeast-1": 3, "ap-southeast-2": 3, "ap-south-1": 3,
}
ZONES_SEEN_ELSEWHERE = 3
