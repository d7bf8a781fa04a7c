"""The architecture picture in docs/ stays the picture of the application template: it is drawn again from a
fresh render of the default configuration with the real `aws-cfn-diagrams` and Graphviz, and the resources
and arrows must be the same as in the committed SVG (layout and bytes may differ between Graphviz
versions)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from lifecycle.diagram import draw, graph_of
from tests.lifecycle_support import PROJECT_ROOT
from troposphere_templates.config import ProjectConfig
from troposphere_templates.render import render_all

COMMITTED = PROJECT_ROOT / "docs" / "architecture.svg"


@pytest.fixture(autouse=True)
def graphviz() -> None:
    """Graphviz is a Debian package, not a Python one: a machine without it skips the drawing, CI must not."""
    if shutil.which("dot") is None:
        reason = "Graphviz is not installed (no `dot` command): apt-get install graphviz"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (CI requires it)", pytrace=False)
        pytest.skip(reason)


@pytest.mark.slow
def test_the_committed_diagram_shows_every_resource_of_the_template_and_its_links(tmp_path: Path) -> None:
    template = next(p for p in render_all(ProjectConfig(), tmp_path / "templates") if p.name == "app.json")
    svg, png = draw(template, tmp_path / "docs")
    assert png.read_bytes().startswith(b"\x89PNG")
    fresh_nodes, fresh_edges = graph_of(svg.read_text())
    committed_nodes, committed_edges = graph_of(COMMITTED.read_text())
    stale = "docs/architecture.svg is out of date: run `invoke render` then `invoke diagram` and commit docs/"
    assert (fresh_nodes, fresh_edges) == (committed_nodes, committed_edges), stale

    resources = json.loads(template.read_text())["Resources"]
    drawn = {node.removeprefix("resource_") for node in fresh_nodes}
    # The package leaves out what is not a thing of its own in a picture (routes to the internet, rules).
    assert {"Service", "TaskDefinition", "HttpApi", "AuthorizerFunction", "FileSystem", "Vpc"} <= drawn
    assert drawn <= set(resources)
    assert fresh_edges, "the links between resources are drawn"


def test_the_readme_shows_the_diagram() -> None:
    assert "](docs/architecture.png)" in (PROJECT_ROOT / "README.md").read_text()
    assert (PROJECT_ROOT / "docs" / "architecture.png").read_bytes().startswith(b"\x89PNG")
