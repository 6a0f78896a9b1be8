"""Tickets (one per message), their history, and the outbox.

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

S = "tickets"
ENUMS = {
    "issue_type": (
        "wrong_reference",
        "bad_prompt",
        "ui_error",
        "incorrect_answer",
        "harmful_content",
        "other",
    ),
    "ticket_status": ("open", "in_progress", "resolved"),
    "priority": ("low", "normal", "high", "urgent"),
}


def _enum(name: str) -> postgresql.ENUM:
    return postgresql.ENUM(name=name, schema=S, create_type=False)


def upgrade() -> None:
    for name, values in ENUMS.items():
        postgresql.ENUM(*values, name=name, schema=S).create(op.get_bind(), checkfirst=True)
    now = sa.text("now()")
    op.create_table(
        "tickets",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("reporter_id", sa.Uuid(), nullable=False),
        sa.Column("issue_type", _enum("issue_type"), nullable=False),
        sa.Column("status", _enum("ticket_status"), server_default="open", nullable=False),
        sa.Column("priority", _enum("priority"), server_default="normal", nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        # One ticket per message, enforced where races cannot get past it.
        sa.UniqueConstraint("message_id", name="uq_tickets_message_id"),
        sa.CheckConstraint(
            "(status = 'resolved') = (resolved_at IS NOT NULL)", name="ck_tickets_resolved_at"
        ),
        schema=S,
    )
    for name, columns in {
        "ix_tickets_created_at": "created_at DESC, id DESC",
        "ix_tickets_status": "status, created_at DESC, id DESC",
        "ix_tickets_user_id": "user_id, created_at DESC, id DESC",
        "ix_tickets_assignee_id": "assignee_id, created_at DESC, id DESC",
    }.items():
        op.execute(f"CREATE INDEX {name} ON {S}.tickets ({columns})")
    op.execute(
        f"""CREATE FUNCTION {S}.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN NEW.updated_at = now(); RETURN NEW; END $$"""
    )
    op.execute(
        f"""CREATE TRIGGER tickets_touch_updated_at BEFORE UPDATE ON {S}.tickets
            FOR EACH ROW EXECUTE FUNCTION {S}.touch_updated_at()"""
    )
    op.create_table(
        "ticket_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("field", sa.Text(), nullable=False),
        sa.Column("from_value", sa.Text(), nullable=True),
        sa.Column("to_value", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            [f"{S}.tickets.id"],
            ondelete="CASCADE",
            name="fk_ticket_history_ticket_id_tickets",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_history"),
        schema=S,
    )
    op.create_index("ix_ticket_history_ticket_id", "ticket_history", ["ticket_id", "id"], schema=S)
    create_outbox(S)


def downgrade() -> None:
    drop_outbox(S)
    op.drop_table("ticket_history", schema=S)
    op.drop_table("tickets", schema=S)
    op.execute(f"DROP FUNCTION {S}.touch_updated_at()")
    for name in ENUMS:
        op.execute(f"DROP TYPE {S}.{name}")
