"""Who may do what with tickets. Pure functions: no database, no I/O.

Customers see tickets on their own messages; agents and admins see all. Only agents and admins
change a ticket. Not visible answers 404; visible but not allowed answers 403.
"""

import uuid

from contracts.enums import STAFF
from contracts.rpc import Actor
from servicekit.errors import Forbidden, NotFound


def check_read(actor: Actor, owner_id: uuid.UUID) -> None:
    if actor.id != owner_id and actor.role not in STAFF:
        raise NotFound("ticket not found")


def check_change(actor: Actor, owner_id: uuid.UUID) -> None:
    check_read(actor, owner_id)
    if actor.role not in STAFF:
        raise Forbidden("only agents and admins change tickets")


def check_staff(actor: Actor) -> None:
    if actor.role not in STAFF:
        raise Forbidden("only agents and admins may do this")


def listed_owner(actor: Actor, user_id: uuid.UUID | None) -> uuid.UUID | None:
    """Whose tickets a listing shows: a customer's own; staff anyone's."""
    if actor.role in STAFF:
        return user_id
    if user_id not in (None, actor.id):
        raise Forbidden("customers may list only their own tickets")
    return actor.id
