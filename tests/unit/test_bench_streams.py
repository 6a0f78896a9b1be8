"""The answer streams' bench: its client's parsers (HTTP/1.1 responses, server-sent events), the
client against a small server, the matching of tokens and their lags, the word checks, the
fake model's timings and the report's section."""

import asyncio
import json
import os
import threading

import httpx
import orjson
import pytest

from bench import stream_load, streams
from bench.fake_llm import TimedFakeOpenAI, tag_of
from bench.prom import Snapshot
from bench.sse_client import RESET, Customer, HttpResponse, SseEvent, SseParser, StreamRecord
from bench.stream_figures import (
    ModelTiming,
    Summary,
    added_first_token,
    analyse,
    check_words,
    error_of,
    first_token,
    lags,
    peak_overlap,
    percentile,
    received_times,
    word_ends,
)
from bench.stream_meter import busiest, handled
from bench.stream_report import HEADING, section, splice
from bench.streams import LOADS, LoadRun, answer
from fakes.openai_server import paced_answer

STREAM = (
    b'id: 3.0000abcd\nevent: token\ndata: {"delta": "t0 ", "offset": 0}\n\n'
    b": keep-alive\n\n"
    b'event: sealed\r\ndata: {"ai_response": "t0"}\r\n\r\n'
)


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[n : n + size] for n in range(0, len(data), size)]


# -- server-sent events -------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_sse_events_come_whole_from_pieces_of_any_size(size: int) -> None:
    parser = SseParser()
    events = [event for piece in pieces(STREAM, size) for event in parser.feed(piece)]
    assert events == [
        SseEvent("token", b'{"delta": "t0 ", "offset": 0}', "3.0000abcd"),
        SseEvent("sealed", b'{"ai_response": "t0"}'),
    ]


def test_sse_data_lines_join_and_blocks_without_data_are_no_event() -> None:
    parser = SseParser()
    assert parser.feed(b"event: x\n\ndata:a\ndata: b\n\nevent: y\ndata") == [
        SseEvent("message", b"a\nb")
    ]
    assert parser.feed(b": 1\n\n") == [SseEvent("y", b"1")]


# -- HTTP responses -----------------------------------------------------------------------

CHUNKED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n"
    b"c;ext=1\r\n, streaming!\r\n"
    b"0\r\n\r\n"
)


@pytest.mark.parametrize("size", [1, 2, 5, 13, 1000])
def test_a_chunked_body_is_decoded_from_pieces_of_any_size(size: int) -> None:
    response, body = HttpResponse(), b""
    for piece in pieces(CHUNKED[:-5], size):
        body += response.feed(piece)
    assert not response.complete
    for piece in pieces(CHUNKED[-5:], size):
        body += response.feed(piece)
    assert (response.status, response.complete, body) == (200, True, b"hello, streaming!")
    assert response.headers[b"content-type"] == b"text/event-stream"


@pytest.mark.parametrize("size", [1, 4, 1000])
def test_a_body_by_content_length(size: int) -> None:
    data = b'HTTP/1.1 202 Accepted\r\ncontent-length: 11\r\n\r\n{"id": "x"}'
    response, body = HttpResponse(), b""
    for piece in pieces(data, size):
        body += response.feed(piece)
    assert (response.status, response.complete, body) == (202, True, b'{"id": "x"}')


