"""Tables of the ``users`` schema."""

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Enum,
    ForeignKey,
    Identity,
    Index,
    LargeBinary,
    Text,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from contracts.enums import Role
from servicekit.db import schema_metadata
from servicekit.outbox import outbox_table
from users_service.search import words_of

SCHEMA = "users"
metadata = schema_metadata(SCHEMA)
outbox = outbox_table(metadata)
role_enum = Enum(
    Role, name="user_role", schema=SCHEMA, values_callable=lambda roles: [r.value for r in roles]
)


class Base(DeclarativeBase):
    metadata = metadata


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    email: Mapped[str] = mapped_column(Text)
    full_name: Mapped[str] = mapped_column(Text)
    role: Mapped[Role] = mapped_column(role_enum)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_users_email_lower", func.lower(email), unique=True),
        Index("ix_users_created_at_id", created_at.desc(), id.desc()),
        # Trigram indexes make ``ILIKE '%q%'`` on a million rows an index scan.
        Index(
            "ix_users_email_trgm",
            email,
            postgresql_using="gin",
            postgresql_ops={"email": "gin_trgm_ops"},
        ),
        Index(
            "ix_users_full_name_trgm",
            full_name,
            postgresql_using="gin",
            postgresql_ops={"full_name": "gin_trgm_ops"},
        ),
        # Words make a search by a term with inner words fast at any size (users_service.search).
        Index("ix_users_email_words", words_of(email), postgresql_using="gin"),
        Index("ix_users_full_name_words", words_of(full_name), postgresql_using="gin"),
    )


class RefreshToken(Base):
    """A refresh token, stored as its SHA-256; rotation spends it, reuse revokes its family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SessionRevocation(Base):
    """From ``revoked_at`` on, the user's earlier access tokens are void (no FK: it outlives
    a hard delete, whose tokens must die too)."""

    __tablename__ = "session_revocations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column()
    revoked_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
