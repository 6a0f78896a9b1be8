"""``python -m chat_service``: connect to the broker and answer pings (its commands come later)."""

from servicekit.service import ServiceRuntime, run
from servicekit.settings import ServiceSettings


async def main() -> None:
    async with ServiceRuntime("chat", ServiceSettings(), schema=None) as runtime:
        await runtime.wait_for_shutdown()


if __name__ == "__main__":
    run(main())
