"""Outbox rows get a sequence number: events leave in the order they were written.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

from servicekit.migrations import add_outbox_order

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_order("tickets")


def downgrade() -> None:
    op.drop_column("outbox", "seq", schema="tickets")
