"""The PostgreSQL mode of the application stack (`invoke render --database postgres`).

It replaces the default's SQLite on EFS with RDS PostgreSQL and runs the service as several tasks:

- one RDS PostgreSQL instance (the smallest Graviton class by default), encrypted, not public, in a DB subnet
  group of two private subnets in two zones (RDS requires two zones even for a single-AZ instance; the
  subnets have no route out, so no NAT), reachable on its port only from the tasks' security group;
- RDS keeps the master password in Secrets Manager (`ManageMasterUserPassword`); ECS injects its `username`
  and `password` keys into the task as DATABASE_USER / DATABASE_PASSWORD, the endpoint arrives as plain
  DATABASE_HOST / DATABASE_PORT / DATABASE_NAME, and the app builds its URL from these (app/core/config.py);
  RDS rotates that password every 7 days, so the task may also read the secret itself (DATABASE_SECRET_ARN,
  app/core/database_secret.py) when a new connection is refused;
- the service at `min_tasks`..`max_tasks` tasks (2-4 by default) with rolling deployments that never go
  below the running count (100% healthy, 200% maximum) and CPU target tracking;
- backups are RDS automated backups (`db_backup_days` days of point-in-time recovery), manual snapshots
  (`invoke backup`) and a final snapshot whenever the stack deletes or replaces the instance;
- `invoke restore` restores a snapshot through the stack itself: two parameters (below) name the snapshot
  and a new instance identifier, CloudFormation creates the new instance from the snapshot, points the tasks
  at it and deletes the old one after its final snapshot. Every later deploy keeps both parameters as they
  are (lifecycle/deploy.py), because an update that drops `DBSnapshotIdentifier` would replace the restored
  instance with an empty one.

Migrations run in every task's start command, serialised by a PostgreSQL advisory lock (app/migrate.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from troposphere import (
    Equals,
    GetAtt,
    GetAZs,
    If,
    Join,
    Not,
    NoValue,
    Parameter,
    Ref,
    Select,
    Sub,
    Tags,
    applicationautoscaling,
    ec2,
    ecs,
    iam,
    rds,
)

from troposphere_templates import policies

if TYPE_CHECKING:
    from troposphere_templates.app import AppStack

DB_PORT = 5432
# A minor version RDS still creates (cfn-lint's RDS data marks major-only "17" as not creatable); automatic
# minor upgrades keep the instance patched from there.
ENGINE_VERSION = "17.6"
# Average CPU of the service the target tracking holds: well below 100% so that a burst has room while the
# new task starts (about a minute on Fargate).
CPU_TARGET_PERCENT = 60
SCALE_OUT_COOLDOWN_S = 60
SCALE_IN_COOLDOWN_S = 300


# The stack parameters `invoke restore` sets and every deploy keeps (see the module's docstring).
SNAPSHOT_PARAMETER = "DatabaseSnapshot"
INSTANCE_PARAMETER = "DatabaseInstance"
STATE_PARAMETERS = (INSTANCE_PARAMETER, SNAPSHOT_PARAMETER)
# The output that names the instance; a stack with it runs the PostgreSQL mode (status, backup, restore).
INSTANCE_OUTPUT = "DatabaseInstanceId"
RESTORED = "RestoredFromSnapshot"
# RDS identifiers: a letter, then letters, digits and single hyphens, not ending in a hyphen.
INSTANCE_PATTERN = "[a-z](-?[a-z0-9])*"
SNAPSHOT_PATTERN = "([a-zA-Z](-?[a-zA-Z0-9])*)?"


def _skip_checks(*checks: tuple[str, str]) -> dict[str, Any]:
    from troposphere_templates.app import skip_checks

    return skip_checks(*checks)


def add_parameters(stack: AppStack) -> None:
    """The instance's identifier and the snapshot it was restored from: `invoke restore` sets both."""
    c = stack.config
    stack.t.add_parameter(
        Parameter(
            INSTANCE_PARAMETER,
            Type="String",
            Default=c.db_instance_identifier,
            AllowedPattern=INSTANCE_PATTERN,
            MaxLength=63,
            Description=(
                f"the RDS instance's identifier: {c.db_instance_identifier}, or "
                f"{c.db_instance_identifier}-r<time> after `invoke restore` (a new identifier is what lets "
                "CloudFormation replace the instance)"
            ),
        )
    )
    stack.t.add_parameter(
        Parameter(
            SNAPSHOT_PARAMETER,
            Type="String",
            Default="",
            AllowedPattern=SNAPSHOT_PATTERN,
            MaxLength=255,
            Description=(
                "the DB snapshot the instance was restored from (empty: a new, empty database); set by "
                "`invoke restore` and kept by every deploy, since dropping it replaces the data with nothing"
            ),
        )
    )
    stack.t.add_condition(RESTORED, Not(Equals(Ref(SNAPSHOT_PARAMETER), "")))


