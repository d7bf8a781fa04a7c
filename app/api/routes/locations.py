from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import Row, select

from app.api.deps import CurrentUser, LocationsDep, SessionDep, unauthorized
from app.location_store import LATEST_COLUMNS, NewLocation, UserGone
from app.models import Location, User
from app.schemas import MAX_ID, MAX_PAGE, LocationIds, LocationIn, LocationPage, UserLocation, errors

router = APIRouter(prefix="/location", tags=["locations"])


def _user_location(row: Row) -> UserLocation:
    return UserLocation.model_validate(row._mapping)


@router.post(
    "/update",
    status_code=status.HTTP_201_CREATED,
    response_model=UserLocation,
    responses=errors(400, 401, 403),
)
async def update_location(body: LocationIn, locations: LocationsDep, user: CurrentUser) -> UserLocation:
    if body.user_name is not None and body.user_name != user.user_name:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="you can only report your own location")
    try:
        stored = await locations.add(NewLocation(user_id=user.id, lat=body.lat, lng=body.lng))
    except UserGone as exc:
        raise unauthorized("the user of this token no longer exists") from exc
    return UserLocation(
        id=user.id,
        user_name=user.user_name,
        lat=body.lat,
        lng=body.lng,
        created_at=stored.created_at,
        location_id=stored.location_id,
    )


@router.post("/get_locations", response_model=list[UserLocation], responses=errors(400, 401))
async def get_locations(body: LocationIds, locations: LocationsDep, _user: CurrentUser) -> list[UserLocation]:
    """The latest location of each listed user who has one (one index seek per user)."""
    return [_user_location(row) for row in await locations.latest(frozenset(body.ids))]


@router.get("/history", response_model=LocationPage, responses=errors(401, 404))
async def history(
    session: SessionDep,
    user: CurrentUser,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="default: yourself")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="the `next_before` of the previous page")
    ] = None,
) -> LocationPage:
    """A user's locations, newest first, a page at a time."""
    target_id = user.id if user_id is None else user_id
    if await session.scalar(select(User.id).where(User.id == target_id)) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no user with id {target_id}")
    statement = (
        select(*LATEST_COLUMNS)
        .join(Location, Location.user_id == User.id)
        .where(User.id == target_id)
        .order_by(Location.id.desc())
        .limit(limit)
    )
    if before is not None:
        statement = statement.where(Location.id < before)
    items = [_user_location(row) for row in await session.execute(statement)]
    next_before = items[-1].location_id if len(items) == limit else None
    return LocationPage(items=items, next_before=next_before)
