"""`invoke deploy`: prerequisites, images when missing, then the pipeline stacks and the application stack."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifecycle.aws import Aws, on_local_emulator
from lifecycle.errors import LifecycleError
from lifecycle.prerequisites import ensure_bucket, ensure_repository, missing_image_tags, tags_immutable
from lifecycle.progress import Progress
from lifecycle.stacks import (
    ChangeSet,
    Outcome,
    ParameterSource,
    ParameterValues,
    StackResult,
    Stacks,
    stack_parameters,
)
from troposphere_templates.config import (
    CLOUDFORMATION_ROLE_OUTPUT,
    IMAGE_TAG_PARAMETERS,
    ProjectConfig,
    image_tag_for,
)
from troposphere_templates.postgres import STATE_PARAMETERS

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


def kept_state(running: dict[str, str]) -> dict[str, str | None]:
    """The parameters that hold the stack's state rather than a setting (the PostgreSQL mode's restored
    snapshot and instance): kept as they are, since the rendered defaults would undo a restore and replace the
    data with an empty database."""
    return dict.fromkeys(name for name in STATE_PARAMETERS if name in running)


def forward_only_images(
    wanted: dict[str, str], explicit_tag: bool, progress: Progress
) -> Callable[[dict[str, Any] | None], ParameterValues]:
    """The laptop's image parameters: each moves to this checkout's commit only if the commit that runs is
    that commit or one before it, so a deploy from an older checkout never rolls an image back. A tag given
    explicitly (`--image-tag`) is deployed as asked."""

    def values(stack: dict[str, Any] | None) -> ParameterValues:
        running = stack_parameters(stack) if stack else {}
        chosen: dict[str, str | None] = {**wanted, **kept_state(running)}
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
        running = stack_parameters(stack or {})
        _require_image_parameters(config, running)
        return {**wanted, **dict.fromkeys(IMAGE_TAG_PARAMETERS.values()), **kept_state(running)}

    return values


def cloudformation_role(config: ProjectConfig, stacks: Stacks) -> str | None:
    """The role the create pipeline's stack made for changing the app stack, once that stack exists."""
    return stacks.outputs(config.pipeline_stacks["create"]).get(CLOUDFORMATION_ROLE_OUTPUT)


