"""The tasks' options as the project's config: ECS1_* variables over the defaults, then the options given.

Every value a task takes as text is checked here, so a bad one is one line that names the option or the
variable it came from, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from lifecycle.errors import LifecycleError
from troposphere_templates.config import ConfigError, ProjectConfig, current_image_tag

DEFAULT_TEMPLATES_DIR = "build/templates"


def whole_number(value: str, option: str) -> int:
    """A task option's text as an int; `option` is its name without the dashes."""
    try:
        return int(value)
    except ValueError:
        raise LifecycleError(f"--{option} must be a whole number, not {value!r}") from None


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def project_config(
    options: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> ProjectConfig:
    """The defaults, overridden by ECS1_<FIELD> variables, then by the options given ('' or None: not given).

    A value the config refuses is named by where it came from: `--cpu`, or `ECS1_CPU`.
    """
    environ = os.environ if environ is None else environ
    given = {name: value for name, value in (options or {}).items() if value not in (None, "")}
    try:
        return ProjectConfig.from_env(environ).with_options(**given)
    except ConfigError as exc:
        sources = [
            option_name(field) if field in given else f"ECS1_{field.upper()}"
            for field in exc.fields
            if field in given or environ.get(f"ECS1_{field.upper()}")
        ]
        sources = [source for source in sources if source not in str(exc)]
        if not sources:
            raise
        raise ConfigError(f"{exc} (set by {', '.join(sources)})", *exc.fields) from None


@dataclass(frozen=True)
class RenderOptions:
    """What `invoke render` takes, and `invoke deploy` with it: '' keeps the ECS1_* value or the default."""

    connection_arn: str = ""
    github_repo: str = ""
    branch: str = ""
    region: str = ""
    ecr_repository: str = ""
    artifact_bucket: str = ""
    cpu: str = ""
    memory: str = ""
    architecture: str = ""
    capacity_provider: str = ""
    image_tag: str = ""
    database: str = ""
    out: str = DEFAULT_TEMPLATES_DIR

    @classmethod
    def names(cls) -> list[str]:
        """The options as the command line spells them, for a task's help."""
        return [field.name.replace("_", "-") for field in fields(cls)]

    @classmethod
    def pick(cls, arguments: Mapping[str, Any]) -> RenderOptions:
        """The render options among a task's arguments (a task passes its `locals()`)."""
        return cls(**{field.name: arguments[field.name] for field in fields(cls)})

    @property
    def explicit_image_tag(self) -> bool:
        """An image tag the user chose (deployed as given) rather than this checkout's commit."""
        return bool(self.image_tag or os.environ.get("ECS1_IMAGE_TAG"))

    def config(self) -> ProjectConfig:
        """The config these options describe. Build it once per task: the default image tag asks git."""
        options = asdict(self)
        del options["out"]
        options["cpu"] = whole_number(self.cpu, "cpu") if self.cpu else None
        options["memory"] = whole_number(self.memory, "memory") if self.memory else None
        options["architecture"] = self.architecture.upper()
        options["capacity_provider"] = self.capacity_provider.upper()
        options["database"] = self.database.lower()
        if not self.image_tag and not os.environ.get("ECS1_IMAGE_TAG"):
            options["image_tag"] = current_image_tag()
        return project_config(options)


def render_templates(
    config: ProjectConfig, out: str | Path, echo: Callable[[str], None] = print
) -> list[Path]:
    """Write the four templates (and the app stack's configuration) into `out`; say what was written."""
    from troposphere_templates.render import render_all

    written = render_all(config, Path(out))
    for path in written:
        echo(f"wrote {path}")
    echo(
        f"rendered {config.app_stack} ({config.architecture} {config.cpu}/{config.memory}, "
        f"{config.capacity_provider}, images :*-{config.image_tag}) and 3 pipelines for {config.region}"
    )
    return written


@contextmanager
def app_template(template: str = "", database: str = "") -> Iterator[tuple[Path, str]]:
    """The app template to read, and how to name it: `template`; without one, build/templates/app.json if
    rendered, else the default configuration rendered into a temporary folder: the user's files are never
    written over. With `database`, the ECS1_* configuration in that mode, rendered into a temporary folder."""
    import tempfile

    from troposphere_templates.render import render_all

    if template and database:
        raise LifecycleError("give --template (a rendered template) or --database (a mode), not both")
    if database:
        config = project_config({"database": database.lower()})
        with tempfile.TemporaryDirectory() as folder:
            render_all(config, Path(folder))
            yield Path(folder) / "app.json", f"the {config.database} configuration"
        return
    if template:
        if not Path(template).is_file():
            raise LifecycleError(
                f"{template} does not exist: render it (invoke render --out <folder>) or leave out --template"
            )
        yield Path(template), template
        return
    rendered = Path(DEFAULT_TEMPLATES_DIR) / "app.json"
    if rendered.is_file():
        yield rendered, str(rendered)
        return
    with tempfile.TemporaryDirectory() as folder:
        render_all(project_config(), Path(folder))
        yield Path(folder) / "app.json", f"the default configuration (no {rendered} yet)"


def cost_report(template: str = "", database: str = "") -> str:
    """The cost report of `template` or of a `database` mode (see `app_template`)."""
    from troposphere_templates.cost import report

    with app_template(template, database) as (path, name):
        return report(path).replace(str(path), name)
