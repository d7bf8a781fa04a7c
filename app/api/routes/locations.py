from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlalchemy import Row

from app.api.deps import BearerClaims, LocationsDep, UsersDep
from app.location_store import NewLocation
from app.models import USER_NAME_MAX
from app.schemas import (
    MAX_ID,
    MAX_PAGE,
    LocationIds,
    LocationIn,
    LocationPage,
    SharedUser,
    UserLocation,
    body_errors,
    errors,
)

router = APIRouter(prefix="/location", tags=["locations"])

OtherUserName = Annotated[str, Path(min_length=1, max_length=USER_NAME_MAX, description="any case")]
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
PageOffset = Annotated[int, Query(ge=0, le=2**62)]


def _user_location(row: Row) -> UserLocation:
    return UserLocation.model_validate(row._mapping)


def _shared_user(row: Row) -> SharedUser:
    return SharedUser.model_validate(row._mapping)


@router.post(
    "/update",
    status_code=status.HTTP_201_CREATED,
    response_model=UserLocation,
    responses=body_errors(400, 401, 403),
)
async def update_location(body: LocationIn, locations: LocationsDep, claims: BearerClaims) -> UserLocation:
    """Report your location."""
    if body.user_name is not None and body.user_name.lower() != claims.user_name.lower():
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="you can only report your own location")
    stored = await locations.add(NewLocation(author=claims, lat=body.lat, lng=body.lng))
    return UserLocation(
        id=claims.id,
        user_name=claims.user_name,
        lat=body.lat,
        lng=body.lng,
        created_at=stored.created_at,
        location_id=stored.location_id,
    )


@router.post("/get_locations", response_model=list[UserLocation], responses=body_errors(400, 401))
async def get_locations(
    body: LocationIds, locations: LocationsDep, claims: BearerClaims
) -> list[UserLocation]:
    """The latest location of each listed user who has one and whom you may see: yourself, the users who
    share their location with you, and everyone for an admin. The others are left out, as if they had none."""
    return [_user_location(row) for row in await locations.latest(claims, frozenset(body.ids))]


@router.get("/history", response_model=LocationPage, responses=errors(401, 404))
async def history(
    locations: LocationsDep,
    claims: BearerClaims,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="default: yourself")] = None,
    limit: PageLimit = 100,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="the `next_before` of the previous page")
    ] = None,
) -> LocationPage:
    """A user's locations, newest first, a page at a time. A user you may not see is a 404, exactly like an
    id that does not exist."""
    owner_id = claims.id if user_id is None else user_id
    items = [_user_location(row) for row in await locations.history(claims, owner_id, limit, before)]
    next_before = items[-1].location_id if len(items) == limit else None
    return LocationPage(items=items, next_before=next_before)


@router.get("/shared_with", response_model=list[SharedUser], responses=errors(401))
async def shared_with(
    users: UsersDep, claims: BearerClaims, limit: PageLimit = 100, offset: PageOffset = 0
) -> list[SharedUser]:
    """The users who see your location (you share it with them), by name."""
    return [_shared_user(row) for row in await users.viewers(claims, limit, offset)]


@router.put("/shared_with/{user_name}", response_model=SharedUser, responses=errors(400, 401, 404))
async def share_with(user_name: OtherUserName, users: UsersDep, claims: BearerClaims) -> SharedUser:
    """Share your location with this user: from now on they see your latest location and your history.
    Sharing again changes nothing."""
    return _shared_user(await users.share(claims, user_name))


@router.delete("/shared_with/{user_name}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(401, 404))
async def stop_sharing_with(user_name: OtherUserName, users: UsersDep, claims: BearerClaims) -> Response:
    """Stop sharing your location with this user; it takes effect at once. Nothing to do if you were not."""
    await users.unshare(claims, user_name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/shared_with_me", response_model=list[SharedUser], responses=errors(401))
async def shared_with_me(
    users: UsersDep, claims: BearerClaims, limit: PageLimit = 100, offset: PageOffset = 0
) -> list[SharedUser]:
    """The users whose location you see (they share it with you), by name."""
    return [_shared_user(row) for row in await users.visible(claims, limit, offset)]
