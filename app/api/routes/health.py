from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import SessionDep
from app.schemas import Health, Message

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/", response_model=Message)
async def root() -> Message:
    return Message(message="ecs1 location API is running; see /docs")


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(session: SessionDep) -> Health | JSONResponse:
    try:
        await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        log.warning("health check failed: %s", exc)
        body = Health(status="unavailable", database=type(exc).__name__)
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", database="ok")