def _unless_restored(value: Any) -> If:
    """RDS takes these from the snapshot: a restore must not name them."""
    return If(RESTORED, NoValue, value)


def add_database(stack: AppStack) -> None:
    """The task role, the database's network and the RDS instance (in place of the EFS file system)."""
    c = stack.config
    subnets = [
        stack.add(
            ec2.Subnet(
                f"DatabaseSubnet{index + 1}",
                VpcId=Ref(stack.vpc),
                CidrBlock=cidr,
                AvailabilityZone=Select(index, GetAZs("")),
                MapPublicIpOnLaunch=False,
                Tags=Tags(Name=f"{c.project}-database-{index + 1}"),
            )
        )
        for index, cidr in enumerate(c.db_subnet_cidrs)
    ]
    database_sg = stack.add(
        ec2.SecurityGroup(
            "DatabaseSecurityGroup",
            GroupDescription="RDS PostgreSQL: its port from the API tasks only",
            VpcId=Ref(stack.vpc),
            SecurityGroupIngress=[
                ec2.SecurityGroupRule(
                    Description="PostgreSQL from the API tasks",
                    IpProtocol="tcp",
                    FromPort=DB_PORT,
                    ToPort=DB_PORT,
                    SourceSecurityGroupId=Ref(stack.task_sg),
                )
            ],
        )
    )
    stack.add(
        ec2.SecurityGroupEgress(
            "TaskToDatabase",
            GroupId=Ref(stack.task_sg),
            Description="PostgreSQL to the RDS instance",
            IpProtocol="tcp",
            FromPort=DB_PORT,
            ToPort=DB_PORT,
            DestinationSecurityGroupId=Ref(database_sg),
        )
    )
    subnet_group = stack.add(
        rds.DBSubnetGroup(
            "DatabaseSubnetGroup",
            DBSubnetGroupDescription=f"{c.project}: two private subnets in two zones, as RDS requires",
            SubnetIds=[Ref(subnet) for subnet in subnets],
        )
    )
    stack.database = stack.add(
        rds.DBInstance(
            "Database",
            DBInstanceIdentifier=Ref(INSTANCE_PARAMETER),
            DBSnapshotIdentifier=If(RESTORED, Ref(SNAPSHOT_PARAMETER), NoValue),
            Engine="postgres",
            EngineVersion=ENGINE_VERSION,
            DBInstanceClass=c.db_instance_class,
            AllocatedStorage=str(c.db_storage_gb),
            StorageType="gp3",
            StorageEncrypted=True,
            PubliclyAccessible=False,
            MultiAZ=False,
            DBSubnetGroupName=Ref(subnet_group),
            VPCSecurityGroups=[Ref(database_sg)],
            Port=str(DB_PORT),
            DBName=_unless_restored(c.db_name),
            MasterUsername=_unless_restored(c.db_name),
            ManageMasterUserPassword=True,
            BackupRetentionPeriod=c.db_backup_days,
            CopyTagsToSnapshot=True,
            AutoMinorVersionUpgrade=True,
            DeletionProtection=False,
            EnableIAMDatabaseAuthentication=False,
            # `invoke clean` deletes the stack, `invoke restore` replaces the instance: either way the data
            # survives as a final snapshot.
            DeletionPolicy="Snapshot",
            UpdateReplacePolicy="Snapshot",
            Metadata=_skip_checks(
                ("CKV_AWS_157", "Multi-AZ doubles the instance price; automated backups restore the data"),
                ("CKV_AWS_118", "enhanced monitoring bills CloudWatch Logs; basic metrics suffice"),
                ("CKV_AWS_161", "the app signs in with the RDS-managed password, injected by ECS"),
            ),
        )
    )
    _add_task_role(stack)


