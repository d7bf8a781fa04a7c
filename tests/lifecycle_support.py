"""Test helpers for the deploy lifecycle: emulated AWS on 127.0.0.1, fake credentials only it accepts, and
`invoke` run as a user runs it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from lifecycle.aws import Aws
from lifecycle.deploy import stand_in_manifest
from lifecycle.progress import Progress

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
# The emulator's fixed account id (moto's default).
ACCOUNT_ID = "123456789012"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
BUCKET = f"ecs1-artifacts-{ACCOUNT_ID}-{REGION}"
TAG = "e2e0001"


def fake_credentials(monkeypatch: pytest.MonkeyPatch, endpoint_url: str | None = None) -> None:
    """Credentials the emulator accepts and no real account does; nothing from ~/.aws leaks in."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
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


def client(endpoint_url: str, service: str) -> Any:
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def queue_template(queue_name: str = "q", extra: dict[str, Any] | None = None) -> str:
    """A small template of a type moto supports natively, with an output."""
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


def put_image(endpoint_url: str, tag: str, repository: str = "ecs1") -> None:
    """Stand in for `docker push` (there is no Docker engine here): an image manifest under `tag`."""
    client(endpoint_url, "ecr").put_image(
        repositoryName=repository, imageManifest=stand_in_manifest(tag), imageTag=tag
    )


def register_images(endpoint_url: str, tag: str = TAG) -> None:
    """The repository with the two images the app template names, as `invoke push` would leave it."""
    client(endpoint_url, "ecr").create_repository(repositoryName="ecs1", imageTagMutability="IMMUTABLE")
    for image in (f"api-{tag}", f"authorizer-{tag}"):
        put_image(endpoint_url, image)


def aws_env(endpoint_url: str) -> dict[str, str]:
    """The environment of a user pointed at the emulator; nothing from a real ~/.aws can leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **env,
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }


def invoke(endpoint_url: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """`invoke <args>` as a subprocess without a terminal, as CI runs it; returns it and its seconds."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=PROJECT_ROOT,
        env=aws_env(endpoint_url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, time.monotonic() - started


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stdout.strip() or result.stderr.strip()).splitlines()
    return lines[-1] if lines else ""


def live_stacks(endpoint_url: str) -> dict[str, str]:
    summaries = client(endpoint_url, "cloudformation").list_stacks()["StackSummaries"]
    return {s["StackName"]: s["StackStatus"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"}
