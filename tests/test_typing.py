"""The type checker, as CI runs it: mypy with the configuration in pyproject.toml finds nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import PROJECT_ROOT

pytestmark = pytest.mark.slow  # see conftest.py


def test_mypy_finds_no_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found"), result.stdout
