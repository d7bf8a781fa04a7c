"""Users, their tokens' validity and whom they share their locations with: the SQL and its invariants.

Routes parse, authorise and answer; every check that guards a write runs here, inside the writing
transaction: the caller's token still matches their account, an admin is still an admin, the last admin stays.

A token is valid for an account while the account with the token's id and name has the token's version
(`bound_to`): ids are never reused (see app/models.py), a deleted account has no row, and a password change
raises the version. Nothing about validity is cached in the process, so a revocation holds at once in every
process sharing the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    Select,
    and_,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute, aliased

from app.core.tokens import TokenUser
from app.models import LocationShare, User

ADMIN = "admin"

IdColumn = ColumnElement[int] | InstrumentedAttribute[int]


class TokenRevoked(Exception):
    """The token's account was deleted, or the token was issued before the account's last password change."""


class NotAdmin(Exception):
    """The caller is not (or no longer) an admin."""


class NoSuchUser(Exception):
    """No user by that name or id (or, for a location read, none the caller may see)."""


class NameTaken(Exception):
    """The user name is taken, ignoring case."""


class LastAdmin(Exception):
    """The change would leave no admin."""


class ShareWithSelf(Exception):
    """Everyone always sees their own location."""


@dataclass(frozen=True, slots=True)
class Credentials:
    id: int
    user_name: str
    role: str
    password_hash: str
    token_version: int


def bound_to(token: TokenUser, account: type[User] = User) -> ColumnElement[bool]:
    """The account row this token is valid for: same id, same name, same token version."""
    if token.version is None:  # issued before token versions existed
        return false()
    return and_(
        account.id == token.id, account.user_name == token.user_name, account.token_version == token.version
    )


def binding(token: TokenUser) -> tuple[int, str, int | None]:
    return token.id, token.user_name, token.version


def binding_columns(account: type[User] = User) -> ColumnElement:
    return tuple_(account.id, account.user_name, account.token_version)


def sees(viewer: type[User], owner_id: IdColumn) -> ColumnElement[bool]:
    """The viewer may see the owner's locations: their own, an admin's right, or shared with them."""
    shared = exists().where(LocationShare.owner_id == owner_id, LocationShare.viewer_id == viewer.id)
    return or_(viewer.id == owner_id, viewer.role == ADMIN, shared)


def named(user_name: str) -> ColumnElement[bool]:
    # Served by the unique index on lower(user_name); names are ASCII, so lower() agrees across databases.
    if "\x00" in user_name:
        # No account has one (names are letters, digits and . _ -), and PostgreSQL refuses NUL in text
        # outright: such a name (a login form's, say) matches nothing instead of failing the query.
        return false()
    return func.lower(User.user_name) == user_name.lower()


class UserStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def account(self, token: TokenUser) -> User:
        """The token's account as it is now; TokenRevoked if the token no longer belongs to it."""
        async with self._sessionmaker() as session:
            return await _account(session, token)

    async def credentials(self, user_name: str) -> Credentials | None:
        """For a login: the account with this name, ignoring case."""
        async with self._sessionmaker() as session:
            row = (
                await session.execute(
                    select(User.id, User.user_name, User.role, User.password_hash, User.token_version).where(
                        named(user_name)
                    )
                )
            ).one_or_none()
        return None if row is None else Credentials(*row)

    async def name_taken(self, user_name: str) -> bool:
        async with self._sessionmaker() as session:
            return await session.scalar(select(User.id).where(named(user_name))) is not None

    async def create(self, user_name: str, password_hash: str, role: str, creator: TokenUser | None) -> User:
        """NotAdmin unless `creator` is a current admin when the new account is an admin."""
        async with self._sessionmaker.begin() as session:
            if role == ADMIN:
                if creator is None or (await _account(session, creator)).role != ADMIN:
                    raise NotAdmin
            user = User(user_name=user_name, password_hash=password_hash, role=role)
            session.add(user)
            try:
                await session.flush()
            except IntegrityError as exc:  # the unique index on lower(user_name)
                raise NameTaken from exc
        return user

    async def page(self, limit: int, offset: int) -> list[User]:
        async with self._sessionmaker() as session:
            return list(await session.scalars(select(User).order_by(User.id).limit(limit).offset(offset)))

    async def update(
        self, caller: TokenUser, target_name: str, *, password_hash: str | None, role: str | None
    ) -> None:
        """Change a password (revoking every earlier token of that account) and/or a role.

        Changing another account or any role needs the caller to be an admin at the time of the write.
        """
        async with self._sessionmaker.begin() as session:
            account = await _account(session, caller)
            if (
                role is not None or target_name.lower() != account.user_name.lower()
            ) and account.role != ADMIN:
                raise NotAdmin
            target = await session.scalar(select(User).where(named(target_name)))
            if target is None:
                raise NoSuchUser
            values: dict[str, object] = {}
            if password_hash is not None:
                values.update(password_hash=password_hash, token_version=User.token_version + 1)
            if role is not None:
                values["role"] = role
            keeps_admins = (
                await _another_admin(session, target.id)
                if target.role == ADMIN and role not in (None, ADMIN)
                else []
            )
            changed = await session.execute(
                update(User).where(User.id == target.id, *keeps_admins).values(values)
            )
            if cast(CursorResult, changed).rowcount == 0:
                raise LastAdmin

    async def delete(self, caller: TokenUser, target_name: str) -> None:
        """Delete an account; its locations and shares go with it (ON DELETE CASCADE)."""
        async with self._sessionmaker.begin() as session:
            if (await _account(session, caller)).role != ADMIN:
                raise NotAdmin
            target = (
                await session.execute(select(User.id, User.role).where(named(target_name)))
            ).one_or_none()
            if target is None:
                raise NoSuchUser
            keeps_admins = await _another_admin(session, target.id) if target.role == ADMIN else []
            deleted = await session.execute(delete(User).where(User.id == target.id, *keeps_admins))
            if cast(CursorResult, deleted).rowcount == 0:
                raise LastAdmin

    async def share(self, owner: TokenUser, viewer_name: str) -> Row:
        """Let `viewer_name` see the owner's locations (idempotent); returns (id, user_name, since)."""
        async with self._sessionmaker.begin() as session:
            account = await _account(session, owner)
            viewer = await session.scalar(select(User.id).where(named(viewer_name)))
            if viewer is None:
                raise NoSuchUser
            if viewer == account.id:
                raise ShareWithSelf
            pair = (LocationShare.owner_id == account.id, LocationShare.viewer_id == viewer)
            if not await session.scalar(select(exists().where(*pair))):
                try:
                    async with session.begin_nested():
                        await session.execute(
                            insert(LocationShare).values(owner_id=account.id, viewer_id=viewer)
                        )
                except IntegrityError:  # granted concurrently: the outcome is the same
                    pass
            return (await session.execute(_shares(LocationShare.viewer_id).where(*pair))).one()

    async def unshare(self, owner: TokenUser, viewer_name: str) -> None:
        """Stop letting `viewer_name` see the owner's locations (nothing to do if they could not)."""
        async with self._sessionmaker.begin() as session:
            account = await _account(session, owner)
            viewer = await session.scalar(select(User.id).where(named(viewer_name)))
            if viewer is None:
                raise NoSuchUser
            await session.execute(
                delete(LocationShare).where(
                    LocationShare.owner_id == account.id, LocationShare.viewer_id == viewer
                )
            )

    async def viewers(self, owner: TokenUser, limit: int, offset: int) -> list[Row]:
        """Whom the owner shares their locations with: (id, user_name, since), by name."""
        return await self._share_page(owner, LocationShare.owner_id, LocationShare.viewer_id, limit, offset)

    async def visible(self, viewer: TokenUser, limit: int, offset: int) -> list[Row]:
        """Who shares their locations with the viewer: (id, user_name, since), by name."""
        return await self._share_page(viewer, LocationShare.viewer_id, LocationShare.owner_id, limit, offset)

    async def _share_page(
        self, token: TokenUser, mine: IdColumn, theirs: IdColumn, limit: int, offset: int
    ) -> list[Row]:
        async with self._sessionmaker() as session:
            account = await _account(session, token)
            statement = (
                _shares(theirs).where(mine == account.id).order_by(func.lower(User.user_name)).limit(limit)
            )
            return list((await session.execute(statement.offset(offset))).all())


def _shares(other: IdColumn) -> Select:
    return select(User.id, User.user_name, LocationShare.created_at.label("since")).join(
        LocationShare, other == User.id
    )


async def _account(session: AsyncSession, token: TokenUser) -> User:
    user = await session.scalar(select(User).where(bound_to(token)))
    if user is None:
        raise TokenRevoked
    return user


async def _another_admin(session: AsyncSession, user_id: int) -> list[ColumnElement[bool]]:
    """The condition, for a write that removes an admin, that another admin remains.

    On PostgreSQL the admins' rows are locked first (in id order, so two such writes cannot deadlock): a
    concurrent demotion or deletion waits and then sees this one's outcome. SQLite runs one writer at a time,
    and the condition is part of the writing statement itself.
    """
    await session.execute(select(User.id).where(User.role == ADMIN).order_by(User.id).with_for_update())
    other = aliased(User)
    return [exists().where(other.role == ADMIN, other.id != user_id)]
