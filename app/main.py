"""The FastAPI application: `app.main:app`.

Settings are read when the app starts (not at import), so tools can import the app to read its route
table without any configuration.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api.routes import admin, auth, health, locations, users
from app.backup import scheduled_backups
from app.bootstrap import ensure_admin
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker, database_probe
from app.location_store import LocationStore

log = logging.getLogger("app")

# Every router the app serves; the API Gateway routes are generated from these (app/api/route_table.py).
ROUTERS = (health.router, auth.router, users.router, locations.router, admin.router)

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
        app.state.database_probe = database_probe(engine)
        try:
            log.info(await ensure_admin(app.state.sessionmaker, active))
            # Everything loaded so far lives as long as the process: keep it out of the cyclic garbage
            # collector's scans, whose full passes over it paused every request for ~40 ms (the p99).
            gc.collect()
            gc.freeze()
            async with scheduled_backups(engine) as app.state.backups:
                yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="ecs1 location API",
        description=DESCRIPTION,
        version="1.0.0",
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    for router in ROUTERS:
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The errors without the offending input: it may be a password, or a megabyte of ids.
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)

    return app


app = create_app()
