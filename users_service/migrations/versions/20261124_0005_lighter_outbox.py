"""A lighter outbox: the relay is woken by the process that commits the rows, not by a NOTIFY
per insert (Postgres signalled every listening backend of the database on every one), and no
index on ``occurred_at``, which nothing reads by.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from servicekit.migrations import lighten_outbox, restore_outbox

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    lighten_outbox("users")


def downgrade() -> None:
    restore_outbox("users")
