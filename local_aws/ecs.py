"""AWS::ECS::* emulations replacing moto's own, which drop most properties (CPU, memory, network mode, roles,
EFS volumes, network configuration, service registries, capacity provider strategy) and never delete anything
when the stack is deleted."""

from __future__ import annotations

from typing import Any

from local_aws._base import Emulated, NamedResource, ReplacementRequired
from local_aws._props import camelize
from local_aws.moto_adapter import (
    CloudFormationModel,
    EC2ContainerServiceBackend,
    ecs_backends,
    validate_network,
)

# Keys whose API spelling is not the camelCase of the CloudFormation one.
_ECS_RENAMES = {
    "EFSVolumeConfiguration": "efsVolumeConfiguration",
    "FilesystemId": "fileSystemId",
    "IAM": "iam",
}
# Values whose keys are data (log driver options, label names), copied as they are.
_ECS_DATA = frozenset({"Options", "DockerLabels"})


def _backend(account_id: str, region_name: str) -> EC2ContainerServiceBackend:
    return ecs_backends[account_id][region_name]


def _ecs_shape(value: Any) -> Any:
    return camelize(value, keep_values_of=_ECS_DATA, renames=_ECS_RENAMES)


def _ecs_tags(props: dict[str, Any]) -> list[dict[str, str]]:
    return [{"key": tag["Key"], "value": tag["Value"]} for tag in props.get("Tags", [])]


class Cluster(NamedResource, CloudFormationModel):
    CFN_TYPE = "AWS::ECS::Cluster"
    NAME_PROPERTY = "ClusterName"
    ATTRIBUTES = {"Arn": "arn"}

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Cluster:
        cluster = _backend(account_id, region_name).create_cluster(
            cluster_name=props.get("ClusterName", name),
            tags=_ecs_tags(props),
            cluster_settings=_ecs_shape(props.get("ClusterSettings")),
            configuration=_ecs_shape(props.get("Configuration")),
            capacity_providers=props.get("CapacityProviders"),
            default_capacity_provider_strategy=_ecs_shape(props.get("DefaultCapacityProviderStrategy")),
        )
        return cls(cluster.name, cluster.arn)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Cluster:
        if props.get("ClusterName", self.name) != self.name:
            raise ReplacementRequired
        backend = _backend(account_id, region_name)
        backend.update_cluster(
            self.name,
            cluster_settings=_ecs_shape(props.get("ClusterSettings")),
            configuration=_ecs_shape(props.get("Configuration")),
            service_connect_defaults=None,
        )
        backend.put_cluster_capacity_providers(
            self.name,
            capacity_providers=props.get("CapacityProviders", []),
            default_capacity_provider_strategy=_ecs_shape(props.get("DefaultCapacityProviderStrategy", [])),
        )
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        # As in AWS, a deleted cluster stays visible as INACTIVE for a while.
        _backend(account_id, region_name).delete_cluster(self.name)


