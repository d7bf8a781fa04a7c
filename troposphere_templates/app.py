"""The application stack (one stack, no nested stacks), as in docs/DESIGN.md "The deployed architecture".

client -> API Gateway HTTP API (+ Lambda REQUEST authorizer) -> VPC link -> Cloud Map SRV -> one Fargate task
-> SQLite on EFS. Every name comes from `ProjectConfig`; values a deploy may change without re-rendering
(image tag, capacity provider, admin user name) are parameters whose defaults are the config's.
"""

from __future__ import annotations

import json
from typing import Any

from troposphere import (
    AWSObject,
    GetAtt,
    Join,
    Output,
    Parameter,
    Ref,
    Sub,
    Tags,
    Template,
    awslambda,
    ec2,
    ecs,
    efs,
    encode_to_dict,
    iam,
    logs,
    rds,
    secretsmanager,
    servicediscovery,
)
from troposphere import apigatewayv2 as apigw

from app.api.route_table import RouteSpec
from troposphere_templates import backups, policies, postgres
from troposphere_templates.config import (
    CAPACITY_PROVIDERS,
    IMAGE_TAG_PARAMETERS,
    ProjectConfig,
    image_tag_for,
)
from troposphere_templates.routes import gateway_routes

DATA_DIR = "/data"
HEALTH_PATH = "/health"
# The authorizer only labels requests (app/authorizer.py); the API checks every token, so the cache only saves
# invocations: a label may be a minute old, a refusal never is.
AUTHORIZER_CACHE_SECONDS = 60
EFS_PORT = 2049
HTTPS_PORT = 443
GUARDED_ROUTE_THROTTLE = apigw.RouteSettings(ThrottlingBurstLimit=10, ThrottlingRateLimit=5)

# Python is in the image for certain; curl may not be. The health check must not depend on extra packages.
HEALTH_COMMAND = (
    "import sys, urllib.request; "
    "sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=4).status == 200 else 1)"
)

ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latency": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "tokenVerified": "$context.authorizer.verified",
    "tokenCheck": "$context.authorizer.reason",
    "user": "$context.authorizer.user_name",
}


def skip_checks(*checks: tuple[str, str]) -> dict[str, Any]:
    """Resource Metadata that names each skipped checkov check with its one-line reason."""
    return {"checkov": {"skip": [{"id": check_id, "comment": comment} for check_id, comment in checks]}}


