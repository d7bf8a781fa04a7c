"""Request and response bodies. Requests reject unknown fields; every rule gives a clear 422 message."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_serializer

from app.core.security import BCRYPT_MAX_BYTES
from app.models import USER_NAME_MAX

MAX_IDS = 1000
MAX_PAGE = 1000
PASSWORD_MIN_CHARS = 8

Role = Literal["user", "admin"]


def _password_rules(value: str) -> str:
    if len(value) < PASSWORD_MIN_CHARS:
        raise ValueError(f"password must be at least {PASSWORD_MIN_CHARS} characters")
    if len(value.encode()) > BCRYPT_MAX_BYTES:
        raise ValueError(f"password must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8 (bcrypt's limit)")
    if "\x00" in value:
        raise ValueError("password must not contain NUL characters")
    return value


UserName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=USER_NAME_MAX,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="1 to 64 letters, digits, '.', '_' or '-'",
        examples=["alice"],
    ),
]
Password = Annotated[
    str,
    Field(description="8 characters to 72 bytes", examples=["correct-horse-battery"]),
    AfterValidator(_password_rules),
]
Latitude = Annotated[
    Decimal, Field(ge=-90, le=90, decimal_places=6, allow_inf_nan=False, examples=[48.858370])
]
Longitude = Annotated[
    Decimal, Field(ge=-180, le=180, decimal_places=6, allow_inf_nan=False, examples=[2.294481])
]


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(StrictBody):
    user_name: UserName
    password: Password
    role: Role = "user"


class UserUpdate(StrictBody):
    user_name: UserName | None = Field(default=None, description="the user to change; default: yourself")
    password: Password | None = None
    role: Role | None = None


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_name: str
    role: Role


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105


class LocationIn(StrictBody):
    lat: Latitude
    lng: Longitude
    user_name: UserName | None = Field(default=None, description="must be yourself if given")


class LocationIds(StrictBody):
    ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(min_length=1, max_length=MAX_IDS)


class UserLocation(BaseModel):
    """A stored location with its user: `id` and `user_name` are the user's, `location_id` the row's."""

    id: int
    user_name: str
    lat: float
    lng: float
    created_at: datetime
    location_id: int

    @field_serializer("created_at")
    def _as_utc(self, value: datetime) -> str:
        # SQLite returns naive timestamps; the database writes them in UTC.
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class LocationPage(BaseModel):
    items: list[UserLocation]
    next_before: int | None = Field(description="pass as `before` for the next (older) page; null at the end")


class Message(BaseModel):
    message: str


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: str
