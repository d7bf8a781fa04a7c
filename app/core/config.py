"""Settings from the environment (and a local `.env` in development), as one object."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
