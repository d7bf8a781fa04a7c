"""`invoke deploy`: prerequisites, images when missing, then the pipeline stacks and the application stack."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lifecycle.aws import Aws
from lifecycle.errors import LifecycleError
from lifecycle.prerequisites import ensure_bucket, ensure_repository, missing_image_tags, tags_immutable
from lifecycle.progress import Progress
from lifecycle.stacks import StackResult, Stacks
from troposphere_templates.config import ProjectConfig

STACK_CHOICES = ("app", "pipelines", "all")
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
    tag = app_config.get("Parameters", {}).get("ImageTag") or config.image_tag
    return tag, [config.api_image_tag(tag), config.authorizer_image_tag(tag)]


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
    progress: Progress | None = None,
    poll_seconds: float = 3.0,
) -> DeployResult:
    if stack not in STACK_CHOICES:
        raise LifecycleError(f"--stack must be one of {', '.join(STACK_CHOICES)}, not {stack!r}")
    if stand_in_images:
        # Before anything is created: a refusal must leave the account as it was.
        require_local(aws)
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
    progress.line(ensure_repository(aws, config.ecr_repository, tags))
    progress.line(ensure_bucket(aws, bucket, tags))

    tag, needed = image_tags_needed(config, app_config if with_app else {})
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

    stacks = Stacks(aws, progress, poll_seconds=poll_seconds)
    results = []
    # Pipelines first: their roles may deploy the application stack, and clean deletes in reverse.
    if with_pipelines:
        for kind, name in config.pipeline_stacks.items():
            parameters = pipeline_parameters(config, bodies[kind], name)
            results.append(_report(progress, stacks.deploy(name, bodies[kind], parameters, tags, bucket)))
    if with_app:
        app_tags = {**app_config.get("Tags", {}), **tags}
        parameters = {k: str(v) for k, v in app_config.get("Parameters", {}).items()}
        results.append(
            _report(progress, stacks.deploy(config.app_stack, bodies["app"], parameters, app_tags, bucket))
        )
    api_url = api_url_from(stacks.outputs(config.app_stack))
    return DeployResult(results, api_url, time.monotonic() - started, emulated=is_local(aws))


def _report(progress: Progress, result: StackResult) -> StackResult:
    progress.line(f"{result.name}: {result.outcome} ({result.seconds:.1f}s)")
    return result
