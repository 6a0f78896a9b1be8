"""The ticket workflow: which status may follow which. Pure rules."""

from contracts.enums import TicketStatus
from ticket_service.tickets.errors import InvalidTransition

OPEN, IN_PROGRESS, RESOLVED = TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    OPEN: frozenset({IN_PROGRESS, RESOLVED}),
    IN_PROGRESS: frozenset({OPEN, RESOLVED}),
    RESOLVED: frozenset({OPEN}),  # reopen
}


def check_transition(current: TicketStatus, target: TicketStatus) -> bool:
    """True if the status changes, False for the same status (a no-op); raise if not allowed."""
    if current == target:
        return False
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"a ticket cannot go from {current} to {target}")
    return True
