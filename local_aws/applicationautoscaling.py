"""AWS::ApplicationAutoScaling::ScalableTarget and ::ScalingPolicy emulations on moto's backend.

moto serves the Application Auto Scaling API (targets, policies and the CloudWatch alarms target tracking
creates) but has no CloudFormation model for either type. The target's Ref is AWS's
`<resource id>|<scalable dimension>|<namespace>`, which the policy's ScalingTargetId names.
"""

from __future__ import annotations

from typing import Any

from local_aws._base import Emulated, ReplacementRequired
from local_aws.moto_adapter import (
    ApplicationAutoscalingBackend,
    CloudFormationModel,
    applicationautoscaling_backends,
)


def _backend(account_id: str, region_name: str) -> ApplicationAutoscalingBackend:
    return applicationautoscaling_backends[account_id][region_name]


class ScalableTarget(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::ApplicationAutoScaling::ScalableTarget"

    def __init__(self, namespace: str, resource_id: str, dimension: str):
        self.namespace, self.resource_id, self.dimension = namespace, resource_id, dimension

    @property
    def physical_resource_id(self) -> str:
        return f"{self.resource_id}|{self.dimension}|{self.namespace}"

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> ScalableTarget:
        target = cls(props["ServiceNamespace"], props["ResourceId"], props["ScalableDimension"])
        target._register(props, account_id, region_name)
        return target

    def _register(self, props: dict[str, Any], account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).register_scalable_target(
            self.namespace,
            self.resource_id,
            self.dimension,
            min_capacity=int(props["MinCapacity"]),
            max_capacity=int(props["MaxCapacity"]),
            role_arn=props.get("RoleARN", ""),
            # moto's own handler passes None for an absent SuspendedState, though it annotates str.
            suspended_state=props.get("SuspendedState"),  # type: ignore[arg-type]
        )

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> ScalableTarget:
        identity = (props["ServiceNamespace"], props["ResourceId"], props["ScalableDimension"])
        if identity != (self.namespace, self.resource_id, self.dimension):
            raise ReplacementRequired
        self._register(props, account_id, region_name)
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).deregister_scalable_target(
            self.namespace, self.resource_id, self.dimension
        )


class ScalingPolicy(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::ApplicationAutoScaling::ScalingPolicy"
    ATTRIBUTES = {"Arn": "arn"}

    def __init__(self, arn: str, name: str, namespace: str, resource_id: str, dimension: str):
        self.arn, self.name = arn, name
        self.namespace, self.resource_id, self.dimension = namespace, resource_id, dimension

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> ScalingPolicy:
        if "ScalingTargetId" in props:
            resource_id, dimension, namespace = props["ScalingTargetId"].split("|")
        else:
            resource_id, dimension = props["ResourceId"], props["ScalableDimension"]
            namespace = props["ServiceNamespace"]
        policy_type = props["PolicyType"]
        body = props.get(
            "TargetTrackingScalingPolicyConfiguration", props.get("StepScalingPolicyConfiguration")
        )
        policy = _backend(account_id, region_name).put_scaling_policy(
            props["PolicyName"],
            namespace,
            resource_id,
            dimension,
            body,  # type: ignore[arg-type]  # moto's handler too passes None for an absent body
            policy_type,
        )
        return cls(policy.policy_arn, props["PolicyName"], namespace, resource_id, dimension)

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).delete_scaling_policy(
            self.name, self.namespace, self.resource_id, self.dimension
        )
