"""moto's server, in this process, with the project's CloudFormation emulations installed."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from lifecycle.errors import LifecycleError
from lifecycle.local_server import check_port_free
from local_aws.emulations import install
from local_aws.moto_adapter import MOTO_VERSION, ReportingMotoServer, reset_backends

HOST = "127.0.0.1"
DEFAULT_PORT = 5000
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# moto's account for any credentials; no GitHub connection can exist locally, so any well-formed ARN will do.
LOCAL_CONNECTION_ARN = "arn:aws:codestar-connections:us-east-1:123456789012:connection/local"


class EmulatorError(Exception):
    """The emulator could not start (one line, for the user)."""


def _check_port_free(port: int) -> None:
    """Fail in one line before werkzeug prints its own multi-line complaint about a taken port."""
    try:
        check_port_free(HOST, port)
    except LifecycleError as exc:
        raise EmulatorError(str(exc)) from None


class LocalAws:
    """A running emulator: `endpoint_url`, `environment()`, `stop()`."""

    def __init__(self, port: int = DEFAULT_PORT):
        install()
        # One access-log line per AWS call drowns the useful output (deploy progress, test failures).
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        if port:
            _check_port_free(port)
        # Backends are process-wide: a new emulator starts empty even if another ran in this process before.
        reset_backends()
        self._server = ReportingMotoServer(HOST, port)
        self._server.start()
        if self._server.error is not None:
            raise EmulatorError(f"cannot listen on {HOST}:{port}: {self._server.error}")
        host, bound_port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{bound_port}"

    def environment(self) -> dict[str, str]:
        """The environment variables that point boto3, the AWS CLI and `invoke deploy` at this emulator."""
        return {"AWS_ENDPOINT_URL": self.endpoint_url, **CREDENTIALS}

    def stop(self) -> None:
        self._server.stop()


@contextmanager
def running(port: int = 0) -> Iterator[str]:
    """Run the emulator for the duration of a `with` block and give its endpoint URL.

    `port=0` picks a free port, so tests never collide. boto3 clients need the endpoint and any credentials:

        with local_aws.running() as endpoint_url:
            cfn = boto3.client("cloudformation", endpoint_url=endpoint_url, region_name="us-east-1",
                               aws_access_key_id="testing", aws_secret_access_key="testing")

    As a pytest fixture (one server for the module; `monkeypatch` the environment per test if the code under
    test reads AWS_ENDPOINT_URL):

        @pytest.fixture(scope="module")
        def endpoint_url():
            with local_aws.running() as url:
                yield url

    Moto's state is process-wide and reset when an emulator starts, so run one emulator at a time.
    """
    emulator = LocalAws(port)
    try:
        yield emulator.endpoint_url
    finally:
        emulator.stop()


def serve(port: int = DEFAULT_PORT) -> None:
    """Run the emulator in the foreground until Ctrl+C (what `invoke local-aws` does)."""
    emulator = LocalAws(port)
    environment = " ".join(f"{key}={value}" for key, value in emulator.environment().items())
    print(f"local AWS emulator (moto {MOTO_VERSION}) listening on {emulator.endpoint_url}")
    print("point the AWS tools at it in another shell:")
    print(f"  export {environment}")
    print("then (placeholder images instead of a Docker build, and a made-up GitHub connection):")
    print(f"  invoke deploy --stand-in-images --connection-arn {LOCAL_CONNECTION_ARN}")
    print("  invoke clean --yes")
    print("Ctrl+C stops it (its state lives in memory and goes with it).", flush=True)
    # `kill` (SIGTERM, as from a process manager) stops it as cleanly as Ctrl+C.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()
        print("local AWS emulator stopped")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
