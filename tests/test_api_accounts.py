"""A token belongs to one account for its life (issue 8, findings 1 and 2), through the real server process.

Each test replays a finding against the API as an attacker would: on the code before the fix, every one of
them got 200/201/204 where the assertions below expect 401.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx
import pytest

from tests.support import ADMIN_NAME, ADMIN_PASSWORD, bearer, login, new_user, running_server, unique_name


def token_of(client: httpx.Client, user_name: str, password: str = "password-123") -> dict[str, str]:
    response = login(client, user_name, password)
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


def reads_and_writes(client: httpx.Client, headers: dict[str, str], user_id: int) -> dict[str, int]:
    """The status of one call to every kind of route a user's token opens."""
    return {
        "check_token": client.get("/auth/check_token", headers=headers).status_code,
        "get_locations": client.post(
            "/location/get_locations", json={"ids": [user_id]}, headers=headers
        ).status_code,
        "history": client.get("/location/history", headers=headers).status_code,
        "update": client.post("/location/update", json={"lat": 1, "lng": 2}, headers=headers).status_code,
        "shared_with": client.get("/location/shared_with", headers=headers).status_code,
        "shared_with_me": client.get("/location/shared_with_me", headers=headers).status_code,
        "change_password": client.put(
            "/users/update", json={"password": "taken-over-pass"}, headers=headers
        ).status_code,
    }


