"""Users, credentials, roles and tokens. Owns the Postgres schema ``users``."""
