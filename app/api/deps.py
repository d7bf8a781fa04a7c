"""Dependencies as named aliases, so route signatures read like sentences.

They are all `async def`: FastAPI runs a plain `def` dependency in a worker thread, a hop per request.

`bearer_scheme` is the marker of a protected route: the route table (app/api/route_table.py) and therefore
API Gateway's authorizer settings are derived from which routes depend on it.

`BearerClaims` are a token's verified claims (signature and expiry), not yet its account: the stores check
those claims against the account inside the work they do (the hot paths do it for a whole batch in one
statement). `CurrentUser` is the account itself, for routes that need it first.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from jose.exceptions import ExpiredSignatureError

from app.core.config import Settings
from app.core.tokens import InvalidToken, TokenUser, decode_access_token
from app.location_store import LocationStore
from app.models import User
from app.user_store import ADMIN, UserStore

TOKEN_URL = "/auth/token"  # noqa: S105 (a path, not a secret)
bearer_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, scheme_name="bearer")
optional_bearer_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, scheme_name="bearer", auto_error=False)

_TOKEN_CACHE_MAX = 10_000
EXPIRED = "invalid token: it has expired"


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_locations_store(request: Request) -> LocationStore:
    return request.app.state.locations


LocationsDep = Annotated[LocationStore, Depends(get_locations_store)]


async def get_user_store(request: Request) -> UserStore:
    return request.app.state.users


UsersDep = Annotated[UserStore, Depends(get_user_store)]


def _verified(request: Request, token: str) -> TokenUser:
    # Claims never change, so a token whose signature verified is cached for this process: this takes JWT
    # verification off the hot path. It is no revocation cache: every use still checks the claims against the
    # account in the database, and the expiry here.
    cache: dict[str, TokenUser] = request.app.state.token_cache
    user = cache.get(token)
    if user is None:
        try:
            user = decode_access_token(token, request.app.state.settings.jwt_secret_key)
        except InvalidToken as exc:
            # The library's reason may quote parts of the token: only say whether it expired.
            expired = isinstance(exc.__cause__, ExpiredSignatureError)
            raise unauthorized(EXPIRED if expired else "invalid token") from exc
        if len(cache) >= _TOKEN_CACHE_MAX:
            cache.clear()
        cache[token] = user
    if user.expires_at <= time.time():
        cache.pop(token, None)
        raise unauthorized(EXPIRED)
    return user


async def get_token_user(request: Request, token: Annotated[str, Depends(bearer_scheme)]) -> TokenUser:
    return _verified(request, token)


async def get_optional_token_user(
    request: Request, token: Annotated[str | None, Depends(optional_bearer_scheme)]
) -> TokenUser | None:
    return None if token is None else _verified(request, token)


BearerClaims = Annotated[TokenUser, Depends(get_token_user)]
OptionalClaims = Annotated[TokenUser | None, Depends(get_optional_token_user)]


async def get_current_user(users: UsersDep, claims: BearerClaims) -> User:
    return await users.account(claims)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_admin(user: CurrentUser) -> User:
    if user.role != ADMIN:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this needs an admin")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
