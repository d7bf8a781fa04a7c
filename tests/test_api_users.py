"""Users and auth through real HTTP requests to the real server process (a real SQLite file)."""

from __future__ import annotations

import time

import httpx
import pytest
from jose import jwt

from tests.support import ADMIN_NAME, Server, bearer, login, new_user, signup, unique_name


def test_health_and_root(client: httpx.Client) -> None:
    assert client.get("/").json()["message"]
    assert client.get("/health").json() == {"status": "ok", "database": "ok"}


def test_signup_returns_the_user_and_role_defaults_to_user(client: httpx.Client) -> None:
    name = unique_name()
    response = signup(client, name)
    assert response.status_code == 201
    body = response.json()
    assert body["user_name"] == name and body["role"] == "user" and isinstance(body["id"], int)
    assert "password" not in response.text and "hash" not in response.text


def test_duplicate_name_is_409(client: httpx.Client) -> None:
    name = unique_name()
    assert signup(client, name).status_code == 201
    response = signup(client, name, "another-password")
    assert response.status_code == 409
    assert "taken" in response.json()["detail"]


def test_nobody_can_sign_up_as_admin(client: httpx.Client) -> None:
    name = unique_name()
    response = signup(client, name, role="admin")
    assert response.status_code == 403
    _, user_headers = new_user(client)
    response = client.post(
        "/users/create_user",
        json={"user_name": name, "password": "password-123", "role": "admin"},
        headers=user_headers,
    )
    assert response.status_code == 403
    assert login(client, name).status_code == 401, "the refused admin must not have been created"


def test_an_admin_can_create_an_admin(client: httpx.Client, admin_headers: dict[str, str]) -> None:
    name = unique_name("admin")
    response = client.post(
        "/users/create_user",
        json={"user_name": name, "password": "password-123", "role": "admin"},
        headers=admin_headers,
    )
    assert response.status_code == 201 and response.json()["role"] == "admin"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"user_name": "", "password": "password-123"}, "at least 1"),
        ({"user_name": "a" * 65, "password": "password-123"}, "at most 64"),
        ({"user_name": "bad name!", "password": "password-123"}, "pattern"),
        ({"user_name": "ok", "password": "short"}, "at least 8"),
        ({"user_name": "ok", "password": "x" * 73}, "72 bytes"),
        ({"user_name": "ok", "password": "é" * 37}, "72 bytes"),  # 37 characters, 74 bytes
        ({"user_name": "ok", "password": "password-123", "role": "root"}, "'user' or 'admin'"),
        ({"user_name": "ok", "password": "password-123", "is_admin": True}, "Extra inputs"),
        ({"user_name": 5, "password": "password-123"}, "valid string"),
        ({"password": "password-123"}, "Field required"),
    ],
)
def test_invalid_signups_are_422_with_a_message(client: httpx.Client, body: dict, fragment: str) -> None:
    response = client.post("/users/create_user", json=body)
    assert response.status_code == 422
    messages = " ".join(error["msg"] for error in response.json()["detail"])
    assert fragment in messages
    assert "x" * 73 not in response.text, "the rejected password must not be echoed back"


def test_password_of_exactly_72_bytes_works_and_is_not_truncated(client: httpx.Client) -> None:
    name, password = unique_name(), "p" * 72
    assert signup(client, name, password).status_code == 201
    assert login(client, name, password).status_code == 200
    assert login(client, name, "p" * 71).status_code == 401


