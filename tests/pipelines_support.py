"""Helpers for the pipeline tests: which pushes start a pipeline, and a buildspec run as CodeBuild runs it."""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import yaml

from tests import stand_in_docker

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUILDSPECS = PROJECT_ROOT / "buildspecs"


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A CodePipeline trigger glob as a regular expression, by the rules of "Working with glob patterns in
    syntax" (CodePipeline user guide): `**` crosses folders, `*` and `?` stay within one, `[...]` is a set,
    `{a,b}` a group, and a backslash escapes."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end
        elif char == "{":
            end = pattern.index("}", i)
            out.append("(" + "|".join(re.escape(part) for part in pattern[i + 1 : end].split(",")) + ")")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def pipeline_trigger(template: dict[str, Any]) -> dict[str, Any]:
    """The one push filter of a rendered pipeline template."""
    pipeline = template["Resources"]["Pipeline"]["Properties"]
    [trigger] = pipeline["Triggers"]
    [push] = trigger["GitConfiguration"]["Push"]
    return push


def push_starts(template: dict[str, Any], changed: list[str]) -> bool:
    """Whether a push changing these files starts the pipeline: a file matches an include and no exclude."""
    paths = pipeline_trigger(template)["FilePaths"]
    includes = [glob_regex(p) for p in paths.get("Includes", [])]
    excludes = [glob_regex(p) for p in paths.get("Excludes", [])]
    return any(
        any(i.match(path) for i in includes) and not any(e.match(path) for e in excludes) for path in changed
    )


def buildspec(kind: str) -> dict[str, Any]:
    return yaml.safe_load((BUILDSPECS / f"{kind}.yml").read_text())


def source_zip(repo: Path, commit: str, into: Path) -> Path:
    """What the CodeStarSourceConnection action hands CodeBuild (CODE_ZIP): the commit's files, no .git."""
    into.mkdir(parents=True)
    archive = into.with_suffix(".tar")
    subprocess.run(["git", "archive", "--output", str(archive), commit], cwd=repo, check=True)
    with tarfile.open(archive) as tar:
        # The "data" filter exists from Python 3.11.4 on (Debian 12's python3 is 3.11.2).
        tar.extractall(into, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))  # noqa: S202 (our own git archive)
    archive.unlink()
    return into


def codebuild_environment(
    template: dict[str, Any], account_id: str, region: str, commit: str, endpoint_url: str, credentials: dict
) -> dict[str, str]:
    """The environment CodeBuild gives the buildspec: the project's variables (as rendered), the commit, the
    region, and the build role's temporary credentials; nothing from this machine's AWS setup."""
    project = template["Resources"]["BuildProject"]["Properties"]
    variables = {}
    for variable in project["Environment"]["EnvironmentVariables"]:
        value = variable["Value"]
        variables[variable["Name"]] = account_id if value == {"Ref": "AWS::AccountId"} else value
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ECS1_", "DOCKER_"))}
    return {
        **inherited,
        **variables,
        "CODEBUILD_RESOLVED_SOURCE_VERSION": commit,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    }


def start_build(
    kind: str, source: Path, environment: dict[str, str], docker_folder: Path
) -> subprocess.Popen:
    """Run the buildspec's build phase in `source` as CodeBuild does: the commands in order in one bash shell,
    stopping at the first failure. Docker is the stand-in (no engine here); the install phase is skipped,
    since this machine has the dependencies already (the source comes first on the import path)."""
    script = "set -eo pipefail\n" + "\n".join(buildspec(kind)["phases"]["build"]["commands"])
    env = stand_in_docker.install(docker_folder, {**environment, "PYTHONPATH": str(source)})
    return subprocess.Popen(  # noqa: S603 (the buildspec's own commands, as CodeBuild runs them)
        ["bash", "-c", script],  # noqa: S607
        cwd=source,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
