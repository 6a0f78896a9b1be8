"""Outbox rows keep the trace context they were recorded in; events carry it on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from servicekit.migrations import add_outbox_trace_context, drop_outbox_trace_context

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_trace_context("tickets")


def downgrade() -> None:
    drop_outbox_trace_context("tickets")
