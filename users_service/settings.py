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
    # Read by users_service.passwords at import (it sizes a semaphore); declared here so the
    # setting is documented and validated with the others.
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)
