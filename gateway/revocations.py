"""Which access tokens have been revoked, without a round trip per request.

Tokens are verified here by signature alone, so a user deleted or demoted would keep their
power until the token expires. The users service therefore records a revocation and publishes
``support.user.sessions_revoked``; every gateway follows those events on a queue of its own,
and at start catches up on the revocations of the last token lifetime.

A token carries its user's latest revocation when it was issued (``rev``, read with the user in
one snapshot by the users service), and is refused once this gateway knows of a newer one: no
two clocks are compared, so a login in the very second of a revocation gets a token that works.
A token without ``rev`` (issued before there was one) is refused if issued at or before its
user's latest revocation, in whole seconds.
"""

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError

from contracts.auth import ListRevocations, Revocations, microseconds
from contracts.events import CloudEvent, SessionsRevoked
from contracts.names import EVENTS_EXCHANGE, routing_key
from servicekit.bus import connect, declare_exchanges
from servicekit.rpc_client import RpcClient, RpcError

log = logging.getLogger(__name__)


class RevocationList:
    def __init__(self, url: str, rpc: RpcClient, *, token_ttl: int) -> None:
        self._url, self._rpc, self._ttl = url, rpc, token_ttl
        self._revoked: dict[uuid.UUID, int] = {}
        """The latest revocation of each user, in microseconds since the epoch."""
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self.loaded = False

    def revoked(self, user_id: uuid.UUID, issued_at: float, rev: int | None = None) -> bool:
        """True if a token of ``user_id`` that outlives the revocation ``rev`` (microseconds;
        0: none) is void: a newer one is known. Without ``rev``, by ``issued_at``."""
        latest = self._revoked.get(user_id)
        if latest is None:
            return False
        if rev is None:
            # ``iat`` has whole seconds: a token from the second of the revocation is refused too.
            return int(issued_at) * 1_000_000 <= latest
        return latest > rev

    def _note(self, user_id: uuid.UUID, revoked_at: datetime) -> None:
        moment = microseconds(revoked_at)
        self._revoked[user_id] = max(moment, self._revoked.get(user_id, 0))
        horizon = int((time.time() - self._ttl - 60) * 1_000_000)
        if len(self._revoked) > 10_000:  # forget what no live token can predate any more
            self._revoked = {u: t for u, t in self._revoked.items() if t > horizon}

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        connection = await connect(self._url, name="gateway-revocations")
        channel = await connection.channel(publisher_confirms=False)
        await declare_exchanges(channel)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(EVENTS_EXCHANGE, routing_key=routing_key(SessionsRevoked.event_type))
        await queue.consume(self._on_event, no_ack=True)
        self._connection = connection
        # Bound first, then caught up: nothing revoked in between is missed.
        since = datetime.now(UTC) - timedelta(seconds=self._ttl + 60)
        delay = 0.5
        while not self.loaded:
            try:
                await self._rpc.wait_connected(30)
                raw = await self._rpc.call(ListRevocations(since=since))
            except (RpcError, TimeoutError) as exc:
                log.warning("revocations not loaded yet (%s), retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            for item in Revocations.model_validate_json(raw).items:
                self._note(item.user_id, item.revoked_at)
            self.loaded = True
            log.info("revocation list loaded: %d users", len(self._revoked))

    async def _on_event(self, message: AbstractIncomingMessage) -> None:
        try:
            revoked = SessionsRevoked.model_validate(
                CloudEvent.model_validate_json(message.body).data
            )
        except ValidationError:
            log.warning("malformed sessions_revoked event dropped")
            return
        self._note(revoked.user_id, revoked.revoked_at)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._connection is not None:
            await self._connection.close()
