"""Password hashing with bcrypt, always off the event loop."""

from __future__ import annotations

import bcrypt
from anyio import CapacityLimiter, to_thread

BCRYPT_MAX_BYTES = 72

# bcrypt is pure CPU: one hashing thread at a time leaves the other core to the event loop, so a burst of
# logins queues behind itself instead of starving every other request (measured by `invoke bench`).
_hashing = CapacityLimiter(1)

# A real hash to check against when the user does not exist, so that a login for an unknown name costs the
# same time as one with a wrong password and does not reveal which names exist.
_DUMMY_HASH = bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(rounds=4))


def _hash(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def _check(password: str, hashed: str) -> bool:
    return bcrypt.checkpw(password.encode(), hashed.encode())


async def hash_password(password: str, rounds: int) -> str:
    """A bcrypt hash with its own random salt. The caller has already rejected passwords over 72 bytes."""
    return await to_thread.run_sync(_hash, password, rounds, limiter=_hashing)


async def verify_password(password: str, hashed: str | None, rounds: int) -> bool:
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        return False
    if hashed is None:
        await to_thread.run_sync(_check, password, _dummy_hash(rounds), limiter=_hashing)
        return False
    return await to_thread.run_sync(_check, password, hashed, limiter=_hashing)


_dummy_hashes: dict[int, str] = {4: _DUMMY_HASH.decode()}


def _dummy_hash(rounds: int) -> str:
    if rounds not in _dummy_hashes:
        _dummy_hashes[rounds] = _hash("not-a-real-password", rounds)
    return _dummy_hashes[rounds]
