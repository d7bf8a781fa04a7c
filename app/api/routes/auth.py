from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from app.api.deps import CurrentUser, SessionDep, SettingsDep, load_current_user, unauthorized
from app.api.guards import LoginGuard
from app.core.security import verify_password
from app.core.tokens import create_access_token
from app.models import User
from app.schemas import Token, UserPublic, errors

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token, responses=errors(400, 401, 429), dependencies=[LoginGuard])
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
) -> Token:
    user = (
        await session.execute(
            select(User.id, User.user_name, User.role, User.password_hash).where(
                User.user_name == form.username
            )
        )
    ).one_or_none()
    # Hand the single database connection back before the slow, threaded bcrypt check.
    await session.close()
    ok = await verify_password(form.password, user.password_hash if user else None, settings.bcrypt_rounds)
    if user is None or not ok:
        raise unauthorized("incorrect user name or password")
    token = create_access_token(
        user_id=user.id,
        user_name=user.user_name,
        role=user.role,
        secret=settings.jwt_secret_key,
        expire_minutes=settings.jwt_expire_minutes,
    )
    return Token(access_token=token)


@router.get("/check_token", response_model=UserPublic, responses=errors(401))
async def check_token(session: SessionDep, token_user: CurrentUser) -> User:
    return await load_current_user(session, token_user)
