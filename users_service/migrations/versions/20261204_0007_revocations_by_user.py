"""An index of session revocations by user: every login and refresh reads the user's newest
revocation, which the access token then carries (``rev``).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_session_revocations_user_id_revoked_at",
        "session_revocations",
        ["user_id", "revoked_at"],
        schema="users",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_session_revocations_user_id_revoked_at", "session_revocations", schema="users"
    )
