"""Dependencies as named aliases, so route signatures read like sentences.

They are all `async def`: FastAPI runs a plain `def` dependency in a worker thread, a hop per request.

`bearer_scheme` is the marker of a protected route: the route table (app/api/route_table.py) and therefore
API Gateway's authorizer settings are derived from which routes depend on it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.tokens import InvalidToken, TokenUser, decode_access_token
from app.location_store import LocationStore
from app.models import User

TOKEN_URL = "/auth/token"  # noqa: S105 (a path, not a secret)
bearer_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, scheme_name="bearer")
optional_bearer_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, scheme_name="bearer", auto_error=False)

_TOKEN_CACHE_MAX = 10_000


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_locations_store(request: Request) -> LocationStore:
    return request.app.state.locations


LocationsDep = Annotated[LocationStore, Depends(get_locations_store)]


def _verified(request: Request, token: str) -> TokenUser:
    # A token's claims never change, so a verified token is cached for this process; its expiry is still
    # checked on every use. This takes JWT verification off the hot path of every authenticated request.
    cache: dict[str, TokenUser] = request.app.state.token_cache
    user = cache.get(token)
    if user is None:
        try:
            user = decode_access_token(token, request.app.state.settings.jwt_secret_key)
        except InvalidToken as exc:
            raise unauthorized(f"invalid token: {exc}") from exc
        if len(cache) >= _TOKEN_CACHE_MAX:
            cache.clear()
        cache[token] = user
    if user.expires_at <= time.time():
        cache.pop(token, None)
        raise unauthorized("invalid token: Signature has expired.")
    return user


async def get_token_user(request: Request, token: Annotated[str, Depends(bearer_scheme)]) -> TokenUser:
    return _verified(request, token)


async def get_optional_token_user(
    request: Request, token: Annotated[str | None, Depends(optional_bearer_scheme)]
) -> TokenUser | None:
    return None if token is None else _verified(request, token)


CurrentUser = Annotated[TokenUser, Depends(get_token_user)]
OptionalUser = Annotated[TokenUser | None, Depends(get_optional_token_user)]


async def load_current_user(session: AsyncSession, token_user: TokenUser) -> User:
    """The caller's row as it is now: a token outlives a deletion or a role change by up to its lifetime."""
    user = await session.scalar(select(User).where(User.id == token_user.id))
    if user is None:
        raise unauthorized("the user of this token no longer exists")
    return user


async def get_admin(session: SessionDep, token_user: CurrentUser) -> User:
    user = await load_current_user(session, token_user)
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this needs an admin")
    return user


AdminUser = Annotated[User, Depends(get_admin)]
