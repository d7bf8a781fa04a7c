"""Password guessing and sign-up floods against the real server process: refused with 429 before bcrypt.

Each test starts a server with small limits, or shares the one with `limits()` alone (the shared test
server's are generous, tests/support.py).
Client addresses other than 127.0.0.1 come from X-Forwarded-For, which the server trusts only where a test
says it sits behind a proxy on 127.0.0.1 (FORWARDED_ALLOW_IPS), as the task trusts the VPC link on AWS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Server, login, running_server, signup

pytestmark = pytest.mark.slow  # see conftest.py

PASSWORD = "the-right-password"  # noqa: S105 (a throwaway user on a throwaway database)
WRONG = "a-wrong-password"
FREE = 3  # failures per account and address that cost no wait


def limits(**overrides: str) -> dict[str, str]:
    return {"LOGIN_FREE_FAILURES_PER_ACCOUNT_CLIENT": str(FREE), **overrides}


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def login_from(client: httpx.Client, user: str, password: str, address: str) -> httpx.Response:
    return client.post(
        "/auth/token", data={"username": user, "password": password}, headers=from_address(address)
    )


def retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["detail"].startswith("too many attempts")
    return int(response.headers["Retry-After"])


def test_200_wrong_passwords_are_refused_after_a_few(tmp_path: Path) -> None:
    settings = limits(LOGIN_BACKOFF_SECONDS="600")
    with running_server(tmp_path, **settings) as server, httpx.Client(base_url=server.base_url) as client:
        assert signup(client, "alice", PASSWORD).status_code == 201
        answers = [login(client, "alice", WRONG) for _ in range(200)]
        statuses = [answer.status_code for answer in answers]
        # The free failures and the one that starts the first wait reach bcrypt; every other guess is refused.
        assert statuses[: FREE + 1] == [401] * (FREE + 1)
        assert set(statuses[FREE + 1 :]) == {429}, statuses
        assert all(0 < retry_after(answer) <= 600 for answer in answers[FREE + 1 :])
        assert WRONG not in answers[-1].text


@pytest.fixture(scope="module")
def default_limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server with `limits()` alone for the tests that need nothing else: each uses its own account, and
    the throttle counts per account and address (the per-address limits stay the generous test ones)."""
    with running_server(tmp_path_factory.mktemp("throttle"), **limits()) as server:
        yield server


def test_each_failure_after_a_wait_doubles_the_next_wait(default_limits: Server) -> None:
    with httpx.Client(base_url=default_limits.base_url) as client:
        assert signup(client, "alice", PASSWORD).status_code == 201
        for _ in range(FREE + 1):
            assert login(client, "alice", WRONG).status_code == 401
        waits = [retry_after(login(client, "alice", WRONG))]
        for _ in range(2):  # each block that runs out lets one more guess through, which doubles the wait
            time.sleep(waits[-1])
            assert login(client, "alice", WRONG).status_code == 401
            waits.append(retry_after(login(client, "alice", WRONG)))
        # Retry-After is what is left of the block, in whole seconds: on a loaded machine a second may pass
        # between the failure that sets a block and the request that reads it, so compare across two steps.
        assert waits[0] <= waits[1] < waits[2] and waits[2] >= 2 * waits[0], waits


def test_a_few_typos_never_lock_the_owner_out_and_a_success_resets_them(default_limits: Server) -> None:
    with httpx.Client(base_url=default_limits.base_url) as client:
        assert signup(client, "bob", PASSWORD).status_code == 201
        for _ in range(2):
            assert [login(client, "bob", WRONG).status_code for _ in range(FREE)] == [401] * FREE
            assert login(client, "bob", PASSWORD).status_code == 200


