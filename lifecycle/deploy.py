"""`invoke deploy`: prerequisites, images when missing, then the pipeline stacks and the application stack."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lifecycle.aws import Aws
from lifecycle.errors import LifecycleError
from lifecycle.prerequisites import ensure_bucket, ensure_repository, missing_image_tags, tags_immutable
from lifecycle.progress import Progress
from lifecycle.stacks import Outcome, ParameterValues, StackResult, Stacks, stack_parameters
from troposphere_templates.config import (
    CLOUDFORMATION_ROLE_OUTPUT,
    IMAGE_TAG_PARAMETERS,
    ProjectConfig,
    image_tag_for,
)

STACK_CHOICES = ("app", "pipelines", "all")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
API_URL_OUTPUT = "ApiUrl"
# The emulator invents an execute-api URL as AWS would name it; no request to it reaches anything.
EMULATED_URL_NOTE = " (made up by the local emulator: nothing answers there)"


@dataclass
class DeployResult:
    stacks: list[StackResult]
    api_url: str | None
    seconds: float
    emulated: bool = False

    def summary(self) -> str:
        """The one closing line: what happened to each stack and where the API answers."""
        outcomes: dict[str, list[str]] = {}
        for result in self.stacks:
            outcomes.setdefault(result.outcome, []).append(result.name)
        done = "; ".join(f"{outcome}: {', '.join(names)}" for outcome, names in outcomes.items())
        if self.api_url:
            url = self.api_url + (EMULATED_URL_NOTE if self.emulated else "")
        else:
            url = "no application stack yet (invoke deploy --stack app)"
        return f"deploy succeeded in {self.seconds:.1f}s ({done}); API URL: {url}"


def api_url_from(outputs: dict[str, str]) -> str | None:
    if API_URL_OUTPUT in outputs:
        return outputs[API_URL_OUTPUT]
    return next((v for k, v in sorted(outputs.items()) if k.lower().endswith("url")), None)


def read_template(templates_dir: Path, name: str) -> str:
    path = templates_dir / name
    if not path.is_file():
        raise LifecycleError(f"{path} is missing: run `invoke render` first")
    return path.read_text()


def pipeline_parameters(config: ProjectConfig, body: str, name: str) -> dict[str, str]:
    """Values for the parameters a pipeline template declares without a default (render bakes in the rest)."""
    known = {"ConnectionArn": config.connection_arn}
    declared: dict[str, Any] = json.loads(body).get("Parameters", {})
    values = {}
    for key, spec in declared.items():
        if "Default" in spec:
            continue
        if not known.get(key):
            raise LifecycleError(f"the {name} template needs parameter {key}, which deploy cannot fill")
        values[key] = known[key]
    return values


def image_tags_needed(config: ProjectConfig, app_config: dict[str, Any]) -> tuple[str, list[str]]:
    tag = app_config.get("Parameters", {}).get(IMAGE_TAG_PARAMETERS["api"]) or config.image_tag
    return tag, [config.api_image_tag(tag), config.authorizer_image_tag(tag)]


def is_ancestor(older: str, newer: str, repo: Path = PROJECT_ROOT) -> bool | None:
    """Whether commit `older` is `newer` or comes before it in this checkout's history; None when git
    cannot tell (either is not a commit it knows, or there is no git)."""
    try:
        # An argument list, no shell; git from PATH, like a user's.
        result = subprocess.run(  # noqa: S603
            ["git", "merge-base", "--is-ancestor", older, newer],  # noqa: S607
            cwd=repo,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: True, 1: False}.get(result.returncode)


def forward_only_images(
    wanted: dict[str, str], explicit_tag: bool, progress: Progress
) -> Callable[[dict[str, Any] | None], ParameterValues]:
    """The laptop's image parameters: each moves to this checkout's commit only if the commit that runs is
    that commit or one before it, so a deploy from an older checkout never rolls an image back. A tag given
    explicitly (`--image-tag`) is deployed as asked."""

    def values(stack: dict[str, Any] | None) -> ParameterValues:
        chosen: dict[str, str | None] = dict(wanted)
        running = stack_parameters(stack) if stack else {}
        for parameter in IMAGE_TAG_PARAMETERS.values():
            now, new = running.get(parameter), wanted.get(parameter)
            if explicit_tag or not now or not new or now == new:
                continue
            order = is_ancestor(now, new)
            if order is not True:
                why = "is newer than" if order is False else "is not in the history of"
                progress.line(f"{parameter}: keeping {now}, which {why} this checkout's {new} (no rollback)")
                chosen[parameter] = None
        return chosen

    return values


def _require_image_parameters(config: ProjectConfig, running: dict[str, str]) -> None:
    missing = [name for name in IMAGE_TAG_PARAMETERS.values() if name not in running]
    if missing:
        raise LifecycleError(
            f"{config.app_stack} has no parameter {', '.join(missing)} to keep or move (deployed before the "
            "stack had one parameter per image): run `invoke deploy` once from a checkout"
        )


def keep_running_images(
    config: ProjectConfig, wanted: dict[str, str]
) -> Callable[[dict[str, Any] | None], ParameterValues]:
    """The create pipeline's parameters: the rendered settings, and each image parameter as it is."""

    def values(stack: dict[str, Any] | None) -> ParameterValues:
        _require_image_parameters(config, stack_parameters(stack or {}))
        return {**wanted, **dict.fromkeys(IMAGE_TAG_PARAMETERS.values())}

    return values


