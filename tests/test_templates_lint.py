"""Quality gates on the rendered templates: cfn-lint (no errors, no warnings) and checkov (no failed check,
every skip named in the resource's Metadata with a reason).

checkov pins an old boto3, so it lives in a virtual environment of its own at `.venv-checkov/` (gitignored),
which the project's set-up creates (`python -m devtools.checkov`); a test never installs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from devtools import checkov
from tests.templates_support import (
    CONFIGS,
    TEMPLATE_NAMES,
    load,
    render_every_config,
    rendered_dir,
)

pytestmark = pytest.mark.slow  # see conftest.py

CFN_LINT = Path(sys.executable).parent / "cfn-lint"  # the project environment's cfn-lint


@cache
def linters() -> dict[str, subprocess.Popen[str]]:
    """cfn-lint over every template of every configuration at once (its start-up dominates a run), and checkov
    over every configuration's folder at once (about 20 s of start-up saved per configuration): started
    together on first use, since each takes about 20 s on one core. checkov only when it is the reviewed
    version (its test says what to do otherwise)."""
    files = [str(rendered_dir(config) / name) for config in sorted(CONFIGS) for name in TEMPLATE_NAMES]
    commands = {"cfn-lint": [str(CFN_LINT), "--format", "json", *files]}
    if checkov.installed_version() == checkov.VERSION:
        commands["checkov"] = [
            str(checkov.EXECUTABLE),
            "--directory",
            str(render_every_config()),
            "--framework",
            "cloudformation",
            "--skip-download",  # no Prisma Cloud calls: the built-in checks only
            "--output",
            "json",
        ]
    pipe = subprocess.PIPE
    return {
        name: subprocess.Popen(command, stdout=pipe, stderr=pipe, text=True)
        for name, command in commands.items()
    }


@pytest.fixture(scope="module", autouse=True)
def no_linter_left_running() -> Iterator[None]:
    """A linter whose test was deselected does not outlive the file."""
    yield
    if linters.cache_info().currsize:
        for process in linters().values():
            if process.poll() is None:
                process.kill()
                process.communicate()


def finished(name: str, timeout: int) -> tuple[str, int, str]:
    """The linter's output, return code and errors (once: pytest's cache keeps the parsed results)."""
    process = linters()[name]
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return out, process.returncode, err


@cache
def cfn_lint_run() -> tuple[list[dict], int, str]:
    out, returncode, err = finished("cfn-lint", timeout=300)
    return json.loads(out), returncode, err


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_cfn_lint_finds_nothing(config: str) -> None:
    findings, returncode, stderr = cfn_lint_run()
    serious = [
        f"{f['Rule']['Id']} {f['Filename']}: {f['Message']}"
        for f in findings
        if f["Level"] != "Informational" and Path(f["Filename"]).parent == rendered_dir(config)
    ]
    assert serious == [], "\n".join(serious)
    assert returncode == 0, stderr or "cfn-lint found something in another configuration"


def checkov_executable() -> Path:
    version = checkov.installed_version()
    assert version == checkov.VERSION, (
        f"checkov is {version or 'not installed'}: run `python -m devtools.checkov` (part of the set-up)"
    )
    return checkov.EXECUTABLE


def declared_skips(config: str) -> dict[tuple[str, str, str], str]:
    """(file, resource id, check id) -> reason, from every resource's Metadata.checkov.skip."""
    skips = {}
    for name in TEMPLATE_NAMES:
        for logical_id, resource in load(config, name)["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                skips[(f"/{config}/{name}", logical_id, skip["id"])] = skip["comment"]
    return skips


@cache
def checkov_report() -> dict:
    checkov_executable()
    return json.loads(finished("checkov", timeout=600)[0])


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_checkov_passes_and_every_skip_is_justified_and_needed(config: str) -> None:
    report = checkov_report()
    assert report["summary"]["parsing_errors"] == 0

    def of_config(checks: list[dict]) -> list[dict]:
        return [c for c in checks if c["file_path"].startswith(f"/{config}/")]

    results = {kind: of_config(checks) for kind, checks in report["results"].items()}
    failed = [
        f"{c['check_id']} {c['resource']} {c['file_path']}: {c['check_name']}"
        for c in results["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    checked_files = {c["file_path"] for checks in results.values() for c in checks}
    assert checked_files == {f"/{config}/{name}" for name in TEMPLATE_NAMES}, "checkov missed a template"

    skipped = {
        (c["file_path"], c["resource"].split(".", 1)[1], c["check_id"]): c["check_result"].get(
            "suppress_comment"
        )
        for c in results["skipped_checks"]
    }
    declared = declared_skips(config)
    for key, reason in declared.items():
        assert reason and "\n" not in reason and len(reason) <= 110, f"{key}: a skip needs a one-line reason"
    # Every skip checkov applied comes from the metadata, and no metadata skip is stale.
    assert set(skipped) == set(declared)
    assert all(skipped.values())