def build_and_push(config: ProjectConfig, aws: Aws, tag: str, progress: Progress) -> None:
    """The container engineer's images module does the Docker work; without an engine, stop with one line."""
    from lifecycle import images

    if not images.docker_available():
        emulator = (
            "; against this local emulator, --stand-in-images needs no Docker"
            if on_local_emulator(aws, "ecr")
            else ""
        )
        raise LifecycleError(
            f"no Docker engine available to build the images "
            f"{config.api_image_tag(tag)} and {config.authorizer_image_tag(tag)}: "
            f"start Docker (or push them from CI) and deploy again{emulator}"
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


def require_local(aws: Aws) -> None:
    if not on_local_emulator(aws, "ecr"):
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


@dataclass
class StackPlan:
    """One stack as deploy would create or update it (and diff shows it)."""

    name: str
    body: str
    parameters: ParameterSource
    tags: dict[str, str]
    create: bool = True  # False: change the stack only if it exists (--keep-images)


def stack_plans(
    config: ProjectConfig,
    templates_dir: Path,
    stack: str = "all",
    keep_images: bool = False,
    explicit_image_tag: bool = True,
    progress: Progress | None = None,
) -> list[StackPlan]:
    """The stacks `--stack` selects, from the rendered templates, in deploy order: pipelines first (their
    roles may deploy the application stack, and clean deletes in reverse), the application stack last.
    The app stack's parameters are computed from the stack as it is when its change set is made: with
    `keep_images`, the images that run stay; otherwise each image moves only forward in this checkout's
    history unless its tag was given explicitly."""
    if stack not in STACK_CHOICES:
        raise LifecycleError(f"--stack must be one of {', '.join(STACK_CHOICES)}, not {stack!r}")
    if keep_images and stack != "app":
        raise LifecycleError(
            "--keep-images deploys only the app stack's template: use it with --stack app alone"
        )
    progress = progress or Progress()
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
        body = read_template(templates_dir, "app.json")
        app_config = json.loads(read_template(templates_dir, "app-config.json"))
        wanted = {k: str(v) for k, v in app_config.get("Parameters", {}).items()}
        values: Callable[[dict[str, Any] | None], ParameterValues]
        if keep_images:
            values = keep_running_images(config, wanted)
        else:
            values = forward_only_images(wanted, explicit_image_tag, progress)
        app_tags = {**app_config.get("Tags", {}), **tags}
        plans.append(StackPlan(config.app_stack, body, values, app_tags, create=not keep_images))
    return plans


def stack_role(config: ProjectConfig, stacks: Stacks, plan: StackPlan) -> str | None:
    """The role CloudFormation changes `plan`'s stack with: the create pipeline's role for the app stack."""
    return cloudformation_role(config, stacks) if plan.name == config.app_stack else None


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
    review: Callable[[ChangeSet], bool] | None = None,
) -> DeployResult:
    """Deploy the stacks (see `stack_plans`). `keep_images` (the create pipeline) changes only the app stack's
    template and settings, and only if the stack exists. `review`, when given, sees each stack's change set
    and may decline it (`deploy --confirm`)."""
    if stand_in_images:
        # Before anything is created: a refusal must leave the account as it was.
        require_local(aws)
    if keep_images and (images or stand_in_images):
        raise LifecycleError(
            "--keep-images deploys only the app stack's template: use it with --stack app alone"
        )
    progress = progress or Progress()
    plans = stack_plans(config, templates_dir, stack, keep_images, explicit_image_tag, progress)
    started = time.monotonic()
    with_app = stack in ("app", "all")
    tags = {"project": config.project}
    bucket = config.artifact_bucket_name(aws.account_id)
    images_line = "the running images" if keep_images else f"images :*-{config.image_tag}"
    progress.line(
        f"deploy {', '.join(plan.name for plan in plans)} to {aws.region or config.region} "
        f"(account {aws.account_id}), {images_line}"
    )
    if not keep_images:
        progress.line(ensure_repository(aws, config.ecr_repository, tags))
        progress.line(ensure_bucket(aws, bucket, tags))
        app_config = json.loads(read_template(templates_dir, "app-config.json")) if with_app else {}
        _ensure_images(config, aws, app_config, with_app, images, stand_in_images, progress)

    stacks = Stacks(aws, progress, poll_seconds=poll_seconds)
    results = [
        _report(
            progress,
            stacks.deploy(
                plan.name,
                plan.body,
                plan.parameters,
                plan.tags,
                bucket,
                role_arn=stack_role(config, stacks, plan),
                create=plan.create,
                review=review,
            ),
        )
        for plan in plans
    ]
    api_url = api_url_from(stacks.outputs(config.app_stack))
    return DeployResult(results, api_url, time.monotonic() - started, emulated=on_local_emulator(aws))


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


def keep_all_but(
    changes: dict[str, str], before: dict[str, str], check: Callable[[dict[str, str]], None]
) -> Callable[[dict[str, Any] | None], ParameterValues]:
    """Parameter values that change only `changes` and keep every other one as deployed (UsePreviousValue).
    `before` receives the deployed values; `check` sees them first and may refuse the stack (one line)."""

    def values(stack: dict[str, Any] | None) -> ParameterValues:
        before.update(stack_parameters(stack or {}))
        check(before)
        return {**dict.fromkeys(before), **changes}

    return values


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
    values = keep_all_but(
        {parameter: tag}, before, lambda deployed: _require_image_parameters(config, deployed)
    )
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
    resources = f": {result.resources}" if result.resources else ""
    progress.line(f"{result.name}: {result.outcome} in {result.seconds:.1f}s{resources}")
    return result
