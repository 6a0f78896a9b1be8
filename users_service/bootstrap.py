"""Wiring of the users service: its use cases, served on the bus in units of work on Postgres,
with one password hashing for the process; and the bootstrap admin, created at start."""

import logging

from contracts.enums import Role
from servicekit.service import ServiceRuntime
from servicekit.usecases import UseCases
from users_service.auth.passwords import Passwords
from users_service.auth.use_cases import use_cases as auth
from users_service.schema import outbox
from users_service.settings import UsersSettings
from users_service.uow import SqlUsersUnitOfWork, UsersUnitOfWork
from users_service.users.use_cases import ensure_user
from users_service.users.use_cases import use_cases as users

log = logging.getLogger("users_service")
USE_CASES: UseCases[UsersUnitOfWork] = UseCases.joined([users, auth])


async def main() -> None:
    settings = UsersSettings()
    async with ServiceRuntime("users", settings, outbox=outbox) as runtime:
        passwords = Passwords(settings.password_hash_concurrency)

        def unit_of_work() -> SqlUsersUnitOfWork:
            return SqlUsersUnitOfWork(runtime.database, settings, passwords)

        if settings.bootstrap_admin_email and settings.bootstrap_admin_password:
            created = await ensure_user(
                unit_of_work(),
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
        await runtime.serve(USE_CASES, unit_of_work)
        runtime.relay_outbox()
        await runtime.wait_for_shutdown()
