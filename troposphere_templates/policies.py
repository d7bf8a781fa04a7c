"""IAM as small functions returning awacs policy documents, so one policy serves many roles.

Resources are CloudFormation values (`Ref`, `GetAtt`, `Sub`); every statement names the resources it acts on.
Where AWS offers no resource-level permission for an action (noted per statement), the action stands alone in
its statement on `*`, never beside actions that do support resources.
"""

from __future__ import annotations

from typing import Any

import awacs.apigateway as apigateway
import awacs.application_autoscaling as application_autoscaling
import awacs.awslambda as awslambda
import awacs.cloudformation as cloudformation
import awacs.cloudwatch as cloudwatch
import awacs.codebuild as codebuild
import awacs.codeconnections as codeconnections
import awacs.codestar_connections as codestar_connections
import awacs.ecr as ecr
import awacs.elasticfilesystem as efs
import awacs.iam as iam
import awacs.logs as logs
import awacs.rds as rds
import awacs.route53 as route53
import awacs.s3 as s3
import awacs.secretsmanager as secretsmanager
from awacs.aws import (
    Action,
    Allow,
    Bool,
    Condition,
    Deny,
    Policy,
    PolicyDocument,
    Principal,
    Statement,
    StringEquals,
    StringLike,
)
from awacs.helpers.trust import make_simple_assume_policy
from troposphere import Join, Sub

from troposphere_templates.config import ProjectConfig

VERSION = "2012-10-17"


def trust(service: str) -> Policy:
    """Trust policy for one AWS service principal, e.g. `ecs-tasks.amazonaws.com`."""
    return make_simple_assume_policy(service)


def document(*statements: Statement) -> PolicyDocument:
    return PolicyDocument(Version=VERSION, Statement=list(statements))


