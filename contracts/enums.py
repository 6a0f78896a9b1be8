"""Enumerations shared by the services and their clients."""

from enum import StrEnum


class Role(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    ADMIN = "admin"


STAFF = frozenset({Role.AGENT, Role.ADMIN})
"""Roles that work on other people's chats and tickets."""


class ErrorCode(StrEnum):
    """Stable machine words for errors; the gateway maps each to an HTTP status."""

    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    TICKET_EXISTS = "ticket_exists"
    INVALID_TRANSITION = "invalid_transition"
    VALIDATION = "validation_error"
    INVALID_CURSOR = "invalid_cursor"
    """A page cursor the API did not hand out (422)."""
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UNAVAILABLE = "service_unavailable"
    INTERNAL = "internal_error"


class MessageStatus(StrEnum):
    PENDING = "pending"
    SEALED = "sealed"
    FAILED = "failed"


class IssueType(StrEnum):
    WRONG_REFERENCE = "wrong_reference"
    BAD_PROMPT = "bad_prompt"
    UI_ERROR = "ui_error"
    INCORRECT_ANSWER = "incorrect_answer"
    HARMFUL_CONTENT = "harmful_content"
    OTHER = "other"


class TicketStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"
