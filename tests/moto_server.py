"""A moto server on 127.0.0.1 for tests that speak real HTTP to AWS APIs, and never to AWS.

Use it from a test module with ``from tests.moto_server import moto_endpoint, aws`` (run pytest as
``python -m pytest`` from the project directory). ``moto_endpoint`` starts one server per test
session; ``aws`` resets all of its state before each test, sets fake credentials for that test
only, and hands the test an :class:`MotoAws` to make clients with.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "eu-central-1"

# Variables that would make boto3 look past the fake credentials (a real profile, a web identity).
_AMBIENT = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL")


@dataclass
class MotoAws:
    """Where the moto server listens, and clients that talk to it (made once per test)."""

    endpoint_url: str
    region: str = REGION
    _session: boto3.Session | None = field(default=None, repr=False)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    def session(self) -> boto3.Session:
        if self._session is None:
            self._session = boto3.Session(region_name=self.region)
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        where = region or self.region
        if (service, where) not in self._clients:
            self._clients[(service, where)] = self.session().client(
                service, region_name=where, endpoint_url=self.endpoint_url
            )
        return self._clients[(service, where)]


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server for the whole test session, on a free port of 127.0.0.1."""
    requests_log = logging.getLogger("werkzeug")  # one line per request would drown a failure's report
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        requests_log.setLevel(level)


def reset(endpoint: str) -> None:
    """Forget every resource of every service and account."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> MotoAws:
    """An empty moto, and fake credentials for this test only."""
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    reset(moto_endpoint)
    return MotoAws(moto_endpoint)
