import ticket_service.tickets.models  # noqa: F401  (its tables join the schema's metadata)
from servicekit.migrations import run_env
from ticket_service.schema import SCHEMA, metadata

run_env(metadata, SCHEMA)
