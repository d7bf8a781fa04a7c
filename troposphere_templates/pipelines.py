"""The three pipeline stacks: CodePipeline V2, GitHub source through a connection, one CodeBuild action each.

create: Source -> Deploy (buildspecs/create.yml: render, then the app stack's template, keeping its images)
update: Source -> Deploy (buildspecs/update.yml: the API image, then the app stack's ApiImageTag)
update-lambda: Source -> Deploy (buildspecs/update-lambda.yml: the authorizer image, then AuthorizerImageTag)

All three change the one application stack, only through change sets (`lifecycle/deploy.py`): each waits for
an operation in progress, each owns its part (the template, one image parameter) and keeps the others'
values, so no two deployments run at once and the stack's parameters always name the images that run. Each
starts only for the files it deploys (a V2 push trigger with file paths).
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
from troposphere_templates.config import CLOUDFORMATION_ROLE_OUTPUT, PIPELINE_KINDS, ProjectConfig

# Amazon Linux 2023 CodeBuild images: Python 3.11+ and Docker on both architectures.
BUILD_IMAGES = {
    "ARM64": ("ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0"),
    "X86_64": ("LINUX_CONTAINER", "aws/codebuild/amazonlinux-x86_64-standard:5.0"),
}
SOURCE = "SourceOutput"
SOURCE_ACTION = "GitHub"
# What a push must touch to start each pipeline: the files its step deploys. Globs as CodePipeline reads them
# (`*` within a folder, `**` across folders; "Working with glob patterns in syntax", CodePipeline user guide),
# at most 8 per list. The gateway's routes come from the app's route table, hence app/api/** in create.
TRIGGER_PATHS: dict[str, dict[str, list[str]]] = {
    "create": {
        "Includes": ["troposphere_templates/**", "app/api/**", "app/main.py", "buildspecs/create.yml"],
    },
    "update": {
        "Includes": [
            "app/**",
            "migrations/**",
            "alembic.ini",
            "Dockerfile",
            "pyproject.toml",
            "buildspecs/update.yml",
        ],
        "Excludes": ["app/authorizer.py"],
    },
    "update-lambda": {
        "Includes": [
            "app/authorizer.py",
            "app/core/tokens.py",
            "app/__init__.py",
            "app/core/__init__.py",
            "Dockerfile",
            "pyproject.toml",
            "buildspecs/update-lambda.yml",
        ],
    },
}
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
        if self.kind == "create":
            self._add_cloudformation_role()
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

    def _add_cloudformation_role(self) -> None:
        """The role CloudFormation changes the app stack with, whoever asks (a laptop or any pipeline).

        `invoke deploy` finds it in this stack's outputs and passes it; CloudFormation then keeps using the
        role associated with the stack for later changes that name none (CreateChangeSet's RoleARN, AWS
        CloudFormation API reference).
        """
        c = self.config
        self.deploy_role = self.add(
            iam.Role(
                "CloudFormationRole",
                Description="CloudFormation creates, updates and deletes the app stack with it",
                AssumeRolePolicyDocument=policies.trust("cloudformation.amazonaws.com"),
                Policies=[
                    iam.Policy(
                        PolicyName="deploy-app-stack",
                        PolicyDocument=policies.app_stack_deployer(c),
                    )
                ],
            )
        )
        self.t.add_output(
            Output(
                CLOUDFORMATION_ROLE_OUTPUT,
                Value=GetAtt(self.deploy_role, "Arn"),
                Description="the role that deploys (and must outlive) the app stack",
            )
        )

    def build_role_statements(self, log_group_name: str) -> list[Any]:
        """Every AWS call the buildspec's invoke tasks make, on the resources they make it on (a test runs
        each buildspec under this role with IAM enforced)."""
        c = self.config
        statements = [
            policies.write_logs(log_group_name),
            policies.artifact_bucket_access(self.bucket),
            policies.change_stack(c.app_stack),
        ]
        if self.kind == "create":
            return [
                *statements,
                policies.read_stack(c.pipeline_stacks["create"]),
                policies.pass_role(GetAtt(self.deploy_role, "Arn"), service="cloudformation.amazonaws.com"),
            ]
        return [*statements, policies.ecr_login(), policies.ecr_push(c.ecr_repository)]

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
        what = {
            "create": "render and deploy the app stack's template",
            "update": "push the API image and deploy it",
            "update-lambda": "push the authorizer image and deploy it",
        }[self.kind]
        role = self.add(
            iam.Role(
                "BuildRole",
                Description=f"CodeBuild for the {self.kind} pipeline: {what}",
                AssumeRolePolicyDocument=policies.trust("codebuild.amazonaws.com"),
                Policies=[
                    iam.Policy(
                        PolicyName="build",
                        PolicyDocument=policies.document(*self.build_role_statements(log_group_name)),
                    )
                ],
            )
        )
        environment_type, image = BUILD_IMAGES[c.architecture]
        self.project = self.add(
            codebuild.Project(
                "BuildProject",
                Name=name,
                Description=f"{self.kind} pipeline: runs buildspecs/{self.kind}.yml (invoke tasks): {what}",
                ServiceRole=GetAtt(role, "Arn"),
                Source=codebuild.Source(Type="CODEPIPELINE", BuildSpec=f"buildspecs/{self.kind}.yml"),
                Artifacts=codebuild.Artifacts(Type="CODEPIPELINE"),
                Environment=codebuild.Environment(
                    # The images are built for the task's architecture natively, without emulation.
                    Type=environment_type,
                    Image=image,
                    ComputeType="BUILD_GENERAL1_SMALL",
                    PrivilegedMode=self.kind != "create",  # docker builds need the Docker daemon
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

    def _trigger(self) -> codepipeline.PipelineTriggerDeclaration:
        """Start only on pushes to the branch that touch what this pipeline deploys. A filter also stops the
        pipeline from starting on every change ("Automate starting pipelines using triggers and filtering",
        CodePipeline user guide); file paths are valid only together with branches."""
        return codepipeline.PipelineTriggerDeclaration(
            ProviderType="CodeStarSourceConnection",
            GitConfiguration=codepipeline.GitConfiguration(
                SourceActionName=SOURCE_ACTION,
                Push=[
                    codepipeline.GitPushFilter(
                        Branches=codepipeline.GitBranchFilterCriteria(Includes=[Ref(self.branch)]),
                        FilePaths=codepipeline.GitFilePathFilterCriteria(**TRIGGER_PATHS[self.kind]),
                    )
                ],
            ),
        )

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
                    Name=SOURCE_ACTION,
                    ActionTypeId=codepipeline.ActionTypeId(
                        Category="Source", Owner="AWS", Provider="CodeStarSourceConnection", Version="1"
                    ),
                    OutputArtifacts=[codepipeline.OutputArtifacts(Name=SOURCE)],
                    Configuration={
                        "ConnectionArn": Ref(self.connection_arn),
                        "FullRepositoryId": Ref(self.github_repo),
                        "BranchName": Ref(self.branch),
                        "OutputArtifactFormat": "CODE_ZIP",
                    },
                )
            ],
        )
        # One CodeBuild action builds and deploys: its buildspec declares no artifacts, so it declares no
        # output artifact either (a test checks that the two agree).
        deploy = codepipeline.Stages(
            Name="Deploy",
            Actions=[
                codepipeline.Actions(
                    Name="BuildAndDeploy",
                    ActionTypeId=codepipeline.ActionTypeId(
                        Category="Build", Owner="AWS", Provider="CodeBuild", Version="1"
                    ),
                    InputArtifacts=[codepipeline.InputArtifacts(Name=SOURCE)],
                    Configuration={"ProjectName": Ref(self.project)},
                )
            ],
        )
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
                ExecutionMode="QUEUED",  # one run at a time, in push order
                RoleArn=GetAtt(role, "Arn"),
                ArtifactStore=codepipeline.ArtifactStore(Type="S3", Location=self.bucket),
                Stages=[source, deploy],
                Triggers=[self._trigger()],
            )
        )
        self.t.add_output(Output("PipelineName", Value=Ref(pipeline), Description="the pipeline"))
        self.t.add_output(
            Output("BuildProjectName", Value=Ref(self.project), Description="its CodeBuild project")
        )


def pipeline_template(config: ProjectConfig, kind: str) -> Template:
    return PipelineStack(config, kind).build()
