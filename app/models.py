"""The database schema. Alembic's migrations in `migrations/` must describe exactly this (`alembic check`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints so that batch migrations on SQLite and later ones on PostgreSQL agree on names.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

USER_NAME_MAX = 64
# Ids go up to 2**53 - 1 (app/schemas.py: MAX_ID), so a looked-up id always fits the column: BIGINT on
# PostgreSQL, where INTEGER stops at 2**31 - 1 and a larger bound value is an error, not "no such row";
# on SQLite INTEGER PRIMARY KEY is already 64-bit, and only that spelling is the rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")
# The largest id a column can hold (BIGINT, and SQLite's 64-bit rowid): a larger one cannot exist, and must
# not reach a query as a parameter (PostgreSQL refuses it as out of range instead of finding nothing).
MAX_STORED_ID = 2**63 - 1


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        # A token names its account by id, so an id is never handed out again: AUTOINCREMENT on SQLite
        # (without it SQLite reuses the highest id after a delete); PostgreSQL's sequence never goes back.
        # A batch migration that rebuilds this table must pass table_kwargs={"sqlite_autoincrement": True}:
        # SQLAlchemy does not reflect it (tests/test_migrations.py checks the migrated schema).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # Stored as given, unique ignoring case (the index on lower(user_name) below).
    user_name: Mapped[str] = mapped_column(String(USER_NAME_MAX))
    password_hash: Mapped[str] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(16), default="user", server_default="user", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Every token carries the value current when it was issued; raising it revokes every earlier token.
    token_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


Index("uq_users_lower_user_name", func.lower(User.user_name), unique=True)


class Location(Base):
    __tablename__ = "locations"
    # (user_id, id) serves both "latest per user" (one index seek per user) and history pages
    # (a range scan from the cursor), whatever the table's size.
    __table_args__ = (Index("ix_locations_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LocationShare(Base):
    """The owner lets the viewer see their locations. Deleting either user removes it (ON DELETE CASCADE)."""

    __tablename__ = "location_shares"
    __table_args__ = (
        CheckConstraint("owner_id <> viewer_id", name="not_self"),
        # "whom do I see" and the visibility check of a read go from the viewer.
        Index("ix_location_shares_viewer_id_owner_id", "viewer_id", "owner_id"),
    )

    owner_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    viewer_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoginThrottle(Base):
    """Throttle counters (app/throttle.py), in the database so that every process and restart sees them.

    `key` is a kind prefix and a digest of what is counted (an account, a client address or both), never
    the user name or address itself. Times are epoch seconds from the application's clock.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    blocked_until: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)


class StorageProbe(Base):
    """One row that `/health` rewrites now and then, to prove that a commit still reaches the disk."""

    __tablename__ = "storage_probe"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    written_at: Mapped[float] = mapped_column(Float)
