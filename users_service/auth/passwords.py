"""Password hashing with argon2id, off the event loop (a hash costs tens of milliseconds)."""

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords:
    """The hashing of one process: argon2id (the library's defaults unless told otherwise),
    at most ``concurrency`` hashes at once (``PASSWORD_HASH_CONCURRENCY``).

    Each argon2 hash holds 64 MiB while it runs: bounding how many run at once, whatever the
    number of commands in flight, keeps a burst of sign-ins from exhausting the service's
    memory. Unit tests give a cheap ``hasher``; the rules are the same."""

    def __init__(self, concurrency: int, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._hashing = asyncio.Semaphore(concurrency)
        # Verified when the email is unknown, so a login takes as long whether or not the user
        # exists.
        self._dummy_hash = self._hasher.hash("not-a-real-password-0")

    async def hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; always does the work of one verification."""

        def verify() -> bool:
            try:
                verified = self._hasher.verify(password_hash or self._dummy_hash, password)
            except (VerificationError, InvalidHashError):
                return False
            return verified and bool(password_hash)

        async with self._hashing:
            return await asyncio.to_thread(verify)

    def needs_rehash(self, password_hash: str) -> bool:
        """True when ``password_hash`` was made with other parameters than this hasher's."""
        return self._hasher.check_needs_rehash(password_hash)
