"""Password hashing with argon2id, off the event loop (a hash costs tens of milliseconds)."""

import asyncio
import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Each argon2 hash holds 64 MiB while it runs: bound how many run at once, whatever the number
# of commands in flight, so a burst of sign-ins cannot exhaust the service's memory.
_HASHING = asyncio.Semaphore(int(os.environ.get("PASSWORD_HASH_CONCURRENCY", "2")))
# Verified when the email is unknown, so a login takes as long whether or not the user exists.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0")


async def hash_password(password: str) -> str:
    async with _HASHING:
        return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; always does the work of one verification."""

    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    async with _HASHING:
        return await asyncio.to_thread(verify)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
