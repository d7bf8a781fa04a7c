"""`invoke deploy`: prerequisites, images when missing, then the pipeline stacks and the application stack."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifecycle.aws import Aws, on_local_emulator
from lifecycle.errors import LifecycleError
from lifecycle.prerequisites import ensure_bucket, ensure_repository, missing_image_tags, tags_immutable
from lifecycle.progress import Progress
from lifecycle.stacks import ChangeSet, StackResult, Stacks
from troposphere_templates.config import ProjectConfig

STACK_CHOICES = ("app", "pipelines", "all")
API_URL_OUTPUT = "ApiUrl"


@dataclass
class DeployResult:
    stacks: list[StackResult]
    api_url: str | None
    seconds: float

    def summary(self) -> str:
        """The one closing line: what happened to each stack and where the API answers."""
        outcomes: dict[str, list[str]] = {}
        for result in self.stacks:
            outcomes.setdefault(result.outcome, []).append(result.name)
        done = "; ".join(f"{outcome}: {', '.join(names)}" for outcome, names in outcomes.items())
        url = self.api_url or "no application stack yet (invoke deploy --stack app)"
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
        raise LifecycleError(
            f"no Docker engine available to build the images api-{tag} and authorizer-{tag}: "
            "start Docker (or push them from CI) and deploy again"
        )
    uri = images.repository_uri(config.ecr_repository, aws)
    images.build_images(tag, uri, images.platform_for(config.architecture), echo=progress.line)
    images.push_images(tag, uri, aws, echo=progress.line)


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


def register_stand_in_images(aws: Aws, repository: str, images: list[str], progress: Progress) -> None:
    """For the local emulator only: register the images the template names in place of `docker push`,
    so the whole lifecycle can be tried without Docker. Refuses any endpoint that is not on this machine."""
    ecr = aws.client("ecr")
    if not on_local_emulator(aws, "ecr"):
        raise LifecycleError(
            "--stand-in-images is for the local emulator only: set AWS_ENDPOINT_URL=http://127.0.0.1:<port>"
        )
    for image in images:
        ecr.put_image(repositoryName=repository, imageManifest=stand_in_manifest(image), imageTag=image)
        progress.line(f"{repository}:{image}: stand-in image registered (local emulator, no Docker build)")


@dataclass
class StackPlan:
    """One stack as deploy would create or update it."""

    name: str
    body: str
    parameters: dict[str, str]
    tags: dict[str, str]


def stack_plans(config: ProjectConfig, templates_dir: Path, stack: str = "all") -> list[StackPlan]:
    """The stacks `--stack` selects, from the rendered templates, in deploy order: pipelines first (their
    roles may deploy the application stack, and clean deletes in reverse), the application stack last."""
    if stack not in STACK_CHOICES:
        raise LifecycleError(f"--stack must be one of {', '.join(STACK_CHOICES)}, not {stack!r}")
    tags = {"project": config.project}
    plans = []
    if stack in ("pipelines", "all"):
        if not config.connection_arn:
            raise LifecycleError(
                "the pipelines need the ARN of a CodeConnections GitHub connection: create one by hand "
                "(console: Developer Tools > Settings > Connections) and pass --connection-arn"
            )
        for kind, name in config.pipeline_stacks.items():
            body = read_template(templates_dir, f"{kind}-pipeline.json")
            plans.append(StackPlan(name, body, pipeline_parameters(config, body, name), tags))
    if stack in ("app", "all"):
        app_config = json.loads(read_template(templates_dir, "app-config.json"))
        plans.append(
            StackPlan(
                config.app_stack,
                read_template(templates_dir, "app.json"),
                {k: str(v) for k, v in app_config.get("Parameters", {}).items()},
                {**app_config.get("Tags", {}), **tags},
            )
        )
    return plans


def deploy(
    config: ProjectConfig,
    aws: Aws,
    templates_dir: Path,
    stack: str = "all",
    images: bool = False,
    stand_in_images: bool = False,
    progress: Progress | None = None,
    poll_seconds: float = 3.0,
    review: Callable[[ChangeSet], bool] | None = None,
) -> DeployResult:
    """`review`, when given, sees each stack's change set and may decline it (`deploy --confirm`)."""
    plans = stack_plans(config, templates_dir, stack)
    progress = progress or Progress()
    started = time.monotonic()
    with_app = stack in ("app", "all")
    if with_app:
        app_config = json.loads(read_template(templates_dir, "app-config.json"))

    tags = {"project": config.project}
    bucket = config.artifact_bucket_name(aws.account_id)
    progress.line(
        f"deploy {', '.join(plan.name for plan in plans)} to {aws.region or config.region} "
        f"(account {aws.account_id}), images :*-{config.image_tag}"
    )
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
    results = [
        _report(progress, stacks.deploy(plan.name, plan.body, plan.parameters, plan.tags, bucket, review))
        for plan in plans
    ]
    return DeployResult(results, api_url_from(stacks.outputs(config.app_stack)), time.monotonic() - started)


def _report(progress: Progress, result: StackResult) -> StackResult:
    resources = f": {result.resources}" if result.resources else ""
    progress.line(f"{result.name}: {result.outcome} in {result.seconds:.1f}s{resources}")
    return result