class ClusterCapacityProviderAssociations(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::ECS::ClusterCapacityProviderAssociations"

    def __init__(self, cluster: str):
        self.cluster = cluster

    @property
    def physical_resource_id(self) -> str:
        return self.cluster

    @classmethod
    def create(
        cls, name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> ClusterCapacityProviderAssociations:
        _backend(account_id, region_name).put_cluster_capacity_providers(
            props["Cluster"],
            capacity_providers=props["CapacityProviders"],
            default_capacity_provider_strategy=_ecs_shape(props["DefaultCapacityProviderStrategy"]),
        )
        return cls(props["Cluster"])

    def update(
        self, name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> ClusterCapacityProviderAssociations:
        return type(self).create(name, props, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).put_cluster_capacity_providers(
            self.cluster, capacity_providers=[], default_capacity_provider_strategy=[]
        )


class TaskDefinition(Emulated, CloudFormationModel):
    """Every property change replaces a task definition (a new revision), which the stack engine does for a
    type without an `update`; the old revision is deregistered."""

    CFN_TYPE = "AWS::ECS::TaskDefinition"
    NAME_PROPERTY = "Family"
    ATTRIBUTES = {"TaskDefinitionArn": "arn"}

    def __init__(self, arn: str):
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> TaskDefinition:
        definition = _backend(account_id, region_name).register_task_definition(
            family=props.get("Family", name),
            container_definitions=_ecs_shape(props.get("ContainerDefinitions", [])),
            volumes=_ecs_shape(props.get("Volumes")),
            network_mode=props.get("NetworkMode"),
            tags=_ecs_tags(props),
            placement_constraints=_ecs_shape(props.get("PlacementConstraints")),
            requires_compatibilities=props.get("RequiresCompatibilities"),
            cpu=props.get("Cpu"),
            memory=props.get("Memory"),
            task_role_arn=props.get("TaskRoleArn"),
            execution_role_arn=props.get("ExecutionRoleArn"),
            proxy_configuration=_ecs_shape(props.get("ProxyConfiguration")),
            runtime_platform=_ecs_shape(props.get("RuntimePlatform")),
            ipc_mode=props.get("IpcMode"),
            pid_mode=props.get("PidMode"),
            ephemeral_storage=_ecs_shape(props.get("EphemeralStorage")),
        )
        return cls(definition.arn)

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).deregister_task_definition(self.arn)


class Service(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::ECS::Service"
    NAME_PROPERTY = "ServiceName"
    ATTRIBUTES = {"Name": "name", "ServiceArn": "arn"}

    def __init__(self, cluster: str, name: str, arn: str):
        self.cluster = cluster
        self.name = name
        self.arn = arn

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def _apply_settings(service: Any, props: dict[str, Any]) -> None:
        # Settings moto's create/update_service do not take, stored where describe_services reads them.
        strategy = _ecs_shape(props.get("CapacityProviderStrategy"))
        service.capacity_provider_strategy = strategy
        if strategy:
            service.launch_type = None
            for deployment in service.deployments:
                deployment["launchType"] = None
                deployment["capacityProviderStrategy"] = strategy
        service.deployment_configuration = _ecs_shape(props.get("DeploymentConfiguration"))
        service.enable_execute_command = props.get("EnableExecuteCommand", False)
        service.health_check_grace_period_seconds = props.get("HealthCheckGracePeriodSeconds")
        service.service_registries = _ecs_shape(props.get("ServiceRegistries", []))
        if "NetworkConfiguration" in props:
            service.network_configuration = validate_network(
                service, _ecs_shape(props["NetworkConfiguration"])
            )

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Service:
        cluster = props.get("Cluster", "default")
        service = _backend(account_id, region_name).create_service(
            cluster,
            props.get("ServiceName", name),
            int(props.get("DesiredCount", 1)),
            task_definition_str=props.get("TaskDefinition"),
            load_balancers=_ecs_shape(props.get("LoadBalancers", [])),
            scheduling_strategy=props.get("SchedulingStrategy"),
            tags=_ecs_tags(props),
            deployment_controller=_ecs_shape(props.get("DeploymentController")),
            launch_type=props.get("LaunchType", "FARGATE" if props.get("CapacityProviderStrategy") else None),
            service_registries=_ecs_shape(props.get("ServiceRegistries", [])),
            platform_version=props.get("PlatformVersion"),
            propagate_tags=props.get("PropagateTags", "NONE"),
            network_configuration=_ecs_shape(props.get("NetworkConfiguration")),
            role_arn=props.get("Role"),
        )
        cls._apply_settings(service, props)
        return cls(cluster, service.name, service.arn)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Service:
        replaced = (
            props.get("ServiceName", self.name) != self.name
            or props.get("Cluster", "default") != self.cluster
        )
        if replaced:
            raise ReplacementRequired
        service = _backend(account_id, region_name).update_service(
            {
                "cluster": self.cluster,
                "service": self.name,
                "task_definition": props.get("TaskDefinition"),
                "desired_count": int(props.get("DesiredCount", 1)),
            }
        )
        type(self)._apply_settings(service, props)
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        # CloudFormation scales the service to zero and deletes it; moto then shows it INACTIVE, like AWS.
        _backend(account_id, region_name).delete_service(self.cluster, self.name, force=True)
