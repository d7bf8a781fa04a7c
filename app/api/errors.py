"""Every error answer is JSON `{"detail": ...}` and never repeats what the client sent.

The stores raise what went wrong as exceptions (app/user_store.py); their answers are defined here once, so a
route only calls its store.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.route_table import route_table
from app.user_store import LastAdmin, NameTaken, NoSuchUser, NotAdmin, ShareWithSelf, TokenRevoked

NO_SUCH_USER = "no such user"

STORE_ERRORS: dict[type[Exception], tuple[int, str]] = {
    TokenRevoked: (status.HTTP_401_UNAUTHORIZED, "this token no longer belongs to an account; log in again"),
    NotAdmin: (status.HTTP_403_FORBIDDEN, "this needs an admin"),
    NoSuchUser: (status.HTTP_404_NOT_FOUND, NO_SUCH_USER),
    NameTaken: (status.HTTP_409_CONFLICT, "this user name is already taken (names are unique ignoring case)"),
    LastAdmin: (status.HTTP_409_CONFLICT, "this would leave no admin"),
    ShareWithSelf: (status.HTTP_400_BAD_REQUEST, "you always see your own location; share it with others"),
}

TOO_LARGE = "the request body is too large"


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(status.HTTP_405_METHOD_NOT_ALLOWED, _method_not_allowed)
    for error in STORE_ERRORS:
        app.add_exception_handler(error, _store_error)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Where and what, without the offending input: it may be a password, or a megabyte of ids.
    return JSONResponse({"detail": [_without_input(error) for error in exc.errors()]}, status_code=422)


def _without_input(error: dict) -> dict:
    location = list(error["loc"])
    if error["type"] == "extra_forbidden":
        location = location[:-1]  # the unknown field's name is the client's input
    return {"loc": location, "msg": error["msg"], "type": error["type"]}


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's Allow names the methods of the first route whose path matched; a path served by several
    # routes (PUT and DELETE /location/shared_with/{user_name}) supports all of theirs.
    path = request.url.path
    methods = {spec.method for spec in route_table() if compile_path(spec.path)[0].match(path)}
    return JSONResponse(
        {"detail": "method not allowed"},
        status_code=status.HTTP_405_METHOD_NOT_ALLOWED,
        headers={"Allow": ", ".join(sorted(methods))},
    )


async def _store_error(request: Request, exc: Exception) -> JSONResponse:
    status_code, detail = STORE_ERRORS[type(exc)]
    headers = {"WWW-Authenticate": "Bearer"} if status_code == status.HTTP_401_UNAUTHORIZED else None
    return JSONResponse({"detail": detail}, status_code=status_code, headers=headers)


class BodyLimit:
    """Refuse request bodies over the limit with a JSON 413: at once when Content-Length says so, and while
    reading when a body without one grows too large. (FastAPI's own `max_body_size` answers the first case
    in plain text, from outside the app's exception handlers.)"""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            response = JSONResponse({"detail": TOO_LARGE}, status_code=status.HTTP_413_CONTENT_TOO_LARGE)
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=TOO_LARGE)
            return message

        await self.app(scope, receive_within_limit, send)
