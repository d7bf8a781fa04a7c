"""Locations are private unless shared (issue 8, finding 3), through the real server process."""

from __future__ import annotations

import asyncio

import httpx

from tests.support import Server, new_user

UNKNOWN_ID = 10**12


def share(client: httpx.Client, owner: dict[str, str], viewer_name: str) -> httpx.Response:
    return client.put(f"/location/shared_with/{viewer_name}", headers=owner)


def unshare(client: httpx.Client, owner: dict[str, str], viewer_name: str) -> httpx.Response:
    return client.delete(f"/location/shared_with/{viewer_name}", headers=owner)


def seen(client: httpx.Client, viewer: dict[str, str], *user_ids: int) -> list[int]:
    response = client.post("/location/get_locations", json={"ids": list(user_ids)}, headers=viewer)
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()]


def history(client: httpx.Client, viewer: dict[str, str], user_id: int) -> httpx.Response:
    return client.get("/location/history", params={"user_id": user_id}, headers=viewer)


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [user["user_name"] for user in response.json()]


def report(client: httpx.Client, headers: dict[str, str]) -> None:
    assert client.post("/location/update", json={"lat": 1.5, "lng": 2.5}, headers=headers).status_code == 201


def test_nobody_sees_a_location_that_was_not_shared(client: httpx.Client) -> None:
    alice, alice_headers = new_user(client, "alice")
    _, bob_headers = new_user(client, "bob")
    report(client, alice_headers)
    assert seen(client, bob_headers, alice["id"]) == [], "left out, as if alice had no location"
    assert seen(client, alice_headers, alice["id"]) == [alice["id"]], "everyone sees themselves"
    hidden, missing = history(client, bob_headers, alice["id"]), history(client, bob_headers, UNKNOWN_ID)
    assert (
        (hidden.status_code, hidden.json())
        == (missing.status_code, missing.json())
        == (404, {"detail": "no such user"})
    )
    assert hidden.headers["content-length"] == missing.headers["content-length"]


def test_sharing_shows_the_owner_to_that_viewer_only_and_revoking_hides_them_at_once(
    client: httpx.Client,
) -> None:
    alice, alice_headers = new_user(client, "alice")
    bob, bob_headers = new_user(client, "bob")
    _, carol_headers = new_user(client, "carol")
    report(client, alice_headers)
    report(client, bob_headers)
    granted = share(client, alice_headers, bob["user_name"].upper())  # names are found ignoring case
    assert granted.status_code == 200
    assert granted.json()["id"] == bob["id"] and granted.json()["user_name"] == bob["user_name"]
    assert granted.json()["since"].endswith("Z")
    assert share(client, alice_headers, bob["user_name"]).json() == granted.json(), "sharing again: no change"
    assert seen(client, bob_headers, alice["id"], bob["id"]) == sorted([alice["id"], bob["id"]])
    assert [item["lat"] for item in history(client, bob_headers, alice["id"]).json()["items"]] == [1.5]
    assert seen(client, alice_headers, bob["id"]) == [], "sharing goes one way"
    assert seen(client, carol_headers, alice["id"]) == []
    assert names(client.get("/location/shared_with", headers=alice_headers)) == [bob["user_name"]]
    assert names(client.get("/location/shared_with_me", headers=bob_headers)) == [alice["user_name"]]
    assert names(client.get("/location/shared_with_me", headers=alice_headers)) == []

    assert unshare(client, alice_headers, bob["user_name"]).status_code == 204
    assert seen(client, bob_headers, alice["id"]) == []
    assert history(client, bob_headers, alice["id"]).status_code == 404
    assert names(client.get("/location/shared_with", headers=alice_headers)) == []
    assert names(client.get("/location/shared_with_me", headers=bob_headers)) == []
    assert unshare(client, alice_headers, bob["user_name"]).status_code == 204, "nothing to revoke: no change"


def test_sharing_with_yourself_or_nobody_is_refused(client: httpx.Client) -> None:
    alice, alice_headers = new_user(client, "alice")
    response = share(client, alice_headers, alice["user_name"])
    assert response.status_code == 400 and isinstance(response.json()["detail"], str)
    for call in (share, unshare):
        response = call(client, alice_headers, "nobody-by-this-name")
        assert (response.status_code, response.json()) == (404, {"detail": "no such user"})
    assert client.get("/location/shared_with").status_code == 401
    assert client.put(f"/location/shared_with/{alice['user_name']}").status_code == 401


def test_admins_see_everyone(client: httpx.Client, admin_headers: dict[str, str]) -> None:
    alice, alice_headers = new_user(client, "alice")
    report(client, alice_headers)
    assert seen(client, admin_headers, alice["id"]) == [alice["id"]]
    assert history(client, admin_headers, alice["id"]).status_code == 200


def test_deleting_a_user_removes_their_shares_both_ways(
    client: httpx.Client, admin_headers: dict[str, str]
) -> None:
    alice, alice_headers = new_user(client, "alice")
    bob, bob_headers = new_user(client, "bob")
    _, carol_headers = new_user(client, "carol")
    assert share(client, alice_headers, bob["user_name"]).status_code == 200
    assert share(client, carol_headers, alice["user_name"]).status_code == 200
    assert client.delete(f"/users/delete/{alice['user_name']}", headers=admin_headers).status_code == 204
    assert names(client.get("/location/shared_with_me", headers=bob_headers)) == []
    assert names(client.get("/location/shared_with", headers=carol_headers)) == []


def test_coalesced_reads_answer_each_caller_with_what_it_may_see(
    client: httpx.Client, server: Server
) -> None:
    """Concurrent get_locations share one query per batch; each caller still gets only whom it may see."""
    users = [new_user(client, f"crowd{i}") for i in range(4)]
    for _, headers in users:
        report(client, headers)
    # Each user shares with the next one: user i sees itself and user i-1.
    for (_, owner_headers), (viewer, _) in zip(users, users[1:], strict=False):
        assert share(client, owner_headers, viewer["user_name"]).status_code == 200
    everyone = [user["id"] for user, _ in users]

    async def read_all_concurrently() -> list[list[list[int]]]:
        async with httpx.AsyncClient(base_url=server.base_url) as http:

            async def reads(headers: dict[str, str]) -> list[list[int]]:
                responses = await asyncio.gather(
                    *(
                        http.post("/location/get_locations", json={"ids": everyone}, headers=headers)
                        for _ in range(10)
                    )
                )
                return [[row["id"] for row in response.json()] for response in responses]

            return await asyncio.gather(*(reads(headers) for _, headers in users))

    for index, answers in enumerate(asyncio.run(read_all_concurrently())):
        expected = sorted(everyone[max(index - 1, 0) : index + 1])
        assert answers == [expected] * 10, index


def test_the_sharing_routes_are_documented(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    grant = paths["/location/shared_with/{user_name}"]["put"]
    assert {"200", "400", "401", "404"} <= set(grant["responses"])
    assert grant["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/SharedUser")
    assert {"204", "401", "404"} <= set(paths["/location/shared_with/{user_name}"]["delete"]["responses"])
    for listing in ("/location/shared_with", "/location/shared_with_me"):
        schema = paths[listing]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema["items"]["$ref"].endswith("/SharedUser")


def test_a_wrong_method_names_every_method_of_the_path(client: httpx.Client) -> None:
    response = client.request("OPTIONS", "/location/shared_with/someone")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"DELETE", "PUT"}
    assert response.json() == {"detail": "method not allowed"}
