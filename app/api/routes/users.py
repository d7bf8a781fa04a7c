from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.api.deps import AdminUser, CurrentUser, OptionalUser, SessionDep, SettingsDep, load_current_user
from app.api.guards import SignupGuard
from app.core.security import hash_password
from app.models import USER_NAME_MAX, User
from app.schemas import MAX_PAGE, UserCreate, UserPublic, UserUpdate, errors

router = APIRouter(prefix="/users", tags=["users"])


def _name_taken(user_name: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, detail=f"user name '{user_name}' is already taken")


async def _admin_count(session: SessionDep) -> int:
    return await session.scalar(select(func.count()).select_from(User).where(User.role == "admin")) or 0


@router.post(
    "/create_user",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=errors(400, 401, 403, 409, 429),
    dependencies=[SignupGuard],
)
async def create_user(
    body: UserCreate, session: SessionDep, settings: SettingsDep, token_user: OptionalUser
) -> User:
    if body.role == "admin":
        caller = await load_current_user(session, token_user) if token_user else None
        if caller is None or caller.role != "admin":
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only an admin can create an admin")
    if await session.scalar(select(User.id).where(User.user_name == body.user_name)) is not None:
        raise _name_taken(body.user_name)
    await session.close()
    password_hash = await hash_password(body.password, settings.bcrypt_rounds)
    user = User(user_name=body.user_name, password_hash=password_hash, role=body.role)
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:  # another request took the name while we were hashing
        await session.rollback()
        raise _name_taken(body.user_name) from exc
    return user


@router.get("/read_all", response_model=list[UserPublic], responses=errors(401, 403))
async def read_all(
    session: SessionDep,
    _admin: AdminUser,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.id).limit(limit).offset(offset)))


@router.put(
    "/update",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(400, 401, 403, 404, 409),
)
async def update_user(
    body: UserUpdate, session: SessionDep, settings: SettingsDep, token_user: CurrentUser
) -> Response:
    if body.password is None and body.role is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, detail="nothing to update: give password or role"
        )
    caller = await load_current_user(session, token_user)
    target_name = body.user_name or caller.user_name
    if caller.role != "admin" and (target_name != caller.user_name or body.role is not None):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail="only an admin can change a role or another user's password"
        )
    target = await session.scalar(select(User).where(User.user_name == target_name))
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no user named '{target_name}'")
    if target.role == "admin" and body.role == "user" and await _admin_count(session) <= 1:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="cannot demote the last admin")
    target_id = target.id
    await session.close()
    values: dict[str, str] = {}
    if body.password is not None:
        values["password_hash"] = await hash_password(body.password, settings.bcrypt_rounds)
    if body.role is not None:
        values["role"] = body.role
    target = await session.get(User, target_id)
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no user named '{target_name}'")
    for key, value in values.items():
        setattr(target, key, value)
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/delete/{user_name}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404, 409),
)
async def delete_user(
    user_name: Annotated[str, Path(min_length=1, max_length=USER_NAME_MAX)],
    session: SessionDep,
    _admin: AdminUser,
) -> Response:
    target = await session.scalar(select(User).where(User.user_name == user_name))
    if target is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no user named '{user_name}'")
    if target.role == "admin" and await _admin_count(session) <= 1:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="cannot delete the last admin")
    await session.delete(target)  # locations go with it: ON DELETE CASCADE, and the ORM cascade
    await session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
