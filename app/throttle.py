"""Password guessing and sign-up throttles, checked before any bcrypt work, with their state in the database.

The counts live in the `login_throttle` table, not in process memory, so they survive a restart and every
process sharing the database (the PostgreSQL mode runs several) sees the same ones at once.

Three counters guard a login; one indexed read checks them all before anything else runs, so a refused guess
costs that read and no hashing. Concurrent checks share one read (app/core/coalesce.py): a flood of guesses
then costs one query per batch rather than one per guess, and the single SQLite connection stays free for
everyone else. Each batch reads after its requests arrived, so nothing is answered from an old view:
- per account and client address: a few typos are free, then each failure doubles the wait;
- per client address, across accounts: one address cannot spray guesses over many accounts;
- per account, looser, against guesses spread over many addresses. An address that has logged in to the
  account before is exempt from it, so guessing from elsewhere cannot lock the owner out of their account.

Passing the check reserves the attempt: the counters are charged as if it will fail, by a conditional upsert
that does nothing when the counter has meanwhile been blocked. So two requests (or two processes) cannot
both take the last free attempt; exactly one bcrypt check runs each time a block runs out. A success then
resets the account's counters and refunds the client's. Refusals write nothing, so a flood of them costs no
commit (and no fsync).

The SQL (INSERT ... ON CONFLICT ... DO UPDATE ... WHERE ... RETURNING) is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import cast

from sqlalchemy import Table, TextClause, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.core.coalesce import Coalescer
from app.core.config import Settings
from app.models import LoginThrottle

# The declarative base types __table__ as a FromClause; a class mapped by __tablename__ always has a Table.
THROTTLE = cast(Table, LoginThrottle.__table__)

# How long an address stays "known" to an account after its last successful login.
KNOWN_CLIENT_SECONDS = 90 * 24 * 3600
# At most one sweep of forgotten counters per this many seconds and process.
PRUNE_EVERY_SECONDS = 600
# Checks per shared read: 4 keys each stays far below SQLite's 32,766 bound variables.
MAX_CHECK_BATCH = 256


@cache
def _charge_statement(keys: int) -> TextClause:
    """Charge one attempt to `keys` counters in one statement: create each, or add one to it unless it is
    blocked (then its row does not come back). A counter idle for longer than the window starts again at 1.
    One statement, because under a flood every round trip to the database waits its turn."""
    values = ", ".join(f"(:key{i}, 1, 0, :now)" for i in range(keys))
    return text(
        f"INSERT INTO login_throttle (key, failures, blocked_until, updated_at) VALUES {values} "  # noqa: S608
        "ON CONFLICT (key) DO UPDATE SET "
        "failures = CASE WHEN login_throttle.updated_at < :forget_before THEN 1 "
        "ELSE login_throttle.failures + 1 END, updated_at = :now "
        "WHERE login_throttle.blocked_until <= :now "
        "RETURNING key, failures"
    )


# After a success: the account's counters start again, and the address is remembered for the account.
# The keys come sorted, in the same lock order as a charge's, so PostgreSQL never sees the two deadlock.
_RESET = text(
    "INSERT INTO login_throttle (key, failures, blocked_until, updated_at) "
    "VALUES (:key0, 0, 0, :now), (:key1, 0, 0, :now), (:key2, 0, 0, :now) "
    "ON CONFLICT (key) DO UPDATE SET failures = 0, blocked_until = 0, updated_at = :now"
)


class Kind(StrEnum):
    ACCOUNT_CLIENT = "account-client"
    CLIENT = "client"
    ACCOUNT = "account"
    KNOWN = "known"  # an address that logged in to the account before
    SIGNUP = "signup"


@dataclass(frozen=True, slots=True)
class Policy:
    free: int
    backoff_seconds: int
    max_seconds: int

    def block_seconds(self, failures: int) -> int:
        """How long the counter blocks after `failures`, or 0 while they are still free."""
        over = failures - self.free
        if over <= 0:
            return 0
        return min(self.max_seconds, self.backoff_seconds * 2 ** min(over - 1, 32))


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"throttled for {retry_after} s")
        self.retry_after = retry_after


def counter_key(kind: Kind, *parts: str) -> str:
    """A fixed-size key that stores neither the user name nor the address."""
    digest = hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{digest[:40]}"


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    account: str
    account_client: str
    client: str
    known: str


class Throttle:
    def __init__(
        self, engine: AsyncEngine, settings: Settings, clock: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._window = settings.throttle_window_seconds
        backoff, cap = settings.login_backoff_seconds, settings.login_backoff_max_seconds
        self._policies = {
            Kind.ACCOUNT_CLIENT: Policy(settings.login_free_failures_per_account_client, backoff, cap),
            Kind.CLIENT: Policy(settings.login_free_failures_per_client, backoff, cap),
            Kind.ACCOUNT: Policy(settings.login_free_failures_per_account, backoff, cap),
            Kind.SIGNUP: Policy(settings.signup_free_per_client, backoff, cap),
        }
        self._next_prune = 0.0
        self._checks: Coalescer[tuple[str, ...], dict[str, float]] = Coalescer(
            self._read_batch, MAX_CHECK_BATCH
        )

    async def begin_login(self, user_name: str, client: str) -> LoginAttempt:
        """Reserve a login attempt for this account from this address, or raise Throttled."""
        account = user_name.casefold()
        attempt = LoginAttempt(
            account=counter_key(Kind.ACCOUNT, account),
            account_client=counter_key(Kind.ACCOUNT_CLIENT, account, client),
            client=counter_key(Kind.CLIENT, client),
            known=counter_key(Kind.KNOWN, account, client),
        )
        guarded = {attempt.account_client: Kind.ACCOUNT_CLIENT, attempt.client: Kind.CLIENT}
        rows = await self._checks.submit((*guarded, attempt.account, attempt.known))
        if attempt.known not in rows:
            guarded[attempt.account] = Kind.ACCOUNT
        _raise_if_blocked(rows, guarded, self._clock())
        async with self._engine.connect() as connection:
            await self._charge(connection, guarded, self._clock())
        return attempt

    async def login_succeeded(self, attempt: LoginAttempt) -> None:
        """Reset the account's counters, refund the address's charge and remember the address."""
        async with self._engine.connect() as connection:
            keys = sorted([attempt.account, attempt.account_client, attempt.known])
            await connection.execute(
                _RESET, {f"key{i}": key for i, key in enumerate(keys)} | {"now": self._clock()}
            )
            await connection.execute(
                update(THROTTLE)
                .where(THROTTLE.c.key == attempt.client, THROTTLE.c.failures > 0)
                .values(failures=THROTTLE.c.failures - 1, blocked_until=0)
            )
            await connection.commit()

    async def begin_signup(self, client: str) -> None:
        """Count a sign-up from this address, or raise Throttled: sign-ups are charged, never refunded."""
        guarded = {counter_key(Kind.SIGNUP, client): Kind.SIGNUP}
        _raise_if_blocked(await self._checks.submit(tuple(guarded)), guarded, self._clock())
        async with self._engine.connect() as connection:
            await self._charge(connection, guarded, self._clock())

    async def _read_batch(self, batch: list[tuple[str, ...]]) -> list[dict[str, float]]:
        """Every key of every check in one query; each caller looks up its own keys in the shared answer."""
        async with self._engine.connect() as connection:
            rows = await self._blocked_until(connection, sorted(set().union(*batch)))
        return [rows] * len(batch)

    async def _blocked_until(self, connection: AsyncConnection, keys: list[str]) -> dict[str, float]:
        statement = select(THROTTLE.c.key, THROTTLE.c.blocked_until).where(THROTTLE.c.key.in_(keys))
        rows: dict[str, float] = {key: until for key, until in await connection.execute(statement)}
        # A read-only check must not hold a transaction (and with it, on SQLite, the file) open.
        await connection.rollback()
        return rows

    async def _charge(self, connection: AsyncConnection, guarded: dict[str, Kind], now: float) -> None:
        """Charge every counter in one transaction; if any turned out blocked, charge none and raise."""
        keys = sorted(guarded)  # one lock order for every process (PostgreSQL row locks)
        parameters: dict[str, str | float] = {f"key{i}": key for i, key in enumerate(keys)}
        parameters.update(now=now, forget_before=now - self._window)
        charged: dict[str, int] = dict(
            (await connection.execute(_charge_statement(len(keys)), parameters)).all()
        )
        if len(charged) < len(keys):  # another request blocked one since the check
            await connection.rollback()
            _raise_if_blocked(await self._blocked_until(connection, keys), guarded, now)
            raise Throttled(min(self._policies[kind].backoff_seconds for kind in guarded.values()))
        for key, failures in charged.items():
            if block := self._policies[guarded[key]].block_seconds(failures):
                await connection.execute(
                    update(THROTTLE).where(THROTTLE.c.key == key).values(blocked_until=now + block)
                )
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY_SECONDS
            await self._prune(connection, now)
        await connection.commit()

    async def _prune(self, connection: AsyncConnection, now: float) -> None:
        is_known = THROTTLE.c.key.startswith(f"{Kind.KNOWN}:", autoescape=True)
        await connection.execute(
            delete(THROTTLE).where(
                ~is_known, THROTTLE.c.updated_at < now - self._window, THROTTLE.c.blocked_until < now
            )
        )
        await connection.execute(
            delete(THROTTLE).where(is_known, THROTTLE.c.updated_at < now - KNOWN_CLIENT_SECONDS)
        )


def _raise_if_blocked(blocked_until: dict[str, float], guarded: dict[str, Kind], now: float) -> None:
    wait = max((blocked_until.get(key, 0.0) - now for key in guarded), default=0.0)
    if wait > 0:
        raise Throttled(max(1, math.ceil(wait)))
