"""Throttle guards for the routes that run bcrypt for anyone: log-in and sign-up (see app/throttle.py).

The client address is the TCP peer's, unless the peer is a trusted proxy (FORWARDED_ALLOW_IPS, empty by
default): then uvicorn's proxy-headers middleware has already replaced it with the address the proxy put in
X-Forwarded-For (app/server.py). On AWS the trusted proxies are the VPC link's network interfaces; that is
safe only because the task's security group accepts traffic from the VPC link's security group alone, so
nobody else can reach the task and write that header.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from app.throttle import Throttle, Throttled

UNKNOWN_CLIENT = "unknown"


def client_address(request: Request) -> str:
    return request.client.host if request.client else UNKNOWN_CLIENT


def too_many(exc: Throttled) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"too many attempts: try again in {exc.retry_after} s",
        headers={"Retry-After": str(exc.retry_after)},
    )


def _throttle(request: Request) -> Throttle:
    return request.app.state.throttle


async def guard_login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> AsyncIterator[None]:
    try:
        attempt = await _throttle(request).begin_login(form.username, client_address(request))
    except Throttled as exc:
        raise too_many(exc) from None
    # The route raises on bad credentials, which ends this generator here: the charge stands as a failure.
    yield
    await _throttle(request).login_succeeded(attempt)


async def guard_signup(request: Request) -> None:
    try:
        await _throttle(request).begin_signup(client_address(request))
    except Throttled as exc:
        raise too_many(exc) from None


# What app/api/route_table.py looks for to give these routes stricter throttles at API Gateway.
GUARDS = (guard_login, guard_signup)

# scope="function": the success is recorded before the response leaves, so the next request sees it.
LoginGuard = Depends(guard_login, scope="function")
SignupGuard = Depends(guard_signup)
