"""``python -m ticket_service``: connect to the broker and answer pings (commands come later)."""

from servicekit.service import ServiceRuntime, run
from servicekit.settings import ServiceSettings


async def main() -> None:
    async with ServiceRuntime("tickets", ServiceSettings(), schema=None) as runtime:
        await runtime.wait_for_shutdown()


if __name__ == "__main__":
    run(main())
