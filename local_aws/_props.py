"""Small helpers shared by the emulations: CloudFormation property shapes -> moto API shapes."""

from __future__ import annotations

from typing import Any


def camelize(
    value: Any, keep_values_of: frozenset[str] = frozenset(), renames: dict[str, str] | None = None
) -> Any:
    """PascalCase keys (CloudFormation) -> camelCase keys (most JSON APIs), recursively.

    Values under a key in `keep_values_of` are copied as they are: their keys are data, not property names
    (a CodePipeline action's Configuration, a stage's StageVariables). `renames` covers the keys whose API
    spelling is not simply camelCase (EFSVolumeConfiguration -> efsVolumeConfiguration).
    """
    renames = renames or {}
    if isinstance(value, list):
        return [camelize(item, keep_values_of, renames) for item in value]
    if isinstance(value, dict):
        return {
            renames.get(key, key[:1].lower() + key[1:]): (
                item if key in keep_values_of else camelize(item, keep_values_of, renames)
            )
            for key, item in value.items()
        }
    return value


def tag_map(tags: Any) -> dict[str, str]:
    """Tags given as a CloudFormation list of {Key, Value} or as a JSON map -> a plain dict."""
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return {tag["Key"]: tag["Value"] for tag in tags or []}


def as_bool(value: Any) -> bool | None:
    """CloudFormation passes booleans as real booleans or as the strings "true"/"false"."""
    if value is None or isinstance(value, bool):
        return value
    return str(value).lower() == "true"
