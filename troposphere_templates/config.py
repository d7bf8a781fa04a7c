"""The one config object every template, name and task option derives from.

Defaults are the cheap configuration of docs/DESIGN.md; `invoke render`/`invoke deploy` override fields with
`dataclasses.replace`. Nothing here needs AWS credentials: account-specific values (the artifact bucket's
default name, image URIs) are left to CloudFormation's `${AWS::AccountId}`.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

ARCHITECTURES = ("ARM64", "X86_64")
CAPACITY_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
PIPELINE_KINDS = ("create", "update", "update-lambda")
# "sqlite": one task, SQLite on EFS (the cheap default); "postgres": RDS PostgreSQL and several tasks.
DATABASES = ("sqlite", "postgres")
# The Dockerfile's targets: both images live in one ECR repository, told apart by the tag's prefix.
IMAGE_TARGETS = ("api", "authorizer")
# The shape of a GitHub connection's ARN under either service name (CodeStar Connections was renamed
# CodeConnections; both prefixes stay valid): arn:aws:codestar-connections:region-id:account-id:connection/id
# in the CodeStar Connections API reference; CodeConnections' GetConnection allows other partitions (aws-cn).
CONNECTION_ARN = re.compile(
    r"arn:aws(-[a-z]+)*:(codeconnections|codestar-connections):[a-z0-9-]+:[0-9]{12}:connection/[A-Za-z0-9-]+"
)
# The app stack's image parameters, one per image, each moved only by what builds that image (its update
# pipeline, or a laptop's `invoke deploy`): the stack's parameters always name the images that run.
IMAGE_TAG_PARAMETERS = {"api": "ApiImageTag", "authorizer": "AuthorizerImageTag"}
# The create pipeline stack's output naming the role CloudFormation changes the app stack with.
CLOUDFORMATION_ROLE_OUTPUT = "CloudFormationRoleArn"

# Fargate's valid (cpu units -> memory MiB) combinations, so a bad size fails at render time, not at deploy.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
}


# The Availability Zone ids where API Gateway supports VPC links for HTTP APIs, per region: AWS's API Gateway
# Developer Guide, "Set up VPC links V2 in API Gateway" ("Set up VPC links for HTTP APIs"), table
# "Availability by Region" (as published in 2026). Zone *names* map to different zones in every account; ids
# do not, so the VPC link's subnet is placed by id.
VPC_LINK_ZONE_IDS: dict[str, tuple[str, ...]] = {
    "us-east-2": ("use2-az1", "use2-az2", "use2-az3"),
    "us-east-1": ("use1-az1", "use1-az2", "use1-az4", "use1-az5", "use1-az6"),
    "us-west-1": ("usw1-az1", "usw1-az3"),
    "us-west-2": ("usw2-az1", "usw2-az2", "usw2-az3", "usw2-az4"),
    "ap-east-1": ("ape1-az2", "ape1-az3"),
    "ap-south-1": ("aps1-az1", "aps1-az2", "aps1-az3"),
    "ap-northeast-2": ("apne2-az1", "apne2-az2", "apne2-az3"),
    "ap-southeast-1": ("apse1-az1", "apse1-az2", "apse1-az3"),
    "ap-southeast-2": ("apse2-az1", "apse2-az2", "apse2-az3"),
    "ap-northeast-1": ("apne1-az1", "apne1-az2", "apne1-az4"),
    "ca-central-1": ("cac1-az1", "cac1-az2"),
    "eu-central-1": ("euc1-az1", "euc1-az2", "euc1-az3"),
    "eu-west-1": ("euw1-az1", "euw1-az2", "euw1-az3"),
    "eu-west-2": ("euw2-az1", "euw2-az2", "euw2-az3"),
    "eu-west-3": ("euw3-az1", "euw3-az3"),
    "eu-south-2": ("eus2-az1", "eus2-az2", "eus2-az3"),
    "eu-north-1": ("eun1-az1", "eun1-az2", "eun1-az3"),
    "me-south-1": ("mes1-az1", "mes1-az2", "mes1-az3"),
    "sa-east-1": ("sae1-az1", "sae1-az2", "sae1-az3"),
    "us-gov-west-1": ("usgw1-az1", "usgw1-az2", "usgw1-az3"),
}


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def current_image_tag(repo_dir: Path | None = None) -> str:
    """The image tag the names agree on: the git commit's short sha, or `latest` outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 (git from PATH, like a user's shell)
            cwd=repo_dir,
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return "latest"
    return result.stdout.strip() or "latest"


