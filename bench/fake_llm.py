"""``python -m bench.fake_llm``: the tests' fake OpenAI server (``tests/fakes``) in a process of
its own, answering at once: it prints its base URL, then serves until SIGTERM. The bench points
the AI worker at it to measure the pipeline through the ``openai`` SDK over real HTTP."""

import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.openai_server import FakeOpenAI


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeOpenAI() as server:
        print(server.base_url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
