from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from app.api.deps import CurrentUser, SettingsDep, UsersDep, unauthorized
from app.api.guards import LoginGuard
from app.core.security import verify_password
from app.core.tokens import create_access_token
from app.models import User
from app.schemas import Token, UserPublic, errors

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token, responses=errors(400, 401, 429), dependencies=[LoginGuard])
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], users: UsersDep, settings: SettingsDep
) -> Token:
    """Log in with your user name (any case: names are unique ignoring case) and password."""
    # The store hands the database connection back before the slow, threaded bcrypt check.
    account = await users.credentials(form.username)
    ok = await verify_password(
        form.password, account.password_hash if account else None, settings.bcrypt_rounds
    )
    if account is None or not ok:
        raise unauthorized("incorrect user name or password")
    token = create_access_token(
        user_id=account.id,
        user_name=account.user_name,
        role=account.role,
        version=account.token_version,
        secret=settings.jwt_secret_key,
        expire_minutes=settings.jwt_expire_minutes,
    )
    return Token(access_token=token)


@router.get("/check_token", response_model=UserPublic, responses=errors(401))
async def check_token(user: CurrentUser) -> User:
    """The account this token belongs to, as it is now (401 once it was deleted or its password changed)."""
    return user
