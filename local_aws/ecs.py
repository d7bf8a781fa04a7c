"""AWS::ECS::* emulations replacing moto's own, which drop most properties (CPU, memory, network mode, roles,
EFS volumes, network configuration, service registries, capacity provider strategy) and never delete anything
when the stack is deleted.

moto has no service scheduler either (a service never runs a task), so the Service emulation plays ECS's part:
each deployment starts `DesiredCount` tasks of the service's task definition, stops the tasks of the previous
one with ECS's reason, and completes. There is no image to pull, so tasks start at once and keep running.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from local_aws._base import Emulated, NamedResource, ReplacementRequired
from local_aws._props import camelize
from local_aws.moto_adapter import (
    CloudFormationModel,
    EC2ContainerServiceBackend,
    NetworkInterface,
    Task,
    ec2_backends,
    ecs_backends,
    mock_random,
    patch,
    set_undeclared,
    state_manager,
    utcnow,
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


# ECS's stoppedReason for a task that a new deployment replaces.
DEPLOYMENT_STOP_REASON = "Scaling activity initiated by (deployment {deployment})"
SERVICE_DELETED_REASON = "Service {service} was deleted"


def keep_tasks_running() -> None:
    """moto moves a task one state towards STOPPED each time it is described; ECS keeps it RUNNING until it
    is stopped (moto's documented state-transition setting)."""
    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 2**31})
    # moto's awsvpc task reads its network interface's private DNS name, which moto's interface lacks.
    if not hasattr(NetworkInterface, "private_dns_name"):
        patch(
            NetworkInterface,
            "private_dns_name",
            property(lambda eni: f"ip-{eni.private_ip_address.replace('.', '-')}.ec2.internal"),
            new=True,
        )


def _service_tasks(backend: EC2ContainerServiceBackend, service: Any) -> list[Any]:
    return [
        task
        for task in backend.tasks.get(service.cluster_name, {}).values()
        if task.group == f"service:{service.name}" and task.desired_status == "RUNNING"
    ]


def _stop(backend: EC2ContainerServiceBackend, service: Any, tasks: list[Any], reason: str) -> None:
    for task in tasks:
        backend.stop_task(service.cluster_name, task.task_arn, reason)
        task.stopped_at = datetime.now(UTC)
        task.stop_code = "ServiceSchedulerInitiated"
        for container in task.containers:
            container.last_status = "STOPPED"
        # As in ECS, a stopped task's network interface goes with it.
        for attachment in task.attachments:
            for detail in attachment["details"]:
                if detail["name"] == "networkInterfaceId":
                    ec2_backends[backend.account_id][backend.region_name].delete_network_interface(
                        detail["value"]
                    )


def _deploy(backend: EC2ContainerServiceBackend, service: Any) -> None:
    """A new deployment of the service: replace tasks of another task definition, run the desired count."""
    deployment_id = f"ecs-svc/{mock_random.randint(0, 32**12)}"
    tasks = _service_tasks(backend, service)
    outdated = [task for task in tasks if task.task_definition_arn != service.task_definition]
    _stop(backend, service, outdated, DEPLOYMENT_STOP_REASON.format(deployment=deployment_id))
    current = [task for task in tasks if task not in outdated]
    _stop(
        backend,
        service,
        current[service.desired_count :],
        DEPLOYMENT_STOP_REASON.format(deployment=deployment_id),
    )
    # moto's run_task would size the task from per-container memory, which a Fargate task need not have.
    cluster = backend._get_cluster(service.cluster_name)
    definition = backend.describe_task_definition(service.task_definition)
    now = datetime.now(UTC)
    for _ in range(max(0, service.desired_count - len(current))):
        task = Task(
            cluster,
            definition,
            container_instance_arn=None,
            resource_requirements=None,
            backend=backend,
            group=f"service:{service.name}",
            launch_type="FARGATE",
            started_by=deployment_id,
            networking_configuration=service.network_configuration or None,
        )
        set_undeclared(task, created_at=now, started_at=now)
        for container in task.containers:
            container.last_status = "RUNNING"
        backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    service.running_count, service.pending_count = service.desired_count, 0
    now = utcnow()
    previous = service.deployments[0] if service.deployments else {}
    service.deployments = [
        {
            **previous,
            "id": deployment_id,
            "status": "PRIMARY",
            "taskDefinition": service.task_definition,
            "desiredCount": service.desired_count,
            "pendingCount": 0,
            "runningCount": service.desired_count,
            "failedTasks": 0,
            "createdAt": now,
            "updatedAt": now,
            "rolloutState": "COMPLETED",
            "rolloutStateReason": f"ECS deployment {deployment_id} completed.",
        }
    ]


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
        _deploy(_backend(account_id, region_name), service)
        return cls(cluster, service.name, service.arn)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Service:
        replaced = (
            props.get("ServiceName", self.name) != self.name
            or props.get("Cluster", "default") != self.cluster
        )
        if replaced:
            raise ReplacementRequired
        backend = _backend(account_id, region_name)
        service = backend.update_service(
            {
                "cluster": self.cluster,
                "service": self.name,
                "task_definition": props.get("TaskDefinition"),
                "desired_count": int(props.get("DesiredCount", 1)),
            }
        )
        type(self)._apply_settings(service, props)
        _deploy(backend, service)
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        # CloudFormation scales the service to zero and deletes it; moto then shows it INACTIVE, like AWS.
        backend = _backend(account_id, region_name)
        service = backend._get_service(self.cluster, self.name)
        _stop(
            backend,
            service,
            _service_tasks(backend, service),
            SERVICE_DELETED_REASON.format(service=self.name),
        )
        backend.delete_service(self.cluster, self.name, force=True)
