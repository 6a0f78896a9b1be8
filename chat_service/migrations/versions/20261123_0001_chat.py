"""Chats, messages (sealed ones immutable by trigger) and the outbox.

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

S = "chat"


def upgrade() -> None:
    status = postgresql.ENUM("pending", "sealed", "failed", name="message_status", schema=S)
    status.create(op.get_bind(), checkfirst=True)
    now = sa.text("now()")
    op.create_table(
        "chats",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chats"),
        schema=S,
    )
    op.execute(
        f"CREATE INDEX ix_chats_user_id_created_at ON {S}.chats (user_id, created_at DESC, id DESC)"
    )
    op.execute(f"CREATE INDEX ix_chats_created_at ON {S}.chats (created_at DESC, id DESC)")
    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("user_input", sa.Text(), nullable=False),
        sa.Column("ai_response", sa.Text(), nullable=True),
        sa.Column(
            "status",
            postgresql.ENUM(name="message_status", schema=S, create_type=False),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("references", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("emissions", sa.Integer(), server_default="1", nullable=False),
        sa.Column("emitted_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            [f"{S}.chats.id"],
            ondelete="CASCADE",
            name="fk_messages_chat_id_chats",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.CheckConstraint(
            "status <> 'sealed' OR (ai_response IS NOT NULL AND sealed_at IS NOT NULL)",
            name="ck_messages_sealed_has_answer",
        ),
        schema=S,
    )
    op.execute(
        f"CREATE INDEX ix_messages_chat_id_created_at ON {S}.messages (chat_id, created_at, id)"
    )
    op.execute(
        f"CREATE UNIQUE INDEX uq_messages_chat_id_idempotency_key ON {S}.messages"
        " (chat_id, idempotency_key) WHERE idempotency_key IS NOT NULL"
    )
    op.execute(
        f"CREATE INDEX ix_messages_pending ON {S}.messages (emitted_at) WHERE status = 'pending'"
    )
    # Immutability by the database itself: it holds against a buggy service or a human with
    # psql. A sealed message never changes again; nobody's input is ever rewritten.
    op.execute(
        f"""CREATE FUNCTION {S}.guard_message_update() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.status = 'sealed' THEN
                RAISE EXCEPTION 'message % is sealed and cannot change', OLD.id
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            IF NEW.user_input IS DISTINCT FROM OLD.user_input
               OR NEW.chat_id IS DISTINCT FROM OLD.chat_id
               OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
                RAISE EXCEPTION 'the input of message % cannot change', OLD.id
                    USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END $$"""
    )
    op.execute(
        f"""CREATE TRIGGER messages_guard_update BEFORE UPDATE ON {S}.messages
            FOR EACH ROW EXECUTE FUNCTION {S}.guard_message_update()"""
    )
    create_outbox(S)


def downgrade() -> None:
    drop_outbox(S)
    op.drop_table("messages", schema=S)
    op.drop_table("chats", schema=S)
    op.execute(f"DROP FUNCTION {S}.guard_message_update()")
    op.execute(f"DROP TYPE {S}.message_status")
