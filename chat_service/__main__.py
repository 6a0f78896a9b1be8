"""``python -m chat_service``: chats, messages, the message life cycle and its sweeper."""

from chat_service.bootstrap import main
from servicekit.service import run

if __name__ == "__main__":
    run(main())
