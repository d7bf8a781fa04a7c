"""Render every template as deterministic JSON into one folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from troposphere import Template

from troposphere_templates.config import ProjectConfig

DEFAULT_OUT_DIR = Path("build/templates")


def to_json(document: Any) -> str:
    """Sorted keys and a trailing newline: two renders of the same config are byte-identical."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def templates(config: ProjectConfig) -> dict[str, Template]:
    """File name -> template, for the application stack and the three pipelines."""
    from troposphere_templates.app import app_template
    from troposphere_templates.pipelines import pipeline_template

    rendered = {"app.json": app_template(config)}
    for kind in config.pipeline_stacks:
        rendered[f"{kind}-pipeline.json"] = pipeline_template(config, kind)
    return rendered


def app_template_configuration(config: ProjectConfig) -> dict[str, Any]:
    """The app stack's parameter values for this config (`invoke deploy` reads them from app-config.json)."""
    from troposphere_templates.app import app_parameter_values

    return {"Parameters": app_parameter_values(config), "Tags": {"project": config.project}}


def render_all(config: ProjectConfig, out_dir: Path = DEFAULT_OUT_DIR) -> list[Path]:
    """Write app.json, the three pipeline templates and app-config.json; return the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    documents: dict[str, Any] = {name: template.to_dict() for name, template in templates(config).items()}
    documents["app-config.json"] = app_template_configuration(config)
    written = []
    for name, document in documents.items():
        path = out_dir / name
        path.write_text(to_json(document))
        written.append(path)
    return written
