"""Settings from the environment (and a local `.env` in development), as one object."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.database_url import postgres_url_from_parts

DEFAULT_DATABASE_PATH = Path("data") / "app.db"
MIN_SECRET_LENGTH = 32


class DatabaseSettings(BaseSettings):
    """The database's settings alone: what the migrations need, without the app's secrets."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = f"sqlite+aiosqlite:///./{DEFAULT_DATABASE_PATH.as_posix()}"
    # "wal-exclusive" keeps WAL's speed without the shared-memory index that EFS cannot provide across
    # hosts; "delete" is the classic rollback journal. See app/core/db.py for the measurement.
    sqlite_journal: Literal["wal-exclusive", "delete"] = "wal-exclusive"
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    # "full" fsyncs the WAL at every commit, so an acknowledged write survives a crash of the machine, not
    # only of the process; "normal" exists to measure what that costs (`invoke bench`). See app/core/db.py.
    sqlite_synchronous: Literal["full", "normal"] = "full"
    # PostgreSQL from parts, as ECS passes them: the host, port and name as plain environment, the user and
    # password from the RDS-managed secret (see app/core/database_url.py). Set these or DATABASE_URL.
    database_host: str | None = None
    database_port: int = Field(default=5432, ge=1, le=65535)
    database_name: str | None = None
    database_user: str | None = None
    database_password: str | None = None
    database_sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = "prefer"
    # The RDS-managed secret the password comes from: read again when RDS has rotated it (database_secret.py).
    database_secret_arn: str | None = None

    # Who may set X-Forwarded-For: comma-separated proxy addresses or networks. Empty (the default) trusts
    # nobody, so a direct client cannot choose the address it is throttled by. The task on AWS names the VPC's
    # range, safe only because its security group accepts traffic from the VPC link alone. (Not "*": uvicorn
    # then takes the leftmost address, which the client itself may have written.)
    forwarded_allow_ips: str = ""

    # Login throttling (app/throttle.py): this many consecutive failures are free, then each further failure
    # blocks for login_backoff_seconds doubled each time, up to login_backoff_max_seconds.
    login_free_failures_per_account_client: int = Field(default=5, ge=1)
    login_free_failures_per_client: int = Field(default=20, ge=1)
    login_free_failures_per_account: int = Field(default=100, ge=1)
    login_backoff_seconds: int = Field(default=1, ge=1)
    login_backoff_max_seconds: int = Field(default=15 * 60, ge=1)
    # Sign-ups per client address: this many are free within the window, then they back off the same way.
    signup_free_per_client: int = Field(default=10, ge=1)
    # Failures older than this are forgotten (the counts restart).
    throttle_window_seconds: int = Field(default=60 * 60, ge=1)

    @model_validator(mode="after")
    def _database_url_from_parts(self) -> DatabaseSettings:
        if self.database_host:
            if "database_url" in self.model_fields_set and self.database_url:  # an empty one counts as unset
                raise ValueError("set DATABASE_URL or DATABASE_HOST (with its parts), not both")
            self.database_url = postgres_url_from_parts(
                host=self.database_host,
                port=self.database_port,
                name=self.database_name,
                user=self.database_user,
                password=self.database_password,
                sslmode=self.database_sslmode,
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class Settings(DatabaseSettings):
    app_env: Literal["dev", "test", "prod"] = "prod"

    jwt_secret_key: str = ""
    jwt_expire_minutes: int = Field(default=20, ge=1, le=24 * 60)
    bcrypt_rounds: int = Field(default=10, ge=4, le=16)

    admin_username: str | None = None
    admin_password: str | None = None

    @model_validator(mode="after")
    def _require_secret_outside_dev(self) -> Settings:
        if not self.jwt_secret_key:
            if self.app_env != "dev":
                raise ValueError(
                    "JWT_SECRET_KEY is not set: set it to a random string of at least "
                    f"{MIN_SECRET_LENGTH} characters, or set APP_ENV=dev for a throwaway per-process key"
                )
            self.jwt_secret_key = secrets.token_urlsafe(48)
        elif len(self.jwt_secret_key) < MIN_SECRET_LENGTH and self.app_env != "dev":
            raise ValueError(f"JWT_SECRET_KEY is too short: use at least {MIN_SECRET_LENGTH} characters")
        if bool(self.admin_username) != bool(self.admin_password):
            raise ValueError("set both ADMIN_USERNAME and ADMIN_PASSWORD, or neither")
        return self


def describe_settings_error(exc: ValidationError) -> str:
    """One line naming each environment variable at fault and what is wrong with it."""
    reasons = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        variable = "_".join(str(part) for part in error["loc"]).upper()
        reasons.append(f"{variable}: {message}" if variable else message)
    return "configuration: " + "; ".join(reasons)


@lru_cache
def get_settings() -> Settings:
    return Settings()
