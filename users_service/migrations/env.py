from servicekit.migrations import run_env
from users_service.models import SCHEMA, metadata

run_env(metadata, SCHEMA)
