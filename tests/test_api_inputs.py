"""Errors never repeat their input and are always JSON; names are unique ignoring case; coordinates keep
the 6-decimal rule (issue 8, finding 7), through the real server process."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import login, new_user, signup, unique_name

MARKUP = "<img src=x onerror=alert(1)>"


def assert_json_error_without(response: httpx.Response, *inputs: str) -> None:
    assert response.headers["content-type"] == "application/json", response.text
    assert set(response.json()) == {"detail"}
    for text in inputs:
        assert text not in response.text and json.dumps(text)[1:-1] not in response.text, text


def test_a_404_on_delete_does_not_repeat_the_name(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    response = client.delete(f"/users/delete/{MARKUP}", headers=admin_headers)
    assert response.status_code == 404
    assert_json_error_without(response, MARKUP, "onerror")


def test_a_taken_name_is_409_without_repeating_it(client: httpx.Client) -> None:
    name = unique_name("taken")
    assert signup(client, name).status_code == 201
    response = signup(client, name)
    assert response.status_code == 409
    assert_json_error_without(response, name)


def test_a_history_404_does_not_repeat_the_id(client: httpx.Client) -> None:
    _, headers = new_user(client)
    response = client.get("/location/history", params={"user_id": 987654321987}, headers=headers)
    assert response.status_code == 404
    assert_json_error_without(response, "987654321987")


@pytest.mark.parametrize(
    "body",
    [
        b'{"user_name": "ok-name", "password": "\\ud800abcdefgh"}',  # a lone surrogate
        b'{"user_name": "ok-name", "password": "abcdefgh\\udfff"}',
    ],
)
def test_a_lone_surrogate_in_a_password_is_422_without_repeating_it(
    client: httpx.Client, body: bytes
) -> None:
    response = client.post("/users/create_user", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert_json_error_without(response, "\\ud800", "\\udfff", "abcdefgh")
    assert "surrogate" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("body", "secret"),
    [
        ({"user_name": "ok", "password": "password-123", MARKUP: 1}, MARKUP),
        ({"user_name": MARKUP, "password": "password-123"}, MARKUP),
        ({"user_name": "ok", "password": "password-123", "role": MARKUP}, MARKUP),
        ({"user_name": "ok", "password": "s3cr3t!"}, "s3cr3t!"),
        ({"user_name": "ok", "password": "x" * 60 + "é" * 7}, "x" * 60),
    ],
)
def test_validation_errors_do_not_repeat_the_input(client: httpx.Client, body: dict, secret: str) -> None:
    response = client.post("/users/create_user", json=body)
    assert response.status_code == 422
    assert_json_error_without(response, secret)


def test_oversized_and_malformed_bodies_answer_json(client: httpx.Client) -> None:
    _, headers = new_user(client)
    json_headers = {**headers, "Content-Type": "application/json"}
    declared = client.post("/location/update", content=b"{" + b" " * 70_000 + b"}", headers=json_headers)
    assert declared.status_code == 413
    assert_json_error_without(declared)
    unauthenticated = client.post("/users/create_user", content=b" " * 70_000, headers=json_headers)
    assert unauthenticated.status_code == 413
    assert_json_error_without(unauthenticated)
    for content in (b'{"lat": 1, "lng": ', b"\xff\xfe", b"{'lat': 1}", b"[]"):
        response = client.post("/location/update", content=content, headers=json_headers)
        assert response.status_code == 422, content
        assert_json_error_without(response)


def test_user_names_are_unique_ignoring_case_and_login_ignores_case(client: httpx.Client) -> None:
    name = unique_name("Case")
    created = signup(client, name)
    assert created.status_code == 201 and created.json()["user_name"] == name, "stored as given"
    for variant in (name.lower(), name.upper()):
        assert signup(client, variant).status_code == 409
    response = login(client, name.upper())
    assert response.status_code == 200
    token = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert client.get("/auth/check_token", headers=token).json()["user_name"] == name


@pytest.mark.parametrize("lat", [1e-142, -1e-142, 1e-7, 45.0000001, 5e-324])
def test_coordinates_that_would_not_survive_six_decimals_are_422(client: httpx.Client, lat: float) -> None:
    _, headers = new_user(client)
    response = client.post("/location/update", json={"lat": lat, "lng": 0}, headers=headers)
    assert response.status_code == 422, response.text
    assert client.get("/location/history", headers=headers).json()["items"] == []


@pytest.mark.parametrize(("sent", "stored"), [(0.000037, 0.000037), (-0.0, 0.0), (-89.999999, -89.999999)])
def test_six_decimal_coordinates_are_stored_as_sent(client: httpx.Client, sent: float, stored: float) -> None:
    _, headers = new_user(client)
    response = client.post(
        "/location/update",
        content=json.dumps({"lat": sent, "lng": 0}),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 201
    latest = client.get("/location/history", headers=headers).json()["items"][0]["lat"]
    assert latest == stored and json.dumps(latest) == json.dumps(stored)


def test_a_nul_in_a_user_name_is_an_unknown_user_on_every_route(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    """PostgreSQL refuses NUL in text: a name with one (found by schemathesis on the login form) must be an
    unknown user, never a 500. No account can have one: names are letters, digits and . _ -."""
    user, headers = new_user(client, "nul")
    name = user["user_name"]
    assert login(client, name + "\x00", "password-123").status_code == 401
    assert client.delete("/users/delete/x%00y", headers=admin_headers).status_code == 404
    assert client.put("/location/shared_with/x%00y", headers=headers).status_code in (404, 422)
    assert client.delete("/location/shared_with/x%00y", headers=headers).status_code in (404, 422)
    assert login(client, name, "password-123").status_code == 200, "the account itself is untouched"
