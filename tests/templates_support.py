"""Helpers for the template tests: render a configuration once into a temporary folder and load the JSON."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from troposphere_templates.config import ProjectConfig
from troposphere_templates.render import render_all

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_NAMES = ("app.json", "create-pipeline.json", "update-pipeline.json", "update-lambda-pipeline.json")
CONNECTION_ARN = (
    "arn:aws:codeconnections:us-east-1:123456789012:connection/0b0c1d2e-aaaa-bbbb-cccc-0123456789ab"
)

# Every template test runs for each of these regions: the default configuration rendered for each.
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
DEFAULT = ProjectConfig(region=REGIONS[0], connection_arn=CONNECTION_ARN, github_repo="someone/ecs1")
DEFAULT_IN_EVERY_REGION = ["default", *(f"default-{region}" for region in REGIONS[1:])]

CONFIGS = {
    "default": DEFAULT,
    **{f"default-{region}": replace(DEFAULT, region=region) for region in REGIONS[1:]},
    "spot": ProjectConfig(region="us-east-1", capacity_provider="FARGATE_SPOT"),
    # The architecture this project replaces: x86, 1 vCPU / 3 GB, an interface endpoint for service discovery.
    "original": ProjectConfig(
        region="us-east-1",
        architecture="X86_64",
        cpu=1024,
        memory=3072,
        interface_endpoints=("servicediscovery",),
    ),
    # The PostgreSQL mode: RDS and several tasks (troposphere_templates/postgres.py).
    "postgres": ProjectConfig(region="us-east-1", connection_arn=CONNECTION_ARN, database="postgres"),
}


@cache
def rendered_root() -> Path:
    """One folder per test session holding a folder per configuration, so one linter run reads them all."""
    return Path(tempfile.mkdtemp(prefix="templates-"))


@cache
def rendered_dir(name: str) -> Path:
    """Render the named configuration once per test session; the folder lives until the process ends."""
    out = rendered_root() / name
    render_all(CONFIGS[name], out)
    return out


def render_every_config() -> Path:
    for name in CONFIGS:
        rendered_dir(name)
    return rendered_root()


def load(name: str, template: str = "app.json") -> dict[str, Any]:
    return json.loads((rendered_dir(name) / template).read_text())


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def policy_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM statement of every identity policy in a template, with the resource it belongs to."""
    statements = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents += [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        if resource["Type"] in ("AWS::IAM::RolePolicy", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(properties["PolicyDocument"])
        for document in documents:
            statements += [(logical_id, statement) for statement in document["Statement"]]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
