"""Session revocations: when a user's tokens stopped being valid (kept after hard deletes).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_revocations",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "revoked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name="pk_session_revocations"),
        schema="users",
    )
    op.create_index(
        "ix_session_revocations_revoked_at", "session_revocations", ["revoked_at"], schema="users"
    )


def downgrade() -> None:
    op.drop_table("session_revocations", schema="users")
