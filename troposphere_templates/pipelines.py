"""The three pipeline stacks (DESIGN.md "The pipelines"): CodePipeline V2, GitHub source through a connection.

create: Source -> Build (buildspecs/create.yml) -> Deploy (CloudFormation CREATE_UPDATE of the app stack)
update: Source -> Build (buildspecs/update.yml) -> Deploy (ECS deploy action on the service)
update-lambda: Source -> Build (buildspecs/update-lambda.yml, which updates the function's code itself)
"""

from __future__ import annotations

from typing import Any

from troposphere import (
    AWSObject,
    Equals,
    GetAtt,
    If,
    Output,
    Parameter,
    Ref,
    Sub,
    Template,
    codebuild,
    codepipeline,
    iam,
    logs,
)

from troposphere_templates import policies
from troposphere_templates.app import DISPOSABLE, LOG_GROUP_SKIPS
from troposphere_templates.config import PIPELINE_KINDS, ProjectConfig

# Amazon Linux 2023 CodeBuild images: Python 3.11+ and Docker on both architectures.
BUILD_IMAGES = {
    "ARM64": ("ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0"),
    "X86_64": ("LINUX_CONTAINER", "aws/codebuild/amazonlinux-x86_64-standard:5.0"),
}
SOURCE = "SourceOutput"
BUILD = "BuildOutput"
CONNECTION_ARN_PATTERN = (
    r"arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/.+"
)


def build_environment_variables(config: ProjectConfig) -> dict[str, Any]:
    """What the buildspecs' invoke tasks read: the same config values the stack was rendered with.

    `invoke render` in the create build reads ECS1_* so the app stack it renders matches this deploy.
    """
    return {
        "AWS_ACCOUNT_ID": Ref("AWS::AccountId"),
        "ECS1_ADMIN_USERNAME": config.admin_username,
        "ECS1_ARCHITECTURE": config.architecture,
        "ECS1_CAPACITY_PROVIDER": config.capacity_provider,
        "ECS1_CPU": str(config.cpu),
        "ECS1_ECR_REPOSITORY": config.ecr_repository,
        "ECS1_MEMORY": str(config.memory),
        "ECS1_PROJECT": config.project,
        "AUTHORIZER_FUNCTION": config.authorizer_function_name,
    }


