"""The outbox relay is woken by the process that commits the rows, not by a NOTIFY per insert
(Postgres signalled every listening backend of the database on every one).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from servicekit.migrations import drop_outbox_notify, restore_outbox_notify

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_outbox_notify("users")


def downgrade() -> None:
    restore_outbox_notify("users")
