"""The application stack (one stack, no nested stacks). Work in progress: parameters first."""

from __future__ import annotations

from typing import Any

from troposphere import Parameter, Template

from troposphere_templates.config import CAPACITY_PROVIDERS, ProjectConfig


def app_parameter_values(config: ProjectConfig) -> dict[str, str]:
    return {
        "AdminUsername": config.admin_username,
        "CapacityProvider": config.capacity_provider,
        "ImageTag": config.image_tag,
    }


def app_template(config: ProjectConfig) -> Template:
    template = Template(Description=f"{config.project}: REST API on one Fargate task behind API Gateway")
    template.add_parameter(
        Parameter("ImageTag", Type="String", Default=config.image_tag, Description="image tag suffix")
    )
    template.add_parameter(
        Parameter(
            "CapacityProvider",
            Type="String",
            Default=config.capacity_provider,
            AllowedValues=list(CAPACITY_PROVIDERS),
            Description="FARGATE, or FARGATE_SPOT for about 70% less (the task may be interrupted)",
        )
    )
    template.add_parameter(
        Parameter("AdminUsername", Type="String", Default=config.admin_username, Description="admin")
    )
    return template


__all__: list[Any] = ["app_template", "app_parameter_values"]
