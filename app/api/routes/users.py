from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from app.api.deps import AdminUser, BearerClaims, CurrentUser, OptionalClaims, SettingsDep, UsersDep
from app.api.guards import SignupGuard
from app.core.security import hash_password
from app.models import USER_NAME_MAX, User
from app.schemas import MAX_PAGE, UserCreate, UserPublic, UserUpdate, body_errors, errors
from app.user_store import ADMIN, NameTaken, NotAdmin

router = APIRouter(prefix="/users", tags=["users"])


@router.post(
    "/create_user",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=body_errors(400, 401, 403, 409, 429),
    dependencies=[SignupGuard],
)
async def create_user(
    body: UserCreate, users: UsersDep, settings: SettingsDep, claims: OptionalClaims
) -> User:
    """Sign up (role `user`), or with an admin's token create an admin. Names are unique ignoring case."""
    # Both refusals are checked before the slow hashing, and again by the store when it writes.
    if body.role == ADMIN and (claims is None or (await users.account(claims)).role != ADMIN):
        raise NotAdmin
    if await users.name_taken(body.user_name):
        raise NameTaken
    password_hash = await hash_password(body.password, settings.bcrypt_rounds)
    return await users.create(body.user_name, password_hash, body.role, creator=claims)


@router.get("/read_all", response_model=list[UserPublic], responses=errors(401, 403))
async def read_all(
    users: UsersDep,
    _admin: AdminUser,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> list[User]:
    return await users.page(limit, offset)


@router.put(
    "/update",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=body_errors(400, 401, 403, 404, 409),
)
async def update_user(
    body: UserUpdate, users: UsersDep, settings: SettingsDep, claims: BearerClaims, caller: CurrentUser
) -> Response:
    """Change your password, or as an admin any user's password or role. A new password revokes every
    token issued before it, the caller's own included: log in again with the new password."""
    target_name = body.user_name or caller.user_name
    if caller.role != ADMIN and (target_name.lower() != caller.user_name.lower() or body.role is not None):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="only an admin can change a role or another user's password"
        )
    password_hash = (
        None if body.password is None else await hash_password(body.password, settings.bcrypt_rounds)
    )
    await users.update(claims, target_name, password_hash=password_hash, role=body.role)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/delete/{user_name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404, 409),
)
async def delete_user(
    user_name: Annotated[str, Path(min_length=1, max_length=USER_NAME_MAX)],
    users: UsersDep,
    claims: BearerClaims,
) -> Response:
    """Delete a user (admins only); their locations and shares go with them and their tokens stop working."""
    await users.delete(claims, user_name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
