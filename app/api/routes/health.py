from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.schemas import Health, Message

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/", response_model=Message)
async def root() -> Message:
    return Message(message="ecs1 location API is running; see /docs")


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request) -> Health | JSONResponse:
    try:
        await request.app.state.database_probe.submit(None)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("health check failed: %s", exc)
        body = Health(status="unavailable", database=type(exc).__name__)
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", database="ok")