def test_a_deleted_users_token_never_opens_a_later_account(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    """Finding 1: the newest user's id went to the next account, and their token with it."""
    mallory, mallory_headers = new_user(client, "mallory")
    assert client.delete(f"/users/delete/{mallory['user_name']}", headers=admin_headers).status_code == 204
    admin_name = unique_name("admin")
    created = client.post(
        "/users/create_user",
        json={"user_name": admin_name, "password": "password-123", "role": "admin"},
        headers=admin_headers,
    )
    assert created.status_code == 201
    assert created.json()["id"] > mallory["id"], "ids are never handed out again"
    assert client.get("/users/read_all", headers=mallory_headers).status_code == 401
    promote = {"user_name": unique_name("evil"), "password": "password-123", "role": "admin"}
    assert client.post("/users/create_user", json=promote, headers=mallory_headers).status_code == 401
    assert client.delete(f"/users/delete/{admin_name}", headers=mallory_headers).status_code == 401
    plain, _ = new_user(client, "plain")
    statuses = reads_and_writes(client, mallory_headers, plain["id"])
    assert statuses == dict.fromkeys(statuses, 401), statuses
    assert login(client, plain["user_name"]).status_code == 200, "the plain account's password is unchanged"
    assert login(client, admin_name).status_code == 200


def test_a_deleted_user_loses_every_route_at_once(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    """Finding 2: a deleted user kept reading locations until their token expired."""
    user, headers = new_user(client)
    assert client.post("/location/update", json={"lat": 3, "lng": 4}, headers=headers).status_code == 201
    assert client.delete(f"/users/delete/{user['user_name']}", headers=admin_headers).status_code == 204
    statuses = reads_and_writes(client, headers, user["id"])
    assert statuses == dict.fromkeys(statuses, 401), statuses
    response = client.get("/auth/check_token", headers=headers)
    assert response.headers["WWW-Authenticate"] == "Bearer" and "log in again" in response.json()["detail"]


def test_a_password_change_revokes_every_earlier_token(client: httpx.Client) -> None:
    """Finding 2: earlier tokens kept working for 20 minutes after a password change."""
    user, first = new_user(client)
    second = token_of(client, user["user_name"])
    assert client.put("/users/update", json={"password": "a-new-password"}, headers=first).status_code == 204
    for earlier in (first, second):
        statuses = reads_and_writes(client, earlier, user["id"])
        assert statuses == dict.fromkeys(statuses, 401), statuses
    fresh = token_of(client, user["user_name"], "a-new-password")
    assert client.get("/auth/check_token", headers=fresh).json() == user
    assert client.post("/location/update", json={"lat": 5, "lng": 6}, headers=fresh).status_code == 201


def test_an_admin_resetting_a_password_revokes_that_users_tokens(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    user, headers = new_user(client)
    reset = {"user_name": user["user_name"], "password": "reset-by-admin"}
    assert client.put("/users/update", json=reset, headers=admin_headers).status_code == 204
    assert client.post("/location/update", json={"lat": 1, "lng": 1}, headers=headers).status_code == 401
    assert client.get("/auth/check_token", headers=admin_headers).status_code == 200, "the admin's own stays"


def test_a_demoted_admin_loses_what_an_admin_has_at_once(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    """Demotion takes the admin's rights (user management, seeing everyone's locations) from every token
    at once; what a user may do keeps working."""
    tracked, tracked_headers = new_user(client)
    assert (
        client.post("/location/update", json={"lat": 7, "lng": 8}, headers=tracked_headers).status_code == 201
    )
    name = unique_name("admin")
    body = {"user_name": name, "password": "password-123", "role": "admin"}
    assert client.post("/users/create_user", json=body, headers=admin_headers).status_code == 201
    headers = token_of(client, name)
    ids = {"ids": [tracked["id"]]}
    assert [
        row["id"] for row in client.post("/location/get_locations", json=ids, headers=headers).json()
    ] == [tracked["id"]]
    demote = {"user_name": name, "role": "user"}
    assert client.put("/users/update", json=demote, headers=admin_headers).status_code == 204
    assert client.post("/location/get_locations", json=ids, headers=headers).json() == []
    history = client.get("/location/history", params={"user_id": tracked["id"]}, headers=headers)
    assert history.status_code == 404
    assert client.get("/users/read_all", headers=headers).status_code == 403
    assert client.get("/auth/check_token", headers=headers).json()["role"] == "user"


def test_forged_binding_claims_are_refused(client: httpx.Client, server) -> None:
    """A token signed with the key but naming an account by the wrong name or version is refused."""
    from jose import jwt

    user, _ = new_user(client)
    other, _ = new_user(client)
    claims = {"sub": user["user_name"], "id": user["id"], "role": "user", "ver": 0, "exp": 2**31}
    for wrong in ({"sub": other["user_name"]}, {"ver": 1}, {"ver": "0"}, {"id": other["id"]}):
        token = jwt.encode({**claims, **wrong}, server.jwt_secret)
        assert client.get("/auth/check_token", headers=bearer(token)).status_code == 401, wrong


@pytest.mark.slow
def test_a_revocation_holds_at_once_in_every_process_sharing_the_database(tmp_path: Path) -> None:
    """Two server processes on one database (the rollback journal lets several processes open the file, as
    several tasks share PostgreSQL): a password changed through one revokes the token in the other at once."""
    shared = {"SQLITE_JOURNAL": "delete", "JWT_SECRET_KEY": secrets.token_urlsafe(48)}
    with running_server(tmp_path, **shared) as one, running_server(tmp_path, **shared) as two:
        with httpx.Client(base_url=one.base_url) as first, httpx.Client(base_url=two.base_url) as second:
            user, headers = new_user(first)
            assert second.get("/auth/check_token", headers=headers).status_code == 200
            assert (
                second.post("/location/update", json={"lat": 1, "lng": 1}, headers=headers).status_code == 201
            )
            assert (
                first.put(
                    "/users/update", json={"password": "changed-elsewhere"}, headers=headers
                ).status_code
                == 204
            )
            assert second.get("/auth/check_token", headers=headers).status_code == 401
            assert (
                second.post("/location/update", json={"lat": 1, "lng": 1}, headers=headers).status_code == 401
            )
            assert (
                second.post(
                    "/location/get_locations", json={"ids": [user["id"]]}, headers=headers
                ).status_code
                == 401
            )


@pytest.mark.slow
def test_concurrent_demotions_and_deletions_never_remove_the_last_admin(tmp_path: Path) -> None:
    """The last-admin check and the write run in one transaction: when every admin removes themselves at
    once (a demotion with a new password, or a deletion), all but one succeed and one admin remains.
    (Before, the check ran before the password was hashed and the write after it.)"""
    passwords = {ADMIN_NAME: ADMIN_PASSWORD}
    with running_server(tmp_path) as server, httpx.Client(base_url=server.base_url) as client:
        admin_name = ADMIN_NAME
        for _ in range(3):
            headers = token_of(client, admin_name, passwords[admin_name])
            admins = [admin_name]
            for _ in range(5):
                admins.append(unique_name("admin"))
                passwords[admins[-1]] = "password-123"
                body = {"user_name": admins[-1], "password": "password-123", "role": "admin"}
                assert client.post("/users/create_user", json=body, headers=headers).status_code == 201
            removals = [
                (
                    token_of(client, name, passwords[name]),
                    ("PUT", "/users/update", {"role": "user", "password": "a-new-password"})
                    if index % 2 == 0
                    else ("DELETE", f"/users/delete/{name}", None),
                )
                for index, name in enumerate(admins)
            ]

            async def race(removals: list = removals) -> list[int]:
                async with httpx.AsyncClient(base_url=server.base_url) as http:
                    calls = [
                        http.request(method, path, json=body, headers=own)
                        for own, (method, path, body) in removals
                    ]
                    return [response.status_code for response in await asyncio.gather(*calls)]

            statuses = asyncio.run(race())
            assert sorted(statuses) == [204] * (len(admins) - 1) + [409], statuses
            admin_name = admins[statuses.index(409)]
            remaining = token_of(client, admin_name, passwords[admin_name])
            users = client.get("/users/read_all", params={"limit": 1000}, headers=remaining).json()
            assert [user["user_name"] for user in users if user["role"] == "admin"] == [admin_name]
