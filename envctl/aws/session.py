"""The one way envctl makes boto3 clients: a profile or the usual credential chain, a region, an optional
endpoint URL (a local moto server, a VPC endpoint) and standard retries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})

# Errors of the caller's AWS configuration (not of the account): invalid usage, exit 2.
CONFIG_ERRORS = (ProfileNotFound, NoCredentialsError, PartialCredentialsError, NoRegionError)


def make_session(profile: str | None = None, region: str | None = None) -> boto3.Session:
    """A boto3 session from a named profile (or the usual credential chain) and a default region."""
    return boto3.Session(profile_name=profile, region_name=region)


@dataclass
class AwsClients:
    """Clients of one session, made on first use per service and region.

    ``region`` overrides every stack's own ``aws:region``; ``endpoint_url`` sends every call to
    another endpoint (a local moto server, a VPC endpoint) instead of AWS's public one.
    """

    session: boto3.Session
    endpoint_url: str | None = None
    region: str | None = None
    _made: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def region_for(self, stack_region: str | None) -> str:
        where = self.region or stack_region or self.session.region_name
        if not where:
            raise NoRegionError()
        return where

    def client(self, service: str, stack_region: str | None = None) -> Any:
        where = self.region_for(stack_region)
        if (service, where) not in self._made:
            self._made[(service, where)] = self.session.client(
                service, region_name=where, endpoint_url=self.endpoint_url, config=RETRIES
            )
        return self._made[(service, where)]


def clients(session: boto3.Session, endpoint_url: str | None = None, region: str | None = None) -> AwsClients:
    return AwsClients(session=session, endpoint_url=endpoint_url, region=region)


def connect(profile: str | None = None, region: str | None = None, endpoint_url: str | None = None) -> AwsClients:
    """Clients as the command line's --profile, --region and --endpoint-url ask for them."""
    return clients(make_session(profile, region), endpoint_url, region)


def as_clients(aws: boto3.Session | AwsClients) -> AwsClients:
    return aws if isinstance(aws, AwsClients) else clients(aws)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
