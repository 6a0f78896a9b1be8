"""``python -m users_service``: users, credentials, roles and tokens."""

from servicekit.service import run
from users_service.bootstrap import main

if __name__ == "__main__":
    run(main())
