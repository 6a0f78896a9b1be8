"""``python -m users_service``: serve the users and auth commands."""

import logging

from contracts.enums import Role
from servicekit.service import ServiceRuntime, run
from users_service.auth import AuthService
from users_service.handlers import Services, router
from users_service.models import SCHEMA
from users_service.service import UsersService
from users_service.settings import UsersSettings

log = logging.getLogger("users_service")


async def main() -> None:
    settings = UsersSettings()
    async with ServiceRuntime("users", settings, schema=SCHEMA) as runtime:
        users = UsersService(runtime.sessions, runtime.queries)
        if settings.bootstrap_admin_email and settings.bootstrap_admin_password:
            created = await users.ensure_user(
                email=settings.bootstrap_admin_email,
                password=settings.bootstrap_admin_password.get_secret_value(),
                full_name=settings.bootstrap_admin_name,
                role=Role.ADMIN,
            )
            log.info(
                "bootstrap admin %s %s",
                settings.bootstrap_admin_email,
                "created" if created else "already exists",
            )
        await runtime.serve(router, Services(users, AuthService(runtime.sessions, settings)))
        await runtime.relay_outbox()
        await runtime.wait_for_shutdown()


if __name__ == "__main__":
    run(main())
