"""Test helpers for the deploy lifecycle: emulated AWS on 127.0.0.1, fake credentials only it accepts."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from lifecycle.aws import Aws
from lifecycle.progress import Progress

REGION = "us-east-1"
# The emulator's fixed account id (moto's default).
ACCOUNT_ID = "123456789012"


def fake_credentials(monkeypatch: pytest.MonkeyPatch, endpoint_url: str | None = None) -> None:
    """Credentials the emulator accepts and no real account does; nothing from ~/.aws leaks in."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    if endpoint_url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint_url)


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's real HTTP server in this process on a free 127.0.0.1 port; yields its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset(endpoint_url: str) -> None:
    """Forget every emulated resource, so each test starts from an empty account."""
    httpx.post(f"{endpoint_url}/moto-api/reset", timeout=10).raise_for_status()


def quiet_progress() -> tuple[Progress, io.StringIO]:
    out = io.StringIO()
    return Progress(stream=out, tty=False), out


def aws_for(endpoint_url: str) -> Aws:
    return Aws(region=REGION, endpoint_url=endpoint_url)


def queue_template(queue_name: str = "q", extra: dict[str, Any] | None = None) -> str:
    """A small template of a type moto supports natively, with an output like the app's API URL."""
    resources: dict[str, Any] = {
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "${Name}"}}},
        **(extra or {}),
    }
    return json.dumps(
        {
            "Parameters": {"Name": {"Type": "String", "Default": queue_name}},
            "Resources": resources,
            "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}},
        }
    )