# -- the client against a small server ----------------------------------------------------


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """POST: 202 and a message id; GET .../stream: two token events, then sealed, chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    body = json.loads(await reader.readexactly(length))
    assert b"Authorization: Bearer tok" in head
    message = b'{"id": "m1", "content": "%s"}' % body["content"].encode()
    writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: %d\r\n\r\n%s" % (len(message), message))
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"GET /api/chats/c1/messages/m1/stream HTTP/1.1\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    frames = [
        b'event: token\ndata: {"delta": "t0 t", "offset": 0}\n\n',
        b'event: token\ndata: {"delta": "1", "offset": 4}\n\n',
        b'event: sealed\ndata: {"status": "sealed", "ai_response": "t0 t1"}\n\n',
    ]
    for frame in frames:
        writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        await writer.drain()
        await asyncio.sleep(0.01)
    writer.write(b"0\r\n\r\n")
    await reader.read()  # until the client closes
    writer.close()


async def test_a_customer_posts_then_reads_its_stream_to_the_final_event() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    record, done = StreamRecord("x"), loop.create_future()
    opened: list[int] = []
    customer = Customer(
        record,
        host=f"127.0.0.1:{port}",
        chat_id="c1",
        token="tok",
        question="Hi (bench x)",
        done=done,
        opened=lambda: opened.append(1),
        closed=lambda: opened.append(-1),
    )
    async with server:
        await loop.create_connection(lambda: customer, "127.0.0.1", port)
        await asyncio.wait_for(done, 5)
    assert (record.post_status, record.stream_status, record.error) == (202, 200, None)
    assert record.offsets == [0, 4] and record.deltas == ["t0 t", "1"]
    assert record.post_sent < record.times[0] < record.times[1]
    assert (record.final_event, record.ai_response) == ("sealed", "t0 t1")
    assert opened == [1, -1]
    assert StreamRecord.from_json(orjson.loads(orjson.dumps(record.to_json()))) == record


# -- tokens and their lags ----------------------------------------------------------------


def record(*events: tuple[float, int, str], post_sent: float = 0.0) -> StreamRecord:
    return StreamRecord(
        "x",
        post_sent=post_sent,
        post_status=202,
        stream_status=200,
        times=[e[0] for e in events],
        offsets=[e[1] for e in events],
        deltas=[e[2] for e in events],
        final_event="sealed",
        ai_response="t0 t1 t2 t3",
    )


def test_the_answer_is_the_fake_models() -> None:
    assert answer() == paced_answer(150)
    assert word_ends("t0 t1 t10") == [2, 5, 9]


def test_a_token_is_received_when_its_word_is_complete_in_the_clients_text() -> None:
    expected = "t0 t1 t2 t3"
    seen = record((1.0, 0, "t0 t1 "), (2.0, 6, "t"), (3.0, 7, "2 t3"))
    assert received_times(seen, expected, word_ends(expected)) == [1.0, 1.0, 3.0, 3.0]


def test_words_after_the_text_departs_from_the_answer_are_not_received() -> None:
    expected = "t0 t1 t2 t3"
    seen = record((1.0, 0, "t0 "), (2.0, 3, "t2 t3"))
    assert received_times(seen, expected, word_ends(expected)) == [1.0, None, None, None]


def test_after_a_reset_a_word_keeps_the_time_it_was_first_complete() -> None:
    expected = "t0 t1"
    seen = record((1.0, 0, "t0 t"), (2.0, RESET, ""), (3.0, 0, "t0 t1"))
    assert received_times(seen, expected, word_ends(expected)) == [1.0, 3.0]


def test_lags_and_the_latency_added_to_the_first_token() -> None:
    model = ModelTiming(received=10.0, tokens=[10.3, 10.4, 10.5])
    seen = record((2.0, RESET, ""), (10.42, 0, "t0 t1 "), (10.55, 6, "t2"), post_sent=9.99)
    assert first_token(seen) == 10.42
    assert added_first_token(seen, model) == pytest.approx(0.43 - 0.3)
    assert lags([10.42, 10.42, 10.55], model) == pytest.approx([0.12, 0.02, 0.05])
    assert lags([None, 10.5, None], model) == pytest.approx([0.1])
    assert added_first_token(record(), model) is None


def test_percentiles_and_summaries() -> None:
    assert percentile([], 99) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(n) for n in range(100)], 99) == 99.0
    assert Summary.of([0.001, 0.003, 0.002]) == Summary(2.0, 3.0, 3.0, 3)


def test_peak_overlap() -> None:
    assert peak_overlap([]) == 0
    assert peak_overlap([(0, 2), (1, 3), (2, 4), (5, 6)]) == 2


# -- words --------------------------------------------------------------------------------


def test_a_whole_answer_in_order_has_no_problem() -> None:
    check = check_words(record((1, 0, "t0 t1 "), (2, 6, "t2 t3")), "t0 t1 t2 t3")
    assert check.ok and check.lost == check.doubled == check.out_of_order == 0


def test_words_lost_doubled_and_out_of_order_are_counted() -> None:
    expected = "t0 t1 t2 t3"
    lost = check_words(record((1, 0, "t0 "), (2, 5, "t2 t3")), expected)
    assert (lost.ok, lost.lost, lost.offsets_wrong) == (False, 1, 1)
    doubled = check_words(record((1, 0, "t0 t1 "), (2, 3, "t1 t2 t3")), expected)
    assert (doubled.doubled, doubled.out_of_order, doubled.offsets_wrong) == (1, 0, 1)
    swapped = check_words(record((1, 0, "t0 t2 t1 t3")), expected)
    assert (swapped.ok, swapped.lost, swapped.doubled, swapped.out_of_order) == (False, 0, 0, 1)
    reset = check_words(record((1, 0, "t0 "), (2, RESET, ""), (3, 0, "t0 t1 t2 t3")), expected)
    assert (reset.ok, reset.resets, reset.lost) == (False, 1, 0)


def test_errors_by_kind() -> None:
    assert error_of(record()) is None
    assert error_of(StreamRecord("x", post_status=429)) == "POST 429"
    assert error_of(StreamRecord("x", post_status=202, stream_status=404)) == "GET 404"
    assert error_of(StreamRecord("x", error="connection lost: reset")) == "connection lost"


def test_analyse_one_load() -> None:
    expected = "t0 t1 t2 t3"
    model = ModelTiming(received=0.0, tokens=[0.3, 0.31, 0.5, 0.6])
    good = record((0.32, 0, "t0 t1 "), (0.62, 6, "t2 t3"))
    good.tag = "good"
    doubled = record((0.35, 0, "t0 t1 "), (0.62, 3, "t1 t2 t3"))
    doubled.tag = "doubled"
    failed = StreamRecord("failed", post_status=202, stream_status=200, error="no final event")
    refused = StreamRecord("refused", post_status=429)
    timings = {"good": [model], "doubled": [model, model], "failed": [model]}
    figures = analyse([good, doubled, failed, refused], timings, expected)
    assert figures.streams == 4
    assert figures.tokens_delivered == 4 + 2
    assert figures.first_token.count == 2
    assert figures.first_token.max == pytest.approx(50.0)
    assert figures.to_model.max == pytest.approx(0.0)  # the model had each request at once
    assert figures.from_model.max == pytest.approx(50.0)
    assert figures.lag.count == 6
    assert figures.lag.max == pytest.approx(120.0)  # t2 of "good"
    assert figures.unmeasured == 2
    assert (figures.word_problems, figures.words.doubled, figures.words.offsets_wrong) == (1, 1, 1)
    assert figures.unsealed == 2  # "doubled" was sealed with the answer (its text was not)
    assert figures.errors == {"no final event": 1, "POST 429": 1}
    assert (figures.model_requests, figures.model_peak) == (4, 4)


# -- the fake model's timings -------------------------------------------------------------


def test_the_tag_of_a_question() -> None:
    assert tag_of("Tell me [[fake:paced:0.3:40:150]] (bench a-17)") == "a-17"
    assert tag_of("no tag") is None


def test_the_timed_fake_notes_when_each_token_was_written() -> None:
    with TimedFakeOpenAI() as model:
        question = "Hi [[fake:paced:0.05:200:5]] (bench t-1)"
        body = {
            "model": "fake-model",
            "stream": True,
            "messages": [{"role": "user", "content": question}],
        }
        headers = {"Authorization": "Bearer k"}
        with httpx.stream(
            "POST", f"{model.base_url}/chat/completions", json=body, headers=headers
        ) as r:
            text = "".join(
                json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
                for line in r.iter_lines()
                if line.startswith("data: {")
            )
        httpx.post(
            f"{model.base_url}/chat/completions",
            json={**body, "messages": [{"role": "user", "content": "untagged"}]},
            headers=headers,
        )
        timings = httpx.get(f"{model.base_url}/_timings").json()
    assert text == paced_answer(5)
    assert list(timings) == ["t-1"]
    (timing,) = [ModelTiming.from_json(t) for t in timings["t-1"]]
    assert len(timing.tokens) == 5
    assert timing.tokens == sorted(timing.tokens)
    assert timing.tokens[0] - timing.received >= 0.05
    assert timing.tokens[-1] - timing.tokens[0] >= 4 / 200 - 0.001


# -- the report's section -----------------------------------------------------------------


def test_splice_replaces_the_streams_section_or_adds_it() -> None:
    report = "# Bench\n\n## Request path\n\nrows\n"
    once = splice(report, [HEADING, "", "first"])
    assert once == "# Bench\n\n## Request path\n\nrows\n\n## Answer streams\n\nfirst\n"
    assert splice(once, [HEADING, "", "second"]) == once.replace("first", "second")
    middle = "# Bench\n\n## Answer streams\n\nold\n\n## Lists\n\nx\n"
    assert (
        splice(middle, [HEADING, "", "new"])
        == "# Bench\n\n## Answer streams\n\nnew\n\n## Lists\n\nx\n"
    )


async def test_a_stream_without_a_final_event_in_time_is_an_error() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    customer = {"tag": "x", "chat_id": "c", "token": "t", "question": "q"}
    plan = {
        "host": "127.0.0.1",
        "port": server.sockets[0].getsockname()[1],
        "gateway_pid": os.getpid(),
        "spread": 0.0,
        "timeout": 0.2,
        "customers": [customer],
    }
    async with server:
        results = await stream_load.run(plan)
    (seen,) = [StreamRecord.from_json(r) for r in results["records"]]
    assert seen.error == "no final event within 0.2 s"
    assert error_of(seen) == "no final event within 0.2 s"
    assert results["rss_max_mb"] > 0


# -- what the processes did ---------------------------------------------------------------


def test_the_busiest_second_of_each_process() -> None:
    samples = [
        (0.0, {"a": 0.0, "b": 0.0}),
        (0.5, {"a": 0.1, "b": 0.5}),
        (1.0, {"a": 0.2, "b": 0.9}),
        (1.5, {"a": 0.3, "b": 1.0}),
        (2.0, {"a": 1.2, "b": 1.0}),
    ]
    assert busiest(samples, 1.0) == pytest.approx({"a": 1.0, "b": 0.9})
    assert busiest(samples[:2], 1.0) == {}


def test_commands_and_events_handled_by_queue() -> None:
    q = "queue"
    deltas: dict[str, Snapshot] = {
        "chat": {
            ("rpc_handler_duration_seconds_count", (("outcome", "ok"), (q, "chat.get"))): 5.0,
            ("rpc_handler_duration_seconds_count", (("outcome", "error"), (q, "chat.get"))): 1.0,
            ("rpc_handler_duration_seconds_count", (("outcome", "ok"), (q, "chat.add"))): 0.0,
        },
        "ai": {("event_handler_duration_seconds_count", ((q, "ai.created"),)): 2.0},
    }
    assert handled(deltas) == {"ai.created": 2.0, "chat.get": 6.0}


def test_the_section_renders_every_figure_against_its_target() -> None:
    expected = "t0 t1 t2 t3"
    model = ModelTiming(received=1.0, tokens=[1.3, 1.31, 1.5, 1.6])
    seen = record((1.32, 0, "t0 t1 "), (1.62, 6, "t2 t3"), post_sent=0.99)
    seen.ai_response = expected
    run = LoadRun(
        load=LOADS[0],
        figures=analyse([seen], {"x": [model]}, expected),
        seconds=2.0,
        cpu_us={"gateway": 40.0, "ai worker": 60.0, "fake model": 30.0, "load generator": 9.0},
        busiest={"ai worker": 0.97},
        handled={"chat.message.add": 1.0},
        generator_cpu_seconds=0.1,
        lag_p99_ms=1.0,
        lag_max_ms=2.0,
        peak_open=1,
        rss_at_peak_mb=80.0,
        rss_max_mb=81.0,
    )
    assert run.system_us == 100.0
    lines = section([run], "Measured now.")
    table = "\n".join(lines)
    assert lines[0] == HEADING
    assert "| added to the first token, ms p50 / p99 / max (streams) | p99 <= 50 | 30.0" in table
    assert "| token lag" in table
    assert "| answers not sealed | 0 | 0 met |" in table
    assert "| system CPU µs per delivered token | <= 150 | 100 met |" in table
    assert "| ai worker | 60.0 (97%) |" in table
    assert "| load generator | 9.0 (0%) |" in table
    assert "`chat.message.add` 1.00" in table


def test_the_load_generator_process_hands_over_results_of_any_size() -> None:
    """Its results go through a file: 50 streams of 300 words are past a pipe's 64 kB."""
    words = [f"t{n}" for n in range(300)]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        writer.write(b'HTTP/1.1 202 Accepted\r\ncontent-length: 12\r\n\r\n{"id": "m1"}')
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        offset = 0
        for word in words:
            delta = word + " "
            frame = b"event: token\ndata: %s\n\n" % orjson.dumps({"delta": delta, "offset": offset})
            offset += len(delta)
            writer.write(b"%x\r\n%s\r\n" % (len(frame), frame))
        final = b"event: sealed\ndata: %s\n\n" % orjson.dumps({"ai_response": " ".join(words)})
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(final), final))
        await reader.read()
        writer.close()

    started = threading.Event()
    port: list[int] = []
    stop: list[asyncio.Event] = []

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        stop.append(asyncio.Event())
        started.set()
        async with server:
            await stop[0].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(5)
    customers = [
        {"tag": f"x-{n}", "chat_id": "c", "token": "t", "question": "q"} for n in range(50)
    ]
    plan = {
        "host": "127.0.0.1",
        "port": port[0],
        "gateway_pid": os.getpid(),
        "spread": 0.1,
        "timeout": 20,
        "customers": customers,
    }
    try:
        results = streams._generate(plan)
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(5)
    records = [StreamRecord.from_json(r) for r in results["records"]]
    assert len(records) == 50
    assert all(r.error is None and r.final_event == "sealed" for r in records)
    assert all(len(r.times) == 300 for r in records)
    assert len(orjson.dumps(results)) > 65536
