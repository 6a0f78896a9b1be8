"""Tickets on messages and their workflow. Owns the Postgres schema ``tickets``."""
