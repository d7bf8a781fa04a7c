"""API Gateway HTTP API Lambda authorizer: REQUEST type, payload format 2.0, simple responses.

It never refuses a request: it verifies the bearer token and labels the request (`verified`, `reason`, and the
user when verified) for the access log, and the API, which verifies every token itself (revocation included),
answers 401 with `WWW-Authenticate: Bearer` for a malformed, expired or forged one. That is the only way a
client gets 401 for those, by what AWS documents for HTTP API Lambda authorizers (API Gateway Developer Guide,
"Working with AWS Lambda authorizers for HTTP APIs"):
- "If you specify identity sources, clients must include them in the request. If the client's request doesn't
  include the identity sources, API Gateway doesn't invoke your Lambda authorizer, and the client receives a
  401 error." (the stack's identity source is the Authorization header: a missing one is the gateway's 401)
- With format 2.0 the function returns `isAuthorized` (simple responses) or an IAM policy; a refusal either
  way is answered 403 Forbidden, not 401.
- "If API Gateway can't invoke your Lambda authorizer, or your Lambda authorizer returns a response in an
  invalid format, clients receive a 500 Internal Server Error." (so this function never raises)
- HTTP APIs have no gateway responses to map 403 or 500 to 401 (a REST API feature).

The key is read once per cold start from Secrets Manager (the secret's ARN in `JWT_SECRET_ARN`; its
SecretString is the plain key), so a token the API issues is exactly what this verifies. Every decision is one
JSON line on stdout (one CloudWatch event): reason, user, route key and request id, never the token.

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
        return _unverified("missing-token", log_fields)
    try:
        token = bearer_token(authorization)
    except InvalidToken:
        return _unverified("malformed-header", log_fields)
    try:
        key = _signing_key.get()
    except Exception as exc:  # whatever the cause: the API still verifies the token itself
        return _unverified(
            "signing-key-unavailable", log_fields, level="error", error=f"{type(exc).__name__}: {exc}"
        )
    try:
        user = decode_access_token(token, key)
    except InvalidToken as exc:
        expired = isinstance(exc.__cause__, ExpiredSignatureError)
        return _unverified("expired" if expired else "invalid-token", log_fields)
    _log("info", verified=True, reason="valid-token", user_id=user.id, user_name=user.user_name, **log_fields)
    return {
        "isAuthorized": True,
        "context": {
            "verified": True,
            "reason": "valid-token",
            "user_id": user.id,
            "user_name": user.user_name,
            "role": user.role,
        },
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


def _unverified(reason: str, log_fields: dict[str, Any], level: str = "info", **extra: Any) -> dict[str, Any]:
    """Let the request through, labelled unverified: the API answers it 401 (see the module docstring)."""
    _log(level, verified=False, reason=reason, **extra, **log_fields)
    return {"isAuthorized": True, "context": {"verified": False, "reason": reason}}


def _log(level: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"level": level, **fields}, default=str) + "\n")
    sys.stdout.flush()
