"""Container images: build the Dockerfile's two targets and push them to the project's ECR repository.

Both images live in one repository, told apart by tag: `<repository>:api-<tag>` and
`<repository>:authorizer-<tag>`, where the tag defaults to the git commit's short sha. Docker's own output
streams through, so a long build shows its progress.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from botocore.exceptions import ClientError

from lifecycle.aws import Aws
from lifecycle.errors import LifecycleError
from troposphere_templates.config import IMAGE_TARGETS, current_image_tag, image_tag_for

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
TARGETS = IMAGE_TARGETS
PLATFORMS = {"ARM64": "linux/arm64", "X86_64": "linux/amd64"}
# What docker push stores: a single-platform manifest (--provenance=false, see build_images).
MANIFEST_MEDIA_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
]

NO_DOCKER_CLIENT = "the docker command was not found: install Docker, or run this in CodeBuild"
NO_DOCKER_ENGINE = (
    "no Docker engine is running (docker info failed): install/start Docker, or run this in CodeBuild"
)


def docker_available() -> bool:
    """True when a docker client is installed and its engine answers."""
    return _docker_problem() is None


def image_tag() -> str:
    """The default tag: the git commit's short sha, or `latest` outside a git checkout."""
    return current_image_tag(PROJECT_ROOT)


def platform_for(architecture: str) -> str:
    """The `docker build --platform` value for an ECS/Lambda architecture (ARM64 or X86_64)."""
    try:
        return PLATFORMS[architecture.upper()]
    except KeyError:
        raise LifecycleError(f"architecture must be ARM64 or X86_64, not {architecture!r}") from None


def image_reference(repository: str, target: str, tag: str) -> str:
    return f"{repository}:{image_tag_for(target, tag)}"


def build_images(
    tag: str,
    repository_uri: str,
    platform: str,
    targets: Sequence[str] = TARGETS,
    echo: Callable[[str], None] = print,
    pushed: Callable[[str], bool] | None = None,
) -> list[str]:
    """Build each target for `platform`, tagged `<repository_uri>:<target>-<tag>`; return the references.

    With `pushed`, a target whose tag it reports as already in the registry is not built again: tags are
    immutable and name a commit, and a rebuild is never byte-identical, so it could not be pushed anyway.
    """
    _require_docker()
    _check_targets(targets)
    built = []
    for target in targets:
        reference = image_reference(repository_uri, target, tag)
        if pushed is not None and pushed(image_tag_for(target, tag)):
            echo(f"{reference}: already pushed, not built again")
            continue
        echo(f"building {reference} for {platform}")
        # --provenance=false: Lambda rejects the image index that BuildKit's default attestations create.
        _docker(
            "build",
            "--target",
            target,
            "--platform",
            platform,
            "--provenance=false",
            "--tag",
            reference,
            "--file",
            str(DOCKERFILE),
            str(PROJECT_ROOT),
        )
        built.append(reference)
    return built


