"""AWS::SecretsManager::Secret emulation backed by moto's secretsmanager backend (moto has no such type)."""

from __future__ import annotations

import json
from typing import Any

from local_aws._base import Emulated, ReplacementRequired
from local_aws._props import as_bool
from local_aws.moto_adapter import (
    CloudFormationModel,
    FakeSecret,
    SecretsManagerBackend,
    secretsmanager_backends,
)


def _backend(account_id: str, region_name: str) -> SecretsManagerBackend:
    return secretsmanager_backends[account_id][region_name]


def _generate(backend: SecretsManagerBackend, spec: dict[str, Any]) -> str:
    """The value CloudFormation stores for GenerateSecretString: a random password, or a JSON object built
    from SecretStringTemplate with the password under GenerateStringKey."""
    password = json.loads(
        backend.get_random_password(
            password_length=int(spec.get("PasswordLength", 32)),
            exclude_characters=spec.get("ExcludeCharacters", ""),
            exclude_numbers=bool(as_bool(spec.get("ExcludeNumbers"))),
            exclude_punctuation=bool(as_bool(spec.get("ExcludePunctuation"))),
            exclude_uppercase=bool(as_bool(spec.get("ExcludeUppercase"))),
            exclude_lowercase=bool(as_bool(spec.get("ExcludeLowercase"))),
            include_space=bool(as_bool(spec.get("IncludeSpace"))),
            require_each_included_type=as_bool(spec.get("RequireEachIncludedType")) is not False,
        )
    )["RandomPassword"]
    if "SecretStringTemplate" not in spec:
        return password
    document = json.loads(spec["SecretStringTemplate"])
    document[spec["GenerateStringKey"]] = password
    return json.dumps(document)


class Secret(Emulated, CloudFormationModel):
    CFN_TYPE = "AWS::SecretsManager::Secret"
    NAME_PROPERTY = "Name"
    ATTRIBUTES = {"Id": "arn"}

    def __init__(self, arn: str, name: str, props: dict[str, Any]):
        self.arn = arn
        self.name = name
        self.secret_string = props.get("SecretString")
        self.generate_spec = props.get("GenerateSecretString")

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create(cls, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Secret:
        if "SecretString" in props and "GenerateSecretString" in props:
            raise ValueError("SecretString and GenerateSecretString are mutually exclusive")
        backend = _backend(account_id, region_name)
        value: str | None
        if "GenerateSecretString" in props:
            value = _generate(backend, props["GenerateSecretString"])
        else:
            value = props.get("SecretString")
        name = props.get("Name", name)
        backend.create_secret(
            name=name,
            secret_string=value,
            secret_binary=None,
            description=props.get("Description"),
            tags=props.get("Tags"),
            kms_key_id=props.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(backend.describe_secret(name).arn, name, props)

    def update(self, name: str, props: dict[str, Any], account_id: str, region_name: str) -> Secret:
        if props.get("Name", self.name) != self.name:
            raise ReplacementRequired
        backend = _backend(account_id, region_name)
        secret = backend.describe_secret(self.arn)
        assert isinstance(secret, FakeSecret), "a stack's secret is never a replica"
        secret.description = props.get("Description")
        secret.kms_key_id = props.get("KmsKeyId")
        # A changed SecretString becomes the new current version; a generated value is kept across updates
        # unless GenerateSecretString itself changed, as CloudFormation does.
        value, spec = props.get("SecretString"), props.get("GenerateSecretString")
        if value is not None and value != self.secret_string:
            backend.update_secret(self.arn, secret_string=value)
        elif spec is not None and spec != self.generate_spec:
            backend.update_secret(self.arn, secret_string=_generate(backend, spec))
        self.secret_string, self.generate_spec = value, spec
        return self

    def delete(self, account_id: str, region_name: str) -> None:
        # CloudFormation deletes a stack's secret without a recovery window: the name is free again at once.
        _backend(account_id, region_name).delete_secret(
            self.arn, recovery_window_in_days=None, force_delete_without_recovery=True
        )
