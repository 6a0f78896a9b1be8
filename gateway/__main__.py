"""``python -m gateway``: serve the REST API with uvicorn (uvloop, httptools)."""

import signal

import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings


def _exit_cleanly(signum: int, _: object) -> None:
    raise SystemExit(0)


def main() -> None:
    settings = GatewaySettings()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it under the handler that was
    # there before: with this one, a graceful stop exits 0 (as an orchestrator expects).
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        create_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
