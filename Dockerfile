# Two images from one file, selected with --target:
#   api         the FastAPI service for the Fargate task
#   authorizer  the API Gateway Lambda authorizer
# Base images carry no --platform: `docker build --platform linux/arm64` (or amd64) picks the architecture.
# Every image comes from Amazon ECR Public, never Docker Hub, whose anonymous pull limit CodeBuild's shared
# addresses exhaust: public.ecr.aws/docker/library mirrors the Docker Official Images with their tags. The
# tags are pinned and were checked to exist: 3.11.14-slim-bookworm (amd64 and arm64v8) is listed in the
# official images' library/python file (github.com/docker-library/official-images), and both references
# appear in published Dockerfiles that pull them. No `# syntax=` line: it would pull the docker/dockerfile
# frontend from Docker Hub, and the heredoc and cache mounts below are in BuildKit's built-in Dockerfile
# frontend since BuildKit 0.10 (Docker Engine 23 and later, as in CodeBuild's current images).
ARG PYTHON_IMAGE=public.ecr.aws/docker/library/python:3.11.14-slim-bookworm
ARG LAMBDA_IMAGE=public.ecr.aws/lambda/python:3.11.2026.02.28.00
# Deploy tooling listed in pyproject's dependencies that nothing in app/ imports (a test checks that). boto3 is
# not among them: the API uploads its database snapshots to S3 with it (app/backup.py).
ARG TOOLING_PACKAGES="invoke troposphere awacs"

# Requirement files derived from pyproject.toml, so versions are declared once. The install layers below
# depend only on these files: editing the code, or the dev extra, reuses the cached dependency layers.
FROM ${PYTHON_IMAGE} AS requirements
ARG TOOLING_PACKAGES
WORKDIR /src
COPY pyproject.toml ./
RUN python - "${TOOLING_PACKAGES}" <<'EOF'
import re
import sys
import tomllib

tooling = set(sys.argv[1].split())
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
# One image for both modes: the postgres extra's driver beside the SQLite one.
dependencies = project["dependencies"] + project["optional-dependencies"]["postgres"]


def name(requirement):
    return re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0].lower()


with open("api.txt", "w") as api:
    api.writelines(f"{d}\n" for d in dependencies if name(d) not in tooling)
with open("authorizer.txt", "w") as authorizer:
    authorizer.writelines(f"{d}\n" for d in dependencies if name(d) == "python-jose")
EOF

FROM ${PYTHON_IMAGE} AS api-dependencies
COPY --from=requirements /src/api.txt /tmp/api.txt
# Binary wheels exist for every dependency on arm64 and amd64, so the slim image needs no compiler.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --disable-pip-version-check --prefix=/install -r /tmp/api.txt

FROM ${PYTHON_IMAGE} AS api
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_ENV=prod \
    DATABASE_URL=sqlite+aiosqlite:////data/app.db
# uid/gid 1000 match the EFS access point's POSIX user, so the task can write the SQLite file there.
RUN groupadd --gid 1000 app \
    && useradd --uid 1000 --gid app --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app \
    && mkdir /data \
    && chown app:app /data
COPY --from=api-dependencies /install /usr/local
WORKDIR /srv/ecs1
# The code stays owned by root: the service can read it but not change it.
COPY alembic.ini ./
COPY migrations ./migrations
COPY app ./app
USER 1000:1000
EXPOSE 8000
# The slim image has no curl; urlopen raises (exit 1) on anything but 2xx, including /health's 503.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health', timeout=4)"]
# Exec form: python is PID 1 and receives ECS's SIGTERM directly (uvicorn then shuts down gracefully).
CMD ["python", "-m", "app.server"]

FROM ${LAMBDA_IMAGE} AS authorizer
COPY --from=requirements /src/authorizer.txt /tmp/authorizer.txt
# Installed inside the Lambda image itself so that compiled wheels (cryptography) match its system libraries.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --disable-pip-version-check --target "${LAMBDA_TASK_ROOT}" -r /tmp/authorizer.txt
# Only the token code shared with the API and the handler: the package __init__ files are empty, so
# importing app.core.tokens pulls in neither FastAPI nor pydantic.
COPY app/__init__.py app/authorizer.py ${LAMBDA_TASK_ROOT}/app/
COPY app/core/__init__.py app/core/tokens.py ${LAMBDA_TASK_ROOT}/app/core/
CMD ["app.authorizer.handler"]
