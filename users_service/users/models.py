"""The table of users."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Enum, Index, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from contracts.enums import Role
from users_service.schema import SCHEMA, Base
from users_service.users.search import words_of

role_enum = Enum(
    Role, name="user_role", schema=SCHEMA, values_callable=lambda roles: [r.value for r in roles]
)


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
        # Words make a search by a term with inner words fast at any size (users/search.py).
        Index("ix_users_email_words", words_of(email), postgresql_using="gin"),
        Index("ix_users_full_name_words", words_of(full_name), postgresql_using="gin"),
    )
