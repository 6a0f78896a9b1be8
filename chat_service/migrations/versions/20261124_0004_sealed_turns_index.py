"""An index for the recent turns sent with every new message: a chat's sealed messages,
newest first, so a long chat costs a post no more than a short one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX ix_messages_sealed_turns ON chat.messages"
        " (chat_id, created_at DESC, id DESC) WHERE status = 'sealed'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX chat.ix_messages_sealed_turns")