def _add_task_role(stack: AppStack) -> None:
    stack.task_role = stack.add(
        iam.Role(
            "TaskRole",
            Description="the API container's own AWS identity: it reads the database secret after a rotation",
            Path=stack.config.role_path,
            AssumeRolePolicyDocument=policies.trust("ecs-tasks.amazonaws.com"),
            Policies=[
                iam.Policy(
                    PolicyName="read-database-secret",
                    PolicyDocument=policies.document(policies.read_secrets(master_secret_arn(stack))),
                )
            ],
        )
    )


def container_environment(stack: AppStack) -> list[ecs.Environment]:
    """Where the database is; the app builds DATABASE_URL from these and the two secrets below."""
    return [
        ecs.Environment(Name="DATABASE_HOST", Value=GetAtt(stack.database, "Endpoint.Address")),
        ecs.Environment(Name="DATABASE_PORT", Value=GetAtt(stack.database, "Endpoint.Port")),
        ecs.Environment(Name="DATABASE_NAME", Value=stack.config.db_name),
        # RDS for PostgreSQL 15+ refuses unencrypted connections (rds.force_ssl defaults to 1).
        ecs.Environment(Name="DATABASE_SSLMODE", Value="require"),
        # Read again after RDS rotated the password ECS injected at start (app/core/database_secret.py).
        ecs.Environment(Name="DATABASE_SECRET_ARN", Value=master_secret_arn(stack)),
    ]


def master_secret_arn(stack: AppStack) -> GetAtt:
    return GetAtt(stack.database, "MasterUserSecret.SecretArn")


def container_secrets(stack: AppStack) -> list[ecs.Secret]:
    """The RDS-managed secret is JSON; ECS injects one key per variable (`<arn>:<json-key>::`)."""
    secret = master_secret_arn(stack)
    return [
        ecs.Secret(Name="DATABASE_USER", ValueFrom=Join("", [secret, ":username::"])),
        ecs.Secret(Name="DATABASE_PASSWORD", ValueFrom=Join("", [secret, ":password::"])),
    ]


def service_settings(stack: AppStack) -> dict[str, Any]:
    """Several tasks, replaced one extra at a time: capacity never drops below the running count."""
    return {
        "DependsOn": [stack.default_route, stack.database],
        "DesiredCount": stack.config.min_tasks,
        "DeploymentConfiguration": ecs.DeploymentConfiguration(
            MaximumPercent=200,
            MinimumHealthyPercent=100,
            DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
        ),
    }


def add_autoscaling(stack: AppStack) -> None:
    """CPU target tracking between min_tasks and max_tasks.

    The floor of 2 keeps the API up while a task is replaced or fails; the ceiling of 4 keeps the pool
    connections (4 tasks x 10) well inside a db.t4g.micro's max_connections, and is where the one small
    instance, not the tasks, becomes the limit: beyond it, size the instance up first.
    """
    c = stack.config
    # Without a RoleARN, Application Auto Scaling uses its ECS service-linked role, created on first use.
    target = stack.add(
        applicationautoscaling.ScalableTarget(
            "ServiceScalableTarget",
            ServiceNamespace="ecs",
            ScalableDimension="ecs:service:DesiredCount",
            ResourceId=Sub(f"service/${{{stack.cluster.title}}}/${{{stack.service.title}.Name}}"),
            MinCapacity=c.min_tasks,
            MaxCapacity=c.max_tasks,
        )
    )
    stack.add(
        applicationautoscaling.ScalingPolicy(
            "ServiceCpuScaling",
            PolicyName=f"{c.service_name}-cpu",
            PolicyType="TargetTrackingScaling",
            ScalingTargetId=Ref(target),
            TargetTrackingScalingPolicyConfiguration=applicationautoscaling.TargetTrackingScalingPolicyConfiguration(
                PredefinedMetricSpecification=applicationautoscaling.PredefinedMetricSpecification(
                    PredefinedMetricType="ECSServiceAverageCPUUtilization"
                ),
                TargetValue=CPU_TARGET_PERCENT,
                ScaleOutCooldown=SCALE_OUT_COOLDOWN_S,
                ScaleInCooldown=SCALE_IN_COOLDOWN_S,
            ),
        )
    )


def outputs(stack: AppStack) -> dict[str, tuple[Any, str]]:
    return {
        INSTANCE_OUTPUT: (Ref(stack.database), "RDS instance holding the PostgreSQL database"),
        "DatabaseEndpoint": (GetAtt(stack.database, "Endpoint.Address"), "the database's host name"),
        "DatabaseSecretArn": (master_secret_arn(stack), "RDS-managed secret with the master user's password"),
    }
