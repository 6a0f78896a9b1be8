"""Tests for the local process supervisor in deploy.runner."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# The venv's pytest script does not put the project root on sys.path by itself.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.runner import ProcessSpec, Supervisor

ROOT = Path(__file__).resolve().parents[2]

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"]


def _alive(pid: int) -> bool:
    """Return whether a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll cond until it holds, failing the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def test_sigkilled_child_is_restarted_and_others_keep_running() -> None:
    async def scenario() -> None:
        specs = [ProcessSpec("victim", SLEEPER), ProcessSpec("bystander", SLEEPER)]
        sup = Supervisor(specs, restart_delay=0.05, output=io.StringIO())
        await sup.start()
        try:
            await sup.wait_running("victim", 5)
            old, other = sup.pid("victim"), sup.pid("bystander")
            assert old is not None and other is not None
            os.kill(old, signal.SIGKILL)
            await _until(lambda: sup.pid("victim") not in (None, old))
            assert sup.restarts("victim") == 1
            assert sup.restarts("bystander") == 0
            assert sup.pid("bystander") == other and _alive(other)
        finally:
            await sup.stop()

    asyncio.run(scenario())


def test_child_exiting_by_itself_is_restarted_with_backoff() -> None:
    async def scenario() -> None:
        out = io.StringIO()
        quitter = ProcessSpec("quitter", [sys.executable, "-c", "import sys; sys.exit(3)"])
        sup = Supervisor([quitter], restart_delay=0.05, max_restart_delay=0.1, output=out)
        await sup.start()
        try:
            await _until(lambda: sup.restarts("quitter") >= 3)
        finally:
            await sup.stop()
        delays = [
            line.rsplit(" ", 1)[1]
            for line in out.getvalue().splitlines()
            if line.startswith("runner  | quitter exited with code 3, restarting in ")
        ]
        assert delays[:3] == ["0.05s", "0.1s", "0.1s"]

    asyncio.run(scenario())


def test_stop_terminates_all_children_even_one_ignoring_sigterm() -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('ready', flush=True); time.sleep(60)"
    )

    async def scenario() -> None:
        out = io.StringIO()
        specs = [
            ProcessSpec("polite", SLEEPER),
            ProcessSpec("stubborn", [sys.executable, "-c", stubborn]),
        ]
        sup = Supervisor(specs, stop_timeout=0.5, output=out)
        await sup.start()
        await _until(lambda: "stubborn | ready" in out.getvalue())
        pids = [sup.pid("polite"), sup.pid("stubborn")]
        began = time.monotonic()
        await asyncio.gather(sup.stop(), sup.stop())  # idempotent, also when concurrent
        assert time.monotonic() - began >= 0.5  # the stubborn one needed SIGKILL
        await sup.stop()
        for pid in pids:
            assert pid is not None and not _alive(pid)
        assert sup.pid("polite") is None and sup.pid("stubborn") is None
        assert sup.restarts("polite") == 0 and sup.restarts("stubborn") == 0
        assert "runner   | stubborn did not stop in time, killing" in out.getvalue()

    asyncio.run(scenario())


def test_output_lines_are_prefixed_with_padded_name() -> None:
    async def scenario() -> None:
        out = io.StringIO()
        talk = "import sys; print('hello'); print('oops', file=sys.stderr); input()"
        specs = [
            ProcessSpec("alpha", [sys.executable, "-c", talk]),
            ProcessSpec("b", [sys.executable, "-c", talk], env={"X": "1"}),
        ]
        sup = Supervisor(specs, output=out, restart_delay=5)
        await sup.start()
        try:
            await _until(lambda: out.getvalue().count("oops") == 2)
        finally:
            await sup.stop()
        lines = out.getvalue().splitlines()
        for expected in ("alpha  | hello", "alpha  | oops", "b      | hello", "b      | oops"):
            assert expected in lines

    asyncio.run(scenario())


def test_missing_executable_does_not_disturb_the_others() -> None:
    async def scenario() -> None:
        out = io.StringIO()
        specs = [ProcessSpec("ghost", ["/nonexistent/binary"]), ProcessSpec("real", SLEEPER)]
        sup = Supervisor(specs, restart_delay=0.05, output=out)
        await sup.start()
        try:
            await sup.wait_running("real", 5)
            await _until(lambda: sup.restarts("ghost") >= 1)
            assert sup.pid("ghost") is None
            assert "runner | ghost failed to start" in out.getvalue()
        finally:
            await sup.stop()

    asyncio.run(scenario())


def test_cli_runs_until_sigint_then_stops_children() -> None:
    spec = (
        '[{"name": "worker", "argv": ["%s", "-c", "import time; print(\\"up\\"); time.sleep(60)"]}]'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.runner", "--spec", spec % sys.executable],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "worker | up\n"
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert rest.splitlines() == ["runner | stopping...", "runner | all processes stopped"]