def push_images(
    tag: str,
    repository: str,
    aws: Aws,
    targets: Sequence[str] = TARGETS,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Log in to ECR and push the built images; `repository` is a name (looked up in ECR) or a full URI.

    Images built under a bare name are tagged with the repository's URI first. A tag the repository already
    has is success when it holds this very image (same config digest, i.e. the same layers and settings) or
    when no image was built here for it (`build --missing-only` skipped it); another image under the same
    tag is an error, as the repository's tags are immutable. Returns the references now in the registry.
    """
    _require_docker()
    _check_targets(targets)
    uri = repository_uri(repository, aws)
    name = uri.split("/", 1)[1]
    logged_in = False
    pushed = []
    for target in targets:
        local, remote = image_reference(repository, target, tag), image_reference(uri, target, tag)
        existing = pushed_config_digest(aws, name, image_tag_for(target, tag))
        built = local_image_id(local)
        if existing is not None and built in (None, existing):
            echo(f"{remote}: already in ECR" + (" with the same content" if built else ""))
        elif existing is not None:
            raise LifecycleError(
                f"{remote} already exists in ECR with different content ({existing[:19]}, this build "
                f"{str(built)[:19]}); its tags are immutable: push from a new commit (the tag is the commit)"
            )
        elif built is None:
            raise LifecycleError(f"no image {local} was built here: run `invoke build --tag {tag}` first")
        else:
            if not logged_in:
                ecr_login(aws, uri.split("/", 1)[0], echo)
                logged_in = True
            if local != remote:
                _docker("tag", local, remote)
            echo(f"pushing {remote}")
            _docker("push", remote)
        pushed.append(remote)
    return pushed


def already_pushed(repository: str, aws: Aws) -> Callable[[str], bool]:
    """For `build_images(pushed=...)`: whether the repository (a name or a URI) has an image under a tag."""
    name = repository_uri(repository, aws).split("/", 1)[1]
    return lambda image_tag: pushed_config_digest(aws, name, image_tag) is not None


def pushed_config_digest(aws: Aws, repository: str, image_tag: str) -> str | None:
    """The config digest of the image under `image_tag` in the ECR repository, or None when there is none.

    The config blob names every layer's content and the image's settings, so two images with the same config
    digest are the same image; it is also what `docker image inspect` reports as the local image's id.
    """
    found = aws.client("ecr").batch_get_image(
        repositoryName=repository,
        imageIds=[{"imageTag": image_tag}],
        acceptedMediaTypes=MANIFEST_MEDIA_TYPES,
    )
    for image in found.get("images", []):
        config = json.loads(image.get("imageManifest") or "{}").get("config", {})
        return str(config.get("digest") or image.get("imageId", {}).get("imageDigest"))
    return None


def local_image_id(reference: str) -> str | None:
    """The local image's id (its config digest), or None when no image by that name was built here."""
    # An argument list, no shell: nothing here is interpreted by a shell.
    result = subprocess.run(  # noqa: S603
        ["docker", "image", "inspect", "--format", "{{.Id}}", reference],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or None if result.returncode == 0 else None


def repository_uri(repository: str, aws: Aws) -> str:
    """The repository's URI: given as is, or looked up by name in the account's ECR."""
    if _names_a_registry(repository):
        return repository
    try:
        found = aws.client("ecr").describe_repositories(repositoryNames=[repository])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
            raise LifecycleError(
                f"ECR repository {repository!r} does not exist in {aws.region}: `invoke deploy` creates it, "
                "or pass --repository <uri>"
            ) from None
        raise
    return found["repositories"][0]["repositoryUri"]


def ecr_login(aws: Aws, registry: str, echo: Callable[[str], None] = print) -> None:
    """`docker login` to an ECR registry with a token from GetAuthorizationToken (valid for 12 hours)."""
    data = aws.client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    echo(f"logging in to {registry}")
    # The password goes through stdin, never the command line (visible in `ps`).
    _docker("login", "--username", user, "--password-stdin", registry, stdin=password)


def _names_a_registry(repository: str) -> bool:
    """Docker's rule: a first path component with a dot or a port is a registry host."""
    first, slash, _ = repository.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def _check_targets(targets: Sequence[str]) -> None:
    if not targets or any(target not in TARGETS for target in targets):
        raise LifecycleError(f"image targets must be among {', '.join(TARGETS)}, not {', '.join(targets)!r}")


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return NO_DOCKER_CLIENT
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)  # noqa: S607
    except (OSError, subprocess.TimeoutExpired):
        return NO_DOCKER_ENGINE
    return NO_DOCKER_ENGINE if info.returncode else None


def _require_docker() -> None:
    problem = _docker_problem()
    if problem:
        raise LifecycleError(problem)


def _docker(*args: str, stdin: str | None = None, hint: str = "its output is above") -> None:
    # BuildKit is needed for the Dockerfile's cache mounts and heredoc.
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    # An argument list, no shell: nothing here is interpreted by a shell.
    result = subprocess.run(["docker", *args], input=stdin, text=True, env=env, check=False)  # noqa: S603, S607
    if result.returncode:
        raise LifecycleError(f"`docker {args[0]}` failed with exit code {result.returncode}: {hint}")
