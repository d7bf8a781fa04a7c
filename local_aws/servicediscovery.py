"""AWS::ServiceDiscovery::* (Cloud Map) emulations backed by moto's servicediscovery backend."""

from __future__ import annotations

from typing import Any

from local_aws._base import Emulated, ReplacementRequired
from local_aws.moto_adapter import (
    CloudFormationModel,
    ServiceDiscoveryBackend,
    get_partition,
    route53_backends,
    servicediscovery_backends,
)


def _backend(account_id: str, region_name: str) -> ServiceDiscoveryBackend:
    return servicediscovery_backends[account_id][region_name]


class PrivateDnsNamespace(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::ServiceDiscovery::PrivateDnsNamespace"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = {"Id": "namespace_id", "Arn": "arn", "HostedZoneId": "hosted_zone_id"}

    def __init__(self, namespace: Any):
        self.namespace_id = namespace.id
        self.arn = namespace.arn
        self.hosted_zone_id = namespace.dns_properties["HostedZoneId"]

    @property
    def physical_resource_id(self) -> str:
        return self.namespace_id

    @classmethod
    def create(
        cls, name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> PrivateDnsNamespace:
        backend = _backend(account_id, region_name)
        operation_id = backend.create_private_dns_namespace(
            name=props.get("Name", name),
            creator_request_id=None,  # type: ignore[arg-type]
            description=props.get("Description"),  # type: ignore[arg-type]
            vpc=props["Vpc"],
            tags=props.get("Tags", []),
            properties=props.get("Properties", {}),
        )
        namespace_id = backend.get_operation(operation_id).targets["NAMESPACE"]
        return cls(backend.get_namespace(namespace_id))

    def update(
        self, name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> PrivateDnsNamespace:
        backend = _backend(account_id, region_name)
        namespace = backend.get_namespace(self.namespace_id)
        if namespace.name != props.get("Name", name) or namespace.vpc != props["Vpc"]:
            raise ReplacementRequired
        namespace.description = props.get("Description")  # type: ignore[assignment]  # None: no description
        namespace.dns_properties = {
            **props.get("Properties", {}).get("DnsProperties", {}),
            "HostedZoneId": self.hosted_zone_id,
        }
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).delete_namespace(self.namespace_id)
        # Cloud Map deletes the private hosted zone it created for the namespace; moto leaves it behind.
        route53_backends[account_id][get_partition(region_name)].delete_hosted_zone(self.hosted_zone_id)


class Service(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::ServiceDiscovery::Service"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = {"Id": "service_id", "Arn": "arn", "Name": "name"}

    def __init__(self, service: Any):
        self.service_id = service.id
        self.arn = service.arn
        self.name = service.name

    @property
    def physical_resource_id(self) -> str:
        return self.service_id

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Service:
        dns_config = props.get("DnsConfig")
        namespace_id = props.get("NamespaceId") or (dns_config or {}).get("NamespaceId")
        service = _backend(account_id, region_name).create_service(
            name=props.get("Name", name),
            namespace_id=namespace_id,  # type: ignore[arg-type]
            creator_request_id=None,  # type: ignore[arg-type]
            description=props.get("Description"),  # type: ignore[arg-type]
            dns_config=dns_config,  # type: ignore[arg-type]
            health_check_config=props.get("HealthCheckConfig"),  # type: ignore[arg-type]
            health_check_custom_config=props.get("HealthCheckCustomConfig"),  # type: ignore[arg-type]
            tags=props.get("Tags", []),
            service_type=props.get("Type"),  # type: ignore[arg-type]
        )
        return cls(service)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Service:
        backend = _backend(account_id, region_name)
        service = backend.get_service(self.service_id)
        replaced = (
            service.name != props.get("Name", name)
            or service.namespace_id
            != (props.get("NamespaceId") or props.get("DnsConfig", {}).get("NamespaceId"))
            or service.health_check_custom_config != props.get("HealthCheckCustomConfig")
        )
        if replaced:
            raise ReplacementRequired
        details: dict[str, Any] = {
            key: props[key] for key in ("Description", "DnsConfig", "HealthCheckConfig") if key in props
        }
        backend.update_service(self.service_id, details)
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        _backend(account_id, region_name).delete_service(self.service_id)
