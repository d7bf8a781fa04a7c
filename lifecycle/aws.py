"""One boto3 session for a lifecycle run: region, profile and endpoint chosen once, clients made once."""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# How often an emulator on this machine is asked about an operation: a call costs it a millisecond, and a
# stack another process holds is free again within moments.
LOCAL_POLL_SECONDS = 0.2

# Few quick retries: a wrong endpoint or region should fail in seconds, not after minutes of back-off.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3, "mode": "standard"})


class Aws:
    """Clients for one account and region; `endpoint_url` (or boto3's own AWS_ENDPOINT_URL) for emulators."""

    def __init__(
        self, region: str | None = None, profile: str | None = None, endpoint_url: str | None = None
    ):
        self.session = boto3.Session(region_name=region or None, profile_name=profile or None)
        self.endpoint_url = endpoint_url or None
        self._clients: dict[str, Any] = {}

    @property
    def region(self) -> str | None:
        return self.session.region_name

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(  # type: ignore[call-overload]  # the stubs know literals only
                service, endpoint_url=self.endpoint_url, config=CLIENT_CONFIG
            )
        return self._clients[service]

    @cached_property
    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]


def on_local_emulator(aws: Aws, service: str = "cloudformation") -> bool:
    """True when the calls go to an emulator on this machine (`invoke local-aws`), never to AWS."""
    return urlparse(aws.client(service).meta.endpoint_url).hostname in LOOPBACK_HOSTS


def poll_interval(aws: Aws, seconds: float) -> float:
    """How often to ask about a running operation: `seconds` on AWS (whose operations take minutes and whose
    APIs throttle eager callers), at most LOCAL_POLL_SECONDS on an emulator on this machine."""
    return min(seconds, LOCAL_POLL_SECONDS) if on_local_emulator(aws) else seconds