def test_the_throttle_survives_a_restart(tmp_path: Path) -> None:
    settings = limits(LOGIN_BACKOFF_SECONDS="120")
    with running_server(tmp_path, **settings) as server, httpx.Client(base_url=server.base_url) as client:
        assert signup(client, "carol", PASSWORD).status_code == 201
        for _ in range(FREE + 1):
            assert login(client, "carol", WRONG).status_code == 401
        assert retry_after(login(client, "carol", WRONG)) > 60
    with running_server(tmp_path, **settings) as server, httpx.Client(base_url=server.base_url) as client:
        assert 0 < retry_after(login(client, "carol", WRONG)) <= 120
        # Even the right password waits from this address: the guesser must not learn it is right.
        assert login(client, "carol", PASSWORD).status_code == 429


def test_guessing_from_one_address_does_not_stop_the_owner_at_another(tmp_path: Path) -> None:
    settings = limits(FORWARDED_ALLOW_IPS="127.0.0.1", LOGIN_BACKOFF_SECONDS="120")
    with running_server(tmp_path, **settings) as server, httpx.Client(base_url=server.base_url) as client:
        assert signup(client, "dave", PASSWORD).status_code == 201
        guesses = [login_from(client, "dave", WRONG, "203.0.113.9").status_code for _ in range(50)]
        assert guesses.count(401) == FREE + 1 and guesses.count(429) == 50 - FREE - 1
        assert login_from(client, "dave", PASSWORD, "198.51.100.7").status_code == 200
        # The guessing address is refused for every account, the right password included.
        assert login_from(client, "dave", PASSWORD, "203.0.113.9").status_code == 429


def test_guesses_spread_over_many_addresses_cannot_lock_the_owner_out(tmp_path: Path) -> None:
    """The per-account limit stops a spread-out guesser, but exempts addresses the owner logged in from."""
    settings = limits(
        FORWARDED_ALLOW_IPS="127.0.0.1", LOGIN_FREE_FAILURES_PER_ACCOUNT="10", LOGIN_BACKOFF_SECONDS="120"
    )
    with running_server(tmp_path, **settings) as server, httpx.Client(base_url=server.base_url) as client:
        assert signup(client, "erin", PASSWORD).status_code == 201
        assert login_from(client, "erin", PASSWORD, "198.51.100.7").status_code == 200
        statuses = [login_from(client, "erin", WRONG, f"203.0.113.{i}").status_code for i in range(1, 31)]
        assert statuses[:11] == [401] * 11 and set(statuses[11:]) == {429}, statuses
        assert login_from(client, "erin", PASSWORD, "192.0.2.55").status_code == 429, "a new address waits"
        assert login_from(client, "erin", PASSWORD, "198.51.100.7").status_code == 200, "the owner's does not"


def test_a_direct_client_cannot_choose_its_address_with_x_forwarded_for(default_limits: Server) -> None:
    """No proxy is trusted by default: a forged header is ignored, the guesser is throttled all the same."""
    with httpx.Client(base_url=default_limits.base_url) as client:
        assert signup(client, "frank", PASSWORD).status_code == 201
        statuses = [login_from(client, "frank", WRONG, f"203.0.113.{i}").status_code for i in range(1, 21)]
        assert statuses.count(401) == FREE + 1 and statuses.count(429) == 20 - FREE - 1, statuses


def test_sign_ups_are_throttled_per_client_address(tmp_path: Path) -> None:
    settings = {"SIGNUP_FREE_PER_CLIENT": "3", "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with running_server(tmp_path, **settings) as server, httpx.Client(base_url=server.base_url) as client:
        statuses = [
            client.post(
                "/users/create_user",
                json={"user_name": f"bulk-{i}", "password": PASSWORD},
                headers=from_address("203.0.113.9"),
            ).status_code
            for i in range(10)
        ]
        assert statuses[:4] == [201] * 4 and set(statuses[4:]) == {429}, statuses
        other = client.post(
            "/users/create_user",
            json={"user_name": "someone-else", "password": PASSWORD},
            headers=from_address("198.51.100.7"),
        )
        assert other.status_code == 201
