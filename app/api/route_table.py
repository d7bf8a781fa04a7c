"""The app's route table, as the infrastructure sees it.

API Gateway's routes are generated from this list, so the gateway and the app cannot drift apart: a route
is protected (the Lambda authorizer runs first) exactly when one of its dependencies is `bearer_scheme`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute

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


def _served(routers: Iterable[APIRouter] | None) -> Iterator[tuple[str, APIRoute]]:
    """(method, route) for each method of each API route of `routers` (default: those `app.main` includes);
    HEAD, which comes with GET, is left out."""
    from fastapi.routing import APIRoute

    if routers is None:
        from app.main import ROUTERS

        routers = ROUTERS
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                # APIRoute always sets methods; Starlette's type allows None.
                yield from ((method, route) for method in route.methods or () if method != "HEAD")


def _depends_on(dependant: Dependant, marked: Callable[[Any], bool]) -> bool:
    """Whether the route's dependencies, at any depth, include a callable that `marked` picks."""
    return any(marked(dep.call) or _depends_on(dep, marked) for dep in dependant.dependencies)


def route_table(routers: Iterable[APIRouter] | None = None) -> list[RouteSpec]:
    """Every (method, path) the app serves, from the routers `app.main` includes."""
    from app.api.deps import bearer_scheme

    specs = {
        RouteSpec(method, route.path, _depends_on(route.dependant, lambda call: call is bearer_scheme))
        for method, route in _served(routers)
    }
    return sorted(specs)


def guarded_route_keys(routers: Iterable[APIRouter] | None = None) -> list[str]:
    """The routes that run bcrypt for anyone (log-in, sign-up): the gateway throttles them harder."""
    from app.api.guards import GUARDS

    keys = {
        f"{method} {route.path}"
        for method, route in _served(routers)
        if _depends_on(route.dependant, lambda call: call in GUARDS)
    }
    return sorted(keys)
