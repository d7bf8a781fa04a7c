"""The Lambda authorizer with real API Gateway v2 REQUEST events and Secrets Manager served by moto.

It labels every request and refuses none (app/authorizer.py says why, from AWS's documentation): the real API
answers 401 for every token it leaves unverified, which the last tests check against the running server.

Mocked: only AWS itself (moto's real server on 127.0.0.1 stands in for Secrets Manager; boto3 reaches it
through AWS_ENDPOINT_URL exactly as it reaches AWS). Tokens come from the real `create_access_token` and,
in one test, from the real API's `/auth/token`.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import httpx
import pytest
from fastapi.testclient import TestClient
from moto.server import ThreadedMotoServer

from app import authorizer
from app.core.config import Settings
from app.core.tokens import create_access_token
from app.main import create_app
from app.migrate import upgrade
from tests.support import ADMIN_NAME, ADMIN_PASSWORD, Server, free_port, login, sqlite_url

ROUTE_KEY = "GET /auth/check_token"


def authorizer_event(headers: dict[str, str], identity_source: list[str] | None = None) -> dict[str, Any]:
    """A payload format 2.0 REQUEST authorizer event, shaped as the API Gateway developer guide shows it."""
    request_id = f"{uuid.uuid4().hex[:14]}="
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/$default/GET/auth/check_token",
        "routeKey": ROUTE_KEY,
        "rawPath": "/auth/check_token",
        "rawQueryString": "",
        "cookies": [],
        "headers": {
            "accept": "*/*",
            "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-6752f1a3-0c7a8f2e4b9d1e6a3f5c7b9d",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **headers,
        },
        "queryStringParameters": {},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": {
                "method": "GET",
                "path": "/auth/check_token",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": request_id,
            "routeKey": ROUTE_KEY,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": {},
        "stageVariables": {},
    }
    if identity_source is not None:
        event["identitySource"] = identity_source
    return event


def lambda_context() -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=str(uuid.uuid4()), function_name="ecs1-authorizer")


def token_for(
    key: str, *, user_id: int = 7, user_name: str = "alice", role: str = "user", minutes: int = 20
) -> str:
    return create_access_token(
        user_id=user_id, user_name=user_name, role=role, secret=key, expire_minutes=minutes
    )


def decision_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


SERVICE_MODELS = botocore.loaders.create_loader()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Each test is a cold start: a fresh Lambda execution environment with nothing cached: a new boto3 session
    # (reading this environment) and a new signing-key cache. Only botocore's parsed service models are shared
    # (they are the same files on every start), which saves reading them again for every test.
    core = botocore.session.get_session()
    core.register_component("data_loader", SERVICE_MODELS)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3.Session(botocore_session=core))
    monkeypatch.setattr(authorizer, "_signing_key", authorizer.SigningKey())


def store_signing_key(key: str) -> str:
    """Create the JWT secret as the application stack does (SecretString is the plain key); return its ARN."""
    client = boto3.client("secretsmanager")
    return client.create_secret(Name=f"ecs1/jwt-secret-key-{uuid.uuid4().hex[:8]}", SecretString=key)["ARN"]


@pytest.fixture
def signing_key(aws: None, monkeypatch: pytest.MonkeyPatch) -> str:
    key = secrets.token_urlsafe(48)
    monkeypatch.setenv("JWT_SECRET_ARN", store_signing_key(key))
    return key


def test_a_valid_token_is_authorized_with_the_user_in_the_context(
    signing_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = token_for(signing_key, user_id=42, user_name="alice", role="admin")
    event = authorizer_event({"authorization": f"Bearer {token}"}, identity_source=[f"Bearer {token}"])

    response = authorizer.handler(event, lambda_context())

    assert response == {
        "isAuthorized": True,
        "context": {
            "verified": True,
            "reason": "valid-token",
            "user_id": 42,
            "user_name": "alice",
            "role": "admin",
        },
    }
    [line] = decision_lines(capsys.readouterr().out)
    assert (line["verified"], line["reason"]) == (True, "valid-token")
    assert (line["user_id"], line["user_name"]) == (42, "alice")
    assert line["route_key"] == ROUTE_KEY
    assert line["request_id"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize("header", ["authorization", "Authorization", "AUTHORIZATION"])
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_header_name_and_scheme_are_case_insensitive(signing_key: str, header: str, scheme: str) -> None:
    response = authorizer.handler(authorizer_event({header: f"{scheme} {token_for(signing_key)}"}), None)
    assert response["context"]["verified"] is True
    assert response["context"]["user_name"] == "alice"


def test_the_identity_source_alone_is_enough(signing_key: str) -> None:
    token = token_for(signing_key, user_name="bob")
    response = authorizer.handler(authorizer_event({}, identity_source=[f"Bearer {token}"]), lambda_context())
    assert response["context"]["verified"] is True and response["context"]["user_name"] == "bob"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing-token"),
        ({"authorization": ""}, "missing-token"),
        ({"authorization": "TOKEN-WITHOUT-SCHEME"}, "malformed-header"),
        ({"authorization": "Basic YWxpY2U6cGFzc3dvcmQ="}, "malformed-header"),
        ({"authorization": "Bearer "}, "malformed-header"),
        ({"authorization": "Bearer not-a-jwt-at-all"}, "invalid-token"),
        ({"authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"}, "invalid-token"),
    ],
    ids=[
        "no-header",
        "empty-header",
        "no-scheme",
        "basic-scheme",
        "bearer-without-token",
        "garbage",
        "forged",
    ],
)
def test_missing_and_malformed_credentials_are_labelled_unverified_and_passed_on(
    signing_key: str, headers: dict[str, str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    response = authorizer.handler(authorizer_event(headers), lambda_context())

    assert response == {"isAuthorized": True, "context": {"verified": False, "reason": reason}}
    [line] = decision_lines(capsys.readouterr().out)
    assert (line["verified"], line["reason"]) == (False, reason)


def test_an_expired_token_is_labelled_expired(signing_key: str, capsys: pytest.CaptureFixture[str]) -> None:
    expired = token_for(signing_key, minutes=-1)
    response = authorizer.handler(authorizer_event({"authorization": f"Bearer {expired}"}), lambda_context())
    assert response == {"isAuthorized": True, "context": {"verified": False, "reason": "expired"}}
    assert decision_lines(capsys.readouterr().out)[0]["reason"] == "expired"


def test_a_token_signed_with_another_key_is_labelled_invalid(
    signing_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = token_for(secrets.token_urlsafe(48))
    response = authorizer.handler(authorizer_event({"authorization": f"Bearer {foreign}"}), lambda_context())
    assert response == {"isAuthorized": True, "context": {"verified": False, "reason": "invalid-token"}}
    assert decision_lines(capsys.readouterr().out)[0]["reason"] == "invalid-token"


def test_no_log_line_contains_the_token(signing_key: str, capsys: pytest.CaptureFixture[str]) -> None:
    valid, expired, foreign = (
        token_for(signing_key),
        token_for(signing_key, minutes=-1),
        token_for(secrets.token_urlsafe(48)),
    )
    for token in (valid, expired, foreign, "not-a-jwt-but-secret-looking"):
        authorizer.handler(authorizer_event({"authorization": f"Bearer {token}"}), lambda_context())
    output = capsys.readouterr().out

    assert len(decision_lines(output)) == 4  # one structured line per decision
    for token in (valid, expired, foreign, "not-a-jwt-but-secret-looking"):
        assert token not in output
        assert token.split(".")[-1] not in output  # not even the signature part


def test_the_secret_is_read_once_per_cold_start(signing_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts the GetSecretValue requests boto3 sends, with a botocore event hook on the default session."""
    session = boto3.Session()
    sent: list[str] = []
    session.events.register(
        "before-send.secrets-manager.GetSecretValue", lambda **kwargs: sent.append("GetSecretValue")
    )
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    valid, foreign = token_for(signing_key), token_for(secrets.token_urlsafe(48))

    decisions = [
        authorizer.handler(authorizer_event({"authorization": f"Bearer {token}"}), lambda_context())[
            "context"
        ]["verified"]
        for token in [valid, foreign] * 25
    ]

    assert decisions == [True, False] * 25
    assert sent == ["GetSecretValue"]
    monkeypatch.setattr(authorizer, "_signing_key", authorizer.SigningKey())  # a new execution environment
    authorizer.handler(authorizer_event({"authorization": f"Bearer {valid}"}), lambda_context())
    assert len(sent) == 2


