"""Local::Test::Failure: a test-only resource that fails on purpose, to drive a stack into ROLLBACK_COMPLETE,
UPDATE_ROLLBACK_COMPLETE or DELETE_FAILED (moto never fails by itself).

    Boom:
      Type: Local::Test::Failure
      Properties: {FailOn: Create, Reason: "disk full"}   # FailOn: Create | Update | Delete

It exists only in this emulator: never put it in a template meant for AWS.
"""

from __future__ import annotations

from typing import Any

from local_aws._base import Emulated
from local_aws.moto_adapter import CloudFormationModel

FAILURE_TYPE = "Local::Test::Failure"
_DEFAULT_REASON = "Local::Test::Failure failed on purpose"


class ResourceFailedOnPurpose(Exception):
    pass


class Failure(Emulated, CloudFormationModel):
    CFN_TYPE = FAILURE_TYPE

    def __init__(self, name: str, fail_on: str, reason: str):
        self.name = name
        self.fail_on = fail_on
        self.reason = reason

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Failure:
        fail_on, reason = props.get("FailOn", "Create"), props.get("Reason", _DEFAULT_REASON)
        if fail_on not in ("Create", "Update", "Delete"):
            raise ValueError(f"FailOn must be Create, Update or Delete, not {fail_on!r}")
        if fail_on == "Create":
            raise ResourceFailedOnPurpose(reason)
        return cls(name, fail_on, reason)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Failure:
        if props.get("FailOn") == "Update":
            raise ResourceFailedOnPurpose(props.get("Reason", _DEFAULT_REASON))
        return type(self)(self.name, props.get("FailOn", "Create"), props.get("Reason", _DEFAULT_REASON))

    def delete(self, account_id: str, region_name: str) -> None:
        if self.fail_on == "Delete":
            raise ResourceFailedOnPurpose(self.reason)
