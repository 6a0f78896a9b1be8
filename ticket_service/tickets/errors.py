"""Errors of the ticket domain."""

from contracts.enums import ErrorCode
from servicekit.errors import DomainError


class TicketAlreadyExists(DomainError):
    """A message has at most one ticket; ``ticket_id`` names the one it has."""

    code = ErrorCode.TICKET_EXISTS


class InvalidTransition(DomainError):
    code = ErrorCode.INVALID_TRANSITION
