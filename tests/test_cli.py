"""The command line's traps, each tried as a user meets it: `invoke` as a process, without a terminal."""

from __future__ import annotations

import os
import pty
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.support import PROJECT_ROOT, sqlite_url

pytestmark = pytest.mark.slow  # see conftest.py

CONNECTION = "arn:aws:codeconnections:us-east-1:123456789012:connection/0a1b2c3d-4e5f-6789-abcd-ef0123456789"


def clean_env(**extra: str) -> dict[str, str]:
    """The user's environment without this project's settings or real AWS credentials."""
    prefixes = ("ECS1_", "AWS_", "DATABASE_", "SQLITE_", "JWT_", "ADMIN_", "APP_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", **extra}


def invoke(
    *args: str, cwd: Path = PROJECT_ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`invoke <args>` run from `cwd` (tasks.py is found in the project root whatever the folder)."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(PROJECT_ROOT), *args],
        cwd=cwd,
        env=env or clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def task_names() -> list[str]:
    listing = invoke("--list").stdout
    return re.findall(r"^  (\S+)", listing, flags=re.MULTILINE)


def every_task_help(names: list[str]) -> dict[str, str]:
    """`invoke --help NAME` for every task, in one process: the program object the `invoke` command runs,
    called once per name (a process per task cost a second of start-up each)."""
    marker = "=== help of "
    script = (
        "import sys\n"
        "from invoke.main import program\n"
        "for name in sys.argv[2:]:\n"
        f"    print({marker!r} + name, flush=True)\n"
        "    program.run(['invoke', '--search-root', sys.argv[1], '--help', name], exit=False)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(PROJECT_ROOT), *names],
        cwd=PROJECT_ROOT,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    sections = result.stdout.split(marker)[1:]
    return {section.split("\n", 1)[0]: section.split("\n", 1)[1] for section in sections}


def test_no_task_has_short_flags_and_dash_h_is_help() -> None:
    """With automatic short flags `-r` meant --repository, --region, --revision, --repeat or --reload, and
    `invoke serve -h` was --host missing its value."""
    names = task_names()
    assert {"serve", "deploy", "migrate", "bench", "push"} <= set(names)
    helps = every_task_help(names)
    assert list(helps) == names
    assert helps["deploy"] == invoke("--help", "deploy").stdout, "the same help as the command prints"
    for name, usage in helps.items():
        assert f"Usage: inv[oke] [--core-opts] {name} " in usage, name
        options = [
            line.strip() for line in usage.split("Options:")[-1].splitlines() if line.strip().startswith("-")
        ]
        assert options, name
        for option in options:
            assert not re.match(r"-\w[ ,]+--", option), f"{name}: {option}"
    serve_help = invoke("serve", "-h")
    assert serve_help.returncode == 0, serve_help.stderr
    assert "--host=STRING" in serve_help.stdout and "--port=STRING" in serve_help.stdout


def test_cost_of_a_missing_template_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """A typo used to re-render the defaults there (for a bare name, five files into the current folder)."""
    for typo in ("app", str(tmp_path / "templates" / "ap.json")):
        line = one_error_line(invoke("cost", "--template", typo, cwd=tmp_path))
        assert (
            line
            == f"error: {typo} does not exist: render it (invoke render --out <folder>) or leave out "
            + ("--template")
        )
    assert list(tmp_path.iterdir()) == []


def test_cost_without_rendered_templates_reports_the_default_configuration_and_writes_nothing(
    tmp_path: Path,
) -> None:
    user_folder = tmp_path / "project"
    user_folder.mkdir()
    result = invoke("cost", cwd=user_folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(
        "Fixed monthly cost at idle of the default configuration (no build/templates/app.json"
    )
    assert list(user_folder.iterdir()) == []
    # The same total as the default configuration rendered on purpose.
    rendered = tmp_path / "rendered"
    assert invoke("render", "--out", str(rendered)).returncode == 0
    explicit = invoke("cost", "--template", str(rendered / "app.json"))
    assert explicit.returncode == 0, explicit.stderr
    assert lines[-1] == explicit.stdout.strip().splitlines()[-1]


def test_stand_in_images_against_a_remote_endpoint_refuse_before_any_aws_call(tmp_path: Path) -> None:
    """The endpoint cannot be reached (.invalid never resolves): any AWS call made before refusing, such as
    creating the repository or the bucket, would end in a connection error instead of this refusal."""
    env = clean_env(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    result = invoke(
        "deploy",
        "--stand-in-images",
        "--stack",
        "app",
        "--endpoint-url",
        "https://aws.example.invalid",
        "--out",
        str(tmp_path),
        env=env,
    )
    assert one_error_line(result) == (
        "error: --stand-in-images is for the local emulator only: set AWS_ENDPOINT_URL=http://127.0.0.1:<port>"
    )


def test_a_connection_arn_of_the_wrong_shape_is_refused_at_render(tmp_path: Path) -> None:
    line = one_error_line(invoke("render", "--connection-arn", "bogus", "--out", str(tmp_path)))
    assert line.startswith("error: the connection ARN must look like arn:aws:codeconnections:REGION:ACCOUNT:")
    assert line.endswith("(set by --connection-arn)")
    assert list(tmp_path.iterdir()) == []
    for arn in (CONNECTION, CONNECTION.replace("codeconnections", "codestar-connections")):
        accepted = invoke("render", "--connection-arn", arn, "--out", str(tmp_path / "ok"))
        assert accepted.returncode == 0, accepted.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deploy", "--cpu", "abc"], "error: --cpu must be a whole number, not 'abc'"),
        (["render", "--memory", "lots"], "error: --memory must be a whole number, not 'lots'"),
        (["serve", "--port", "eighty"], "error: --port must be a whole number, not 'eighty'"),
        (["bench", "--duration", "5s"], "error: --duration must be a whole number, not '5s'"),
    ],
)
def test_a_number_option_that_is_not_a_number_is_one_line(args: list[str], message: str) -> None:
    assert one_error_line(invoke(*args)) == message


def test_config_errors_name_the_variable_or_the_option_they_came_from(tmp_path: Path) -> None:
    from_env = invoke("render", "--out", str(tmp_path), env=clean_env(ECS1_ARCHITECTURE="arm"))
    assert (
        one_error_line(from_env)
        == "error: architecture must be ARM64 or X86_64, not 'arm' (set by ECS1_ARCHITECTURE)"
    )
    mixed = invoke("render", "--cpu", "1024", "--out", str(tmp_path), env=clean_env(ECS1_MEMORY="1024"))
    assert one_error_line(mixed).endswith("(set by --cpu, ECS1_MEMORY)")
    journal = invoke(
        "migrate", env=clean_env(SQLITE_JOURNAL="wal", DATABASE_URL=sqlite_url(tmp_path / "a.db"))
    )
    assert (
        one_error_line(journal)
        == "error: configuration: SQLITE_JOURNAL: Input should be 'wal-exclusive' or 'delete'"
    )
    assert list(tmp_path.iterdir()) == []


def tables(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as connection:
        # SQLite's own tables (sqlite_sequence, kept by AUTOINCREMENT) are not the app's data.
        query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        return {row[0] for row in connection.execute(query)}


def test_migrating_down_asks_first_and_refuses_without_a_terminal(tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    url = sqlite_url(database)
    assert invoke("migrate", "--database-url", url).returncode == 0
    assert "users" in tables(database)

    refused = invoke("migrate", "--database-url", url, "--revision", "base")
    assert one_error_line(refused) == (
        "error: refusing to migrate down without confirmation: no terminal to ask on; pass --yes"
    )
    assert "users" in tables(database), "nothing dropped"

    # On a terminal it asks; anything but 'yes' keeps the data.
    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"no\n")
        asked = subprocess.run(
            [sys.executable, "-m", "invoke", "migrate", "--database-url", url, "--revision", "base"],
            cwd=PROJECT_ROOT,
            env=clean_env(),
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert f"this migrates {url} down to base" in asked.stdout and "Type 'yes' to continue" in asked.stdout
    assert one_error_line(asked) == "error: did not migrate down: not confirmed"
    assert "users" in tables(database)

    down = invoke("migrate", "--database-url", url, "--revision", "base", "--yes")
    assert down.returncode == 0 and "at revision base" in down.stdout, down.stderr
    assert tables(database) == {"alembic_version"}
    assert invoke("migrate", "--database-url", url, "--revision", "base").returncode == 0, (
        "nothing left to ask"
    )


def test_migrations_use_the_journal_the_app_is_configured_with(tmp_path: Path) -> None:
    """A `.env` that sets SQLITE_JOURNAL=delete gives the migrations the app's journal (they used to read the
    environment alone, and left the file in WAL mode)."""
    database = tmp_path / "app.db"
    (tmp_path / ".env").write_text("SQLITE_JOURNAL=delete\n")
    result = invoke("migrate", cwd=tmp_path, env=clean_env(DATABASE_URL=sqlite_url(database)))
    assert result.returncode == 0, result.stderr
    assert "users" in tables(database)
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