def cloudformation_role(config: ProjectConfig, stacks: Stacks) -> str | None:
    """The role the create pipeline's stack made for changing the app stack, once that stack exists."""
    return stacks.outputs(config.pipeline_stacks["create"]).get(CLOUDFORMATION_ROLE_OUTPUT)


def build_and_push(config: ProjectConfig, aws: Aws, tag: str, progress: Progress) -> None:
    """The container engineer's images module does the Docker work; without an engine, stop with one line."""
    from lifecycle import images

    if not images.docker_available():
        emulator = "; against this local emulator, --stand-in-images needs no Docker" if is_local(aws) else ""
        raise LifecycleError(
            f"no Docker engine available to build the images "
            f"{config.api_image_tag(tag)} and {config.authorizer_image_tag(tag)}: "
            f"start Docker (or push them from CI) and deploy again{emulator}"
        )
    uri = images.repository_uri(config.ecr_repository, aws)
    images.build_images(tag, uri, images.platform_for(config.architecture), echo=progress.line)
    images.push_images(tag, uri, aws, echo=progress.line)


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def stand_in_manifest(image: str) -> str:
    """An image manifest with no layers: enough for an emulated ECR, never a runnable image."""
    config = {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": image}
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": config,
        "layers": [],
    }
    return json.dumps(manifest)


def is_local(aws: Aws) -> bool:
    """True when the AWS calls go to an emulator on this machine (--endpoint-url or AWS_ENDPOINT_URL)."""
    return urlparse(aws.client("ecr").meta.endpoint_url).hostname in LOOPBACK_HOSTS


def require_local(aws: Aws) -> None:
    if not is_local(aws):
        raise LifecycleError(
            "--stand-in-images is for the local emulator only: set AWS_ENDPOINT_URL=http://127.0.0.1:<port>"
        )


def register_stand_in_images(aws: Aws, repository: str, images: list[str], progress: Progress) -> None:
    """For the local emulator only: register the images the template names in place of `docker push`,
    so the whole lifecycle can be tried without Docker."""
    require_local(aws)
    ecr = aws.client("ecr")
    for image in images:
        ecr.put_image(repositoryName=repository, imageManifest=stand_in_manifest(image), imageTag=image)
        progress.line(f"{repository}:{image}: stand-in image registered (local emulator, no Docker build)")


