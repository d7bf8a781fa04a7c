"""JWT issue and verification, shared by the API and the Lambda authorizer.

Only python-jose is imported here so that the authorizer image stays small.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from jose import JWTError, jwt

ALGORITHM = "HS256"
VERSION_CLAIM = "ver"


class InvalidToken(Exception):
    """The token is missing, malformed, expired, badly signed or lacks a claim."""


@dataclass(frozen=True, slots=True)
class TokenUser:
    """A token's claims. `version` binds it to its account: the API accepts the token only while the account
    with this id and name still has this token version (None: a token from before versions existed)."""

    id: int
    user_name: str
    role: str
    expires_at: int
    version: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def create_access_token(
    *, user_id: int, user_name: str, role: str, secret: str, expire_minutes: int, version: int = 0
) -> str:
    """`version` is the account's token_version (0 for an account whose tokens were never revoked)."""
    now = int(time.time())
    claims = {
        "sub": user_name,
        "id": user_id,
        "role": role,
        VERSION_CLAIM: version,
        "iat": now,
        "exp": now + expire_minutes * 60,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, secret: str) -> TokenUser:
    try:
        claims: dict[str, Any] = jwt.decode(token, secret, algorithms=[ALGORITHM])
    except JWTError as exc:  # covers bad signature, malformed input and expiry
        raise InvalidToken(str(exc)) from exc
    user_id, user_name, role, exp = (claims.get(k) for k in ("id", "sub", "role", "exp"))
    if not (isinstance(user_id, int) and isinstance(user_name, str) and isinstance(role, str)):
        raise InvalidToken("token lacks the id, sub or role claim")
    if not isinstance(exp, int):
        raise InvalidToken("token lacks an expiry")
    # The Lambda authorizer checks signature and expiry only; the API checks the version against the account.
    version = claims.get(VERSION_CLAIM)
    version = version if isinstance(version, int) and not isinstance(version, bool) else None
    return TokenUser(id=user_id, user_name=user_name, role=role, expires_at=exp, version=version)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive)."""
    if not authorization:
        raise InvalidToken("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("Authorization header is not 'Bearer <token>'")
    return token.strip()
