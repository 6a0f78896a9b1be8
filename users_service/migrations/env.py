# The features' tables join the schema's metadata.
import users_service.auth.models
import users_service.users.models  # noqa: F401
from servicekit.migrations import run_env
from users_service.schema import SCHEMA, metadata

run_env(metadata, SCHEMA)
