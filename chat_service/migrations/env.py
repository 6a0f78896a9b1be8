import chat_service.chats.models
import chat_service.messages.models  # noqa: F401  (their tables join the schema's metadata)
from chat_service.schema import SCHEMA, metadata
from servicekit.migrations import run_env

run_env(metadata, SCHEMA)
