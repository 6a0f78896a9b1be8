"""Chats and messages, and the message life cycle. Owns the Postgres schema ``chat``."""
