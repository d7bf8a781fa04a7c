"""AWS::RDS::DBInstance emulation backed by moto's RDS backend, for the PostgreSQL mode's template.

moto's own CloudFormation model for the type drops ManageMasterUserPassword and VPCSecurityGroups, reads the
subnet group's Ref as an object, defaults the port to MySQL's and cannot answer `GetAtt MasterUserSecret.
SecretArn`; the backend itself does all of these, so this emulation passes the properties through to it. The
instance is a record (no PostgreSQL runs): the app on PostgreSQL is tested against a real server instead.

With `DBSnapshotIdentifier` the instance is restored from that snapshot (RestoreDBInstanceFromDBSnapshot), and
a change of that property replaces the instance, as the resource's documentation says.
"""

from __future__ import annotations

from typing import Any

from local_aws._base import Emulated, ReplacementRequired
from local_aws._props import as_bool
from local_aws.moto_adapter import CloudFormationModel, RDSBackend, rds_backends

# Changing any of these replaces an instance on AWS (the resource schema's createOnlyProperties).
CREATE_ONLY = (
    "DBInstanceIdentifier",
    "DBName",
    "DBSubnetGroupName",
    "MasterUsername",
    "Port",
    "StorageEncrypted",
    # Not create-only in the schema, but documented: a different snapshot restores a new instance, and none
    # (after a restore) creates an empty one; both replace the instance.
    "DBSnapshotIdentifier",
)


def _backend(account_id: str, region_name: str) -> RDSBackend:
    return rds_backends[account_id][region_name]


class DBInstance(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::RDS::DBInstance"
    NAME_PROPERTY = "DBInstanceIdentifier"
    NAME_BLOCKS_REPLACEMENT = True
    ATTRIBUTES = {
        "Endpoint.Address": "address",
        "Endpoint.Port": "port",
        "MasterUserSecret.SecretArn": "secret_arn",
        "DBInstanceArn": "arn",
    }

    def __init__(self, identifier: str, props: dict[str, Any], account_id: str, region_name: str):
        self.identifier = identifier
        self.props = props
        self.account_id, self.region_name = account_id, region_name
        self.deletion_policy = "Delete"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> DBInstance:
        instance = super().create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        # DeletionPolicy Snapshot: deleting the stack leaves a final snapshot, as CloudFormation does.
        instance.deletion_policy = cloudformation_json.get("DeletionPolicy", "Delete")
        return instance

    @property
    def physical_resource_id(self) -> str:
        return self.identifier

    @property
    def _instance(self) -> Any:
        return _backend(self.account_id, self.region_name).databases[self.identifier]

    @property
    def address(self) -> str:
        return self._instance.address

    @property
    def port(self) -> str:
        return str(self._instance.port)

    @property
    def arn(self) -> str:
        return self._instance.arn

    @property
    def secret_arn(self) -> str:
        return self._instance.master_user_secret.secret_arn

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> DBInstance:
        identifier = str(props.get("DBInstanceIdentifier", name)).lower()
        group = props.get("DBSubnetGroupName")
        settings = {
            "db_instance_identifier": identifier,
            "db_instance_class": props["DBInstanceClass"],
            # moto's Ref to its own subnet group model is the model, not the name.
            "db_subnet_group_name": getattr(group, "name", group),
            "vpc_security_group_ids": props.get("VPCSecurityGroups", []),
            "port": int(props.get("Port", 5432)),
            "manage_master_user_password": as_bool(props.get("ManageMasterUserPassword")),
            "backup_retention_period": int(props.get("BackupRetentionPeriod", 1)),
            "publicly_accessible": as_bool(props.get("PubliclyAccessible")),
            "deletion_protection": as_bool(props.get("DeletionProtection")),
            "copy_tags_to_snapshot": as_bool(props.get("CopyTagsToSnapshot")),
            "tags": props.get("Tags", []),
        }
        if props.get("DBSnapshotIdentifier"):
            _backend(account_id, region_name).restore_db_instance_from_db_snapshot(
                props["DBSnapshotIdentifier"], settings
            )
            return cls(identifier, props, account_id, region_name)
        _backend(account_id, region_name).create_db_instance(
            {
                **settings,
                "engine": props["Engine"],
                "engine_version": props.get("EngineVersion"),
                "allocated_storage": int(props.get("AllocatedStorage", 20)),
                "storage_type": props.get("StorageType"),
                "storage_encrypted": as_bool(props.get("StorageEncrypted")),
                "multi_az": as_bool(props.get("MultiAZ")),
                "db_name": props.get("DBName"),
                "master_username": props.get("MasterUsername"),
                "auto_minor_version_upgrade": as_bool(props.get("AutoMinorVersionUpgrade")),
            }
        )
        return cls(identifier, props, account_id, region_name)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> DBInstance:
        if any(props.get(key) != self.props.get(key) for key in CREATE_ONLY):
            raise ReplacementRequired
        _backend(account_id, region_name).modify_db_instance(
            self.identifier,
            {
                "db_instance_class": props["DBInstanceClass"],
                "allocated_storage": int(props.get("AllocatedStorage", 20)),
                "backup_retention_period": int(props.get("BackupRetentionPeriod", 1)),
                "multi_az": as_bool(props.get("MultiAZ")),
                "vpc_security_group_ids": props.get("VPCSecurityGroups", []),
            },
        )
        self.props = props
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        # RDS deletes the managed master-password secret with its instance.
        final_snapshot = f"{self.identifier}-final" if self.deletion_policy == "Snapshot" else None
        _backend(account_id, region_name).delete_db_instance(
            self.identifier, final_db_snapshot_identifier=final_snapshot
        )
