"""API Gateway HTTP API Lambda authorizer: REQUEST type, payload format 2.0, simple responses.

It verifies the bearer token's signature and expiry itself with the API's signing key, read once per cold
start from Secrets Manager (the secret's ARN in `JWT_SECRET_ARN`; its SecretString is the plain key), so a
token the API issues is exactly what this accepts. Every decision is one JSON line on stdout (one CloudWatch
event): decision, reason, user, route key and request id, never the token.

Dependencies: the standard library, boto3 (in the Lambda base image) and python-jose via app.core.tokens.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import boto3
from jose.exceptions import ExpiredSignatureError

from app.core.tokens import InvalidToken, bearer_token, decode_access_token

SIGNING_KEY_ARN_ENV = "JWT_SECRET_ARN"


class SigningKey:
    """The JWT signing key, fetched on first use and kept for the life of the execution environment.

    A failed read is not cached, so the next invocation tries again.
    """

    def __init__(self) -> None:
        self._client: Any = None
        self._key: str | None = None

    def get(self) -> str:
        if self._key is None:
            secret_arn = os.environ.get(SIGNING_KEY_ARN_ENV)
            if not secret_arn:
                raise RuntimeError(f"{SIGNING_KEY_ARN_ENV} is not set")
            if self._client is None:
                self._client = boto3.client("secretsmanager")
            self._key = self._client.get_secret_value(SecretId=secret_arn)["SecretString"]
        return self._key


_signing_key = SigningKey()


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    request = event.get("requestContext") or {}
    log_fields = {
        "route_key": event.get("routeKey"),
        "request_id": request.get("requestId") or getattr(context, "aws_request_id", None),
    }
    authorization = _authorization(event)
    if authorization is None:
        return _deny("missing-token", log_fields)
    try:
        token = bearer_token(authorization)
    except InvalidToken:
        return _deny("malformed-header", log_fields)
    try:
        key = _signing_key.get()
    except Exception as exc:  # whatever the cause, deny rather than crash
        _log(
            "error",
            decision="deny",
            reason="signing-key-unavailable",
            error=f"{type(exc).__name__}: {exc}",
            **log_fields,
        )
        return {"isAuthorized": False}
    try:
        user = decode_access_token(token, key)
    except InvalidToken as exc:
        return _deny(
            "expired" if isinstance(exc.__cause__, ExpiredSignatureError) else "invalid-token", log_fields
        )
    _log(
        "info",
        decision="allow",
        reason="valid-token",
        user_id=user.id,
        user_name=user.user_name,
        **log_fields,
    )
    return {
        "isAuthorized": True,
        "context": {"user_id": user.id, "user_name": user.user_name, "role": user.role},
    }


def _authorization(event: dict[str, Any]) -> str | None:
    """The Authorization header (any case), else the first identity source value."""
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "authorization" and value:
            return value
    for value in event.get("identitySource") or []:
        if value:
            return value
    return None


def _deny(reason: str, log_fields: dict[str, Any]) -> dict[str, Any]:
    _log("info", decision="deny", reason=reason, **log_fields)
    return {"isAuthorized": False}


def _log(level: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"level": level, **fields}, default=str) + "\n")
    sys.stdout.flush()
