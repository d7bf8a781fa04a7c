"""EC2, Lambda, S3 and IAM pieces moto's CloudFormation creates but never deletes, or does not know at all.

moto's models for AWS::EC2::InternetGateway, ::VPCGatewayAttachment, ::RouteTable, ::Route,
::SecurityGroupIngress and ::VPCEndpoint create the resource but have no deletion, so a stack delete leaves
them behind and the VPC cannot go (DependencyViolation). `install()` gives those moto classes the
`delete(account_id, region_name)` method moto's stack deletion calls, and the EFS models their Ref/GetAtt
values. Each `_delete_*` function below is such a model's missing `delete`, written against the backend's own
methods only, so it can be offered to moto as is. The types moto gets wrong or lacks are emulated below: a
subnet/route-table association that really associates, security-group egress rules, Lambda permissions with a
statement id, S3 bucket policies and IAM inline role policies.
"""

from __future__ import annotations

import json
from typing import Any

from local_aws._base import Emulated, ReplacementRequired
from local_aws.moto_adapter import (
    AccessPoint,
    CloudFormationModel,
    FileSystem,
    InternetGateway,
    LogGroup,
    MountTarget,
    Route,
    RouteTable,
    SecurityGroupIngress,
    UnformattedGetAttTemplateException,
    VPCEndPoint,
    VPCGatewayAttachment,
    ec2_backends,
    efs_backends,
    get_partition,
    iam_backends,
    kept,
    lambda_backends,
    original,
    patch,
    s3_backends,
    set_file_system_backup,
)


def _ec2(account_id: str, region_name: str) -> Any:
    return ec2_backends[account_id][region_name]


def _delete_internet_gateway(self: InternetGateway, account_id: str, region_name: str) -> None:
    _ec2(account_id, region_name).delete_internet_gateway(self.id)


def _delete_gateway_attachment(self: VPCGatewayAttachment, account_id: str, region_name: str) -> None:
    _ec2(account_id, region_name).detach_internet_gateway(self.gateway_id, self.vpc_id)


def _delete_route_table(self: RouteTable, account_id: str, region_name: str) -> None:
    _ec2(account_id, region_name).delete_route_table(self.id)


def _delete_route(self: Route, account_id: str, region_name: str) -> None:
    _ec2(account_id, region_name).delete_route(
        self.route_table.id,
        self.destination_cidr_block,
        destination_ipv6_cidr_block=self.destination_ipv6_cidr_block,
        destination_prefix_list_id=self.destination_prefix_list.id if self.destination_prefix_list else None,
    )


def _ingress_rule(properties: dict[str, Any]) -> dict[str, Any]:
    source_group = {
        key: properties[prop]
        for key, prop in (("GroupId", "SourceSecurityGroupId"), ("GroupName", "SourceSecurityGroupName"))
        if prop in properties
    }
    return {
        "ip_protocol": str(properties["IpProtocol"]),
        "from_port": properties.get("FromPort"),
        "to_port": properties.get("ToPort"),
        "ip_ranges": (
            [{"CidrIp": properties["CidrIp"], "Description": properties.get("Description")}]
            if "CidrIp" in properties
            else []
        ),
        "source_groups": [source_group] if source_group else [],
    }


def _delete_ingress(self: SecurityGroupIngress, account_id: str, region_name: str) -> None:
    _ec2(account_id, region_name).revoke_security_group_ingress(
        group_name_or_id=self.security_group.id, **_ingress_rule(self.properties)
    )


def _delete_vpc_endpoint(self: VPCEndPoint, account_id: str, region_name: str) -> None:
    backend = _ec2(account_id, region_name)
    backend.delete_vpc_endpoints([self.id])
    # moto keeps a deleted endpoint listed in state "deleted"; AWS drops it from the listing soon after.
    backend.vpc_end_points.pop(self.id, None)


def _give_attributes(cls: type, attributes: dict[str, str], physical_id: str | None = None) -> None:
    """GetAtt support (and a Ref value) for a moto model that lacks them: attribute -> instance attribute."""

    def get_cfn_attribute(self: Any, attribute_name: str) -> Any:
        if attribute_name not in attributes:
            raise UnformattedGetAttTemplateException()
        return getattr(self, attributes[attribute_name])

    patch(cls, "has_cfn_attr", classmethod(lambda _cls, attr: attr in attributes), new=True)
    patch(cls, "get_cfn_attribute", get_cfn_attribute, new=True)
    if physical_id:
        patch(cls, "physical_resource_id", property(lambda self: getattr(self, physical_id)), new=True)


