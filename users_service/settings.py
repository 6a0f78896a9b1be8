"""Settings of the users service."""

from pydantic import SecretStr

from servicekit.settings import AuthSettings


class UsersSettings(AuthSettings):
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    bootstrap_admin_name: str = "Administrator"
