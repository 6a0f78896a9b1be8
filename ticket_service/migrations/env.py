from servicekit.migrations import run_env
from ticket_service.models import SCHEMA, metadata

run_env(metadata, SCHEMA)
