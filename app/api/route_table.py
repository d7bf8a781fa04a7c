"""The app's route table, as the infrastructure sees it.

API Gateway's routes are generated from this list, so the gateway and the app cannot drift apart: a route
is protected (the Lambda authorizer runs first) exactly when one of its dependencies is `bearer_scheme`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter
    from fastapi.dependencies.models import Dependant

# FastAPI and the app are imported where the routers are read, not here: `RouteSpec` alone is what a render
# needs when it finds the table in its cache (troposphere_templates/routes.py), and importing the app costs
# most of a render's time.


@dataclass(frozen=True, order=True)
class RouteSpec:
    method: str
    path: str
    protected: bool

    @property
    def route_key(self) -> str:
        """API Gateway's `ANY /path/{param}` form; FastAPI's path syntax is already the same."""
        return f"{self.method} {self.path}"


def _requires_bearer(dependant: Dependant) -> bool:
    from app.api.deps import bearer_scheme

    return any(dep.call is bearer_scheme or _requires_bearer(dep) for dep in dependant.dependencies)


def route_table(routers: Iterable[APIRouter] | None = None) -> list[RouteSpec]:
    """Every (method, path) the app serves, from the routers `app.main` includes."""
    from fastapi.routing import APIRoute

    if routers is None:
        from app.main import ROUTERS

        routers = ROUTERS
    specs = {
        RouteSpec(method=method, path=route.path, protected=_requires_bearer(route.dependant))
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
        if method != "HEAD"
    }
    return sorted(specs)


def _guarded(dependant: Dependant) -> bool:
    from app.api.guards import GUARDS

    return any(dep.call in GUARDS or _guarded(dep) for dep in dependant.dependencies)


def guarded_route_keys(routers: Iterable[APIRouter] | None = None) -> list[str]:
    """The routes that run bcrypt for anyone (log-in, sign-up): the gateway throttles them harder."""
    from fastapi.routing import APIRoute

    if routers is None:
        from app.main import ROUTERS

        routers = ROUTERS
    keys = {
        f"{method} {route.path}"
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and _guarded(route.dependant)
        for method in route.methods or ()  # APIRoute always sets methods; Starlette's type allows None
        if method != "HEAD"
    }
    return sorted(keys)
