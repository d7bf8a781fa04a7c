"""Errors a user meets are one line: real botocore exceptions, raised by real clients, mapped centrally.

The AWS side is moto's server on 127.0.0.1 (no AWS account here); a closed port gives the connection error.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from botocore.exceptions import ClientError

from lifecycle.aws import Aws
from lifecycle.errors import USER_ERRORS, LifecycleError, describe_error
from tests.lifecycle_support import PROJECT_ROOT, REGION, fake_credentials, moto_server


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def one_line_exit(action: Callable[[], object]) -> str:
    """The line the tasks print (`error: ` + describe_error) for the user error that `action` raises."""
    with pytest.raises(USER_ERRORS) as raised:
        action()
    message = f"error: {describe_error(raised.value)}"
    assert "\n" not in message and "Traceback" not in message
    return message


def test_no_credentials(monkeypatch, endpoint):
    fake_credentials(monkeypatch)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # No instance metadata service here: stop botocore from waiting for one.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    message = one_line_exit(lambda: Aws(region=REGION, endpoint_url=endpoint).account_id)
    assert "no AWS credentials found" in message and "--profile" in message


def test_unknown_profile(monkeypatch):
    fake_credentials(monkeypatch)
    message = one_line_exit(lambda: Aws(region=REGION, profile="no-such-profile"))
    assert message == "error: AWS profile 'no-such-profile' not found in ~/.aws/config or ~/.aws/credentials"


def test_unreachable_endpoint_names_it_and_what_to_check(monkeypatch):
    fake_credentials(monkeypatch)
    url = f"http://127.0.0.1:{closed_port()}"
    cfn = Aws(region=REGION, endpoint_url=url).client("cloudformation")
    message = one_line_exit(lambda: cfn.list_stacks())
    assert message.startswith(f"error: cannot reach {url}")
    assert "--region" in message and "AWS_ENDPOINT_URL" in message


def test_malformed_region(monkeypatch):
    fake_credentials(monkeypatch)
    message = one_line_exit(lambda: Aws(region="eu west 1").client("s3"))
    assert "'eu west 1' is not an AWS region name" in message


def test_service_error_names_the_operation_and_the_reason(monkeypatch, endpoint):
    fake_credentials(monkeypatch)
    cfn = Aws(region=REGION, endpoint_url=endpoint).client("cloudformation")
    message = one_line_exit(lambda: cfn.describe_stacks(StackName="no-such-stack"))
    assert message.startswith("error: AWS DescribeStacks failed: ValidationError:")
    assert "no-such-stack" in message


def test_rejected_credentials_and_access_denied_say_what_to_do():
    def client_error(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": "nope\nsecond line"}}, "GetCallerIdentity")

    assert "refresh them or pick another --profile" in describe_error(client_error("ExpiredToken"))
    denied = describe_error(client_error("AccessDenied"))
    assert denied == "access denied for GetCallerIdentity: the credentials lack permission (nope second line)"


def test_lifecycle_errors_pass_through_with_the_prefix():
    def fail() -> None:
        raise LifecycleError("stack ecs1-app is UPDATE_ROLLBACK_FAILED and needs a human")

    assert one_line_exit(fail) == "error: stack ecs1-app is UPDATE_ROLLBACK_FAILED and needs a human"


def test_the_lifecycle_is_library_code_without_the_command_line() -> None:
    """lifecycle/ is called by tasks.py, which alone turns its errors into invoke's exits."""
    modules = "lifecycle.errors, lifecycle.deploy, lifecycle.clean, lifecycle.project, lifecycle.local_server"
    probe = f"import sys, {modules}; print('invoke' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
