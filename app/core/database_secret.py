"""Survive RDS rotating the database password: read the secret again when the server refuses a login.

ECS injects DATABASE_USER / DATABASE_PASSWORD when a task starts, but RDS rotates a managed master password
(every 7 days by default), after which a running task could open no new connection. With DATABASE_SECRET_ARN
set, when opening a connection fails the secret is read again and, if its `username` or `password` changed,
the connection is retried once with them; they then serve every later connection of the process. (psycopg
reports a refused login without a SQLSTATE, so any failed connect reads the secret: one Secrets Manager call
per failed connect.) Established connections survive a rotation, so this runs only when the pool opens one.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import event

if TYPE_CHECKING:  # boto3-stubs is a dev dependency; the image has only botocore
    from mypy_boto3_secretsmanager import SecretsManagerClient


class DatabaseSecret:
    def __init__(self, secret_arn: str) -> None:
        self.secret_arn = secret_arn
        self._lock = threading.Lock()
        self._current: dict[str, str] = {}

    def current(self) -> dict[str, str]:
        """The credentials last read from the secret (none until a connect has failed)."""
        with self._lock:
            return dict(self._current)

    def refresh(self) -> dict[str, str]:
        # botocore (the postgres extra), not boto3: the image leaves the deploy tooling out.
        import botocore.session

        region = self.secret_arn.split(":")[3]  # arn:partition:secretsmanager:<region>:account:secret:name
        client = cast(
            "SecretsManagerClient",
            botocore.session.get_session().create_client("secretsmanager", region_name=region),
        )
        value = client.get_secret_value(SecretId=self.secret_arn)["SecretString"]
        document = json.loads(value)
        with self._lock:
            self._current = {"user": document["username"], "password": document["password"]}
            return dict(self._current)


def install_secret_refresh(sync_engine: Any, secret: DatabaseSecret) -> None:
    @event.listens_for(sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
        cparams.update(secret.current())
        try:
            return dialect.connect(*cargs, **cparams)
        except dialect.loaded_dbapi.OperationalError:
            tried = {key: cparams.get(key) for key in ("user", "password")}
            fresh = secret.refresh()
            if fresh == tried:
                raise
        cparams.update(fresh)
        return dialect.connect(*cargs, **cparams)