class PipelineStack:
    def __init__(self, config: ProjectConfig, kind: str) -> None:
        if kind not in PIPELINE_KINDS:
            raise ValueError(f"unknown pipeline kind {kind!r}: one of {', '.join(PIPELINE_KINDS)}")
        self.config = config
        self.kind = kind
        self.t = Template(
            Description=f"{config.project}: the {kind} pipeline (GitHub -> CodeBuild"
            + {"create": " -> CloudFormation app stack)", "update": " -> ECS service)", "update-lambda": ")"}[
                kind
            ]
        )

    def add(self, resource: AWSObject) -> Any:
        return self.t.add_resource(resource)

    def build(self) -> Template:
        self._add_parameters()
        self._add_build_project()
        self._add_pipeline()
        return self.t

    def _add_parameters(self) -> None:
        c = self.config
        connection = {"Default": c.connection_arn} if c.connection_arn else {}
        self.connection_arn = self.t.add_parameter(
            Parameter(
                "ConnectionArn",
                Type="String",
                AllowedPattern=CONNECTION_ARN_PATTERN,
                Description="ARN of the GitHub connection made by hand in the console (CodeConnections)",
                **connection,
            )
        )
        self.github_repo = self.t.add_parameter(
            Parameter(
                "GitHubRepository",
                Type="String",
                Default=c.github_repo,
                AllowedPattern=r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+",
                Description="the repository to build, as owner/name",
            )
        )
        self.branch = self.t.add_parameter(
            Parameter("Branch", Type="String", Default=c.branch, Description="the branch whose pushes run it")
        )
        self.bucket_param = self.t.add_parameter(
            Parameter(
                "ArtifactBucketName",
                Type="String",
                Default=c.artifact_bucket,
                Description=f"artifact bucket (made by invoke deploy); empty means {c.project}-artifacts-"
                "<account>-<region>",
            )
        )
        self.t.add_condition("DefaultArtifactBucket", Equals(Ref(self.bucket_param), ""))
        self.bucket = If(
            "DefaultArtifactBucket",
            Sub(f"{c.project}-artifacts-${{AWS::AccountId}}-${{AWS::Region}}"),
            Ref(self.bucket_param),
        )

    def _add_build_project(self) -> None:
        c = self.config
        name = c.build_project_name(self.kind)
        log_group_name = f"{c.log_groups['build']}/{self.kind}"
        log_group = self.add(
            logs.LogGroup(
                "BuildLogGroup",
                LogGroupName=log_group_name,
                RetentionInDays=c.log_retention_days,
                Metadata=LOG_GROUP_SKIPS,
                **DISPOSABLE,
            )
        )
        statements = [
            policies.write_logs(log_group_name),
            policies.artifact_bucket_access(self.bucket),
            policies.ecr_login(),
            policies.ecr_push(c.ecr_repository),
        ]
        if self.kind == "update-lambda":
            statements.append(policies.update_function_code(c.authorizer_function_name))
        role = self.add(
            iam.Role(
                "BuildRole",
                Description=f"CodeBuild for the {self.kind} pipeline: push images"
                + (", update the authorizer's code" if self.kind == "update-lambda" else ""),
                AssumeRolePolicyDocument=policies.trust("codebuild.amazonaws.com"),
                Policies=[iam.Policy(PolicyName="build", PolicyDocument=policies.document(*statements))],
            )
        )
        environment_type, image = BUILD_IMAGES[c.architecture]
        self.project = self.add(
            codebuild.Project(
                "BuildProject",
                Name=name,
                Description=f"{self.kind} pipeline build: runs buildspecs/{self.kind}.yml (invoke tasks)",
                ServiceRole=GetAtt(role, "Arn"),
                Source=codebuild.Source(Type="CODEPIPELINE", BuildSpec=f"buildspecs/{self.kind}.yml"),
                Artifacts=codebuild.Artifacts(Type="CODEPIPELINE"),
                Environment=codebuild.Environment(
                    # The images are built for the task's architecture natively, without emulation.
                    Type=environment_type,
                    Image=image,
                    ComputeType="BUILD_GENERAL1_SMALL",
                    PrivilegedMode=True,  # docker builds need the Docker daemon
                    EnvironmentVariables=[
                        codebuild.EnvironmentVariable(Name=key, Value=value, Type="PLAINTEXT")
                        for key, value in sorted(build_environment_variables(c).items())
                    ],
                ),
                LogsConfig=codebuild.LogsConfig(
                    CloudWatchLogs=codebuild.CloudWatchLogs(Status="ENABLED", GroupName=Ref(log_group))
                ),
                TimeoutInMinutes=30,
            )
        )

    def _deploy_stage(self, pipeline_role_statements: list[Any]) -> codepipeline.Stages | None:
        c = self.config
        if self.kind == "create":
            deploy_role = self.add(
                iam.Role(
                    "CloudFormationRole",
                    Description="CloudFormation creates, updates and deletes the app stack with it",
                    AssumeRolePolicyDocument=policies.trust("cloudformation.amazonaws.com"),
                    Policies=[
                        iam.Policy(
                            PolicyName="deploy-app-stack",
                            PolicyDocument=policies.app_stack_deployer(
                                c.project, Ref("AWS::Region"), c.ecr_repository, c.authorizer_function_name
                            ),
                        ),
                        *(
                            [
                                iam.Policy(
                                    PolicyName="deploy-postgres",
                                    PolicyDocument=policies.postgres_stack_deployer(
                                        c.db_instance_identifier, c.cluster_name, c.service_name
                                    ),
                                )
                            ]
                            if c.postgres
                            else []
                        ),
                    ],
                )
            )
            self.deploy_role = deploy_role
            pipeline_role_statements += [
                policies.deploy_stack(c.app_stack),
                policies.pass_role(GetAtt(deploy_role, "Arn"), service="cloudformation.amazonaws.com"),
            ]
            action = codepipeline.Actions(
                Name="DeployAppStack",
                ActionTypeId=codepipeline.ActionTypeId(
                    Category="Deploy", Owner="AWS", Provider="CloudFormation", Version="1"
                ),
                InputArtifacts=[codepipeline.InputArtifacts(Name=BUILD)],
                Configuration={
                    "ActionMode": "CREATE_UPDATE",
                    "StackName": c.app_stack,
                    "TemplatePath": f"{BUILD}::build/templates/app.json",
                    "TemplateConfiguration": f"{BUILD}::build/templates/app-config.json",
                    "Capabilities": "CAPABILITY_IAM",
                    "RoleArn": GetAtt(deploy_role, "Arn"),
                },
            )
        elif self.kind == "update":
            pipeline_role_statements += [
                *policies.ecs_deploy(c.cluster_name, c.service_name, c.service_name),
                policies.pass_role(
                    Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{c.role_path}*"),
                    service="ecs-tasks.amazonaws.com",
                ),
            ]
            action = codepipeline.Actions(
                Name="DeployService",
                ActionTypeId=codepipeline.ActionTypeId(
                    Category="Deploy", Owner="AWS", Provider="ECS", Version="1"
                ),
                InputArtifacts=[codepipeline.InputArtifacts(Name=BUILD)],
                Configuration={
                    "ClusterName": c.cluster_name,
                    "ServiceName": c.service_name,
                    "FileName": "imagedefinitions.json",
                },
            )
        else:
            return None
        return codepipeline.Stages(Name="Deploy", Actions=[action])

    def _add_pipeline(self) -> None:
        c = self.config
        statements: list[Any] = [
            policies.artifact_bucket_access(self.bucket),
            policies.use_connection(Ref(self.connection_arn)),
            policies.start_builds(GetAtt(self.project, "Arn")),
        ]
        source = codepipeline.Stages(
            Name="Source",
            Actions=[
                codepipeline.Actions(
                    Name="GitHub",
                    ActionTypeId=codepipeline.ActionTypeId(
                        Category="Source", Owner="AWS", Provider="CodeStarSourceConnection", Version="1"
                    ),
                    OutputArtifacts=[codepipeline.OutputArtifacts(Name=SOURCE)],
                    Configuration={
                        "ConnectionArn": Ref(self.connection_arn),
                        "FullRepositoryId": Ref(self.github_repo),
                        "BranchName": Ref(self.branch),
                        "DetectChanges": "true",
                        "OutputArtifactFormat": "CODE_ZIP",
                    },
                )
            ],
        )
        build = codepipeline.Stages(
            Name="Build",
            Actions=[
                codepipeline.Actions(
                    Name="Build",
                    ActionTypeId=codepipeline.ActionTypeId(
                        Category="Build", Owner="AWS", Provider="CodeBuild", Version="1"
                    ),
                    InputArtifacts=[codepipeline.InputArtifacts(Name=SOURCE)],
                    OutputArtifacts=[codepipeline.OutputArtifacts(Name=BUILD)],
                    Configuration={"ProjectName": Ref(self.project)},
                )
            ],
        )
        deploy = self._deploy_stage(statements)
        role = self.add(
            iam.Role(
                "PipelineRole",
                Description=f"CodePipeline runs the {self.kind} pipeline with it",
                AssumeRolePolicyDocument=policies.trust("codepipeline.amazonaws.com"),
                Policies=[iam.Policy(PolicyName="pipeline", PolicyDocument=policies.document(*statements))],
            )
        )
        pipeline = self.add(
            codepipeline.Pipeline(
                "Pipeline",
                Name=c.pipeline_name(self.kind),
                PipelineType="V2",
                ExecutionMode="QUEUED",  # one deploy at a time, in push order
                RoleArn=GetAtt(role, "Arn"),
                ArtifactStore=codepipeline.ArtifactStore(Type="S3", Location=self.bucket),
                Stages=[stage for stage in (source, build, deploy) if stage is not None],
            )
        )
        self.t.add_output(Output("PipelineName", Value=Ref(pipeline), Description="the pipeline"))
        self.t.add_output(
            Output("BuildProjectName", Value=Ref(self.project), Description="its CodeBuild project")
        )
        if self.kind == "create":
            self.t.add_output(
                Output(
                    "CloudFormationRoleArn",
                    Value=GetAtt(self.deploy_role, "Arn"),
                    Description="the role that deploys (and must outlive) the app stack",
                )
            )


def pipeline_template(config: ProjectConfig, kind: str) -> Template:
    return PipelineStack(config, kind).build()
