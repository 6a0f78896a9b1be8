"""``python -m ticket_service``: tickets on messages, their workflow and their events."""

from servicekit.service import run
from ticket_service.bootstrap import main

if __name__ == "__main__":
    run(main())
