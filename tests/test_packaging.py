"""What the distribution ships imports only what a plain install (no dev extra) provides."""

from __future__ import annotations

import ast
import re
import tomllib

from setuptools import find_packages

from tests.support import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _distribution_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def test_shipped_packages_import_no_dev_only_dependency() -> None:
    project = PYPROJECT["project"]
    runtime = {_distribution_name(r) for r in project["dependencies"]}
    dev_only = {_distribution_name(r) for r in project["optional-dependencies"]["dev"]} - runtime
    # Import names of the dev-only distributions this code could reach for.
    dev_modules = {name.replace("-", "_") for name in dev_only} | {"tests", "devtools", "local_aws"}
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    shipped = find_packages(where=str(PROJECT_ROOT), include=include)
    assert "app" in shipped and not {"local_aws", "devtools", "tests"} & set(shipped)
    offenders = []
    for package in shipped:
        for module in (PROJECT_ROOT / package.replace(".", "/")).glob("*.py"):
            for node in ast.walk(ast.parse(module.read_text())):
                names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names = [node.module]
                offenders += [
                    f"{module.relative_to(PROJECT_ROOT)}: {n}"
                    for n in names
                    if n.split(".")[0] in dev_modules
                ]
    assert offenders == []
