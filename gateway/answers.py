"""One client's view of one answer as it is written: what it has been given, what came in.

Words come in batches from the AI workers (``contracts.chat.AnswerDelta``: text at an offset of
an attempt), possibly out of order, late, twice, or not at all; a snapshot of everything written
so far comes when the gateway asks the worker writing it; the final state comes from the chat
service with the whole answer. From all of that an ``AnswerWatch`` gives the client the answer
from its first word, in order, exactly once, then the final state: what has not been given yet
is given as soon as it connects to what has; a gap waits for a snapshot (and asks for one); the
final state's text fills whatever is still missing; a new attempt after words of a void one
were given starts with a ``reset``.

Each ``token`` event has an id, ``<end>.<crc>``: how many characters the client has once it
has that event, and the CRC-32 of them. A client that reconnects with it as ``Last-Event-ID``
gets the rest, from that character on, once the text it had is confirmed to be the answer's
beginning (else a ``reset`` and the whole text).
"""

import asyncio
import contextlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from contracts.chat import AnswerDelta, MessagePublic
from contracts.enums import MessageStatus

RESET_FRAME = b"event: reset\ndata: {}\n\n"


@dataclass(frozen=True)
class Resume:
    """Where a client that reconnected left off: ``end`` characters whose CRC-32 is ``crc``."""

    end: int
    crc: int

    @classmethod
    def parse(cls, last_event_id: str | None) -> "Resume | None":
        """The position in a ``Last-Event-ID``; None for none or one we did not make."""
        if not last_event_id:
            return None
        end, _, crc = last_event_id.strip().partition(".")
        if not (end.isdigit() and len(crc) == 8):
            return None
        try:
            return cls(int(end), int(crc, 16))
        except ValueError:
            return None


def _crc(text: str, start: int = 0) -> int:
    return zlib.crc32(text.encode(), start)


def event_id(end: int, crc: int) -> bytes:
    return f"{end}.{crc:08x}".encode()


def token_frame(delta: str, offset: int, end: int, crc: int) -> bytes:
    data = orjson.dumps({"delta": delta, "offset": offset})
    return b"id: " + event_id(end, crc) + b"\nevent: token\ndata: " + data + b"\n\n"


def final_frame(message: MessagePublic, end: int, crc: int) -> bytes:
    head = b"id: " + event_id(end, crc) + b"\nevent: " + message.status.value.encode()
    return head + b"\ndata: " + message.model_dump_json().encode() + b"\n\n"


class AnswerWatch:
    """What one stream (or one waiting POST) follows of one message's answer."""

    def __init__(
        self,
        message_id: object,
        *,
        words: bool,
        resume: Resume | None = None,
        ask: Callable[[], None] = lambda: None,
    ) -> None:
        """``words``: follow the words (else only the final state); ``ask``: request a snapshot
        of what is written so far."""
        self.message_id, self.words, self._ask = message_id, words, ask
        self.changed = asyncio.Event()
        self.final: MessagePublic | None = None
        self.done = False
        """The final state was given: nothing follows."""
        self.refresh_due = False
        """The connection to the broker was recovered: what came meanwhile may be lost."""
        self._attempt: str | None = None
        self._text = ""
        """The answer so far as it came in, contiguous from its first character."""
        self._pending: dict[int, AnswerDelta] = {}
        """Words of the current attempt that came before the words they follow."""
        self._given = 0
        self._given_crc = 0
        self._reset_due = False
        self._resume = resume

    # -- what comes in ---------------------------------------------------------------------

    def offer(self, delta: AnswerDelta) -> None:
        """Words of the answer (a batch's delta or a snapshot)."""
        if self.final is not None or not self.words:
            return
        if delta.attempt != self._attempt:
            if delta.offset != 0:
                self._ask()  # words of an attempt we have not seen begin: ask what it wrote
                return
            if self._attempt is not None and self._given:
                self._reset_due = True  # the client has words of a void attempt
            self._attempt, self._text = delta.attempt, delta.text
            self._pending.clear()
        elif delta.snapshot:
            if len(delta.text) > len(self._text):
                self._text = delta.text
        elif delta.offset <= len(self._text):
            self._extend(delta)
        else:
            self._pending[delta.offset] = delta
            self._ask()
            return
        self._drain_pending()
        self.changed.set()

    def _extend(self, delta: AnswerDelta) -> None:
        end = delta.offset + len(delta.text)
        if end > len(self._text):
            self._text += delta.text[len(self._text) - delta.offset :]

    def _drain_pending(self) -> None:
        while self._pending:
            ready = [offset for offset in self._pending if offset <= len(self._text)]
            if not ready:
                return
            for offset in sorted(ready):
                self._extend(self._pending.pop(offset))

    def offer_final(self, message: MessagePublic) -> None:
        """The message sealed or failed (its text is the truth)."""
        if self.final is None and message.status != MessageStatus.PENDING:
            self.final = message
            self.changed.set()

    async def final_within(self, seconds: float) -> MessagePublic | None:
        """The final state if it comes within ``seconds``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self.final is None:
                    self.changed.clear()
                    await self.changed.wait()
        return self.final

    def recovered(self) -> None:
        self.refresh_due = True
        self.changed.set()

    # -- what goes out ---------------------------------------------------------------------

    def take(self) -> list[bytes]:
        """The frames to send the client now, in order."""
        if self.done:
            return []
        frames: list[bytes] = []
        if self.final is not None:
            self._finish(frames, self.final)
            return frames
        if not self.words:
            return frames
        if self._resume is not None:
            if len(self._text) < self._resume.end:
                return frames  # not enough of the answer yet to check what the client has
            self._resumed(frames, self._text)
        if self._reset_due:
            self._restart(frames)
        if len(self._text) > self._given:
            self._give(frames, self._text)
        return frames

    def _resumed(self, frames: list[bytes], text: str) -> None:
        """Does the client's text begin the answer? Then go on after it, else start over."""
        assert self._resume is not None
        end, crc = self._resume.end, self._resume.crc
        self._resume = None
        if _crc(text[:end]) == crc:
            self._given, self._given_crc = end, crc
        else:
            frames.append(RESET_FRAME)

    def _restart(self, frames: list[bytes]) -> None:
        frames.append(RESET_FRAME)
        self._given, self._given_crc, self._reset_due = 0, 0, False

    def _give(self, frames: list[bytes], text: str) -> None:
        new = text[self._given :]
        offset = self._given
        self._given = len(text)
        self._given_crc = _crc(new, self._given_crc)
        frames.append(token_frame(new, offset, self._given, self._given_crc))

    def _finish(self, frames: list[bytes], message: MessagePublic) -> None:
        """The rest of the answer from its final text, then the final state."""
        self.done = True
        full = message.ai_response or ""
        if self.words and message.status == MessageStatus.SEALED:
            if self._resume is not None:
                self._resumed(frames, full)
            elif self._given and not full.startswith(self._text[: self._given]):
                self._reset_due = True  # the words given were not those of the answer kept
            if self._reset_due:
                self._restart(frames)
            if len(full) > self._given:
                self._give(frames, full)
        frames.append(final_frame(message, self._given, self._given_crc))