def log_group_arn(name: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{name}")


def log_streams_arn(name: str) -> Sub:
    return Sub(
        f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:{name}:log-stream:*"
    )


def ecr_repository_arn(repository: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:ecr:${{AWS::Region}}:${{AWS::AccountId}}:repository/{repository}")


def write_logs(*log_group_names: str) -> Statement:
    return Statement(
        Effect=Allow,
        Action=[logs.CreateLogStream, logs.PutLogEvents],
        Resource=[log_streams_arn(name) for name in log_group_names],
    )


def read_secrets(*secret_arns: Any) -> Statement:
    return Statement(Effect=Allow, Action=[secretsmanager.GetSecretValue], Resource=list(secret_arns))


def ecr_login() -> Statement:
    # GetAuthorizationToken has no resource-level permission: AWS documents `*` as its only resource.
    return Statement(Effect=Allow, Action=[ecr.GetAuthorizationToken], Resource=["*"])


def ecr_pull(repository: str) -> Statement:
    return Statement(
        Effect=Allow,
        Action=[ecr.BatchCheckLayerAvailability, ecr.BatchGetImage, ecr.GetDownloadUrlForLayer],
        Resource=[ecr_repository_arn(repository)],
    )


def ecr_push(repository: str) -> Statement:
    """`invoke build --missing-only` and `invoke push`: find the repository, read an existing tag's manifest
    (an identical image is not pushed again), and docker push's layer and manifest uploads."""
    return Statement(
        Effect=Allow,
        Action=[
            ecr.BatchCheckLayerAvailability,
            ecr.BatchGetImage,
            ecr.CompleteLayerUpload,
            ecr.DescribeImages,
            ecr.DescribeRepositories,
            ecr.GetDownloadUrlForLayer,
            ecr.InitiateLayerUpload,
            ecr.PutImage,
            ecr.UploadLayerPart,
        ],
        Resource=[ecr_repository_arn(repository)],
    )


# Application roles


def task_execution_policy(repository: str, log_group: str, secret_arns: list[Any]) -> PolicyDocument:
    """What ECS needs to start the task: pull its image, write its log group, read the injected secrets."""
    return document(ecr_login(), ecr_pull(repository), write_logs(log_group), read_secrets(*secret_arns))


def efs_client_policy(file_system_arn: Any, access_point_arn: Any) -> PolicyDocument:
    """The task mounts and writes the file system only through its access point."""
    return document(
        Statement(
            Effect=Allow,
            Action=[efs.ClientMount, efs.ClientWrite],
            Resource=[file_system_arn],
            Condition=Condition(StringEquals("elasticfilesystem:AccessPointArn", access_point_arn)),
        )
    )


def efs_file_system_policy(task_role_arn: Any) -> PolicyDocument:
    """Resource policy: TLS only, and only the task role through a mount target (no anonymous NFS access).

    The access point itself is pinned in the task role's policy: naming it here would make the file system
    depend on its own access point.
    """
    return document(
        Statement(
            Effect=Deny,
            Principal=Principal("AWS", "*"),
            Action=[efs.Action("*")],
            Resource=["*"],
            Condition=Condition(Bool("aws:SecureTransport", "false")),
        ),
        Statement(
            Effect=Allow,
            Principal=Principal("AWS", task_role_arn),
            Action=[efs.ClientMount, efs.ClientWrite],
            Resource=["*"],
            Condition=Condition(Bool("elasticfilesystem:AccessedViaMountTarget", "true")),
        ),
    )


def backup_task_policy(bucket_arn: Any, prefix: str) -> PolicyDocument:
    """The API's snapshots (app/backup.py): list, read and write under its prefix; delete only the restore
    request it has carried out. The task never deletes a snapshot: lifecycle rules expire them."""
    from app.snapshots import REQUEST_NAME

    return document(
        Statement(
            Effect=Allow,
            Action=[s3.ListBucket],
            Resource=[bucket_arn],
            Condition=Condition(StringLike("s3:prefix", [f"{prefix}*"])),
        ),
        Statement(
            Effect=Allow,
            Action=[s3.GetObject, s3.PutObject],
            Resource=[Join("", [bucket_arn, f"/{prefix}*"])],
        ),
        Statement(
            Effect=Allow,
            Action=[s3.DeleteObject],
            Resource=[Join("", [bucket_arn, f"/{prefix}{REQUEST_NAME}"])],
        ),
    )


def deny_insecure_transport(bucket_arn: Any) -> PolicyDocument:
    """Bucket policy: nothing reaches the bucket or its objects without TLS."""
    return document(
        Statement(
            Effect=Deny,
            Principal=Principal("AWS", "*"),
            Action=[s3.Action("*")],
            Resource=[bucket_arn, Join("", [bucket_arn, "/*"])],
            Condition=Condition(Bool("aws:SecureTransport", "false")),
        )
    )


def authorizer_policy(secret_arn: Any, log_group: str) -> PolicyDocument:
    """The authorizer reads its one secret and writes its one log group; nothing else."""
    return document(read_secrets(secret_arn), write_logs(log_group))


# Pipeline roles


def artifact_bucket_access(bucket_name: Any) -> Statement:
    return Statement(
        Effect=Allow,
        Action=[
            s3.GetObject,
            s3.GetObjectVersion,
            s3.PutObject,
            s3.GetBucketVersioning,
            s3.GetBucketLocation,
        ],
        Resource=[
            Join("", ["arn:", Sub("${AWS::Partition}"), ":s3:::", bucket_name]),
            Join("", ["arn:", Sub("${AWS::Partition}"), ":s3:::", bucket_name, "/*"]),
        ],
    )


def use_connection(connection_arn: Any) -> Statement:
    # CodeStar connections and CodeConnections share one ARN space; the action exists under both prefixes.
    return Statement(
        Effect=Allow,
        Action=[codestar_connections.UseConnection, codeconnections.UseConnection],
        Resource=[connection_arn],
    )


def pass_role(*role_arns: Any, service: str) -> Statement:
    """PassRole only for the named roles, and only to the service that uses them."""
    return Statement(
        Effect=Allow,
        Action=[iam.PassRole],
        Resource=list(role_arns),
        Condition=Condition(StringEquals("iam:PassedToService", service)),
    )


def start_builds(project_arn: Any) -> Statement:
    return Statement(
        Effect=Allow, Action=[codebuild.StartBuild, codebuild.BatchGetBuilds], Resource=[project_arn]
    )


def stack_arn(stack_name: str) -> Sub:
    return Sub(
        f"arn:${{AWS::Partition}}:cloudformation:${{AWS::Region}}:${{AWS::AccountId}}:stack/{stack_name}/*"
    )


def read_stack(stack_name: str) -> Statement:
    return Statement(Effect=Allow, Action=[cloudformation.DescribeStacks], Resource=[stack_arn(stack_name)])


def change_stack(stack_name: str) -> Statement:
    """What `invoke deploy --stack app` and `invoke deploy-image` call on the one stack they change: read it
    and its events, compare its template, and change it only through change sets (never delete it)."""
    return Statement(
        Effect=Allow,
        Action=[
            cloudformation.CreateChangeSet,
            cloudformation.DeleteChangeSet,
            cloudformation.DescribeChangeSet,
            cloudformation.DescribeStackEvents,
            cloudformation.DescribeStacks,
            cloudformation.ExecuteChangeSet,
            cloudformation.GetTemplate,
        ],
        Resource=[stack_arn(stack_name)],
    )


def _actions(service: str, *names: str) -> list[Action]:
    return [Action(service, name) for name in names]


def app_stack_deployer(config: ProjectConfig) -> PolicyDocument:
    """What CloudFormation needs to create, update and delete the application stack, and nothing else.

    Proven by tests/test_templates_permissions.py: every create/update/delete handler permission in AWS's
    resource provider schema of every resource type the app stack uses, plus the caller permissions the API
    references add (`caller_permissions.json`), is granted here or excluded with a reason in
    `permission_exclusions.json`; nothing else is granted. Resources are scoped by region, account and the
    project's names wherever the Service Authorization Reference lets an action name a resource; the
    statements on `*` hold only actions that name none there. No condition pins a region: Route 53 is global
    (its calls go to us-east-1 whatever the stack's region), and the ARNs already carry the stack's region.

    The PostgreSQL mode has no file system: no EFS action and none of the network-interface calls that only
    EFS mount targets make with the caller's rights; it adds `postgres_statements` instead (the proof covers
    every configuration of tests/templates_support.py, this one included).
    """
    arn = "arn:${AWS::Partition}"
    here = "${AWS::Region}:${AWS::AccountId}"
    project = config.project
    project_roles = Sub(f"{arn}:iam::${{AWS::AccountId}}:role{config.role_path}*")
    cluster, service = config.cluster_name, config.service_name
    efs_mode = not config.postgres
    # Made by EFS mount targets with the caller's rights (caller_permissions.json).
    mount_target_network = [
        "CreateNetworkInterface",
        "DeleteNetworkInterface",
        "ModifyNetworkInterfaceAttribute",
    ]
    service_linked = ["ecs.amazonaws.com", "elasticfilesystem.amazonaws.com", "ops.apigateway.amazonaws.com"]
    if config.postgres:
        service_linked = [
            "ecs.amazonaws.com",
            "ecs.application-autoscaling.amazonaws.com",
            "ops.apigateway.amazonaws.com",
            "rds.amazonaws.com",
        ]
    statements = [
        Statement(
            Sid="NetworkInTheStackRegion",
            Effect=Allow,
            Action=_actions(
                "ec2",
                "AssociateRouteTable",
                "AttachInternetGateway",
                "AuthorizeSecurityGroupEgress",
                "AuthorizeSecurityGroupIngress",
                "CreateInternetGateway",
                *(mount_target_network[:1] if efs_mode else []),
                "CreateRoute",
                "CreateRouteTable",
                "CreateSecurityGroup",
                "CreateSubnet",
                "CreateTags",
                "CreateVpc",
                "CreateVpcEndpoint",
                "DeleteInternetGateway",
                *(mount_target_network[1:2] if efs_mode else []),
                "DeleteRoute",
                "DeleteRouteTable",
                "DeleteSecurityGroup",
                "DeleteSubnet",
                "DeleteTags",
                "DeleteVpc",
                "DeleteVpcEndpoints",
                "DetachInternetGateway",
                "DisassociateRouteTable",
                *(mount_target_network[2:] if efs_mode else []),
                "ModifySubnetAttribute",
                "ModifyVpcAttribute",
                "ModifyVpcEndpoint",
                "ReplaceRoute",
                "ReplaceRouteTableAssociation",
                "RevokeSecurityGroupEgress",
                "RevokeSecurityGroupIngress",
                "UpdateSecurityGroupRuleDescriptionsEgress",
                "UpdateSecurityGroupRuleDescriptionsIngress",
            ),
            Resource=[
                Sub(f"{arn}:ec2:{here}:{kind}/*")
                for kind in (
                    "internet-gateway",
                    *(["network-interface"] if efs_mode else []),
                    "route-table",
                    "security-group",
                    "security-group-rule",
                    "subnet",
                    "vpc",
                    "vpc-endpoint",
                )
            ],
        ),
        # The Service Authorization Reference lists no resource type for any of these: `*` is the only
        # resource they can have. All but three only read; DeregisterTaskDefinition and PutAccountSetting
        # (which changes the calling role's own ECS setting) write, CreateFileSystem creates the file system.
        Statement(
            Sid="ActionsWithoutResourceLevelPermissions",
            Effect=Allow,
            Action=[
                *_actions(
                    "ec2",
                    "DescribeInstances",
                    "DescribeInternetGateways",
                    *(["DescribeNetworkInterfaceAttribute"] if efs_mode else []),
                    "DescribeNetworkInterfaces",
                    "DescribeRegions",
                    "DescribeRouteTables",
                    "DescribeSecurityGroupRules",
                    "DescribeSecurityGroups",
                    "DescribeSubnets",
                    "DescribeVpcEndpoints",
                    "DescribeVpcs",
                    "DescribeVpnGateways",
                ),
                *_actions("ecs", "DeregisterTaskDefinition", "DescribeTaskDefinition", "PutAccountSetting"),
                *([efs.CreateFileSystem] if efs_mode else []),
                *_actions(
                    "logs",
                    "CreateLogDelivery",
                    "DeleteLogDelivery",
                    "DescribeIndexPolicies",
                    "DescribeLogGroups",
                    "DescribeResourcePolicies",
                    "GetLogDelivery",
                    "ListLogDeliveries",
                    "PutResourcePolicy",
                    "UpdateLogDelivery",
                ),
                route53.CreateHostedZone,
                route53.ListHostedZonesByName,
                secretsmanager.GetRandomPassword,
                *_actions(
                    "servicediscovery",
                    "CreatePrivateDnsNamespace",
                    "ListTagsForResource",
                    "TagResource",
                    "UntagResource",
                ),
            ],
            Resource=["*"],
        ),
        Statement(
            Sid="ServiceDiscoveryInTheStackRegion",
            Effect=Allow,
            Action=_actions(
                "servicediscovery",
                "CreateService",
                "DeleteNamespace",
                "DeleteService",
                "GetNamespace",
                "GetOperation",
                "GetService",
                "UpdatePrivateDnsNamespace",
                "UpdateService",
            ),
            Resource=[
                Sub(f"{arn}:servicediscovery:{here}:namespace/*"),
                Sub(f"{arn}:servicediscovery:{here}:service/*"),
            ],
        ),
        # Cloud Map creates the namespace's private hosted zone with the caller's rights; Route 53 is global.
        Statement(
            Sid="NamespaceHostedZone",
            Effect=Allow,
            Action=[route53.GetHostedZone],
            Resource=[Sub(f"{arn}:route53:::hostedzone/*")],
        ),
        Statement(
            Sid="ProjectContainerService",
            Effect=Allow,
            Action=_actions(
                "ecs",
                "CreateCluster",
                "CreateService",
                "DeleteCluster",
                "DeleteService",
                "DescribeClusters",
                "DescribeServiceDeployments",
                "DescribeServices",
                "ListServiceDeployments",
                "ListTagsForResource",
                "PutClusterCapacityProviders",
                "RegisterTaskDefinition",
                "TagResource",
                "UntagResource",
                "UpdateCluster",
                "UpdateClusterSettings",
                "UpdateService",
            ),
            Resource=[
                Sub(f"{arn}:ecs:{here}:cluster/{cluster}"),
                Sub(f"{arn}:ecs:{here}:service/{cluster}/{service}"),
                Sub(f"{arn}:ecs:{here}:service-deployment/{cluster}/{service}/*"),
                Sub(f"{arn}:ecs:{here}:task-definition/{service}:*"),
            ],
        ),
        Statement(
            Sid="ProjectRoles",
            Effect=Allow,
            Action=[
                iam.CreateRole,
                iam.DeleteRole,
                iam.DeleteRolePolicy,
                iam.GetRole,
                iam.GetRolePolicy,
                iam.ListAttachedRolePolicies,
                iam.ListRolePolicies,
                iam.PutRolePolicy,
                iam.TagRole,
                iam.UntagRole,
                iam.UpdateAssumeRolePolicy,
                iam.UpdateRole,
                iam.UpdateRoleDescription,
            ],
            Resource=[project_roles],
        ),
        Statement(
            Sid="PassProjectRoles",
            Effect=Allow,
            Action=[iam.PassRole],
            Resource=[project_roles],
            Condition=Condition(
                StringEquals("iam:PassedToService", ["ecs-tasks.amazonaws.com", "lambda.amazonaws.com"])
            ),
        ),
        # Created on first use in an account: the VPC link's (API Gateway), ECS's, and EFS's or else RDS's and
        # Application Auto Scaling's own roles.
        Statement(
            Sid="ServiceLinkedRoles",
            Effect=Allow,
            Action=[iam.CreateServiceLinkedRole],
            Resource=[Sub(f"{arn}:iam::${{AWS::AccountId}}:role/aws-service-role/*")],
            Condition=Condition(StringEquals("iam:AWSServiceName", service_linked)),
        ),
        # The VPC link's delete handler removes API Gateway's role once no VPC link uses it.
        Statement(
            Sid="VpcLinkServiceLinkedRoleCleanUp",
            Effect=Allow,
            Action=[iam.DeleteServiceLinkedRole, iam.GetServiceLinkedRoleDeletionStatus],
            Resource=[
                Sub(f"{arn}:iam::${{AWS::AccountId}}:role/aws-service-role/ops.apigateway.amazonaws.com/*")
            ],
        ),
        Statement(
            Sid="ProjectSecrets",
            Effect=Allow,
            Action=[
                secretsmanager.CreateSecret,
                secretsmanager.DeleteSecret,
                secretsmanager.DescribeSecret,
                secretsmanager.GetSecretValue,
                secretsmanager.TagResource,
                secretsmanager.UntagResource,
                secretsmanager.UpdateSecret,
            ],
            Resource=[Sub(f"{arn}:secretsmanager:{here}:secret:{project}/*")],
        ),
        Statement(
            Sid="ProjectLogGroups",
            Effect=Allow,
            Action=[
                logs.CreateLogGroup,
                logs.DeleteLogGroup,
                logs.DeleteRetentionPolicy,
                logs.GetDataProtectionPolicy,
                logs.ListTagsForResource,
                logs.PutRetentionPolicy,
                logs.TagResource,
                logs.UntagResource,
            ],
            # Both ARN forms: CloudWatch Logs evaluates some actions against `log-group:<name>:*`.
            Resource=[
                Sub(f"{arn}:logs:{here}:log-group:{config.log_groups[name]}{suffix}")
                for name in ("api", "authorizer", "access")
                for suffix in ("", ":*")
            ],
        ),
        Statement(
            Sid="AuthorizerFunction",
            Effect=Allow,
            Action=[
                awslambda.AddPermission,
                awslambda.CreateFunction,
                awslambda.DeleteFunction,
                awslambda.GetFunction,
                awslambda.GetFunctionCodeSigningConfig,
                awslambda.GetFunctionRecursionConfig,
                awslambda.GetRuntimeManagementConfig,
                awslambda.RemovePermission,
                awslambda.TagResource,
                awslambda.UntagResource,
                awslambda.UpdateFunctionCode,
                awslambda.UpdateFunctionConfiguration,
            ],
            Resource=[Sub(f"{arn}:lambda:{here}:function:{config.authorizer_function_name}")],
        ),
        # Lambda checks that whoever creates an image function can read the image, and grants itself access
        # through the repository policy.
        Statement(
            Sid="AuthorizerImage",
            Effect=Allow,
            Action=[
                ecr.BatchGetImage,
                ecr.GetDownloadUrlForLayer,
                ecr.GetRepositoryPolicy,
                ecr.SetRepositoryPolicy,
            ],
            Resource=[ecr_repository_arn(config.ecr_repository)],
        ),
        Statement(
            Sid="HttpApi",
            Effect=Allow,
            Action=[apigateway.DELETE, apigateway.GET, apigateway.PATCH, apigateway.POST, apigateway.PUT],
            Resource=[
                Sub(f"{arn}:apigateway:${{AWS::Region}}::/apis"),
                Sub(f"{arn}:apigateway:${{AWS::Region}}::/apis/*"),
                Sub(f"{arn}:apigateway:${{AWS::Region}}::/vpclinks"),
                Sub(f"{arn}:apigateway:${{AWS::Region}}::/vpclinks/*"),
                Sub(f"{arn}:apigateway:${{AWS::Region}}::/tags/*"),
            ],
        ),
    ]
    if efs_mode:
        # The SQLite file's snapshots go to a bucket of the stack (PostgreSQL mode has RDS's backups).
        statements += [file_system_statement(here), backup_bucket_statement(config)]
    else:
        statements += postgres_statements(config)
    return document(*statements)


def backup_bucket_statement(config: ProjectConfig) -> Statement:
    arn = "arn:${AWS::Partition}"
    # CloudFormation names the bucket `<stack>-backupbucket-<random>` (troposphere_templates/backups.py).
    return Statement(
        Sid="BackupBucket",
        Effect=Allow,
        Action=[
            s3.CreateBucket,
            s3.DeleteBucket,
            s3.DeleteBucketPolicy,
            s3.GetBucketAcl,
            s3.GetBucketPolicy,
            s3.ListBucket,
            s3.PutBucketOwnershipControls,
            s3.PutBucketPolicy,
            s3.PutBucketPublicAccessBlock,
            s3.PutBucketTagging,
            s3.PutBucketVersioning,
            s3.PutEncryptionConfiguration,
            s3.PutLifecycleConfiguration,
        ],
        Resource=[Sub(f"{arn}:s3:::{config.app_stack.lower()}-backupbucket-*")],
    )


def file_system_statement(here: str) -> Statement:
    arn = "arn:${AWS::Partition}"
    return Statement(
        Sid="FileSystemInTheStackRegion",
        Effect=Allow,
        Action=_actions(
            "elasticfilesystem",
            "CreateAccessPoint",
            "CreateMountTarget",
            "DeleteAccessPoint",
            "DeleteFileSystem",
            "DeleteFileSystemPolicy",
            "DeleteMountTarget",
            "DeleteTags",
            "DescribeAccessPoints",
            "DescribeBackupPolicy",
            "DescribeFileSystemPolicy",
            "DescribeFileSystems",
            "DescribeLifecycleConfiguration",
            "DescribeMountTargetSecurityGroups",
            "DescribeMountTargets",
            "DescribeReplicationConfigurations",
            "ListTagsForResource",
            "ModifyMountTargetSecurityGroups",
            "PutBackupPolicy",
            "PutFileSystemPolicy",
            "PutLifecycleConfiguration",
            "TagResource",
            "UntagResource",
            "UpdateFileSystem",
        ),
        Resource=[
            Sub(f"{arn}:elasticfilesystem:{here}:file-system/*"),
            Sub(f"{arn}:elasticfilesystem:{here}:access-point/*"),
        ],
    )


def postgres_statements(config: ProjectConfig) -> list[Statement]:
    """What CloudFormation needs beyond `app_stack_deployer` for the PostgreSQL mode (troposphere_templates/
    postgres.py): the RDS instance and its subnet group, the master-password secret RDS creates, and the
    service's autoscaling. Actions from the resource provider schemas' handlers (AWS::RDS::DBInstance,
    AWS::RDS::DBSubnetGroup, AWS::ApplicationAutoScaling::ScalableTarget / ScalingPolicy), each on this
    project's instance where the action names one; `*` only for actions that name no resource type in the
    Service Authorization Reference. No KMS grant: the instance and its secret use the AWS managed keys
    (aws/rds, aws/secretsmanager), whose key policies let the account use them through those services.
    """
    arn = "arn:${AWS::Partition}"
    here = "${AWS::Region}:${AWS::AccountId}"
    db_instance_identifier, cluster, service = (
        config.db_instance_identifier,
        config.cluster_name,
        config.service_name,
    )
    return [
        Statement(
            Sid="DatabaseInstance",
            Effect=Allow,
            Action=[
                rds.AddTagsToResource,
                rds.AddRoleToDBInstance,
                rds.CreateDBInstance,
                rds.CreateDBInstanceReadReplica,
                rds.CreateDBSnapshot,  # the final snapshot of DeletionPolicy: Snapshot
                rds.CreateDBSubnetGroup,
                rds.DeleteDBInstance,
                rds.DeleteDBSubnetGroup,
                rds.DescribeDBClusters,
                rds.DescribeDBInstances,
                rds.DescribeDBParameterGroups,
                rds.DescribeDBSnapshots,
                rds.DescribeDBSubnetGroups,
                rds.ListTagsForResource,
                rds.ModifyDBInstance,
                rds.ModifyDBSubnetGroup,
                rds.PromoteReadReplica,
                rds.RebootDBInstance,
                rds.RemoveRoleFromDBInstance,
                rds.RemoveTagsFromResource,
                rds.RestoreDBInstanceFromDBSnapshot,
                rds.RestoreDBInstanceToPointInTime,
                rds.StartDBInstanceAutomatedBackupsReplication,
                rds.StopDBInstanceAutomatedBackupsReplication,
            ],
            # CloudFormation names the subnet group and the final snapshot; RDS names the default parameter
            # and option groups.
            Resource=[
                # The instance, and those `invoke restore` names after it (`<identifier>-r<time>`).
                Sub(f"{arn}:rds:{here}:db:{db_instance_identifier}"),
                Sub(f"{arn}:rds:{here}:db:{db_instance_identifier}-*"),
                Sub(f"{arn}:rds:{here}:subgrp:*"),
                Sub(f"{arn}:rds:{here}:snapshot:*"),
                Sub(f"{arn}:rds:{here}:pg:default.*"),
                Sub(f"{arn}:rds:{here}:og:default:*"),
            ],
        ),
        Statement(
            Sid="DatabaseDescribe",
            Effect=Allow,
            Action=[
                rds.DescribeDBClusterSnapshots,
                rds.DescribeDBEngineVersions,
                rds.DescribeDBInstanceAutomatedBackups,
                rds.DescribeEvents,
                Action("ec2", "DescribeAccountAttributes"),
                Action("ec2", "DescribeAvailabilityZones"),
                iam.ListRoles,
                cloudwatch.GetMetricData,
                application_autoscaling.DescribeScalableTargets,
                application_autoscaling.DescribeScalingPolicies,
                application_autoscaling.DescribeScheduledActions,
            ],
            Resource=["*"],
        ),
        Statement(
            Sid="DatabaseVpc",
            Effect=Allow,
            Action=[Action("ec2", "DescribeVpcAttribute")],
            Resource=[Sub(f"{arn}:ec2:{here}:vpc/*")],
        ),
        # RDS creates the master user's secret (named rds!db-<id>) with the caller's rights.
        Statement(
            Sid="DatabaseMasterSecret",
            Effect=Allow,
            Action=[
                secretsmanager.CreateSecret,
                secretsmanager.DeleteSecret,
                secretsmanager.DescribeSecret,
                secretsmanager.TagResource,
            ],
            Resource=[Sub(f"{arn}:secretsmanager:{here}:secret:rds!db-*")],
        ),
        # The one EFS action left: AWS::Lambda::Function's handlers list it (for FileSystemConfigs, which the
        # authorizer does not set); it only reads, and an exclusion cannot differ between modes.
        Statement(
            Sid="FunctionFileSystemCheck",
            Effect=Allow,
            Action=[efs.DescribeMountTargets],
            Resource=[Sub(f"{arn}:elasticfilesystem:{here}:file-system/*")],
        ),
        # Scalable targets get generated ids.
        Statement(
            Sid="ServiceAutoScaling",
            Effect=Allow,
            Action=[
                application_autoscaling.DeleteScalingPolicy,
                application_autoscaling.DeleteScheduledAction,
                application_autoscaling.DeregisterScalableTarget,
                application_autoscaling.PutScalingPolicy,
                application_autoscaling.PutScheduledAction,
                application_autoscaling.RegisterScalableTarget,
            ],
            Resource=[Sub(f"{arn}:application-autoscaling:{here}:scalable-target/*")],
        ),
        # Target tracking creates its alarms with the caller's rights, named after the service.
        Statement(
            Sid="ServiceScalingAlarms",
            Effect=Allow,
            Action=[cloudwatch.DeleteAlarms, cloudwatch.DescribeAlarms, cloudwatch.PutMetricAlarm],
            Resource=[Sub(f"{arn}:cloudwatch:{here}:alarm:TargetTracking-service/{cluster}/{service}-*")],
        ),
    ]
