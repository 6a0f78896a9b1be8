"""The example subscriber in ``examples/`` works against the real system, as shipped."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from support.api import User, answered_message, file_ticket
from support.stack import ROOT, Stack


def test_example_subscriber_prints_ticket_events_as_they_happen(
    api: httpx.Client, stack: Stack, customer: User, agent: User, tmp_path: Path
) -> None:
    out = tmp_path / "subscriber.out"
    env = {
        **os.environ,
        "AMQP_URL": stack.infra.amqp_url,
        "SUBSCRIBER_QUEUE": f"example.{uuid.uuid4().hex[:6]}",
    }
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.ticket_subscriber"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        time.sleep(3)  # its queue is declared and bound before the ticket is filed
        ticket = file_ticket(api, customer, answered_message(api, customer)["id"]).json()
        api.patch(
            f"/api/tickets/{ticket['id']}", json={"status": "in_progress"}, headers=agent.headers
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            lines = [line for line in out.read_text().splitlines() if ticket["id"] in line]
            if len(lines) >= 2:
                break
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=15)
    assert len(lines) == 2, out.read_text()[-2000:]
    assert "support.ticket.created" in lines[0]
    assert "support.ticket.status_changed" in lines[1]
    assert "open -> in_progress" in lines[1]
    assert code == 0, "it stops cleanly on SIGTERM"
