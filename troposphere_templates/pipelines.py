"""The three pipeline stacks. Work in progress."""

from __future__ import annotations

from troposphere import Template

from troposphere_templates.config import ProjectConfig


def pipeline_template(config: ProjectConfig, kind: str) -> Template:
    return Template(Description=f"{config.project}: {kind} pipeline")