def image_tag_prefix(target: str) -> str:
    """The prefix of every tag of one image in the shared repository (ECR lifecycle rules select by it)."""
    return f"{target}-"


def image_tag_for(target: str, tag: str) -> str:
    """The tag of `target`'s image built from `tag` (a short commit sha): `api-<tag>`, `authorizer-<tag>`."""
    return f"{image_tag_prefix(target)}{tag}"


class ConfigError(ValueError):
    """A config value that cannot be deployed; the message is one line for the user.

    `fields` are the config fields at fault, so the caller can name where their values came from.
    """

    def __init__(self, message: str, *fields: str):
        super().__init__(message)
        self.fields = fields


def _parse(annotation: Any, raw: str, name: str) -> Any:
    if annotation in (int, "int"):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"ECS1_{name.upper()} must be a whole number, not {raw!r}", name) from None
    if annotation in (tuple[str, ...], "tuple[str, ...]"):
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    return raw


@dataclass(frozen=True)
class ProjectConfig:
    project: str = "ecs1"
    region: str = field(default_factory=default_region)
    connection_arn: str = ""
    github_repo: str = "owner/ecs1"
    branch: str = "main"
    ecr_repository: str = "ecs1"
    # Empty means the agreed default `<project>-artifacts-<account>-<region>`, resolved by CloudFormation.
    artifact_bucket: str = ""
    cpu: int = 256
    memory: int = 512
    architecture: str = "ARM64"
    capacity_provider: str = "FARGATE"
    image_tag: str = "latest"
    admin_username: str = "admin"
    container_port: int = 8000
    container_user_id: int = 1000
    log_retention_days: int = 14
    # Interface VPC endpoints (service names like "servicediscovery"): the design needs none; the original
    # architecture had one, and the cost test renders it.
    interface_endpoints: tuple[str, ...] = ()
    vpc_cidr: str = "10.0.0.0/16"
    subnet_cidr: str = "10.0.0.0/24"
    # PostgreSQL mode (troposphere_templates/postgres.py); ignored in the default SQLite mode.
    database: str = "sqlite"
    db_instance_class: str = "db.t4g.micro"
    db_storage_gb: int = 20
    db_backup_days: int = 7
    min_tasks: int = 2
    max_tasks: int = 4
    db_subnet_cidrs: tuple[str, ...] = ("10.0.1.0/24", "10.0.2.0/24")

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(
                f"architecture must be ARM64 or X86_64, not {self.architecture!r}", "architecture"
            )
        if self.capacity_provider not in CAPACITY_PROVIDERS:
            raise ConfigError(
                f"capacity provider must be one of {'/'.join(CAPACITY_PROVIDERS)}, "
                f"not {self.capacity_provider!r}",
                "capacity_provider",
            )
        if self.memory not in FARGATE_SIZES.get(self.cpu, ()):
            raise ConfigError(
                f"Fargate has no size cpu={self.cpu} memory={self.memory}; valid cpu values: "
                f"{', '.join(map(str, FARGATE_SIZES))} (256 takes memory 512, 1024 or 2048)",
                "cpu",
                "memory",
            )
        if self.database not in DATABASES:
            raise ConfigError(f"database must be sqlite or postgres, not {self.database!r}", "database")
        if not 1 <= self.min_tasks <= self.max_tasks:
            raise ConfigError(
                f"tasks: need 1 <= min ({self.min_tasks}) <= max ({self.max_tasks})", "min_tasks", "max_tasks"
            )
        if self.db_storage_gb < 20:
            raise ConfigError(f"RDS gp3 storage starts at 20 GB, not {self.db_storage_gb}", "db_storage_gb")
        if self.github_repo.count("/") != 1 or not all(self.github_repo.split("/")):
            raise ConfigError(
                f"GitHub repository must look like owner/name, not {self.github_repo!r}", "github_repo"
            )
        if self.connection_arn and not CONNECTION_ARN.fullmatch(self.connection_arn):
            raise ConfigError(
                "the connection ARN must look like arn:aws:codeconnections:REGION:ACCOUNT:connection/ID "
                f"(console: Developer Tools > Settings > Connections), not {self.connection_arn!r}",
                "connection_arn",
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProjectConfig:
        """Defaults overridden by ECS1_<FIELD> variables (set on the pipelines' CodeBuild projects)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"ECS1_{f.name.upper()}")
            if raw:
                values[f.name] = _parse(f.type, raw, f.name)
        return cls(**values)

    def with_options(self, **options: Any) -> ProjectConfig:
        """A copy with the options that were given (None or '' means 'keep the default')."""
        known = {f.name for f in fields(self)}
        unknown = set(options) - known
        if unknown:
            raise ConfigError(f"unknown config option(s): {', '.join(sorted(unknown))}", *sorted(unknown))
        return replace(self, **{k: v for k, v in options.items() if v not in (None, "")})

    # Stacks, in creation order: pipelines first (their roles deploy the app), the app last.
    @property
    def app_stack(self) -> str:
        return f"{self.project}-app"

    @property
    def pipeline_stacks(self) -> dict[str, str]:
        return {kind: f"{self.project}-{kind}-pipeline" for kind in PIPELINE_KINDS}

    @property
    def vpc_link_zone_id(self) -> str:
        """The zone of the one subnet: the first that HTTP API VPC links support in the region."""
        try:
            return VPC_LINK_ZONE_IDS[self.region][0]
        except KeyError:
            raise ConfigError(
                f"--region {self.region}: API Gateway supports HTTP API VPC links in "
                f"{', '.join(sorted(VPC_LINK_ZONE_IDS))} only"
            ) from None

    # Application names
    @property
    def cluster_name(self) -> str:
        return f"{self.project}-cluster"

    @property
    def service_name(self) -> str:
        return f"{self.project}-api"

    @property
    def container_name(self) -> str:
        return "api"

    @property
    def namespace_name(self) -> str:
        return f"{self.project}.local"

    @property
    def discovery_service_name(self) -> str:
        return "api"

    @property
    def authorizer_function_name(self) -> str:
        return f"{self.project}-authorizer"

    @property
    def api_name(self) -> str:
        return f"{self.project}-api"

    @property
    def jwt_secret_name(self) -> str:
        return f"{self.project}/jwt-secret-key"

    @property
    def admin_password_secret_name(self) -> str:
        return f"{self.project}/admin-password"

    @property
    def postgres(self) -> bool:
        return self.database == "postgres"

    @property
    def db_instance_identifier(self) -> str:
        return f"{self.project}-db"

    @property
    def db_name(self) -> str:
        """Database and master user name: RDS wants letters and digits, starting with a letter."""
        return "".join(ch for ch in self.project if ch.isalnum()) or "app"

    @property
    def role_path(self) -> str:
        """The app's IAM roles live under this path, so the pipelines' PassRole can name exactly them."""
        return f"/{self.project}/"

    @property
    def log_groups(self) -> dict[str, str]:
        return {
            "api": f"/ecs/{self.project}/api",
            "authorizer": f"/aws/lambda/{self.authorizer_function_name}",
            "access": f"/aws/apigateway/{self.project}-api/access",
            "build": f"/aws/codebuild/{self.project}",
        }

    # Images: one ECR repository, two images told apart by tag prefix.
    def api_image_tag(self, tag: str | None = None) -> str:
        return image_tag_for("api", tag or self.image_tag)

    def authorizer_image_tag(self, tag: str | None = None) -> str:
        return image_tag_for("authorizer", tag or self.image_tag)

    def default_artifact_bucket(self, account_id: str) -> str:
        return f"{self.project}-artifacts-{account_id}-{self.region}"

    def artifact_bucket_name(self, account_id: str) -> str:
        return self.artifact_bucket or self.default_artifact_bucket(account_id)

    # Pipelines
    def build_project_name(self, kind: str) -> str:
        return f"{self.project}-{kind}-build"

    def pipeline_name(self, kind: str) -> str:
        return f"{self.project}-{kind}"

    @property
    def arm(self) -> bool:
        return self.architecture == "ARM64"
