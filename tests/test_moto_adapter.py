"""local_aws reaches moto's internals through local_aws/moto_adapter.py only, and only on the tested moto."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from local_aws import moto_adapter
from tests.support import PROJECT_ROOT

LOCAL_AWS = PROJECT_ROOT / "local_aws"


def test_the_dev_extra_pins_the_moto_the_adapter_is_tested_with() -> None:
    dev = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "dev"
    ]
    (moto,) = [requirement for requirement in dev if requirement.startswith("moto")]
    assert re.fullmatch(r"moto\[[a-z,]+\]==(\d+\.\d+)\.\*", moto), moto
    assert moto.endswith(f"=={moto_adapter.TESTED_MOTO}.*")
    assert moto_adapter.MOTO_VERSION.startswith(f"{moto_adapter.TESTED_MOTO}."), (
        "the installed moto is tested"
    )


def moto_imports(module: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(module.read_text())):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [name for name in names if name.split(".")[0] == "moto"]
    return found


def test_no_other_module_imports_moto_internals() -> None:
    """The emulator's other modules import nothing of moto; the tests and tools only its public server."""
    offenders = [
        f"{module.name}: {name}"
        for module in sorted(LOCAL_AWS.glob("*.py"))
        if module.name != "moto_adapter.py"
        for name in moto_imports(module)
    ]
    root = LOCAL_AWS.parent
    for folder in ("tests", "bench", "devtools", "lifecycle", "app", "troposphere_templates"):
        for module in sorted((root / folder).rglob("*.py")):
            offenders += [f"{module.name}: {name}" for name in moto_imports(module) if name != "moto.server"]
    assert offenders == [], "import moto's internals through local_aws/moto_adapter.py"


def test_another_moto_is_refused_in_one_line() -> None:
    with pytest.raises(moto_adapter.UnsupportedMoto) as refused:
        moto_adapter.check_version("5.3.0")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("moto 5.3.0 is installed but the local AWS emulator is tested with moto 5.2")
    assert message.endswith("pip install 'moto[server,cloudformation]==5.2.*'")


def test_replacing_what_moto_no_longer_has_fails_loudly() -> None:
    class Model:
        def create(self) -> None: ...

    moto_adapter.patch(Model, "create", lambda self: None)
    with pytest.raises(moto_adapter.UnsupportedMoto, match=r"has no Model\.renamed any more"):
        moto_adapter.patch(Model, "renamed", lambda self: None)
    moto_adapter.patch(Model, "delete", lambda self: None, new=True)  # what moto lacks is added
    assert hasattr(Model, "delete")


@pytest.mark.slow
def test_invoke_local_aws_on_an_untested_moto_is_one_line(tmp_path: Path) -> None:
    """A stand-in `moto` package that reports another version, first on the path: the check runs before any
    of moto's internals is imported, so nothing else of it is needed."""
    (tmp_path / "moto").mkdir()
    (tmp_path / "moto" / "__init__.py").write_text('__version__ = "5.3.0"\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT_ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "local-aws", "--port", "0"],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: moto 5.3.0 is installed but the local AWS emulator is tested with moto 5.2: "
        "pip install 'moto[server,cloudformation]==5.2.*'"
    ]
