"""`invoke diagram`: the application stack drawn from its rendered template, as SVG and PNG.

The drawing is done by the `aws-cloudformation-diagrams` package (its `aws-cfn-diagrams` command: AWS icons
from the `diagrams` package, laid out by Graphviz, which must be installed: `apt-get install graphviz`). The
SVG embeds its icons, so it shows the same anywhere and refers to nothing outside the repository.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from lifecycle.errors import LifecycleError

COMMAND = "aws-cfn-diagrams"
FORMATS = ("svg", "png")
DIAGRAM_NAME = "architecture"
_TITLE = re.compile(r'<g id="(?:node|edge)\d+" class="(node|edge)">\s*<title>([^<]*)</title>')


def _command() -> str:
    """The package's command from this Python's environment (a venv's bin/ need not be on PATH)."""
    beside = Path(sys.executable).parent / COMMAND
    found = str(beside) if beside.exists() else shutil.which(COMMAND)
    if not found:
        raise LifecycleError(
            f"{COMMAND} not found: install the dev dependencies (python -m pip install -e '.[dev]')"
        )
    if not shutil.which("dot"):
        raise LifecycleError("Graphviz is not installed (no `dot` command): apt-get install graphviz")
    return found


def draw(template: Path, out_dir: Path, name: str = DIAGRAM_NAME) -> list[Path]:
    """Write `<name>.svg` and `<name>.png` of `template` into `out_dir`; return their paths."""
    command = _command()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in FORMATS:
        path = out_dir / f"{name}.{kind}"
        extra = ["--embed-all-icons"] if kind == "svg" else []
        result = subprocess.run(  # noqa: S603 (the package's own command, arguments are paths)
            [command, str(template), "--output", str(path), "--format", kind, *extra],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0 or not path.exists():
            output = (result.stderr or result.stdout).strip().splitlines()
            raise LifecycleError(
                f"{COMMAND} could not draw {template}: {output[-1] if output else 'no output'}"
            )
        written.append(path)
    return written


def graph_of(svg: str) -> tuple[set[str], set[str]]:
    """The nodes and edges of a Graphviz SVG, by their titles (resource ids and `a->b`)."""
    nodes: set[str] = set()
    edges: set[str] = set()
    for kind, title in _TITLE.findall(svg):
        title = title.replace("&#45;", "-").replace("&gt;", ">")
        (nodes if kind == "node" else edges).add(title)
    return nodes, edges