def _update_log_group(
    cls: type[LogGroup],
    original_resource: LogGroup,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> LogGroup:
    # AWS changes a log group's retention in place; without this, moto's stack update would replace the group,
    # which fails for a named group (the new one's name is taken by the old one).
    props = cloudformation_json["Properties"]
    if props.get("LogGroupName", original_resource.name) != original_resource.name:
        raise ReplacementRequired
    original_resource.set_retention_policy(props.get("RetentionInDays"))
    return original_resource


_moto_create_file_system = original(FileSystem, "create_from_cloudformation_json").__func__
# Changing these creates a new file system in AWS; the rest (policy, backup, lifecycle, throughput, tags)
# changes in place.
_FILE_SYSTEM_REPLACING = ("Encrypted", "KmsKeyId", "PerformanceMode", "AvailabilityZoneName")


def _apply_file_system_settings(
    file_system: FileSystem, props: dict[str, Any], account_id: str, region: str
) -> None:
    backend = efs_backends[account_id][region]
    policy = props.get("FileSystemPolicy")
    file_system.file_system_policy = json.dumps(policy) if isinstance(policy, dict) else policy
    set_file_system_backup(file_system, props.get("BackupPolicy", {}).get("Status") == "ENABLED")
    file_system.throughput_mode = props.get("ThroughputMode", "bursting")
    file_system.provisioned_throughput_in_mibps = props.get("ProvisionedThroughputInMibps", 0)
    backend.put_lifecycle_configuration(file_system.file_system_id, props.get("LifecyclePolicies", []))


def _create_file_system(
    cls: type[FileSystem],
    resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
    **kwargs: Any,
) -> FileSystem:
    # moto's version drops FileSystemPolicy.
    file_system = _moto_create_file_system(cls, resource_name, cloudformation_json, account_id, region_name)
    _apply_file_system_settings(file_system, cloudformation_json["Properties"], account_id, region_name)
    return file_system


def _update_file_system(
    cls: type[FileSystem],
    original_resource: FileSystem,
    new_resource_name: str,
    cloudformation_json: dict[str, Any],
    account_id: str,
    region_name: str,
) -> FileSystem:
    props = cloudformation_json["Properties"]
    old_props = kept(original_resource, "properties", {})
    if any(props.get(key) != old_props.get(key) for key in _FILE_SYSTEM_REPLACING):
        raise ReplacementRequired
    _apply_file_system_settings(original_resource, props, account_id, region_name)
    return original_resource


def install() -> None:
    """Patch the moto models above in place (idempotent: each patch just sets the same attributes)."""
    patch(FileSystem, "create_from_cloudformation_json", classmethod(_create_file_system))
    patch(FileSystem, "update_from_cloudformation_json", classmethod(_update_file_system))
    patch(LogGroup, "update_from_cloudformation_json", classmethod(_update_log_group))
    # EFS: Ref of an access point is its id (moto gives the object itself), and GetAtt Arn/Id work.
    _give_attributes(
        AccessPoint, {"AccessPointId": "access_point_id", "Arn": "access_point_arn"}, "access_point_id"
    )
    _give_attributes(FileSystem, {"FileSystemId": "file_system_id", "Arn": "file_system_arn"})
    _give_attributes(MountTarget, {"IpAddress": "ip_address", "Id": "mount_target_id"})
    patch(InternetGateway, "delete", _delete_internet_gateway, new=True)
    patch(VPCGatewayAttachment, "delete", _delete_gateway_attachment, new=True)
    patch(RouteTable, "delete", _delete_route_table, new=True)
    patch(Route, "delete", _delete_route, new=True)
    patch(SecurityGroupIngress, "delete", _delete_ingress, new=True)
    patch(VPCEndPoint, "delete", _delete_vpc_endpoint, new=True)


class SubnetRouteTableAssociation(Emulated, CloudFormationModel):
    """moto's version records the pair aside without associating the subnet in the route table."""

    CFN_TYPE = "AWS::EC2::SubnetRouteTableAssociation"
    ATTRIBUTES = {"Id": "association_id"}

    def __init__(self, association_id: str):
        self.association_id = association_id

    @property
    def physical_resource_id(self) -> str:
        return self.association_id

    @classmethod
    def create(
        cls, name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> SubnetRouteTableAssociation:
        association_id = _ec2(account_id, region_name).associate_route_table(
            props["RouteTableId"], subnet_id=props["SubnetId"]
        )
        return cls(association_id)

    def delete(self, account_id: str, region_name: str) -> None:
        _ec2(account_id, region_name).disassociate_route_table(self.association_id)


class SecurityGroupEgress(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::EC2::SecurityGroupEgress"
    ATTRIBUTES = {"Id": "rule_id"}

    def __init__(self, group_id: str, rule: dict[str, Any], rule_id: str):
        self.group_id = group_id
        self.rule = rule
        self.rule_id = rule_id

    @property
    def physical_resource_id(self) -> str:
        return self.rule_id

    @staticmethod
    def _rule(props: dict[str, Any]) -> dict[str, Any]:
        destination_group = props.get("DestinationSecurityGroupId")
        return {
            "ip_protocol": str(props["IpProtocol"]),
            "from_port": props.get("FromPort"),
            "to_port": props.get("ToPort"),
            "ip_ranges": (
                [{"CidrIp": props["CidrIp"], "Description": props.get("Description")}]
                if "CidrIp" in props
                else []
            ),
            "source_groups": [{"GroupId": destination_group}] if destination_group else [],
            "prefix_list_ids": (
                [{"PrefixListId": props["DestinationPrefixListId"]}]
                if "DestinationPrefixListId" in props
                else []
            ),
        }

    @classmethod
    def create(
        cls, name: str, props: dict[str, Any], account_id: str, region_name: str
    ) -> SecurityGroupEgress:
        rule = cls._rule(props)
        rules, _ = _ec2(account_id, region_name).authorize_security_group_egress(
            group_name_or_id=props["GroupId"], **rule
        )
        return cls(props["GroupId"], rule, rules[0].id)

    def delete(self, account_id: str, region_name: str) -> None:
        _ec2(account_id, region_name).revoke_security_group_egress(
            group_name_or_id=self.group_id, **self.rule
        )


class LambdaPermission(Emulated, CloudFormationModel):
    """moto's version adds the statement under a random id it does not keep, so it can never be removed."""

    CFN_TYPE = "AWS::Lambda::Permission"

    def __init__(self, function_name: str, statement_id: str):
        self.function_name = function_name
        self.statement_id = statement_id

    @property
    def physical_resource_id(self) -> str:
        return self.statement_id

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> LambdaPermission:
        function = lambda_backends[account_id][region_name].get_function(props["FunctionName"])
        function.policy.add_statement(raw=json.dumps({**props, "StatementId": name}))
        return cls(props["FunctionName"], name)

    def delete(self, account_id: str, region_name: str) -> None:
        backend = lambda_backends[account_id][region_name]
        backend.remove_permission(self.function_name, self.statement_id)


class BucketPolicy(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::S3::BucketPolicy"

    def __init__(self, bucket: str):
        self.bucket = bucket

    @property
    def physical_resource_id(self) -> str:
        return self.bucket

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> BucketPolicy:
        document = props["PolicyDocument"]
        s3_backends[account_id][get_partition(region_name)].put_bucket_policy(
            props["Bucket"], (document if isinstance(document, str) else json.dumps(document)).encode()
        )
        return cls(props["Bucket"])

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> BucketPolicy:
        if props["Bucket"] != self.bucket:
            self.delete(account_id, region_name)
        return type(self).create(name, props, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        s3_backends[account_id][get_partition(region_name)].delete_bucket_policy(self.bucket)


class RolePolicy(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::IAM::RolePolicy"

    def __init__(self, role_name: str, policy_name: str):
        self.role_name = role_name
        self.policy_name = policy_name

    @property
    def physical_resource_id(self) -> str:
        return self.policy_name

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> RolePolicy:
        document = props["PolicyDocument"]
        iam_backends[account_id][get_partition(region_name)].put_role_policy(
            props["RoleName"],
            props["PolicyName"],
            document if isinstance(document, str) else json.dumps(document),
        )
        return cls(props["RoleName"], props["PolicyName"])

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> RolePolicy:
        if (props["RoleName"], props["PolicyName"]) != (
            self.role_name,
            self.policy_name,
        ):
            self.delete(account_id, region_name)
        return type(self).create(name, props, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        iam_backends[account_id][get_partition(region_name)].delete_role_policy(
            self.role_name, self.policy_name
        )
