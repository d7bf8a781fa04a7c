"""The boilerplate every emulated CloudFormation resource type shares.

moto builds its type -> model map from `CloudFormationModel.__subclasses__()`, which lists *direct* subclasses
only, so each emulation is declared `class X(Emulated, CloudFormationModel)`: this mixin carries the shared
parts without hiding the class from that map.
"""

from __future__ import annotations

from typing import Any, ClassVar

from local_aws.moto_adapter import UnformattedGetAttTemplateException


class ReplacementRequired(Exception):
    """Raised by `Emulated.update` when the change cannot be made in place (a new name, a new
    VPC...): the stack engine then creates a new physical resource and deletes the old one, as AWS does
    (keeping the old one when the template says UpdateReplacePolicy: Retain)."""


class Emulated:
    CFN_TYPE: ClassVar[str]
    # The property that names the resource (moto generates "<stack>-<logical id>-<suffix>" when it is absent).
    NAME_PROPERTY: ClassVar[str] = ""
    # Whether a replacement that keeps the name fails, as CloudFormation fails it for a custom-named
    # resource whose name must be unique (an RDS instance); not for names shared by versions (a task
    # definition family).
    NAME_BLOCKS_REPLACEMENT: ClassVar[bool] = False
    # GetAtt attribute name -> instance attribute holding its value.
    ATTRIBUTES: ClassVar[dict[str, str]] = {}

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.CFN_TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.ATTRIBUTES:
            raise UnformattedGetAttTemplateException()
        return getattr(self, self.ATTRIBUTES[attribute_name])

    def is_created(self) -> bool:
        return True

    # moto's entry points, with its long signatures, in one place; an emulation writes `create` and, when the
    # type can change in place, `update`.

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        return cls.create(resource_name, cloudformation_json.get("Properties", {}), account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        props = cloudformation_json.get("Properties", {})
        return original_resource.update(new_resource_name, props, account_id, region_name)

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Any:
        raise NotImplementedError(f"{cls.CFN_TYPE} emulation has no create")

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Any:
        """Change the resource in place; by default every change replaces it, as for an immutable type."""
        raise ReplacementRequired

    @classmethod
    def delete_from_cloudformation_json(cls, *args: Any, **kwargs: Any) -> None:
        # moto calls instance.delete(account_id, region_name) first and falls back to this only when that
        # raised TypeError/AttributeError: a bug in the emulation, so say so instead of a silent no-op.
        raise RuntimeError(f"local_aws: deleting a {cls.CFN_TYPE} failed inside the emulation")


class NamedResource(Emulated):
    """A resource whose physical id is its name, and which carries its ARN for GetAtt Arn."""

    def __init__(self, name: str, arn: str):
        self.name = name
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.name
