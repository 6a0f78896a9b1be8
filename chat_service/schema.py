"""The ``chat`` schema: its metadata, outbox and declarative base (tables: each feature's
``models``)."""

from sqlalchemy.orm import DeclarativeBase

from servicekit.db import schema_metadata
from servicekit.outbox import outbox_table

SCHEMA = "chat"
metadata = schema_metadata(SCHEMA)
outbox = outbox_table(metadata)


class Base(DeclarativeBase):
    metadata = metadata
