"""Users, refresh tokens and the outbox.

Revision ID: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from servicekit.migrations import create_outbox, drop_outbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

S = "users"


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    role = postgresql.ENUM("customer", "agent", "admin", name="user_role", schema=S)
    role.create(op.get_bind(), checkfirst=True)
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=False),
        sa.Column(
            "role", postgresql.ENUM(name="user_role", schema=S, create_type=False), nullable=False
        ),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        schema=S,
    )
    op.execute(f"CREATE UNIQUE INDEX uq_users_email_lower ON {S}.users (lower(email))")
    op.execute(f"CREATE INDEX ix_users_created_at_id ON {S}.users (created_at DESC, id DESC)")
    op.execute(f"CREATE INDEX ix_users_email_trgm ON {S}.users USING gin (email gin_trgm_ops)")
    op.execute(
        f"CREATE INDEX ix_users_full_name_trgm ON {S}.users USING gin (full_name gin_trgm_ops)"
    )
    # updated_at is the database's business: any UPDATE sets it, whoever issues it.
    op.execute(
        f"""CREATE FUNCTION {S}.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN NEW.updated_at = now(); RETURN NEW; END $$"""
    )
    op.execute(
        f"""CREATE TRIGGER users_touch_updated_at BEFORE UPDATE ON {S}.users
            FOR EACH ROW EXECUTE FUNCTION {S}.touch_updated_at()"""
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            [f"{S}.users.id"],
            ondelete="CASCADE",
            name="fk_refresh_tokens_user_id_users",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
        schema=S,
    )
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"], schema=S)
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"], schema=S)
    create_outbox(S)


def downgrade() -> None:
    drop_outbox(S)
    op.drop_table("refresh_tokens", schema=S)
    op.drop_table("users", schema=S)
    op.execute(f"DROP FUNCTION {S}.touch_updated_at()")
    op.execute(f"DROP TYPE {S}.user_role")
