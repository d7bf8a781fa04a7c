"""Property-based requests generated from the app's own OpenAPI schema against the real server process.

Bounded examples per operation keep it quick; every response must be a documented, non-5xx answer that
matches its schema.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from app.core.security import BCRYPT_MAX_BYTES
from tests.support import Server, new_user

pytestmark = pytest.mark.slow  # see conftest.py


@pytest.fixture(scope="module")
def user_headers(server: Server) -> dict[str, str]:
    with httpx.Client(base_url=server.base_url) as client:
        return new_user(client, "fuzz")[1]


@pytest.fixture(scope="module")
def api_schema(server: Server):
    return schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schemathesis.hook
def filter_body(context, body) -> bool:
    """JSON Schema limits a password in characters, bcrypt in bytes: skip generated passwords over 72 bytes.

    (Their 422 answer is tested directly in test_api_users.py.)
    """
    password = body.get("password") if isinstance(body, dict) else None
    return not isinstance(password, str) or len(password.encode()) <= BCRYPT_MAX_BYTES


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_never_fails_on_generated_input(case, user_headers: dict[str, str]) -> None:
    # Without a token the generated cases exercise only the 401 path, so they run as a signed-up user.
    case.call_and_validate(headers=user_headers)
