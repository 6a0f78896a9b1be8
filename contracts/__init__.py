"""The wire: every command, reply, event and error the services exchange, and their names.

Depends on pydantic alone, so an outside subscriber can install and use it by itself.
Changes are additive only: consumers ignore unknown fields, and a breaking change is a new
event type with a new name.
"""
