from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.core.db import StorageUnavailable
from app.schemas import Health, Message

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)
HEALTH_RETRY_AFTER_SECONDS = 5


@router.get("/", response_model=Message)
async def root() -> Message:
    return Message(message="ecs1 location API is running; see /docs")


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
async def health(request: Request) -> Health | JSONResponse:
    try:
        await request.app.state.storage.probe.submit(None)
    except StorageUnavailable as exc:
        return _unavailable(str(exc))
    except (SQLAlchemyError, OSError) as exc:
        log.warning("health check failed: %s: %s", type(exc).__name__, exc)
        return _unavailable(type(exc).__name__)
    return Health(status="ok", database="ok")


def _unavailable(reason: str) -> JSONResponse:
    body = Health(status="unavailable", database=reason)
    return JSONResponse(
        body.model_dump(), status_code=503, headers={"Retry-After": str(HEALTH_RETRY_AFTER_SECONDS)}
    )
