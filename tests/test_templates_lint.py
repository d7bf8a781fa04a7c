"""Quality gates on the rendered templates: cfn-lint (no errors, no warnings) and checkov (no failed check,
every skip named in the resource's Metadata with a reason).

checkov pins an old boto3, so it lives in a virtual environment of its own at `.venv-checkov/` (gitignored),
created on first use from PyPI; the test is skipped only when PyPI cannot be reached to create it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from functools import cache
from pathlib import Path

import pytest

from tests.templates_support import (
    CONFIGS,
    PROJECT_ROOT,
    TEMPLATE_NAMES,
    load,
    render_every_config,
    rendered_dir,
)

CFN_LINT = Path(sys.executable).parent / "cfn-lint"  # the project environment's cfn-lint
CHECKOV_VENV = PROJECT_ROOT / ".venv-checkov"
CHECKOV = CHECKOV_VENV / "bin" / "checkov"


@cache
def cfn_lint_run() -> tuple[list[dict], int, str]:
    """cfn-lint over every template of every configuration at once (its start-up dominates a run)."""
    files = [str(rendered_dir(config) / name) for config in sorted(CONFIGS) for name in TEMPLATE_NAMES]
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return json.loads(result.stdout), result.returncode, result.stderr


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


def _pypi_reachable() -> bool:
    try:
        urllib.request.urlopen("https://pypi.org/simple/checkov/", timeout=10).close()  # noqa: S310 (fixed https URL)
    except OSError:
        return False
    return True


def checkov_executable() -> Path:
    """The checkov of `.venv-checkov/`, created once (about a minute) when it is missing."""
    if CHECKOV.exists():
        return CHECKOV
    if not _pypi_reachable():
        pytest.skip("checkov's virtual environment is missing and PyPI is unreachable to create it")
    subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True, timeout=120)
    subprocess.run(
        [str(CHECKOV_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "checkov"],
        check=True,
        timeout=900,
    )
    return CHECKOV


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
    """checkov over every configuration's folder at once (about 20 s of start-up saved per configuration)."""
    result = subprocess.run(
        [
            str(checkov_executable()),
            "--directory",
            str(render_every_config()),
            "--framework",
            "cloudformation",
            "--skip-download",  # no Prisma Cloud calls: the built-in checks only
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return json.loads(result.stdout)


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
