"""Settings of the users service."""

from pydantic import Field, SecretStr

from servicekit.settings import AuthSettings, PlanCacheMode


class UsersSettings(AuthSettings):
    db_plan_cache_mode: PlanCacheMode = "force_custom_plan"
    """Searches and filtered lists are planned for their values every time: how many users a
    search term matches decides the plan, and the one generic plan that ``auto`` settles on
    after five runs walked a whole table for a rare term."""
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    bootstrap_admin_name: str = "Administrator"
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
    """Argon2 hashes computed at once, whatever the commands in flight (64 MiB each): the size
    of the semaphore of the process's ``Passwords``."""
