"""checkov, the policy scanner the template tests run, in a virtual environment of its own.

checkov pins an exact boto3 (1.35.49 for checkov 3.3.30) far older than the project's, so it cannot live in
the project's environment. Part of the set-up (`.ci/run`, the README's quick start); the tests only use it:

    python -m devtools.checkov      # creates .venv-checkov/ with the pinned checkov, once
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The version the templates' checkov skips were reviewed against; a new one may add checks, so it is a choice.
VERSION = "3.3.30"
REQUIREMENT = f"checkov=={VERSION}"
VENV = Path(__file__).resolve().parent.parent / ".venv-checkov"
EXECUTABLE = VENV / "bin" / "checkov"


def installed_version() -> str | None:
    """From the package metadata: asking checkov itself takes seconds."""
    if not EXECUTABLE.exists():
        return None
    found = sorted(VENV.glob("lib/python*/site-packages/checkov-*.dist-info"))
    return found[-1].name.removeprefix("checkov-").removesuffix(".dist-info") if found else None


def _isolated() -> dict[str, str]:
    """The environment without PYTHONPATH, so the project's own modules never shadow checkov's."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def install() -> str:
    if installed_version() == VERSION:
        return f"checkov {VERSION}: already in {VENV}"
    print(f"installing {REQUIREMENT} into {VENV} (about a minute, once)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, REQUIREMENT], check=True, env=_isolated())
    return f"checkov {installed_version()}: installed in {VENV}"


if __name__ == "__main__":
    try:
        print(install())
    except subprocess.CalledProcessError as exc:
        sys.exit(f"error: installing {REQUIREMENT} failed (exit code {exc.returncode}, see above)")
