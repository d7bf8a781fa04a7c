"""Start-up work: the bootstrap admin from ADMIN_USERNAME / ADMIN_PASSWORD, created once."""

from __future__ import annotations

import logging

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.security import hash_password
from app.models import User
from app.schemas import Password, UserName
from app.user_store import ADMIN, named

log = logging.getLogger(__name__)


class BootstrapError(Exception):
    """The bootstrap admin settings cannot be used."""


async def ensure_admin(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> str:
    """Create the bootstrap admin if no admin exists; return what was done, for the log."""
    if not (settings.admin_username and settings.admin_password):
        return "no bootstrap admin configured"
    try:
        TypeAdapter(UserName).validate_python(settings.admin_username)
        TypeAdapter(Password).validate_python(settings.admin_password)
    except ValidationError as exc:
        message = "; ".join(error["msg"] for error in exc.errors())
        raise BootstrapError(f"ADMIN_USERNAME / ADMIN_PASSWORD are not valid: {message}") from exc
    async with sessionmaker() as session:
        # The named account first: another task may create the admin between these two reads (each sees what
        # is committed when it runs), and then the second read finds an admin instead of a false refusal.
        role = await session.scalar(select(User.role).where(named(settings.admin_username)))
        if role == ADMIN or await session.scalar(select(User.id).where(User.role == ADMIN).limit(1)):
            return "an admin exists; bootstrap admin not needed"
        if role is not None:
            # Never promote an existing account by configuration: it may not be the operator's.
            raise BootstrapError(
                f"ADMIN_USERNAME '{settings.admin_username}' belongs to a non-admin user; choose another name"
            )
        password_hash = await hash_password(settings.admin_password, settings.bcrypt_rounds)
        session.add(User(user_name=settings.admin_username, password_hash=password_hash, role=ADMIN))
        try:
            await session.commit()
        except IntegrityError:  # another process created it first
            return "bootstrap admin created by another process"
    return f"bootstrap admin '{settings.admin_username}' created"
