"""The fake LLM as the bench runs it: ``python -m bench.fake_llm`` in a process of its own."""

import contextlib
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def fake_llm(*, timed: bool = False) -> Iterator[tuple[str, int]]:
    """A fake LLM in a process of its own (``bench.fake_llm``, noting timings if ``timed``);
    yields its base URL and pid."""
    server = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "bench.fake_llm", *(["--timed"] if timed else [])],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip(), server.pid
    finally:
        server.terminate()
        server.wait(timeout=10)