def deploy(
    config: ProjectConfig,
    aws: Aws,
    templates_dir: Path,
    stack: str = "all",
    images: bool = False,
    stand_in_images: bool = False,
    keep_images: bool = False,
    explicit_image_tag: bool = True,
    progress: Progress | None = None,
    poll_seconds: float = 3.0,
) -> DeployResult:
    """Deploy the stacks. `keep_images` (the create pipeline) changes only the app stack's template and
    settings, keeping the images that run, and only if the stack exists; otherwise each image moves only
    forward in this checkout's history unless its tag was given explicitly."""
    if stack not in STACK_CHOICES:
        raise LifecycleError(f"--stack must be one of {', '.join(STACK_CHOICES)}, not {stack!r}")
    if stand_in_images:
        # Before anything is created: a refusal must leave the account as it was.
        require_local(aws)
    if keep_images and (stack != "app" or images or stand_in_images):
        raise LifecycleError(
            "--keep-images deploys only the app stack's template: use it with --stack app alone"
        )
    progress = progress or Progress()
    started = time.monotonic()
    with_app = stack in ("app", "all")
    with_pipelines = stack in ("pipelines", "all")
    if with_pipelines and not config.connection_arn:
        raise LifecycleError(
            "the pipelines need the ARN of a CodeConnections GitHub connection: create one by hand "
            "(console: Developer Tools > Settings > Connections) and pass --connection-arn"
        )
    bodies = {}
    if with_pipelines:
        for kind in config.pipeline_stacks:
            bodies[kind] = read_template(templates_dir, f"{kind}-pipeline.json")
    if with_app:
        bodies["app"] = read_template(templates_dir, "app.json")
        app_config = json.loads(read_template(templates_dir, "app-config.json"))

    tags = {"project": config.project}
    bucket = config.artifact_bucket_name(aws.account_id)
    if not keep_images:
        progress.line(ensure_repository(aws, config.ecr_repository, tags))
        progress.line(ensure_bucket(aws, bucket, tags))
        needed = app_config if with_app else {}
        _ensure_images(config, aws, needed, with_app, images, stand_in_images, progress)

    stacks = Stacks(aws, progress, poll_seconds=poll_seconds)
    results = []
    # Pipelines first: their roles may deploy the application stack, and clean deletes in reverse.
    if with_pipelines:
        for kind, name in config.pipeline_stacks.items():
            parameters = pipeline_parameters(config, bodies[kind], name)
            results.append(_report(progress, stacks.deploy(name, bodies[kind], parameters, tags, bucket)))
    if with_app:
        app_tags = {**app_config.get("Tags", {}), **tags}
        wanted = {k: str(v) for k, v in app_config.get("Parameters", {}).items()}
        values: Callable[[dict[str, Any] | None], ParameterValues]
        if keep_images:
            values = keep_running_images(config, wanted)
        else:
            values = forward_only_images(wanted, explicit_image_tag, progress)
        result = stacks.deploy(
            config.app_stack,
            bodies["app"],
            values,
            app_tags,
            bucket,
            role_arn=cloudformation_role(config, stacks),
            create=not keep_images,
        )
        results.append(_report(progress, result))
    api_url = api_url_from(stacks.outputs(config.app_stack))
    return DeployResult(results, api_url, time.monotonic() - started, emulated=is_local(aws))


def _ensure_images(
    config: ProjectConfig,
    aws: Aws,
    app_config: dict[str, Any],
    with_app: bool,
    images: bool,
    stand_in_images: bool,
    progress: Progress,
) -> None:
    tag, needed = image_tags_needed(config, app_config)
    missing = missing_image_tags(aws, config.ecr_repository, needed)
    if images:
        present = [image for image in needed if image not in missing]
        if present and tags_immutable(aws, config.ecr_repository):
            raise LifecycleError(
                f"--images: {', '.join(present)} already in {config.ecr_repository}, whose tags are "
                "immutable: commit the change (the tag is the commit) or pass --image-tag with a new tag"
            )
        build_and_push(config, aws, tag, progress)
    elif with_app and missing:
        progress.line(f"ECR repository {config.ecr_repository} lacks {', '.join(missing)}")
        if stand_in_images:
            register_stand_in_images(aws, config.ecr_repository, missing, progress)
        else:
            build_and_push(config, aws, tag, progress)
    elif with_app:
        progress.line(f"images {', '.join(needed)}: in {config.ecr_repository}")


def deploy_image(
    config: ProjectConfig,
    aws: Aws,
    target: str,
    tag: str,
    progress: Progress | None = None,
    poll_seconds: float = 3.0,
) -> str:
    """The update pipelines' deploy: point the app stack's parameter for `target`'s image at `tag`, keeping
    its template and every other parameter as they are at that moment. Returns the closing line."""
    if target not in IMAGE_TAG_PARAMETERS:
        raise LifecycleError(f"--target must be one of {', '.join(IMAGE_TAG_PARAMETERS)}, not {target!r}")
    progress = progress or Progress()
    parameter = IMAGE_TAG_PARAMETERS[target]
    before: dict[str, str] = {}

    def values(stack: dict[str, Any] | None) -> ParameterValues:
        before.update(stack_parameters(stack or {}))
        _require_image_parameters(config, before)
        return {**dict.fromkeys(before), parameter: tag}

    stacks = Stacks(aws, progress, poll_seconds=poll_seconds)
    result = stacks.deploy(config.app_stack, None, values, {}, create=False)
    if result.outcome == Outcome.ABSENT:
        return (
            f"{config.app_stack} does not exist (yet): {config.ecr_repository}:{image_tag_for(target, tag)} "
            "is pushed but not deployed; `invoke deploy` creates the stack"
        )
    return (
        f"{config.app_stack}: {parameter} {before.get(parameter, '?')} -> {tag}: {result.outcome} "
        f"in {result.seconds:.1f}s"
    )


def _report(progress: Progress, result: StackResult) -> StackResult:
    progress.line(f"{result.name}: {result.outcome} ({result.seconds:.1f}s)")
    return result