def test_an_unreadable_secret_leaves_the_token_to_the_api_and_logs_the_error(
    aws: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key = secrets.token_urlsafe(48)
    missing_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecs1/jwt-secret-key-AbCdEf"
    monkeypatch.setenv("JWT_SECRET_ARN", missing_arn)
    event = authorizer_event({"authorization": f"Bearer {token_for(key)}"})

    unverified = {"isAuthorized": True, "context": {"verified": False, "reason": "signing-key-unavailable"}}
    assert authorizer.handler(event, lambda_context()) == unverified
    [line] = decision_lines(capsys.readouterr().out)
    assert (line["level"], line["verified"], line["reason"]) == ("error", False, "signing-key-unavailable")
    assert "ResourceNotFoundException" in line["error"]

    # The failure is not cached: once the secret is readable, the same warm environment authorizes.
    monkeypatch.setenv("JWT_SECRET_ARN", store_signing_key(key))
    assert authorizer.handler(event, lambda_context())["context"]["verified"] is True


def test_a_missing_secret_arn_variable_is_logged(aws: None, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("JWT_SECRET_ARN", raising=False)
    event = authorizer_event({"authorization": f"Bearer {token_for(secrets.token_urlsafe(48))}"})
    assert authorizer.handler(event, lambda_context())["context"]["verified"] is False
    assert "JWT_SECRET_ARN" in decision_lines(capsys.readouterr().out)[0]["error"]


def test_a_token_issued_by_the_api_is_accepted(signing_key: str, tmp_path: Path) -> None:
    """The real app (in-process, a migrated SQLite file) issues the token; the authorizer shares its key."""
    database = tmp_path / "app.db"
    upgrade(sqlite_url(database))
    settings = Settings(
        app_env="test", database_url=sqlite_url(database), jwt_secret_key=signing_key, bcrypt_rounds=4
    )
    with TestClient(create_app(settings)) as api:
        created = api.post("/users/create_user", json={"user_name": "carol", "password": "password-123"})
        assert created.status_code == 201, created.text
        issued = api.post("/auth/token", data={"username": "carol", "password": "password-123"})
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
        checked = api.get("/auth/check_token", headers={"Authorization": f"Bearer {token}"}).json()

    response = authorizer.handler(authorizer_event({"authorization": f"Bearer {token}"}), lambda_context())

    assert response == {
        "isAuthorized": True,
        "context": {
            "verified": True,
            "reason": "valid-token",
            "user_id": checked["id"],
            "user_name": "carol",
            "role": "user",
        },
    }


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("TOKEN-WITHOUT-SCHEME", "malformed-header"),
        ("Basic YWxpY2U6cGFzc3dvcmQ=", "malformed-header"),
        ("Bearer not-a-jwt-at-all", "invalid-token"),
        ("Bearer {forged}", "invalid-token"),
        ("Bearer {expired}", "expired"),
    ],
    ids=["no-scheme", "basic-scheme", "garbage", "forged", "expired"],
)
def test_the_api_answers_401_for_every_token_the_authorizer_leaves_unverified(
    server: Server,
    client: httpx.Client,
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    authorization: str,
    reason: str,
) -> None:
    """What a client sees through the gateway: the authorizer lets the request on, the real API refuses it."""
    monkeypatch.setenv("JWT_SECRET_ARN", store_signing_key(server.jwt_secret))
    header = authorization.format(
        forged=token_for(secrets.token_urlsafe(48)), expired=token_for(server.jwt_secret, minutes=-1)
    )

    label = authorizer.handler(authorizer_event({"authorization": header}), lambda_context())
    answer = client.get(ROUTE_KEY.split(" ", 1)[1], headers={"Authorization": header})

    assert label == {"isAuthorized": True, "context": {"verified": False, "reason": reason}}
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert "detail" in answer.json()


def test_a_token_the_authorizer_verifies_is_one_the_api_accepts(
    server: Server, client: httpx.Client, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JWT_SECRET_ARN", store_signing_key(server.jwt_secret))
    issued = login(client, ADMIN_NAME, ADMIN_PASSWORD)
    assert issued.status_code == 200, issued.text
    header = f"Bearer {issued.json()['access_token']}"

    label = authorizer.handler(authorizer_event({"authorization": header}), lambda_context())
    answer = client.get(ROUTE_KEY.split(" ", 1)[1], headers={"Authorization": header})

    assert answer.status_code == 200
    assert label["context"]["verified"] is True
    assert label["context"]["user_name"] == answer.json()["user_name"] == ADMIN_NAME
