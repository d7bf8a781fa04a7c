"""`invoke smoke`: the live API checked as a client uses it, through its public URL, one line per step.

Health, sign up a throwaway user, log in, write a location and read it back, then delete the user again
(that needs an admin: the bootstrap admin, whose password CloudFormation generated into Secrets Manager; the
caller's AWS credentials read it: cloudformation:DescribeStacks and secretsmanager:GetSecretValue on that
secret) and check that the deleted user's token is refused. It stops at the first failure, and still
deletes the user.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from lifecycle.aws import Aws, on_local_emulator
from lifecycle.errors import LifecycleError, describe_error
from lifecycle.stacks import Outcome, StackResult, stack_outputs
from troposphere_templates.config import ProjectConfig

USER_PREFIX = "smoke-"
# Fixed coordinates with 6 decimals, the API's precision: what is read back must be exactly what was written.
LOCATION = {"lat": 48.858370, "lng": 2.294481}
REQUEST_TIMEOUT_SECONDS = 15.0
ADMIN_PARAMETER = "AdminUsername"
# Right after a deploy the gateway may need a moment to reach the new task (Cloud Map, VPC link).
AFTER_DEPLOY_WAIT_SECONDS = 90.0
HEALTH_RETRY_SECONDS = 3.0


class SmokeFailed(Exception):
    """A step failed; str() says what the API answered."""


@dataclass
class Admin:
    name: str
    password: str
    source: str  # where the credentials came from, for the step line


@dataclass
class StepResult:
    name: str
    ok: bool
    detail: str
    milliseconds: float


def admin_from_stack(config: ProjectConfig, aws: Aws) -> Admin:
    """The bootstrap admin of the deployed stack: its name parameter and its generated password secret."""
    stacks = aws.client("cloudformation").describe_stacks(StackName=config.app_stack)["Stacks"]
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])}
    name = parameters.get(ADMIN_PARAMETER) or config.admin_username
    secret = aws.client("secretsmanager").get_secret_value(SecretId=config.admin_password_secret_name)
    return Admin(name, secret["SecretString"], f"secret {config.admin_password_secret_name}")


def admin_from_environment() -> Admin | None:
    """A local server's admin, as `invoke serve` takes it: ADMIN_USERNAME and ADMIN_PASSWORD."""
    name, password = os.environ.get("ADMIN_USERNAME"), os.environ.get("ADMIN_PASSWORD")
    return Admin(name, password, "ADMIN_USERNAME/ADMIN_PASSWORD") if name and password else None


def api_url_of(config: ProjectConfig, aws: Aws) -> str:
    """The deployed API's URL (the stack's output); on the local emulator there is no server behind it."""
    from lifecycle.deploy import api_url_from

    stacks = aws.client("cloudformation").describe_stacks(StackName=config.app_stack)["Stacks"]
    url = api_url_from(stack_outputs(stacks[0]))
    if not url:
        raise LifecycleError(f"stack {config.app_stack} has no API URL output: deploy it again")
    if on_local_emulator(aws):
        raise LifecycleError(
            f"{url} belongs to the local emulator and no API answers there: "
            "pass --url http://127.0.0.1:8000 to check a local server (`invoke serve`)"
        )
    return url


def _expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        detail = " ".join(response.text.split())[:200]
        raise SmokeFailed(
            f"{response.request.method} {response.request.url.path} answered {response.status_code}: {detail}"
        )
    return response.json() if response.content else None


