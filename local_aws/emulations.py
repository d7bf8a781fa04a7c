"""Registers the project's CloudFormation emulations with moto and lists what a template needs beyond them."""

from __future__ import annotations

from typing import Any

from local_aws import (
    apigatewayv2,
    applicationautoscaling,
    change_sets,
    devtools,
    ecs,
    failure,
    iam_resources,
    log_filters,
    moto_gaps,
    rds,
    secretsmanager,
    servicediscovery,
    stacks,
)
from local_aws.moto_adapter import parsing

# Every type this package emulates or replaces, by module (documentation and tests read this).
EMULATED_TYPES: tuple[str, ...] = tuple(
    cls.CFN_TYPE
    for module in (
        apigatewayv2,
        servicediscovery,
        devtools,
        secretsmanager,
        ecs,
        moto_gaps,
        failure,
        rds,
        applicationautoscaling,
    )
    for cls in vars(module).values()
    if isinstance(cls, type)
    and getattr(cls, "__module__", "") == module.__name__
    and hasattr(cls, "CFN_TYPE")
)


def install() -> None:
    """Make moto's CloudFormation use the emulations (idempotent).

    moto builds its type -> model map once, from `CloudFormationModel.__subclasses__()`, behind lru_caches:
    the emulation classes exist as soon as their modules are imported (above), and clearing the caches makes
    the next lookup see them. A type moto already has is replaced, because later subclasses win in the map.
    """
    for cache in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cache.cache_clear()
    moto_gaps.install()
    apigatewayv2.install()
    ecs.keep_tasks_running()
    log_filters.install()
    stacks.install()
    iam_resources.install()
    change_sets.install()


def unsupported_types(template: dict[str, Any]) -> list[str]:
    """Resource types in `template` that this emulator cannot create faithfully, sorted.

    A type is supported when moto's model map (with the emulations installed) has a model for it. moto's
    CloudFormation would silently skip the others (and WaitCondition; Lambda-backed Custom:: resources need a
    container runtime), so they are reported instead.
    """
    install()
    model_map = parsing.get_model_map()
    types = {resource["Type"] for resource in template.get("Resources", {}).values()}
    return sorted(t for t in types if t not in model_map)
