"""The rendered pipeline templates against the repository: what starts each pipeline, what its actions pass
on, and what its buildspec runs. The emulated runs are in test_pipelines_emulated.py."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.pipelines_support import PROJECT_ROOT, buildspec, glob_regex, pipeline_trigger, push_starts
from troposphere_templates.config import PIPELINE_KINDS, ProjectConfig
from troposphere_templates.pipelines import pipeline_template

IMAGE_PIPELINES = {"api": "update", "authorizer": "update-lambda"}


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    return {kind: pipeline_template(ProjectConfig(), kind).to_dict() for kind in PIPELINE_KINDS}


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return [path for path in listed.stdout.splitlines() if (PROJECT_ROOT / path).is_file()]


def dockerfile_sources(target: str) -> set[str]:
    """The repository paths a Dockerfile target is built from: its stages' COPY sources, following
    `COPY --from=<stage>` and `FROM <stage>` to the stages it uses."""
    stages: dict[str, tuple[list[str], set[str]]] = {}
    current = ""
    for line in (PROJECT_ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["FROM"]:
            current = words[-1] if "AS" in words else words[1]
            stages[current] = ([], {words[1]} & set(stages))
        elif words[:1] == ["COPY"]:
            copied, used = stages[current]
            if words[1].startswith("--from="):
                used.add(words[1].removeprefix("--from="))
            else:
                copied.extend(word for word in words[1:-1] if not word.startswith("--"))
    sources, todo = {"Dockerfile"}, [target]
    while todo:
        copied, used = stages[todo.pop()]
        sources.update(copied)
        todo.extend(used)
    return sources


def files_under(sources: set[str]) -> list[str]:
    return [p for p in tracked_files() if any(p == s or p.startswith(s.rstrip("/") + "/") for s in sources)]


@pytest.mark.parametrize("target", IMAGE_PIPELINES)
def test_every_file_an_image_is_built_from_starts_its_pipeline(templates, target):
    kind = IMAGE_PIPELINES[target]
    excluded = [glob_regex(p) for p in pipeline_trigger(templates[kind])["FilePaths"].get("Excludes", [])]
    files = files_under(dockerfile_sources(target)) + [f"buildspecs/{kind}.yml"]
    missed = [
        p for p in files if not push_starts(templates[kind], [p]) and not any(e.match(p) for e in excluded)
    ]
    assert missed == []


def test_what_the_update_pipeline_ignores_the_api_never_imports(templates):
    """The API image carries app/authorizer.py (it copies app/), but nothing in it imports the authorizer,
    so a change to it alone need not rebuild the API."""
    ignored = [glob_regex(p) for p in pipeline_trigger(templates["update"])["FilePaths"]["Excludes"]]
    modules = {
        p.removesuffix(".py").replace("/", ".")
        for p in files_under({"app"})
        if any(e.match(p) for e in ignored)
    }
    assert modules == {"app.authorizer"}
    importers = []
    for path in files_under({"app"}):
        if not path.endswith(".py") or path.removesuffix(".py").replace("/", ".") in modules:
            continue
        for node in ast.walk(ast.parse((PROJECT_ROOT / path).read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if modules & set(names):
                importers.append(path)
    assert importers == []


@pytest.mark.parametrize(
    ("changed", "started"),
    [
        (["README.md"], set()),
        (["tests/test_api_users.py", "bench/run.py", "lifecycle/clean.py", "tasks.py"], set()),
        (["app/authorizer.py"], {"update-lambda"}),
        (["app/core/tokens.py"], {"update", "update-lambda"}),
        (["app/core/db.py"], {"update"}),
        (["migrations/versions/0001_initial.py"], {"update"}),
        (["app/api/routes/users.py"], {"create", "update"}),
        (["troposphere_templates/app.py"], {"create"}),
        (["troposphere_templates/prices.json", "buildspecs/create.yml"], {"create"}),
        (["Dockerfile"], {"update", "update-lambda"}),
    ],
)
def test_each_pipeline_starts_only_for_what_it_deploys(templates, changed, started):
    assert {kind for kind, template in templates.items() if push_starts(template, changed)} == started


def test_triggers_watch_the_branch_within_codepipelines_limits(templates):
    for kind, template in templates.items():
        push = pipeline_trigger(template)
        assert push["Branches"] == {"Includes": [{"Ref": "Branch"}]}
        for patterns in push["FilePaths"].values():
            # GitFilePathFilterCriteria: 1 to 8 patterns of at most 255 characters (CodePipeline API ref.).
            assert 1 <= len(patterns) <= 8 and all(len(p) <= 255 for p in patterns), kind
        [trigger] = template["Resources"]["Pipeline"]["Properties"]["Triggers"]
        source_actions = template["Resources"]["Pipeline"]["Properties"]["Stages"][0]["Actions"]
        assert trigger["GitConfiguration"]["SourceActionName"] == source_actions[0]["Name"]
        assert template["Resources"]["Pipeline"]["Properties"]["PipelineType"] == "V2"


def test_every_artifact_is_produced_before_it_is_consumed_and_declared_where_produced(templates):
    for kind, template in templates.items():
        produced: set[str] = set()
        for stage in template["Resources"]["Pipeline"]["Properties"]["Stages"]:
            for action in stage["Actions"]:
                consumed = {a["Name"] for a in action.get("InputArtifacts", [])}
                assert consumed <= produced, (kind, action["Name"], consumed - produced)
                declared = {a["Name"] for a in action.get("OutputArtifacts", [])}
                if action["ActionTypeId"]["Provider"] == "CodeBuild":
                    # A CodeBuild action's one output is its buildspec's `artifacts` section.
                    assert bool(declared) == ("artifacts" in buildspec(kind)), (kind, action["Name"])
                produced |= declared


def test_buildspecs_run_invoke_tasks_that_exist():
    listed = subprocess.run(
        [sys.executable, "-m", "invoke", "--list"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    tasks = set(re.findall(r"^\s+([a-z][a-z-]*)", listed.stdout, re.MULTILINE))
    for kind in PIPELINE_KINDS:
        for command in buildspec(kind)["phases"]["build"]["commands"]:
            if command.startswith("export "):
                continue
            words = command.split()
            assert words[0] == "invoke" and words[1] in tasks, (kind, command)
