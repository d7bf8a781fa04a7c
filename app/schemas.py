"""Request and response bodies. Requests reject unknown fields; every rule gives a clear 422 message."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from app.core.security import BCRYPT_MAX_BYTES
from app.models import USER_NAME_MAX

MAX_IDS = 1000
MAX_PAGE = 1000
# Ids stay within the integers a JSON number (a double) holds exactly, so no client rounds them.
MAX_ID = 2**53 - 1
PASSWORD_MIN_CHARS = 8
COORDINATE_DECIMALS = 6

Role = Literal["user", "admin"]


def _password_rules(value: str) -> str:
    if any("\ud800" <= char <= "\udfff" for char in value):
        # JSON can carry a lone surrogate ("\ud800"); it is no character, and it cannot be encoded.
        raise ValueError("password must be valid Unicode text (no lone surrogates)")
    if len(value) < PASSWORD_MIN_CHARS:
        raise ValueError(f"password must be at least {PASSWORD_MIN_CHARS} characters")
    if len(value.encode()) > BCRYPT_MAX_BYTES:
        raise ValueError(f"password must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8 (bcrypt's limit)")
    if "\x00" in value:
        raise ValueError("password must not contain NUL characters")
    return value


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _six_decimals(value: float) -> float:
    """The value as stored: rounded to 6 decimals, or refused when that would change it beyond a float's
    binary noise (1e-142 would become 0)."""
    rounded = round(value, COORDINATE_DECIMALS)
    if not math.isclose(rounded, value, rel_tol=1e-12, abs_tol=0.0):
        raise ValueError(f"must have at most {COORDINATE_DECIMALS} decimal places")
    return rounded + 0.0  # -0.0 is stored as 0.0


def _coordinate(limit: int, example: float) -> Any:
    return Annotated[
        float,
        Field(
            ge=-limit,
            le=limit,
            strict=True,  # a JSON number: not a string, not a boolean
            allow_inf_nan=False,
            multiple_of=10**-COORDINATE_DECIMALS,
            examples=[example],
        ),
        # multiple_of allows a float's binary noise (3.7e-05 is 3.6999999999999998e-05), and tiny values.
        AfterValidator(_six_decimals),
    ]


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
    Field(
        description="8 characters to 72 bytes in UTF-8 (bcrypt's limit); no NUL",
        examples=["correct-horse-battery"],
        json_schema_extra={
            "minLength": PASSWORD_MIN_CHARS,
            "maxLength": BCRYPT_MAX_BYTES,
            "pattern": r"^[^\x00]*$",
        },
    ),
    AfterValidator(_password_rules),
]
Latitude = _coordinate(90, 48.85837)
Longitude = _coordinate(180, 2.294481)


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(StrictBody):
    user_name: UserName
    password: Password
    role: Role = "user"


def _update_schema(schema: dict[str, Any]) -> None:
    # Fields are omitted, never null; and at least one change is required.
    for prop in schema["properties"].values():
        options = [option for option in prop.pop("anyOf", []) if option.get("type") != "null"]
        if options:
            prop.update(options[0])
        prop.pop("default", None)
    schema["anyOf"] = [{"required": ["password"]}, {"required": ["role"]}]


class UserUpdate(StrictBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_update_schema)

    user_name: UserName | None = Field(default=None, description="the user to change; default: yourself")
    password: Password | None = None
    role: Role | None = None

    @field_validator("user_name", "password", "role", mode="before")
    @classmethod
    def _omitted_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("omit the field instead of sending null")
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> UserUpdate:
        if self.password is None and self.role is None:
            raise ValueError("nothing to update: give a password or a role")
        return self


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
    user_name: UserName = Field(  # type: ignore[assignment]  # omitted or a name: never null
        default=None, description="must be yourself if given", json_schema_extra=_drop_default
    )


class LocationIds(StrictBody):
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=MAX_IDS)


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
        return _utc(value)


def _utc(value: datetime) -> str:
    # SQLite returns naive timestamps; the database writes them in UTC.
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class LocationPage(BaseModel):
    items: list[UserLocation]
    next_before: int | None = Field(description="pass as `before` for the next (older) page; null at the end")


class SharedUser(BaseModel):
    """A user on the other side of a location share, and since when."""

    id: int
    user_name: str
    since: datetime

    @field_serializer("since")
    def _as_utc(self, value: datetime) -> str:
        return _utc(value)


class Message(BaseModel):
    message: str


class ErrorDetail(BaseModel):
    detail: str


_ERROR_DESCRIPTIONS = {
    400: "the request cannot be carried out: a body that cannot be parsed, or sharing with yourself",
    401: "missing, malformed, expired, badly signed or revoked token, or bad credentials",
    403: "not allowed for this user",
    404: "no such user (or, for locations, none you may see)",
    409: "conflicts with the current state",
    413: "the request body is over 64 KiB",
    429: "too many attempts from this client or for this account: wait `Retry-After` seconds",
}


def errors(*codes: int) -> dict[int | str, dict]:
    """OpenAPI `responses` for the error answers a route gives, so clients (and schemathesis) know them."""
    return {code: {"model": ErrorDetail, "description": _ERROR_DESCRIPTIONS[code]} for code in codes}


def body_errors(*codes: int) -> dict[int | str, dict]:
    """`errors` of a route that takes a body: it may also be too large."""
    return errors(*codes, 413)


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: str