def test_login_issues_a_bearer_token_with_the_contract_claims(client: httpx.Client) -> None:
    user, headers = new_user(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.get_unverified_claims(token)
    assert claims["sub"] == user["user_name"] and claims["id"] == user["id"] and claims["role"] == "user"
    assert 19 * 60 <= claims["exp"] - time.time() <= 20 * 60 + 5, "tokens last 20 minutes by default"
    response = client.get("/auth/check_token", headers=headers)
    assert response.status_code == 200 and response.json() == user


@pytest.mark.parametrize("password", ["wrong-password", ""])
def test_bad_credentials_are_401_with_www_authenticate(client: httpx.Client, password: str) -> None:
    user, _ = new_user(client)
    for name in (user["user_name"], unique_name("nobody")):
        response = login(client, name, password)
        assert response.status_code in (401, 422)
        if response.status_code == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer a.b.c", "Bearer " + "x" * 5000],
)
def test_check_token_rejects_missing_or_malformed_tokens(
    client: httpx.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/auth/check_token", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_check_token_rejects_expired_and_badly_signed_tokens(client: httpx.Client, server: Server) -> None:
    user, headers = new_user(client)
    claims = {
        "sub": user["user_name"],
        "id": user["id"],
        "role": "user",
        "ver": 0,
        "exp": int(time.time()) + 600,
    }
    assert (
        client.get("/auth/check_token", headers=bearer(jwt.encode(claims, server.jwt_secret))).status_code
        == 200
    )
    unversioned = {key: value for key, value in claims.items() if key != "ver"}
    assert (
        client.get(
            "/auth/check_token", headers=bearer(jwt.encode(unversioned, server.jwt_secret))
        ).status_code
        == 401
    )
    forged = jwt.encode({**claims, "role": "admin"}, "not-the-server-key-" * 3, algorithm="HS256")
    assert client.get("/auth/check_token", headers=bearer(forged)).status_code == 401
    header, payload, _ = jwt.encode(claims, server.jwt_secret).split(".")
    assert client.get("/auth/check_token", headers=bearer(f"{header}.{payload}.")).status_code == 401
    expired = jwt.encode({**claims, "exp": int(time.time()) - 1}, server.jwt_secret)
    response = client.get("/auth/check_token", headers=bearer(expired))
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    no_id = jwt.encode({"sub": user["user_name"], "exp": int(time.time()) + 600}, server.jwt_secret)
    assert client.get("/auth/check_token", headers=bearer(no_id)).status_code == 401


def test_scheme_is_case_insensitive(client: httpx.Client) -> None:
    _, headers = new_user(client)
    token = headers["Authorization"].removeprefix("Bearer ")
    assert client.get("/auth/check_token", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_read_all_is_for_admins(client: httpx.Client, admin_headers: dict[str, str]) -> None:
    assert client.get("/users/read_all").status_code == 401
    _, user_headers = new_user(client)
    assert client.get("/users/read_all", headers=user_headers).status_code == 403
    response = client.get("/users/read_all", headers=admin_headers)
    assert response.status_code == 200
    names = [user["user_name"] for user in response.json()]
    assert ADMIN_NAME in names
    assert set(response.json()[0]) == {"id", "user_name", "role"}
    page = client.get("/users/read_all", params={"limit": 1, "offset": 1}, headers=admin_headers).json()
    assert page == response.json()[1:2]
    assert client.get("/users/read_all", params={"limit": 0}, headers=admin_headers).status_code == 422
    assert client.get("/users/read_all", params={"limit": 1001}, headers=admin_headers).status_code == 422
    assert client.get("/users/read_all", params={"offset": -1}, headers=admin_headers).status_code == 422


def test_a_user_changes_their_own_password(client: httpx.Client) -> None:
    user, headers = new_user(client)
    response = client.put("/users/update", json={"password": "brand-new-password"}, headers=headers)
    assert response.status_code == 204
    assert login(client, user["user_name"]).status_code == 401
    assert login(client, user["user_name"], "brand-new-password").status_code == 200


def test_a_user_cannot_make_themselves_admin_or_touch_others(client: httpx.Client) -> None:
    user, headers = new_user(client)
    other, _ = new_user(client)
    assert client.put("/users/update", json={"role": "admin"}, headers=headers).status_code == 403
    response = client.put(
        "/users/update", json={"user_name": other["user_name"], "password": "hijacked-pass"}, headers=headers
    )
    assert response.status_code == 403
    assert login(client, other["user_name"]).status_code == 200
    assert client.get("/auth/check_token", headers=headers).json()["role"] == "user"


def test_an_admin_changes_roles_and_passwords(client: httpx.Client, admin_headers: dict[str, str]) -> None:
    user, _ = new_user(client)
    body = {"user_name": user["user_name"], "role": "admin", "password": "set-by-admin"}
    assert client.put("/users/update", json=body, headers=admin_headers).status_code == 204
    token = login(client, user["user_name"], "set-by-admin").json()["access_token"]
    assert client.get("/auth/check_token", headers=bearer(token)).json()["role"] == "admin"
    missing = {"user_name": unique_name("ghost"), "role": "user"}
    assert client.put("/users/update", json=missing, headers=admin_headers).status_code == 404


def test_update_needs_something_to_change(client: httpx.Client) -> None:
    _, headers = new_user(client)
    assert client.put("/users/update", json={}, headers=headers).status_code == 422
    assert client.put("/users/update", json={"colour": "red"}, headers=headers).status_code == 422


def test_a_demoted_admin_loses_admin_rights_at_once(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    name = unique_name("admin")
    body = {"user_name": name, "password": "password-123", "role": "admin"}
    assert client.post("/users/create_user", json=body, headers=admin_headers).status_code == 201
    token = bearer(login(client, name).json()["access_token"])
    assert client.get("/users/read_all", headers=token).status_code == 200
    demote = {"user_name": name, "role": "user"}
    assert client.put("/users/update", json=demote, headers=admin_headers).status_code == 204
    assert client.get("/users/read_all", headers=token).status_code == 403


def test_delete_user_removes_them_and_their_locations(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    user, headers = new_user(client)
    _, reader = new_user(client)
    for lat in (1.0, 2.0, 3.0):
        assert (
            client.post("/location/update", json={"lat": lat, "lng": 0}, headers=headers).status_code == 201
        )
    assert client.delete(f"/users/delete/{user['user_name']}", headers=headers).status_code == 403
    assert client.delete(f"/users/delete/{user['user_name']}", headers=admin_headers).status_code == 204
    assert client.delete(f"/users/delete/{user['user_name']}", headers=admin_headers).status_code == 404
    assert client.post("/location/get_locations", json={"ids": [user["id"]]}, headers=reader).json() == []
    assert client.get("/location/history", params={"user_id": user["id"]}, headers=reader).status_code == 404
    # Their token outlives them, but it no longer works for anything that needs the user.
    assert client.get("/auth/check_token", headers=headers).status_code == 401
    assert client.post("/location/update", json={"lat": 1, "lng": 1}, headers=headers).status_code == 401


def test_the_last_admin_cannot_be_deleted_or_demoted(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    admins = [u for u in client.get("/users/read_all", headers=admin_headers).json() if u["role"] == "admin"]
    for extra in admins:
        if extra["user_name"] != ADMIN_NAME:
            client.delete(f"/users/delete/{extra['user_name']}", headers=admin_headers)
    assert client.delete(f"/users/delete/{ADMIN_NAME}", headers=admin_headers).status_code == 409
    demote = {"user_name": ADMIN_NAME, "role": "user"}
    assert client.put("/users/update", json=demote, headers=admin_headers).status_code == 409
    assert client.get("/users/read_all", headers=admin_headers).status_code == 200
