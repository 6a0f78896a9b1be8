"""What a client following an answer is given, whatever order, gaps or repeats its words come
in: the whole answer from its first word, in order, exactly once, then the final state."""

import uuid
from datetime import UTC, datetime

import orjson

from contracts.chat import AnswerDelta, MessagePublic
from contracts.enums import MessageStatus
from gateway.answers import AnswerWatch, Resume

MESSAGE = uuid.uuid4()
ANSWER = "The quick brown fox jumps over the lazy dog."


def delta(offset: int, text: str, attempt: str = "a1", snapshot: bool = False) -> AnswerDelta:
    return AnswerDelta(
        message_id=MESSAGE, attempt=attempt, offset=offset, text=text, snapshot=snapshot
    )


def sealed(text: str = ANSWER, status: MessageStatus = MessageStatus.SEALED) -> MessagePublic:
    now = datetime.now(UTC)
    return MessagePublic(
        id=MESSAGE,
        chat_id=uuid.uuid4(),
        user_input="q",
        ai_response=text if status == MessageStatus.SEALED else None,
        status=status,
        references=[],
        model="m",
        error=None,
        created_at=now,
        sealed_at=now,
    )


class Client:
    """What a browser makes of the frames: the text shown, the events and their ids."""

    def __init__(self) -> None:
        self.text, self.events, self.ids = "", [], []  # type: ignore[var-annotated]

    def read(self, frames: list[bytes]) -> None:
        for frame in b"".join(frames).decode().split("\n\n"):
            if not frame:
                continue
            fields = dict(line.split(": ", 1) for line in frame.split("\n"))
            self.events.append(fields["event"])
            if "id" in fields:
                self.ids.append(fields["id"])
            data = orjson.loads(fields["data"])
            if fields["event"] == "token":
                assert data["offset"] == len(self.text), "a delta must follow what was given"
                self.text += data["delta"]
            elif fields["event"] == "reset":
                self.text = ""


def follow(*arrivals: AnswerDelta | MessagePublic, watch: AnswerWatch | None = None) -> Client:
    watch = watch or AnswerWatch(MESSAGE, words=True)
    client = Client()
    for arrival in arrivals:
        if isinstance(arrival, MessagePublic):
            watch.offer_final(arrival)
        else:
            watch.offer(arrival)
        client.read(watch.take())
    return client


def test_words_in_order_then_the_final_state() -> None:
    client = follow(delta(0, "The quick "), delta(10, "brown fox "), sealed())
    assert client.text == ANSWER
    assert client.events == ["token", "token", "token", "sealed"]


def test_words_out_of_order_wait_for_the_gap_and_ask_for_a_snapshot() -> None:
    asked: list[bool] = []
    watch = AnswerWatch(MESSAGE, words=True, ask=lambda: asked.append(True))
    client = follow(delta(0, "The "), delta(10, "brown "), watch=watch)
    assert client.text == "The "
    assert asked
    client.read([])
    watch.offer(delta(4, "quick "))
    client.read(watch.take())
    assert client.text == "The quick brown "


def test_repeated_and_overlapping_words_are_given_once() -> None:
    client = follow(delta(0, "The quick "), delta(0, "The quick "), delta(4, "quick brown "))
    assert client.text == "The quick brown "


def test_a_snapshot_gives_what_was_written_before_the_stream_opened() -> None:
    client = follow(delta(20, "jumps "), delta(0, "The quick brown fox ", snapshot=True))
    assert client.text == "The quick brown fox "
    assert client.events == ["token"]


def test_the_final_state_overtaking_the_last_words_still_gives_them_first() -> None:
    client = follow(delta(0, "The quick "), sealed(), delta(10, "brown fox"))
    assert client.text == ANSWER
    assert client.events[-1] == "sealed"
    assert client.events.count("sealed") == 1


def test_a_new_attempt_after_void_words_starts_with_a_reset() -> None:
    client = follow(delta(0, "Half an ans"), delta(0, "", attempt="a2"), delta(0, ANSWER, "a2"))
    assert client.events[:2] == ["token", "reset"]
    assert client.text == ANSWER


def test_a_final_text_other_than_the_words_given_resets_and_gives_it_whole() -> None:
    client = follow(delta(0, "Another answer "), sealed())
    assert client.events == ["token", "reset", "token", "sealed"]
    assert client.text == ANSWER


def test_a_failed_answer_ends_with_its_final_state() -> None:
    client = follow(delta(0, "Half"), sealed(status=MessageStatus.FAILED))
    assert client.events == ["token", "failed"]


def test_a_stream_opened_after_sealing_gets_the_whole_answer_then_the_final_state() -> None:
    client = follow(sealed())
    assert (client.text, client.events) == (ANSWER, ["token", "sealed"])


def test_only_the_final_state_for_a_watch_without_words() -> None:
    watch = AnswerWatch(MESSAGE, words=False)
    watch.offer(delta(0, "The quick "))
    assert watch.take() == []
    watch.offer_final(sealed())
    (frame,) = watch.take()
    assert b"event: sealed" in frame


def test_a_resumed_stream_goes_on_after_the_last_word_the_client_had() -> None:
    first = follow(delta(0, "The quick "), delta(10, "brown "))
    resume = Resume.parse(first.ids[-1])
    assert resume is not None and resume.end == len("The quick brown ")
    second = Client()
    second.text = first.text
    watch = AnswerWatch(MESSAGE, words=True, resume=resume)
    watch.offer(delta(0, "The quick brown fox ", snapshot=True))
    second.read(watch.take())
    watch.offer_final(sealed())
    second.read(watch.take())
    assert second.text == ANSWER
    assert second.events == ["token", "token", "sealed"]


def test_a_resumed_stream_whose_text_was_not_the_answers_starts_over() -> None:
    resume = Resume.parse(follow(delta(0, "Other words ")).ids[-1])
    client = Client()
    client.text = "Other words "
    watch = AnswerWatch(MESSAGE, words=True, resume=resume)
    watch.offer_final(sealed())
    client.read(watch.take())
    assert client.events[0] == "reset"
    assert client.text == ANSWER


def test_an_id_we_did_not_make_is_no_position() -> None:
    for junk in (None, "", "12", "x.00000000", "5.zz", "5.0000000000"):
        assert Resume.parse(junk) is None
