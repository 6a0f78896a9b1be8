"""Local process supervisor: one OS process per service, restarted when it dies."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

STABLE_AFTER = 30.0  # seconds of uptime after which the restart backoff resets
_COLOURS = (36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91)


@dataclass(frozen=True)
class ProcessSpec:
    """One supervised service: a name, the command to run and extra environment."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] | None = None


@dataclass(eq=False)
class _Child:
    """Runtime state of one supervised service."""

    spec: ProcessSpec
    colour: int
    proc: asyncio.subprocess.Process | None = None
    started: float = 0.0
    restarts: int = 0
    task: asyncio.Task[None] | None = None
    pump: asyncio.Task[None] | None = None
    running: asyncio.Event = field(default_factory=asyncio.Event)


def _killpg(pid: int, sig: signal.Signals) -> None:
    """Send sig to the process group led by pid, ignoring groups that are already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Supervisor:
    """Runs each spec as its own process group and restarts it with backoff when it exits."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        restart_delay: float = 0.5,
        max_restart_delay: float = 10.0,
        stop_timeout: float = 10.0,
        log_prefix: bool = True,
        output: TextIO = sys.stdout,
    ) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate process names in {names}")
        self._children = {
            s.name: _Child(s, _COLOURS[i % len(_COLOURS)]) for i, s in enumerate(specs)
        }
        self._restart_delay, self._max_restart_delay = restart_delay, max_restart_delay
        self._stop_timeout, self._log_prefix, self._output = stop_timeout, log_prefix, output
        self._width = max([len("runner"), *map(len, names)])
        self._tty = output.isatty()
        self._stopping = asyncio.Event()
        self._stop_task: asyncio.Task[None] | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    def pid(self, name: str) -> int | None:
        """Return the pid of the running process called name, or None."""
        proc = self._children[name].proc
        return proc.pid if proc is not None and proc.returncode is None else None

    def restarts(self, name: str) -> int:
        """Return how many times the process called name has been restarted."""
        return self._children[name].restarts

    async def wait_running(self, name: str, timeout: float) -> None:
        """Wait until the process called name is running; raise TimeoutError otherwise."""
        await asyncio.wait_for(self._children[name].running.wait(), timeout)

    async def start(self) -> None:
        """Spawn every process and begin supervising it."""
        for child in self._children.values():
            if child.task is None:
                await self._spawn(child)
                child.task = asyncio.create_task(self._supervise(child))

    async def stop(self) -> None:
        """Terminate every process group (SIGTERM, then SIGKILL after stop_timeout)."""
        if self._stop_task is None:
            self._stop_task = asyncio.create_task(self._stop())
        await asyncio.shield(self._stop_task)

    async def run_forever(self) -> None:
        """Start everything, wait for SIGINT or SIGTERM, then stop everything."""
        loop, received = asyncio.get_running_loop(), asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, received.set)
        try:
            await self.start()
            await received.wait()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            self._log("stopping...")
            await self.stop()
            self._log("all processes stopped")

    async def _stop(self) -> None:
        """Signal, wait for and reap all children, then drain their output."""
        self._stopping.set()
        for child in self._children.values():
            if child.proc is not None and child.proc.returncode is None:
                _killpg(child.proc.pid, signal.SIGTERM)
        tasks = {c.task: c for c in self._children.values() if c.task is not None}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._stop_timeout)
            for task in pending:
                if (proc := tasks[task].proc) is not None:
                    self._log(f"{tasks[task].spec.name} did not stop in time, killing")
                    _killpg(proc.pid, signal.SIGKILL)
            if pending:
                await asyncio.wait(pending)
        if self._pumps:
            _, stuck = await asyncio.wait(self._pumps, timeout=1.0)
            for task in stuck:
                task.cancel()

    async def _spawn(self, child: _Child) -> None:
        """Start one process in a new session with stdout and stderr piped together."""
        # Unbuffered by default so Python services' output shows up line by line.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(child.spec.env or {})}
        try:
            proc = await asyncio.create_subprocess_exec(
                *child.spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except (OSError, ValueError, TypeError) as exc:
            self._log(f"{child.spec.name} failed to start: {exc}")
            child.proc = None
            return
        child.proc, child.started = proc, time.monotonic()
        if self._stopping.is_set():
            _killpg(proc.pid, signal.SIGTERM)
        assert proc.stdout is not None
        child.pump = asyncio.create_task(self._pump(child, proc.stdout))
        self._pumps.add(child.pump)
        child.pump.add_done_callback(self._pumps.discard)
        child.running.set()

    async def _supervise(self, child: _Child) -> None:
        """Wait for the child to exit and restart it with exponential backoff until stopping."""
        delay = self._restart_delay
        while True:
            rc = await child.proc.wait() if child.proc is not None else 127
            child.running.clear()
            if self._stopping.is_set():
                return
            if child.pump is not None:  # let its last lines out before the exit message
                await asyncio.wait({child.pump}, timeout=0.5)
            if child.proc is not None and time.monotonic() - child.started > STABLE_AFTER:
                delay = self._restart_delay
            self._log(f"{child.spec.name} exited with code {rc}, restarting in {delay:g}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
            delay = min(delay * 2, self._max_restart_delay)
            child.restarts += 1
            await self._spawn(child)

    async def _pump(self, child: _Child, stream: asyncio.StreamReader) -> None:
        """Echo each output line of a child, prefixed with its name."""
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # line longer than the stream limit: skip it
                continue
            if not line:
                return
            self._emit(child.spec.name, child.colour, line.decode(errors="replace").rstrip())

    def _log(self, message: str) -> None:
        """Write a supervisor message."""
        self._emit("runner", 1, message, force_prefix=True)

    def _emit(self, name: str, colour: int, text: str, *, force_prefix: bool = False) -> None:
        """Write one line to the output, prefixed with a padded (and maybe coloured) name."""
        prefix = ""
        if self._log_prefix or force_prefix:
            prefix = f"{name:<{self._width}} | "
            if self._tty:
                prefix = f"\033[{colour}m{prefix}\033[0m"
        self._output.write(prefix + text + "\n")
        self._output.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: supervise the given specs until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m deploy.runner", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", help='JSON list of {"name", "argv", "env"} objects')
    source.add_argument("--spec-file", help="path to a JSON file holding such a list")
    parser.add_argument("--restart-delay", type=float, default=0.5)
    parser.add_argument("--max-restart-delay", type=float, default=10.0)
    parser.add_argument("--stop-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        if args.spec_file:
            with open(args.spec_file, encoding="utf-8") as fh:
                args.spec = fh.read()
        items: list[dict[str, Any]] = json.loads(args.spec)
        specs = [
            ProcessSpec(
                str(i["name"]),
                [str(a) for a in i["argv"]],
                {str(k): str(v) for k, v in (i.get("env") or {}).items()} or None,
            )
            for i in items
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        parser.error(f"invalid spec: {exc!r}")
    supervisor = Supervisor(
        specs,
        restart_delay=args.restart_delay,
        max_restart_delay=args.max_restart_delay,
        stop_timeout=args.stop_timeout,
    )
    asyncio.run(supervisor.run_forever())
    return 0


if __name__ == "__main__":
    sys.exit(main())
