"""Operations an admin triggers: `invoke backup` reaches the running task through this route."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel

from app.api.deps import AdminUser
from app.schemas import ErrorDetail, errors
from app.snapshots import BackupError

router = APIRouter(prefix="/admin", tags=["admin"])


class SnapshotOut(BaseModel):
    key: str
    taken_at: datetime
    bytes: int


@router.post(
    "/backups",
    response_model=SnapshotOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **errors(401, 403, 409),
        503: {"model": ErrorDetail, "description": "the snapshot could not be stored"},
    },
)
async def take_backup(request: Request, admin: AdminUser) -> SnapshotOut:
    """Take a snapshot of the database now and keep it with the scheduled ones; answers with its key."""
    # The admin check (UserStore) has handed the pool's only connection back: the snapshot needs it.
    backups = request.app.state.backups
    if backups is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="backups are off: the database is not SQLite")
    try:
        snapshot = await backups.snapshot()
    except BackupError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
    return SnapshotOut(key=snapshot.key, taken_at=snapshot.taken_at, bytes=snapshot.size)
