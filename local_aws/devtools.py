"""AWS::CodeBuild::Project and AWS::CodePipeline::Pipeline emulations backed by moto's codebuild and
codepipeline backends (list_projects/batch_get_projects and list_pipelines/get_pipeline see them)."""

from __future__ import annotations

import json
from typing import Any

from local_aws._base import Emulated, NamedResource, ReplacementRequired
from local_aws._props import camelize
from local_aws.moto_adapter import (
    CloudFormationModel,
    CodeBuild,
    CodeBuildBackend,
    CodePipeline,
    CodePipelineBackend,
    InvalidStructureException,
    NotFoundException,
    codebuild_backends,
    codepipeline_backends,
    get_partition,
)


def _codebuild(account_id: str, region_name: str) -> CodeBuildBackend:
    return codebuild_backends[account_id][region_name]


def _codepipeline(account_id: str, region_name: str) -> CodePipelineBackend:
    return codepipeline_backends[account_id][region_name]


def _codebuild_shape(value: Any) -> Any:
    # The CodeBuild API spells the buildspec key in lower case, unlike every other key.
    shaped = camelize(value)
    if isinstance(shaped, dict) and "buildSpec" in shaped:
        shaped["buildspec"] = shaped.pop("buildSpec")
    return shaped


class Project(NamedResource, CloudFormationModel):
    CFN_TYPE = "AWS::CodeBuild::Project"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = {"Arn": "arn"}

    @staticmethod
    def _project(account_id: str, region_name: str, name: str, props: dict[str, Any]) -> CodeBuild:
        tags = camelize(props.get("Tags"))
        return CodeBuild(
            account_id,
            region_name,
            project_name=name,
            description=props.get("Description"),
            project_source=_codebuild_shape(props["Source"]),
            artifacts=camelize(props["Artifacts"]),
            environment=camelize(props["Environment"]),
            serviceRole=props["ServiceRole"],
            tags=tags,
            cache=camelize(props.get("Cache")),
            timeout=props.get("TimeoutInMinutes", 60),
            queued_timeout=props.get("QueuedTimeoutInMinutes", 480),
            source_version=props.get("SourceVersion"),
            logs_config=camelize(props.get("LogsConfig")),
            vpc_config=camelize(props.get("VpcConfig")),
        )

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Project:
        name = props.get("Name", name)
        backend = _codebuild(account_id, region_name)
        if name in backend.codebuild_projects:
            raise ValueError(
                f"Project already exists: arn:{get_partition(region_name)}:codebuild:{region_name}:"
                f"{account_id}:project/{name}"
            )
        backend.codebuild_projects[name] = cls._project(account_id, region_name, name, props)
        backend.build_history[name] = []
        return cls(name, backend.codebuild_projects[name].arn)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Project:
        if props.get("Name", self.name) != self.name:
            raise ReplacementRequired
        # moto's backend has no UpdateProject: rebuild the project's metadata in place, keeping its history
        # and creation date as UpdateProject does.
        backend = _codebuild(account_id, region_name)
        created = backend.codebuild_projects[self.name].project_metadata["created"]
        project = type(self)._project(account_id, region_name, self.name, props)
        project.project_metadata["created"] = created
        backend.codebuild_projects[self.name] = project
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        _codebuild(account_id, region_name).delete_project(self.name)


def _check_role_trusts_codepipeline(backend: CodePipelineBackend, role_arn: str) -> None:
    try:
        role = backend.iam_backend.get_role_by_arn(role_arn)
    except NotFoundException:
        role = None
    statements = json.loads(role.assume_role_policy_document)["Statement"] if role else []
    principals = [
        service
        for statement in statements
        for service in _as_list(statement.get("Principal", {}).get("Service", []))
    ]
    if "codepipeline.amazonaws.com" not in principals:
        raise InvalidStructureException(
            f"CodePipeline is not authorized to perform AssumeRole on role {role_arn}"
        )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class Pipeline(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::CodePipeline::Pipeline"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = {"Version": "version"}

    def __init__(self, name: str, account_id: str, region_name: str):
        self.name = name
        self._account_id = account_id
        self._region_name = region_name

    @property
    def physical_resource_id(self) -> str:
        return self.name

    @property
    def version(self) -> str:
        pipeline, _ = _codepipeline(self._account_id, self._region_name).get_pipeline(self.name)
        return str(pipeline["version"])

    @staticmethod
    def _declaration(name: str, props: dict[str, Any]) -> dict[str, Any]:
        # RestartExecutionOnUpdate and DisableInboundStageTransitions are CloudFormation-only settings, not
        # part of the pipeline declaration the API stores.
        declared = {
            key: value
            for key, value in props.items()
            if key not in ("Name", "Tags", "RestartExecutionOnUpdate", "DisableInboundStageTransitions")
        }
        # Action configuration keys are the action provider's own names (ConnectionArn, StackName...).
        pipeline = camelize(declared, keep_values_of=frozenset({"Configuration"}))
        pipeline["name"] = name
        return pipeline

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Pipeline:
        name = props.get("Name", name)
        backend = _codepipeline(account_id, region_name)
        if name in backend.pipelines:
            raise InvalidStructureException(
                f"A pipeline with the name '{name}' already exists in account '{account_id}'"
            )
        _check_role_trusts_codepipeline(backend, props["RoleArn"])
        if len(props["Stages"]) < 2:
            raise InvalidStructureException(
                f"Pipeline has only {len(props['Stages'])} stage(s). "
                "There should be a minimum of 2 stages in a pipeline"
            )
        # Built directly rather than through backend.create_pipeline, whose trust check misreads a principal
        # given as a list (["codepipeline.amazonaws.com"], which is what awacs renders).
        pipeline = CodePipeline(account_id, region_name, cls._declaration(name, props))
        pipeline.tags.update({tag["Key"]: tag["Value"] for tag in props.get("Tags", [])})
        backend.pipelines[name] = pipeline
        return cls(name, account_id, region_name)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Pipeline:
        if props.get("Name", self.name) != self.name:
            raise ReplacementRequired
        _codepipeline(account_id, region_name).update_pipeline(type(self)._declaration(self.name, props))
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        _codepipeline(account_id, region_name).delete_pipeline(self.name)