class Smoke:
    """The steps, sharing one HTTP client; each records its line."""

    def __init__(
        self, client: httpx.Client, admin: Callable[[], Admin], out: TextIO, wait_seconds: float = 0
    ):
        self.client = client
        self.wait_seconds = wait_seconds
        self.admin = admin
        self.out = out
        self.results: list[StepResult] = []
        self.user_name = f"{USER_PREFIX}{secrets.token_hex(6)}"
        self.password = secrets.token_urlsafe(18)
        self.user_id: int | None = None
        self.headers: dict[str, str] = {}
        self.admin_headers: dict[str, str] = {}

    def step(self, name: str, action: Callable[[], str]) -> None:
        started = time.monotonic()
        try:
            detail = action()
        except (SmokeFailed, httpx.HTTPError, ClientError, BotoCoreError, ValueError, KeyError) as exc:
            message = describe_error(exc) if isinstance(exc, ClientError | BotoCoreError) else str(exc)
            self._record(StepResult(name, False, message or type(exc).__name__, _ms(started)))
            raise SmokeFailed(f"{name}: {message}") from None
        self._record(StepResult(name, True, detail, _ms(started)))

    def _record(self, result: StepResult) -> None:
        self.results.append(result)
        mark = "ok  " if result.ok else "FAIL"
        print(
            f"{mark}  {result.name:<36} {result.milliseconds:>6.0f} ms  {result.detail}",
            file=self.out,
            flush=True,
        )

    def health(self) -> str:
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                return json.dumps(_expect(self.client.get("/health"), 200))
            except (SmokeFailed, httpx.TransportError):
                if time.monotonic() >= deadline:
                    raise
            time.sleep(HEALTH_RETRY_SECONDS)

    def admin_login(self) -> str:
        admin = self.admin()
        token = _expect(
            self.client.post("/auth/token", data={"username": admin.name, "password": admin.password}), 200
        )
        self.admin_headers = {"Authorization": f"Bearer {token['access_token']}"}
        return f"{admin.name} (password from {admin.source})"

    def sign_up(self) -> str:
        body = _expect(
            self.client.post(
                "/users/create_user", json={"user_name": self.user_name, "password": self.password}
            ),
            201,
        )
        self.user_id = body["id"]
        return f"{self.user_name} (id {self.user_id})"

    def log_in(self) -> str:
        token = _expect(
            self.client.post("/auth/token", data={"username": self.user_name, "password": self.password}), 200
        )
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}
        return "bearer token issued"

    def write_location(self) -> str:
        row = _expect(self.client.post("/location/update", json=LOCATION, headers=self.headers), 201)
        return f"location {row.get('location_id')} at {row['lat']}, {row['lng']}"

    def read_location(self) -> str:
        rows = _expect(
            self.client.post("/location/get_locations", json={"ids": [self.user_id]}, headers=self.headers),
            200,
        )
        mine = [row for row in rows if row.get("id") == self.user_id]
        if not mine or (float(mine[0]["lat"]), float(mine[0]["lng"])) != (LOCATION["lat"], LOCATION["lng"]):
            raise SmokeFailed(
                f"the latest location read back is {mine[0] if mine else 'missing'}, not {LOCATION}"
            )
        return "the same coordinates"

    def delete_user(self) -> str:
        _expect(self.client.delete(f"/users/delete/{self.user_name}", headers=self.admin_headers), 204)
        self.user_id = None
        return f"{self.user_name} deleted"

    def token_refused(self) -> str:
        _expect(self.client.get("/auth/check_token", headers=self.headers), 401)
        return "401 for the deleted user's token"

    def run(self) -> None:
        self.step("GET /health", self.health)
        self.step("admin logs in", self.admin_login)
        try:
            self.step("sign up a throwaway user", self.sign_up)
            self.step("log in", self.log_in)
            self.step("write a location", self.write_location)
            self.step("read it back", self.read_location)
            self.step("delete the user (admin)", self.delete_user)
        finally:
            if self.user_id is not None and self.admin_headers:
                # A failed step must not leave the throwaway user behind.
                self.client.delete(f"/users/delete/{self.user_name}", headers=self.admin_headers)
        self.step("the deleted user's token is refused", self.token_refused)


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def smoke(
    base_url: str, admin: Callable[[], Admin], out: TextIO, wait_seconds: float = 0
) -> list[StepResult]:
    """Run every step against `base_url`; raise SmokeFailed at the first failure (its line is printed).
    `wait_seconds`: how long /health may take to answer 200 (right after a deploy)."""
    print(f"smoke test of {base_url}", file=out, flush=True)
    started = time.monotonic()
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=REQUEST_TIMEOUT_SECONDS) as client:
        run = Smoke(client, admin, out, wait_seconds)
        run.run()
    print(
        f"smoke test passed: {len(run.results)} steps in {time.monotonic() - started:.1f}s",
        file=out,
        flush=True,
    )
    return run.results


def admin_source(config: ProjectConfig, aws: Aws, local_url: bool = False) -> Callable[[], Admin]:
    """The deployed stack's bootstrap admin; for a local server (`--url`) ADMIN_USERNAME and ADMIN_PASSWORD
    when set, as `invoke serve` takes them."""

    def resolve() -> Admin:
        local = admin_from_environment() if local_url else None
        return local or admin_from_stack(config, aws)

    return resolve


def after_deploy(
    config: ProjectConfig, aws: Aws, app: StackResult | None, api_url: str | None, out: TextIO
) -> None:
    """`invoke deploy`'s last step: smoke-test the API when the application stack changed."""
    if app is None or app.outcome not in (Outcome.CREATED, Outcome.UPDATED) or not api_url:
        return
    if on_local_emulator(aws):
        print(
            f"smoke test skipped: {api_url} belongs to the local emulator, no API answers there "
            "(`invoke smoke --url http://127.0.0.1:8000` checks a local server started with `invoke serve`)",
            file=out,
        )
        return
    try:
        smoke(api_url, admin_source(config, aws), out, wait_seconds=AFTER_DEPLOY_WAIT_SECONDS)
    except SmokeFailed as exc:
        raise LifecycleError(
            f"{app.name} was {app.outcome}, but the smoke test failed at {exc}; "
            "`invoke status` and `invoke logs` tell more"
        ) from None
