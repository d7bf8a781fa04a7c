"""One clear line for every error a user will meet; the tasks never show a boto traceback.

Library code: it knows nothing of the command line. `tasks.py` turns `describe(exc)` into invoke's exit.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    InvalidRegionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from troposphere_templates.config import ConfigError
from troposphere_templates.cost import CostError

CREDENTIAL_CODES = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
}
ACCESS_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


class LifecycleError(Exception):
    """A failure the user can act on; str() is one line without the `error:` prefix."""


def describe_error(exc: BaseException) -> str:
    """The one line (without `error: `) a user reads for any of USER_ERRORS below."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return (
            "no AWS credentials found: run `aws configure` (or `aws sso login`), pass --profile, "
            "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(exc, ProfileNotFound):
        return f"AWS profile {exc.kwargs.get('profile')!r} not found in ~/.aws/config or ~/.aws/credentials"
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, InvalidRegionError):
        return f"{exc.kwargs.get('region_name')!r} is not an AWS region name (e.g. us-east-1): check --region"
    if isinstance(exc, EndpointConnectionError):
        return (
            f"cannot reach {exc.kwargs.get('endpoint_url')}: check --region, or --endpoint-url / "
            "AWS_ENDPOINT_URL if you use a local emulator (`invoke local-aws`)"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = " ".join(str(error.get("Message", "")).split())
        operation = exc.operation_name
        if code in CREDENTIAL_CODES:
            return f"AWS rejected the credentials ({code}): refresh them or pick another --profile"
        if code in ACCESS_CODES:
            return f"access denied for {operation}: the credentials lack permission ({message})"
        return f"AWS {operation} failed: {code}: {message}"
    return " ".join(str(exc).split())


# The failures a user can act on: each is described in one line, never shown as a traceback.
USER_ERRORS = (LifecycleError, ConfigError, CostError, BotoCoreError, ClientError)
# Ctrl+C stops only the waiting: CloudFormation carries on, and the next deploy or clean waits for it.
INTERRUPTED = (
    "interrupted: any stack operation already started carries on in AWS; "
    "the next deploy or clean waits for it"
)
