"""Word indexes on the users' emails and names: a search by a term with inner words
(``alan.lovelace.4242@``) takes the same time among a million users as among ten thousand
(see ``users_service.search``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("email", "full_name")


def upgrade() -> None:
    for column in COLUMNS:
        op.execute(
            f"CREATE INDEX ix_users_{column}_words ON users.users"
            f" USING gin ((regexp_split_to_array(lower({column}), '[^a-z0-9]+')))"
        )


def downgrade() -> None:
    for column in COLUMNS:
        op.execute(f"DROP INDEX users.ix_users_{column}_words")
