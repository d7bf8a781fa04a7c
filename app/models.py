"""The database schema. Alembic's migrations in `migrations/` must describe exactly this (`alembic check`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Index, Integer, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

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
ROLES = ("user", "admin")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(USER_NAME_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(16), default="user", server_default="user", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    locations: Mapped[list[Location]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


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

    user: Mapped[User] = relationship(back_populates="locations")
