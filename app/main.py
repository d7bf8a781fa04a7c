"""The FastAPI application: `app.main:app`.

Settings are read when the app starts (not at import), so tools can import the app to read its route
table without any configuration.
"""

from __future__ import annotations

import gc
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy import exc as sa_exc

from app.api.errors import install_error_handlers
from app.api.routes import admin, auth, health, locations, users
from app.backup import scheduled_backups
from app.bootstrap import ensure_admin
from app.core.config import Settings, get_settings
from app.core.db import StorageUnavailable, create_engine, create_sessionmaker, storage_health
from app.location_store import LocationStore
from app.throttle import Throttle
from app.user_store import UserStore

log = logging.getLogger("app")

# Every router the app serves; the API Gateway routes are generated from these (app/api/route_table.py).
ROUTERS = (health.router, auth.router, users.router, locations.router, admin.router)

# What a storage failure raises, from SQLAlchemy or (on the direct write path) from sqlite3 itself: disk I/O
# errors, a full or read-only file system, a removed file, an unreachable PostgreSQL server, no pooled
# connection in time. They are the server's trouble, not the request's, and usually pass: 503, retry later.
STORAGE_ERRORS = (
    StorageUnavailable,
    ConnectionError,  # asyncpg raises the socket's own error when PostgreSQL refuses or drops the connection
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sqlite3.OperationalError,
)
STORAGE_RETRY_AFTER_SECONDS = 5

# The largest valid request (1000 ids) is about 20 KB; anything far larger is refused with a 413 unread.
MAX_BODY_BYTES = 64 * 1024

DESCRIPTION = (
    "Users sign up, log in, report GPS locations and read others' latest locations; admins manage users."
)


def create_app(settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = settings or get_settings()
        engine = create_engine(active)
        app.state.settings = active
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.token_cache = {}
        app.state.locations = LocationStore(engine)
        app.state.users = UserStore(app.state.sessionmaker)
        app.state.storage = storage_health(engine, active)
        app.state.throttle = Throttle(engine, active)
        try:
            log.info(await ensure_admin(app.state.sessionmaker, active))
            # Everything loaded so far lives as long as the process: keep it out of the cyclic garbage
            # collector's scans, whose full passes over it paused every request (see the README's benchmark).
            gc.collect()
            gc.freeze()
            storage = app.state.storage
            async with scheduled_backups(engine, lambda: storage.probe_writes) as app.state.backups:
                yield
        finally:
            await engine.dispose()

    # FastAPIOffline: FastAPI whose /docs and /redoc load their scripts from the app itself (no CDN).
    app = FastAPIOffline(
        title="ecs1 location API",
        description=DESCRIPTION,
        version="1.0.0",
        lifespan=lifespan,
    )
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app, MAX_BODY_BYTES)

    async def storage_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Handled here rather than by the catch-all below, which Starlette re-raises after answering, and
        # uvicorn then drops the keep-alive connection.
        log.error("storage error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        request.app.state.storage.storage_failed()
        return JSONResponse(
            {"detail": "the database is unavailable; try again later"},
            status_code=503,
            headers={"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)},
        )

    for error in STORAGE_ERRORS:
        app.add_exception_handler(error, storage_unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)

    return app


app = create_app()
