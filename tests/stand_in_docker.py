"""A stand-in for the docker client, for tests: no Docker engine can run here. `install(folder)` puts it first
on PATH as `docker`.

It behaves as far as the project's code can tell: `build` makes an image with a new id each time (real builds
are not byte-identical either), `tag` names it again, `image inspect --format {{.Id}}` reports it, `login`
reads the password from stdin, and `push` stores the image's manifest in ECR with the PutImage call a real
push ends with, made with the caller's credentials and AWS_ENDPOINT_URL (so IAM and the repository's tag
immutability apply as they would). Every call is recorded in FAKE_DOCKER_LOG (JSON lines), and the commands
named in FAKE_DOCKER_FAIL fail.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def install(folder: Path, environ: dict[str, str]) -> dict[str, str]:
    """Write the `docker` executable into `folder`; return `environ` with it first on PATH and its state
    (images, call log) kept in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    docker = folder / "docker"
    docker.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    docker.chmod(0o755)
    log = folder / "docker-calls.jsonl"
    log.touch()
    return {
        **environ,
        "PATH": f"{folder}{os.pathsep}{environ.get('PATH', '')}",
        "FAKE_DOCKER_LOG": str(log),
        "FAKE_DOCKER_STATE": str(folder / "images"),
    }


def calls(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "docker-calls.jsonl").read_text().splitlines()]


def _image_file(reference: str) -> Path:
    state = Path(os.environ["FAKE_DOCKER_STATE"])
    state.mkdir(parents=True, exist_ok=True)
    return state / reference.replace("/", "%").replace(":", "@")


def _fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


def _push(reference: str) -> None:
    import boto3  # only a push talks to AWS

    image = _image_file(reference)
    if not image.exists():
        _fail(f"An image does not exist locally with the tag: {reference}")
    registry, _, path = reference.partition("/")
    repository, _, tag = path.rpartition(":")
    region = registry.split(".")[3]
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 1,
            "digest": image.read_text(),
        },
        "layers": [],
    }
    ecr = boto3.client("ecr", region_name=region)
    try:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=json.dumps(manifest),
            imageManifestMediaType=MANIFEST_MEDIA_TYPE,
            imageTag=tag,
        )
    except Exception as exc:  # noqa: BLE001 (docker prints the registry's refusal and exits 1)
        _fail(f"push {reference}: {exc}")


def main(argv: list[str]) -> None:
    stdin = sys.stdin.read() if "--password-stdin" in argv else None
    with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
        log.write(json.dumps({"argv": argv, "stdin": stdin}) + "\n")
    command = argv[0] if argv else ""
    if command in os.environ.get("FAKE_DOCKER_FAIL", "").split():
        _fail(f"fake docker: {command} failed")
    if argv[:2] == ["image", "inspect"]:
        image = _image_file(argv[-1])
        if not image.exists():
            _fail(f"Error: No such image: {argv[-1]}")
        print(image.read_text())  # --format {{.Id}}: the id alone
        return
    print(f"fake docker: {' '.join(argv)}")  # docker's own progress output
    if command == "build":
        _image_file(argv[argv.index("--tag") + 1]).write_text(f"sha256:{uuid.uuid4().hex}{uuid.uuid4().hex}")
    elif command == "tag":
        source = _image_file(argv[1])
        if not source.exists():
            _fail(f"Error response from daemon: No such image: {argv[1]}")
        _image_file(argv[2]).write_text(source.read_text())
    elif command == "push":
        _push(argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
