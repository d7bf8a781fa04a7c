"""The app's routes as the gateway needs them, read from the app's routers once per change of its code.

The gateway's routes come from the app's own routers (app/api/route_table.py), so the two cannot drift apart.
Reading the routers means importing the whole app (FastAPI, SQLAlchemy, every route module): about 0.7 s
of CPU, two thirds of a render, paid by every `invoke render`, `deploy`, `diff` and `cost`. The table only
changes when the app's code does, so it is kept in the user's cache folder under a digest of every source
file of the app and of the FastAPI version that reads them. Any change to the app gives a new digest, and the
next render reads the routers again; a missing, unreadable or damaged cache entry is the same as no entry.
Nothing here can make a render differ from one that reads the routers itself (tests/test_routes_cache.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import app as app_package
from app.api.route_table import RouteSpec, guarded_route_keys, route_table

FORMAT = 1  # bump when the cached JSON's shape changes
APP_ROOT = Path(app_package.__file__).resolve().parent


@dataclass(frozen=True)
class GatewayRoutes:
    routes: tuple[RouteSpec, ...]  # every (method, path) the app serves, sorted
    guarded: tuple[str, ...]  # the route keys that run bcrypt for anyone (log-in, sign-up), sorted

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "routes": [[r.method, r.path, r.protected] for r in self.routes],
                "guarded": list(self.guarded),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> GatewayRoutes | None:
        """The routes a cache entry holds; None when it is not one this version wrote."""
        try:
            data = json.loads(text)
            if data["format"] != FORMAT:
                return None
            routes = tuple(RouteSpec(str(m), str(p), bool(protected)) for m, p, protected in data["routes"])
            return cls(routes, tuple(str(key) for key in data["guarded"]))
        except (ValueError, KeyError, TypeError):
            return None


def read_routers() -> GatewayRoutes:
    """The routes from the app's routers themselves (imports the app)."""
    return GatewayRoutes(tuple(route_table()), tuple(guarded_route_keys()))


def source_digest(root: Path = APP_ROOT) -> str:
    """A digest of every Python file under `root` (names and contents) and of the FastAPI version."""
    digest = hashlib.sha256(f"{FORMAT}\0fastapi {metadata.version('fastapi')}\0".encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def cache_folder() -> Path | None:
    """$XDG_CACHE_HOME/ecs1, else ~/.cache/ecs1; None when there is no home to keep it in."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no HOME and no password entry
            return None
    return Path(base) / "ecs1"


def gateway_routes(folder: Path | None = None, root: Path = APP_ROOT) -> GatewayRoutes:
    """The app's routes: from the cache when it holds the current code's, else from the routers (and kept)."""
    folder = folder or cache_folder()
    if folder is None:
        return read_routers()
    entry = folder / f"routes-{source_digest(root)}.json"
    try:
        cached = GatewayRoutes.from_json(entry.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        cached = None
    if cached is not None:
        return cached
    routes = read_routers()
    partial = folder / f"{entry.name}.{os.getpid()}.tmp"
    try:  # written whole or not at all: a render running at the same time never reads half an entry
        folder.mkdir(parents=True, exist_ok=True)
        partial.write_text(routes.to_json(), encoding="utf-8")
        os.replace(partial, entry)
    except OSError:  # a read-only or full cache folder only costs the next render the same time again
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return routes