# `invoke clean` removes everything, so logs and secrets go with their stack, explicitly.
DISPOSABLE = {"DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}

LOG_GROUP_SKIPS = skip_checks(
    ("CKV_AWS_158", "CloudWatch encrypts logs at rest already; a customer key adds $1/month, no gain")
)


def logical_id(route: RouteSpec) -> str:
    """`DELETE /users/delete/{user_name}` -> `RouteDeleteUsersDeleteUserName` (ids are alphanumeric)."""
    words = [
        route.method.lower(),
        *route.path.replace("{", "/").replace("}", "/").replace("_", "/").split("/"),
    ]
    return (
        "Route" + "".join(word.capitalize() for word in words if word) + ("Root" if route.path == "/" else "")
    )


def app_parameter_values(config: ProjectConfig) -> dict[str, str]:
    """The values `app-config.json` passes to the app stack's parameters."""
    return {
        "AdminUsername": config.admin_username,
        "CapacityProvider": config.capacity_provider,
        **{parameter: config.image_tag for parameter in IMAGE_TAG_PARAMETERS.values()},
    }


class AppStack:
    """Builds the template; each `_add_*` method adds one part and keeps the objects later parts reference."""

    database: rds.DBInstance  # set by postgres.add_database, only for config.postgres

    def __init__(self, config: ProjectConfig) -> None:
        self.config = config
        tasks = (
            f"{config.min_tasks}-{config.max_tasks} Fargate tasks" if config.postgres else "one Fargate task"
        )
        storage = "RDS PostgreSQL" if config.postgres else "SQLite on EFS"
        self.t = Template(
            Description=(
                f"{config.project}: REST API on {tasks} ({config.architecture}, "
                f"{config.cpu} CPU units / {config.memory} MiB) behind API Gateway, {storage}"
            )
        )

    def add(self, resource: AWSObject) -> Any:
        return self.t.add_resource(resource)

    def image_uri(self, target: str) -> Sub:
        """`target`'s image in the project's repository, tagged by its own stack parameter."""
        registry = "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}"
        tag = image_tag_for(target, "${" + IMAGE_TAG_PARAMETERS[target] + "}")
        return Sub(f"{registry}/{self.config.ecr_repository}:{tag}")

    def build(self) -> Template:
        self._add_parameters()
        self._add_network()
        self._add_security_groups()
        self._add_interface_endpoints()
        self._add_secrets()
        if self.config.postgres:
            postgres.add_parameters(self)
            postgres.add_database(self)
        else:
            # SQLite on EFS, with its snapshots in S3 (PostgreSQL has RDS's backups).
            self._add_file_system()
            self._add_backups()
        self._add_service_discovery()
        self._add_task()
        self._add_service()
        if self.config.postgres:
            postgres.add_autoscaling(self)
        self._add_authorizer()
        self._add_api()
        self._add_outputs()
        return self.t

    def _add_parameters(self) -> None:
        c = self.config
        for target, parameter in IMAGE_TAG_PARAMETERS.items():
            self.t.add_parameter(
                Parameter(
                    parameter,
                    Type="String",
                    Default=c.image_tag,
                    AllowedPattern="[A-Za-z0-9_.-]{1,100}",
                    Description=f"image {c.ecr_repository}:{target}-<tag> (a commit sha): the one that runs",
                )
            )
        self.capacity_provider = self.t.add_parameter(
            Parameter(
                "CapacityProvider",
                Type="String",
                Default=c.capacity_provider,
                AllowedValues=list(CAPACITY_PROVIDERS),
                Description="FARGATE, or FARGATE_SPOT: much cheaper if an occasional restart is acceptable",
            )
        )
        self.admin_username = self.t.add_parameter(
            Parameter(
                "AdminUsername",
                Type="String",
                Default=c.admin_username,
                AllowedPattern="[A-Za-z0-9._-]{1,64}",
                Description="bootstrap admin, created at start-up if no admin exists (password: a secret)",
            )
        )

    def _add_network(self) -> None:
        c = self.config
        self.vpc = self.add(
            ec2.VPC(
                "Vpc",
                CidrBlock=c.vpc_cidr,
                EnableDnsHostnames=True,  # Cloud Map's private DNS namespace needs both
                EnableDnsSupport=True,
                Tags=Tags(Name=c.project),
            )
        )
        self.subnet = self.add(
            ec2.Subnet(
                "PublicSubnet",
                VpcId=Ref(self.vpc),
                CidrBlock=c.subnet_cidr,
                # The VPC link's network interfaces live here: a zone HTTP API VPC links support, by id.
                AvailabilityZoneId=c.vpc_link_zone_id,
                # The service asks for its public IP explicitly; nothing else here gets one by default.
                MapPublicIpOnLaunch=False,
                Tags=Tags(Name=f"{c.project}-public"),
            )
        )
        gateway = self.add(ec2.InternetGateway("InternetGateway", Tags=Tags(Name=c.project)))
        self.gateway_attachment = self.add(
            ec2.VPCGatewayAttachment("GatewayAttachment", VpcId=Ref(self.vpc), InternetGatewayId=Ref(gateway))
        )
        self.route_table = self.add(ec2.RouteTable("PublicRouteTable", VpcId=Ref(self.vpc)))
        self.default_route = self.add(
            ec2.Route(
                "DefaultRoute",
                DependsOn=self.gateway_attachment,
                RouteTableId=Ref(self.route_table),
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=Ref(gateway),
            )
        )
        self.add(
            ec2.SubnetRouteTableAssociation(
                "PublicSubnetRouteTable", SubnetId=Ref(self.subnet), RouteTableId=Ref(self.route_table)
            )
        )
        self.add(
            ec2.VPCEndpoint(
                "S3GatewayEndpoint",
                VpcId=Ref(self.vpc),
                ServiceName=Sub("com.amazonaws.${AWS::Region}.s3"),
                VpcEndpointType="Gateway",
                RouteTableIds=[Ref(self.route_table)],
            )
        )

    def _add_security_groups(self) -> None:
        c = self.config
        self.vpc_link_sg = self.add(
            ec2.SecurityGroup(
                "VpcLinkSecurityGroup",
                GroupDescription="API Gateway VPC link: reaches only the API task port",
                VpcId=Ref(self.vpc),
                SecurityGroupEgress=[],
            )
        )
        self.task_sg = self.add(
            ec2.SecurityGroup(
                "TaskSecurityGroup",
                GroupDescription="API task: inbound only from the VPC link",
                VpcId=Ref(self.vpc),
                SecurityGroupEgress=[
                    ec2.SecurityGroupRule(
                        Description="HTTPS to AWS APIs (ECR, Secrets Manager, CloudWatch Logs) without a NAT",
                        IpProtocol="tcp",
                        FromPort=HTTPS_PORT,
                        ToPort=HTTPS_PORT,
                        CidrIp="0.0.0.0/0",
                    )
                ],
            )
        )
        # Separate rule resources break the reference cycles between the groups.
        self.add(
            ec2.SecurityGroupEgress(
                "VpcLinkToTask",
                GroupId=Ref(self.vpc_link_sg),
                Description="to the API task's port",
                IpProtocol="tcp",
                FromPort=c.container_port,
                ToPort=c.container_port,
                DestinationSecurityGroupId=Ref(self.task_sg),
            )
        )
        self.add(
            ec2.SecurityGroupIngress(
                "TaskFromVpcLink",
                GroupId=Ref(self.task_sg),
                Description="from the API Gateway VPC link only",
                IpProtocol="tcp",
                FromPort=c.container_port,
                ToPort=c.container_port,
                SourceSecurityGroupId=Ref(self.vpc_link_sg),
            )
        )

    def _add_interface_endpoints(self) -> None:
        """Interface endpoints cost ~$7.30 a month each; the design uses none (the config can add some)."""
        if not self.config.interface_endpoints:
            return
        endpoint_sg = self.add(
            ec2.SecurityGroup(
                "EndpointSecurityGroup",
                GroupDescription="interface VPC endpoints: HTTPS from the API task",
                VpcId=Ref(self.vpc),
                SecurityGroupIngress=[
                    ec2.SecurityGroupRule(
                        Description="HTTPS from the API task",
                        IpProtocol="tcp",
                        FromPort=HTTPS_PORT,
                        ToPort=HTTPS_PORT,
                        SourceSecurityGroupId=Ref(self.task_sg),
                    )
                ],
            )
        )
        for service in sorted(self.config.interface_endpoints):
            name = "".join(part.capitalize() for part in service.replace("-", ".").split("."))
            self.add(
                ec2.VPCEndpoint(
                    f"{name}InterfaceEndpoint",
                    VpcId=Ref(self.vpc),
                    ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
                    VpcEndpointType="Interface",
                    PrivateDnsEnabled=True,
                    SubnetIds=[Ref(self.subnet)],
                    SecurityGroupIds=[Ref(endpoint_sg)],
                )
            )

    def _add_secrets(self) -> None:
        c = self.config
        cost_reason = (
            "CKV_AWS_149",
            "the AWS-managed key encrypts it; a customer key adds $1/month, no gain",
        )
        # SecretString is the plain generated value (no JSON template), as the app and authorizer expect.
        self.jwt_secret = self.add(
            secretsmanager.Secret(
                "JwtSecret",
                Name=c.jwt_secret_name,
                Description="HS256 key signing the API's access tokens (generated by CloudFormation)",
                GenerateSecretString=secretsmanager.GenerateSecretString(
                    PasswordLength=64, ExcludePunctuation=True
                ),
                Metadata=skip_checks(cost_reason),
                **DISPOSABLE,
            )
        )
        self.admin_password_secret = self.add(
            secretsmanager.Secret(
                "AdminPasswordSecret",
                Name=c.admin_password_secret_name,
                Description="password of the bootstrap admin user (generated by CloudFormation)",
                # 32 characters stays far below bcrypt's 72-byte limit.
                GenerateSecretString=secretsmanager.GenerateSecretString(
                    PasswordLength=32, ExcludePunctuation=True
                ),
                Metadata=skip_checks(cost_reason),
                **DISPOSABLE,
            )
        )

    def _add_file_system(self) -> None:
        c = self.config
        self.efs_sg = self.add(
            ec2.SecurityGroup(
                "FileSystemSecurityGroup",
                GroupDescription="EFS mount target: NFS from the API task only",
                VpcId=Ref(self.vpc),
                SecurityGroupIngress=[
                    ec2.SecurityGroupRule(
                        Description="NFS from the API task",
                        IpProtocol="tcp",
                        FromPort=EFS_PORT,
                        ToPort=EFS_PORT,
                        SourceSecurityGroupId=Ref(self.task_sg),
                    )
                ],
            )
        )
        self.add(
            ec2.SecurityGroupEgress(
                "TaskToFileSystem",
                GroupId=Ref(self.task_sg),
                Description="NFS to the EFS mount target",
                IpProtocol="tcp",
                FromPort=EFS_PORT,
                ToPort=EFS_PORT,
                DestinationSecurityGroupId=Ref(self.efs_sg),
            )
        )
        self.task_role = self.add(
            iam.Role(
                "TaskRole",
                Description="the API container's own AWS identity: its EFS access point and its snapshots",
                Path=c.role_path,
                AssumeRolePolicyDocument=policies.trust("ecs-tasks.amazonaws.com"),
            )
        )
        self.file_system = self.add(
            efs.FileSystem(
                "FileSystem",
                Encrypted=True,
                PerformanceMode="generalPurpose",
                ThroughputMode="bursting",  # free at this size; elastic throughput bills per GB transferred
                FileSystemTags=Tags(Name=f"{c.project}-data"),
                # `invoke clean` deletes the data with the stack; a replacement must not drop the database.
                DeletionPolicy="Delete",
                UpdateReplacePolicy="Retain",
            )
        )
        self.access_point = self.add(
            efs.AccessPoint(
                "AccessPoint",
                FileSystemId=Ref(self.file_system),
                PosixUser=efs.PosixUser(Uid=str(c.container_user_id), Gid=str(c.container_user_id)),
                RootDirectory=efs.RootDirectory(
                    Path=f"/{c.project}",
                    CreationInfo=efs.CreationInfo(
                        OwnerUid=str(c.container_user_id),
                        OwnerGid=str(c.container_user_id),
                        Permissions="750",
                    ),
                ),
                AccessPointTags=Tags(Name=f"{c.project}-data"),
            )
        )
        # troposphere types FileSystemPolicy as a plain dict; encode_to_dict keeps the GetAtt inside it.
        self.file_system.FileSystemPolicy = encode_to_dict(
            policies.efs_file_system_policy(GetAtt(self.task_role, "Arn"))
        )
        # A separate resource: inline on the role it would close the loop role -> access point -> file system
        # -> (file system policy) role.
        self.task_role_policy = self.add(
            iam.RolePolicy(
                "TaskRoleFileSystemPolicy",
                RoleName=Ref(self.task_role),
                PolicyName="efs-access-point",
                PolicyDocument=encode_to_dict(
                    policies.efs_client_policy(
                        GetAtt(self.file_system, "Arn"), GetAtt(self.access_point, "Arn")
                    )
                ),
            )
        )
        self.mount_target = self.add(
            efs.MountTarget(
                "MountTarget",
                FileSystemId=Ref(self.file_system),
                SubnetId=Ref(self.subnet),
                SecurityGroups=[Ref(self.efs_sg)],
            )
        )

    def _add_backups(self) -> None:
        """The snapshots' bucket (replaces EFS's AWS Backup policy): the task may use its prefix only."""
        self.backup_bucket = self.add(backups.backup_bucket())
        self.add(backups.tls_only_policy(self.backup_bucket))
        self.backup_policy = self.add(backups.task_access(self.backup_bucket, self.task_role))

    def _add_service_discovery(self) -> None:
        c = self.config
        namespace = self.add(
            servicediscovery.PrivateDnsNamespace(
                "Namespace",
                Name=c.namespace_name,
                Vpc=Ref(self.vpc),
                Description=f"{c.project}: the API task's address for the VPC link (no load balancer)",
            )
        )
        self.discovery_service = self.add(
            servicediscovery.Service(
                "DiscoveryService",
                Name=c.discovery_service_name,
                NamespaceId=Ref(namespace),
                # SRV records carry the task's port as well as its IP, which the VPC link integration needs.
                DnsConfig=servicediscovery.DnsConfig(
                    RoutingPolicy="MULTIVALUE",
                    DnsRecords=[servicediscovery.DnsRecord(Type="SRV", TTL=10)],
                ),
                HealthCheckCustomConfig=servicediscovery.HealthCheckCustomConfig(FailureThreshold=1),
            )
        )

    def _add_task(self) -> None:
        c = self.config
        api_log_group = self.add(
            logs.LogGroup(
                "ApiLogGroup",
                LogGroupName=c.log_groups["api"],
                RetentionInDays=c.log_retention_days,
                Metadata=LOG_GROUP_SKIPS,
                **DISPOSABLE,
            )
        )
        secret_arns = [Ref(self.jwt_secret), Ref(self.admin_password_secret)]
        if c.postgres:
            secret_arns.append(postgres.master_secret_arn(self))
        self.execution_role = self.add(
            iam.Role(
                "TaskExecutionRole",
                Description="ECS starts the API task with it: image pull, log stream, secrets injection",
                Path=c.role_path,
                AssumeRolePolicyDocument=policies.trust("ecs-tasks.amazonaws.com"),
                Policies=[
                    iam.Policy(
                        PolicyName="start-task",
                        PolicyDocument=policies.task_execution_policy(
                            c.ecr_repository, c.log_groups["api"], secret_arns
                        ),
                    )
                ],
            )
        )
        image = self.image_uri("api")
        container = ecs.ContainerDefinition(
            Name=c.container_name,
            Image=image,
            Essential=True,
            PortMappings=[ecs.PortMapping(ContainerPort=c.container_port, Protocol="tcp")],
            Environment=[
                ecs.Environment(Name="APP_ENV", Value="prod"),
                ecs.Environment(Name="ADMIN_USERNAME", Value=Ref(self.admin_username)),
                *(
                    postgres.container_environment(self)
                    if c.postgres
                    else [
                        ecs.Environment(Name="DATABASE_URL", Value=f"sqlite+aiosqlite:///{DATA_DIR}/app.db"),
                        # The SQLite file's snapshots (PostgreSQL mode has RDS's backups instead).
                        ecs.Environment(Name="BACKUP_BUCKET", Value=Ref(self.backup_bucket)),
                        ecs.Environment(Name="BACKUP_PREFIX", Value=backups.BACKUP_PREFIX),
                        ecs.Environment(Name="AWS_DEFAULT_REGION", Value=Ref("AWS::Region")),
                    ]
                ),
                # The login throttle's client address comes from X-Forwarded-For when the peer is in the VPC
                # (the VPC link's interfaces): safe only because the task's security group admits the VPC
                # link alone (app/api/guards.py).
                ecs.Environment(Name="FORWARDED_ALLOW_IPS", Value=c.vpc_cidr),
            ],
            Secrets=[
                ecs.Secret(Name="JWT_SECRET_KEY", ValueFrom=Ref(self.jwt_secret)),
                ecs.Secret(Name="ADMIN_PASSWORD", ValueFrom=Ref(self.admin_password_secret)),
                *(postgres.container_secrets(self) if c.postgres else []),
            ],
            MountPoints=[]
            if c.postgres
            else [ecs.MountPoint(SourceVolume="data", ContainerPath=DATA_DIR, ReadOnly=False)],
            HealthCheck=ecs.HealthCheck(
                Command=[
                    "CMD",
                    "python",
                    "-c",
                    HEALTH_COMMAND.format(port=c.container_port, path=HEALTH_PATH),
                ],
                Interval=30,
                Timeout=5,
                Retries=3,
                StartPeriod=60,  # migrations run before uvicorn listens
            ),
            LogConfiguration=ecs.LogConfiguration(
                LogDriver="awslogs",
                Options={
                    "awslogs-group": Ref(api_log_group),
                    "awslogs-region": Ref("AWS::Region"),
                    "awslogs-stream-prefix": c.container_name,
                },
            ),
            Privileged=False,
        )
        self.task_definition = self.add(
            ecs.TaskDefinition(
                "TaskDefinition",
                Family=c.service_name,
                Cpu=str(c.cpu),
                Memory=str(c.memory),
                NetworkMode="awsvpc",
                RequiresCompatibilities=["FARGATE"],
                RuntimePlatform=ecs.RuntimePlatform(
                    CpuArchitecture=c.architecture, OperatingSystemFamily="LINUX"
                ),
                ExecutionRoleArn=GetAtt(self.execution_role, "Arn"),
                TaskRoleArn=GetAtt(self.task_role, "Arn"),
                ContainerDefinitions=[container],
                Volumes=[]
                if c.postgres
                else [
                    ecs.Volume(
                        Name="data",
                        EFSVolumeConfiguration=ecs.EFSVolumeConfiguration(
                            FilesystemId=Ref(self.file_system),
                            TransitEncryption="ENABLED",
                            AuthorizationConfig=ecs.AuthorizationConfig(
                                AccessPointId=Ref(self.access_point), IAM="ENABLED"
                            ),
                        ),
                    )
                ],
            )
        )

    def _add_service(self) -> None:
        c = self.config
        self.cluster = self.add(
            ecs.Cluster(
                "Cluster",
                ClusterName=c.cluster_name,
                CapacityProviders=list(CAPACITY_PROVIDERS),
                Metadata=skip_checks(
                    (
                        "CKV_AWS_65",
                        "Container Insights bills per metric; the task's logs and ECS events suffice",
                    )
                ),
            )
        )
        self.service = self.add(
            ecs.Service(
                "Service",
                ServiceName=c.service_name,
                Cluster=Ref(self.cluster),
                TaskDefinition=Ref(self.task_definition),
                CapacityProviderStrategy=[
                    ecs.CapacityProviderStrategyItem(CapacityProvider=Ref(self.capacity_provider), Weight=1)
                ],
                **(postgres.service_settings(self) if c.postgres else self._single_task_settings()),
                NetworkConfiguration=ecs.NetworkConfiguration(
                    AwsvpcConfiguration=ecs.AwsvpcConfiguration(
                        AssignPublicIp="ENABLED",
                        Subnets=[Ref(self.subnet)],
                        SecurityGroups=[Ref(self.task_sg)],
                    )
                ),
                ServiceRegistries=[
                    ecs.ServiceRegistry(
                        RegistryArn=GetAtt(self.discovery_service, "Arn"),
                        ContainerName=c.container_name,
                        ContainerPort=c.container_port,
                    )
                ],
                PropagateTags="SERVICE",
                EnableECSManagedTags=True,
            )
        )

    def _single_task_settings(self) -> dict[str, Any]:
        return {
            # The task mounts EFS (with its role's policy) and pulls its image over the internet route.
            "DependsOn": [self.mount_target, self.default_route, self.task_role_policy, self.backup_policy],
            "DesiredCount": 1,
            # One writer on the SQLite file: stop the old task before the new one starts.
            "DeploymentConfiguration": ecs.DeploymentConfiguration(
                MaximumPercent=100,
                MinimumHealthyPercent=0,
                DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
            ),
        }

    def _add_authorizer(self) -> None:
        c = self.config
        log_group = self.add(
            logs.LogGroup(
                "AuthorizerLogGroup",
                LogGroupName=c.log_groups["authorizer"],
                RetentionInDays=c.log_retention_days,
                Metadata=LOG_GROUP_SKIPS,
                **DISPOSABLE,
            )
        )
        role = self.add(
            iam.Role(
                "AuthorizerRole",
                Description="the Lambda authorizer: reads the JWT key, writes its log group, nothing else",
                Path=c.role_path,
                AssumeRolePolicyDocument=policies.trust("lambda.amazonaws.com"),
                Policies=[
                    iam.Policy(
                        PolicyName="verify-tokens",
                        PolicyDocument=policies.authorizer_policy(
                            Ref(self.jwt_secret), c.log_groups["authorizer"]
                        ),
                    )
                ],
            )
        )
        image = self.image_uri("authorizer")
        self.authorizer_function = self.add(
            awslambda.Function(
                "AuthorizerFunction",
                FunctionName=c.authorizer_function_name,
                Description="verifies the bearer token's signature and expiry for API Gateway",
                PackageType="Image",
                Code=awslambda.Code(ImageUri=image),
                Architectures=[c.architecture.lower()],  # arm64 / x86_64
                MemorySize=256,
                Timeout=5,
                Role=GetAtt(role, "Arn"),
                Environment=awslambda.Environment(Variables={"JWT_SECRET_ARN": Ref(self.jwt_secret)}),
                LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(log_group)),
                Metadata=skip_checks(
                    (
                        "CKV_AWS_117",
                        "it verifies JWTs itself and reads Secrets Manager: no VPC access needed",
                    ),
                    ("CKV_AWS_116", "API Gateway calls it synchronously; a dead-letter queue never receives"),
                    (
                        "CKV_AWS_115",
                        "reserved concurrency fails on new accounts (quota of 10); API throttling caps it",
                    ),
                    ("CKV_AWS_173", "its one variable is a secret's ARN, not a secret"),
                ),
            )
        )

    def _add_api(self) -> None:
        c = self.config
        self.api = self.add(
            apigw.Api(
                "HttpApi",
                Name=c.api_name,
                ProtocolType="HTTP",
                Description=f"{c.project}: routes generated from the FastAPI app's route table",
            )
        )
        vpc_link = self.add(
            apigw.VpcLink(
                "VpcLink",
                Name=f"{c.project}-vpc-link",
                SubnetIds=[Ref(self.subnet)],
                SecurityGroupIds=[Ref(self.vpc_link_sg)],
            )
        )
        integration = self.add(
            apigw.Integration(
                "ServiceIntegration",
                ApiId=Ref(self.api),
                IntegrationType="HTTP_PROXY",
                IntegrationMethod="ANY",
                IntegrationUri=GetAtt(self.discovery_service, "Arn"),
                ConnectionType="VPC_LINK",
                ConnectionId=Ref(vpc_link),
                PayloadFormatVersion="1.0",
            )
        )
        authorizer = self.add(
            apigw.Authorizer(
                "TokenAuthorizer",
                ApiId=Ref(self.api),
                Name=f"{c.project}-bearer-token",
                AuthorizerType="REQUEST",
                AuthorizerUri=Sub(
                    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                    "${AuthorizerFunction.Arn}/invocations"
                ),
                AuthorizerPayloadFormatVersion="2.0",
                EnableSimpleResponses=True,
                IdentitySource=["$request.header.Authorization"],
                AuthorizerResultTtlInSeconds=AUTHORIZER_CACHE_SECONDS,
            )
        )
        self.add(
            awslambda.Permission(
                "AuthorizerInvokePermission",
                FunctionName=GetAtt(self.authorizer_function, "Arn"),
                Action="lambda:InvokeFunction",
                Principal="apigateway.amazonaws.com",
                SourceArn=Sub(
                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/authorizers/"
                    "${TokenAuthorizer}"
                ),
            )
        )
        target = Join("/", ["integrations", Ref(integration)])
        routes = {}
        app_routes = gateway_routes()
        for route in app_routes.routes:
            authorization: dict[str, Any] = {"AuthorizationType": "NONE"}
            if route.protected:
                authorization = {"AuthorizationType": "CUSTOM", "AuthorizerId": Ref(authorizer)}
            routes[route.route_key] = self.add(
                apigw.Route(
                    logical_id(route),
                    ApiId=Ref(self.api),
                    RouteKey=route.route_key,
                    Target=target,
                    **authorization,
                )
            )
        access_log_group = self.add(
            logs.LogGroup(
                "AccessLogGroup",
                LogGroupName=c.log_groups["access"],
                RetentionInDays=c.log_retention_days,
                Metadata=LOG_GROUP_SKIPS,
                **DISPOSABLE,
            )
        )
        self.add(
            apigw.Stage(
                "DefaultStage",
                ApiId=Ref(self.api),
                StageName="$default",
                AutoDeploy=True,
                AccessLogSettings=apigw.AccessLogSettings(
                    DestinationArn=GetAtt(access_log_group, "Arn"),
                    Format=json.dumps(ACCESS_LOG_FORMAT, sort_keys=True, separators=(",", ":")),
                ),
                # A ceiling on what a flood of requests can cost (one small task behind it anyway).
                DefaultRouteSettings=apigw.RouteSettings(ThrottlingBurstLimit=50, ThrottlingRateLimit=20),
                # Log-in and sign-up run bcrypt (a few per second on 0.25 vCPU): stricter, per route key.
                RouteSettings={key: GUARDED_ROUTE_THROTTLE.to_dict() for key in app_routes.guarded},
                # The routes must exist before the stage can name them in RouteSettings.
                DependsOn=[routes[key] for key in app_routes.guarded],
            )
        )

    def _add_outputs(self) -> None:
        outputs = {
            "ApiUrl": (GetAtt(self.api, "ApiEndpoint"), "the API's base URL"),
            "ClusterName": (Ref(self.cluster), "ECS cluster"),
            "ServiceName": (GetAtt(self.service, "Name"), "ECS service the update pipeline deploys to"),
            "TaskDefinitionFamily": (self.config.service_name, "task definition family"),
            "AuthorizerFunctionName": (
                Ref(self.authorizer_function),
                "Lambda the update-lambda pipeline updates",
            ),
            "JwtSecretArn": (Ref(self.jwt_secret), "Secrets Manager secret holding the JWT signing key"),
            "AdminPasswordSecretArn": (Ref(self.admin_password_secret), "bootstrap admin password secret"),
            "ApiLogGroup": (self.config.log_groups["api"], "the API container's log group"),
        }
        if self.config.postgres:
            outputs.update(postgres.outputs(self))
        else:
            outputs["FileSystemId"] = (Ref(self.file_system), "EFS file system holding the SQLite database")
            outputs[backups.OUTPUT] = (
                Ref(self.backup_bucket),
                "S3 bucket of the database snapshots (kept after the stack)",
            )
        for name, (value, description) in outputs.items():
            self.t.add_output(Output(name, Value=value, Description=description))


def app_template(config: ProjectConfig) -> Template:
    return AppStack(config).build()
