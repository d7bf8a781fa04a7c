"""Locations through real HTTP requests to the real server process."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.support import new_user


def report(client: httpx.Client, headers: dict[str, str], lat: float, lng: float) -> httpx.Response:
    return client.post("/location/update", json={"lat": lat, "lng": lng}, headers=headers)


def test_a_report_is_stored_for_the_caller(client: httpx.Client) -> None:
    user, headers = new_user(client)
    before = datetime.now(UTC).replace(microsecond=0)
    response = client.post(
        "/location/update",
        json={"lat": 48.858370, "lng": -2.294481, "user_name": user["user_name"]},
        headers=headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["id"], body["user_name"], body["lat"], body["lng"]) == (
        user["id"],
        user["user_name"],
        48.85837,
        -2.294481,
    )
    created = datetime.fromisoformat(body["created_at"])
    assert created.tzinfo is not None and before <= created <= datetime.now(UTC)
    assert isinstance(body["location_id"], int)


def test_reporting_for_someone_else_is_403_and_stores_nothing(client: httpx.Client) -> None:
    _, headers = new_user(client)
    victim, _ = new_user(client)
    body = {"lat": 1, "lng": 1, "user_name": victim["user_name"]}
    assert client.post("/location/update", json=body, headers=headers).status_code == 403
    assert client.post("/location/get_locations", json={"ids": [victim["id"]]}, headers=headers).json() == []


def test_locations_need_a_token(client: httpx.Client) -> None:
    assert client.post("/location/update", json={"lat": 1, "lng": 1}).status_code == 401
    assert client.post("/location/get_locations", json={"ids": [1]}).status_code == 401
    assert client.get("/location/history").status_code == 401


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"lat": 90.000001, "lng": 0}, "less than or equal to 90"),
        ({"lat": -90.5, "lng": 0}, "greater than or equal to -90"),
        ({"lat": 0, "lng": 180.1}, "less than or equal to 180"),
        ({"lat": 0, "lng": -181}, "greater than or equal to -180"),
        ({"lat": 1.1234567, "lng": 0}, "multiple of 0.000001"),
        ({"lat": "north", "lng": 0}, "valid number"),
        ({"lat": "45.5", "lng": 0}, "valid number"),
        ({"lat": True, "lng": 0}, "valid number"),
        ({"lat": None, "lng": 0}, "valid number"),
        ({"lat": 1, "lng": 1, "user_name": None}, "valid string"),
        ({"lat": 1}, "Field required"),
        ({"lat": 1, "lng": 1, "altitude": 3}, "Extra inputs"),
        ({"lat": 1, "lng": 1, "user_name": "bad name"}, "pattern"),
    ],
)
def test_bad_coordinates_are_422_and_store_nothing(client: httpx.Client, body: dict, fragment: str) -> None:
    user, headers = new_user(client)
    response = client.post("/location/update", json=body, headers=headers)
    assert response.status_code == 422
    assert fragment in " ".join(error["msg"] for error in response.json()["detail"])
    assert client.get("/location/history", headers=headers).json()["items"] == []


def test_bad_json_and_wrong_content_are_4xx(client: httpx.Client) -> None:
    _, headers = new_user(client)
    for content in (b'{"lat": 1, "lng": ', b"[]", b"null", b"\xff\xfe"):
        response = client.post(
            "/location/update", content=content, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, content
    response = client.post("/location/update", content=b"lat=1&lng=2", headers=headers)
    assert 400 <= response.status_code < 500


def test_oversized_bodies_are_413(client: httpx.Client) -> None:
    _, headers = new_user(client)
    huge = b'{"ids": [' + b"1," * 100_000 + b"1]}"
    response = client.post(
        "/location/get_locations", content=huge, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body is too large"}

    def chunks():  # no Content-Length: the limit still holds while streaming
        for _ in range(100):
            yield b"1," * 1000

    response = client.post(
        "/location/get_locations", content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body is too large"}


def test_get_locations_returns_the_latest_of_each_listed_user(client: httpx.Client) -> None:
    alice, alice_headers = new_user(client, "alice")
    bob, bob_headers = new_user(client, "bob")
    silent, silent_headers = new_user(client, "silent")
    for owner in (alice_headers, silent_headers):
        assert client.put(f"/location/shared_with/{bob['user_name']}", headers=owner).status_code == 200
    for i in range(5):
        assert report(client, alice_headers, 10 + i, 20).status_code == 201
    assert report(client, bob_headers, -33.5, 151.25).status_code == 201
    ids = [bob["id"], alice["id"], silent["id"], 10**12, alice["id"]]
    response = client.post("/location/get_locations", json={"ids": ids}, headers=bob_headers)
    assert response.status_code == 200
    rows = {row["id"]: row for row in response.json()}
    assert set(rows) == {alice["id"], bob["id"]}, "one row per user who has a location"
    assert (rows[alice["id"]]["lat"], rows[alice["id"]]["lng"]) == (14.0, 20.0), "the latest, not the first"
    assert rows[bob["id"]]["user_name"] == bob["user_name"]
    assert set(rows[bob["id"]]) >= {"id", "user_name", "lat", "lng", "created_at"}


@pytest.mark.parametrize(
    "body", [{"ids": []}, {"ids": list(range(1, 1002))}, {"ids": [0]}, {"ids": ["x"]}, {"ids": 5}, {}]
)
def test_get_locations_validates_the_id_list(client: httpx.Client, body: dict) -> None:
    _, headers = new_user(client)
    response = client.post("/location/get_locations", json=body, headers=headers)
    assert response.status_code == 422
    assert len(response.content) < 2000, "the error does not echo the input back"


def test_get_locations_accepts_1000_ids(client: httpx.Client) -> None:
    _, headers = new_user(client)
    response = client.post("/location/get_locations", json={"ids": list(range(1, 1001))}, headers=headers)
    assert response.status_code == 200


def test_history_pages_newest_first_with_a_stable_cursor(client: httpx.Client) -> None:
    user, headers = new_user(client)
    for i in range(7):
        assert report(client, headers, i, i).status_code == 201
    reader_user, reader = new_user(client)
    assert client.put(f"/location/shared_with/{reader_user['user_name']}", headers=headers).status_code == 200
    seen: list[float] = []
    before = None
    pages = 0
    while True:
        params = {"user_id": user["id"], "limit": 3} | ({"before": before} if before else {})
        page = client.get("/location/history", params=params, headers=reader).json()
        pages += 1
        if pages == 1:
            # A write between pages must not shift or repeat what the cursor pages through.
            assert report(client, headers, 89, 89).status_code == 201
        seen += [item["lat"] for item in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == [6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    assert pages == 3
    own = client.get("/location/history", params={"limit": 1}, headers=headers).json()
    assert own["items"][0]["lat"] == 89.0, "user_id defaults to the caller"


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 1001}, {"before": 0}, {"user_id": "me"}, {"before": "x"}, {"limit": 2**70}],
)
def test_history_validates_its_parameters(client: httpx.Client, params: dict) -> None:
    _, headers = new_user(client)
    assert client.get("/location/history", params=params, headers=headers).status_code == 422


def test_history_of_an_unknown_user_is_404(client: httpx.Client) -> None:
    _, headers = new_user(client)
    assert client.get("/location/history", params={"user_id": 10**12}, headers=headers).status_code == 404
