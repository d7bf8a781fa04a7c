"""The route table a render caches (troposphere_templates/routes.py) is always the app's current one.

The gateway's routes must equal the app's: the cache may only save the time of importing the app, never
serve a table that an edit to the app has changed. Real parts: the app's own routers, a copy of its source
tree, real files in a temporary cache folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.api.route_table import guarded_route_keys, route_table
from troposphere_templates import routes
from troposphere_templates.routes import GatewayRoutes, gateway_routes, source_digest


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("routes-*.json"))


def test_the_first_render_reads_the_routers_and_later_ones_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = gateway_routes(tmp_path)
    assert first == GatewayRoutes(tuple(route_table()), tuple(guarded_route_keys()))
    assert "POST /auth/token" in first.guarded and any(r.protected for r in first.routes)
    [entry] = entries(tmp_path)

    def no_import() -> GatewayRoutes:
        raise AssertionError("read the routers although the cache holds the current table")

    monkeypatch.setattr(routes, "read_routers", no_import)
    assert gateway_routes(tmp_path) == first
    assert entries(tmp_path) == [entry]


@pytest.mark.parametrize(
    "edit",
    ["change a route module", "add a module", "rename a module", "change a package's __init__"],
)
def test_any_edit_to_the_apps_source_changes_the_key(tmp_path: Path, edit: str) -> None:
    source = Path(routes.APP_ROOT)
    copy = tmp_path / "app"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_digest(copy)
    assert source_digest(copy) == before  # the same tree, the same key
    users = copy / "api" / "routes" / "users.py"
    if edit == "change a route module":
        users.write_text(users.read_text().replace('"/users', '"/people', 1))
    elif edit == "add a module":
        (copy / "api" / "routes" / "extra.py").write_text("")
    elif edit == "rename a module":
        users.rename(users.with_name("members.py"))
    else:
        init = copy / "api" / "__init__.py"
        init.write_text(init.read_text() + "\n")
    assert source_digest(copy) != before


@pytest.mark.parametrize(
    "content",
    [b"", b"{not json", b'{"format": 0, "routes": [], "guarded": []}', b'{"format": 1}', b"\xff\xfe"],
    ids=["empty", "not json", "an older format", "missing fields", "not text"],
)
def test_a_damaged_or_foreign_entry_is_read_again_and_replaced(tmp_path: Path, content: bytes) -> None:
    entry = tmp_path / f"routes-{source_digest()}.json"
    entry.write_bytes(content)
    table = gateway_routes(tmp_path)
    assert table.routes == tuple(route_table())
    assert GatewayRoutes.from_json(entry.read_text()) == table


def test_a_cache_folder_that_cannot_be_written_still_renders(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert gateway_routes(blocked / "ecs1").routes == tuple(route_table())


def test_the_cache_folder_follows_xdg_and_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert routes.cache_folder() == tmp_path / "xdg" / "ecs1"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert routes.cache_folder() == tmp_path / "home" / ".cache" / "ecs1"
