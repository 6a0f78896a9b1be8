"""Who may do what in a chat. Pure functions: no database, no I/O.

Customers see their own chats; agents and admins see everyone's. A chat the caller may not
see answers 404; an action their role may not take in a chat they can see answers 403.
"""

import uuid

from contracts.enums import STAFF, Role
from contracts.rpc import Actor
from servicekit.errors import Forbidden, NotFound


def check_read(actor: Actor, owner_id: uuid.UUID) -> None:
    if actor.id != owner_id and actor.role not in STAFF:
        raise NotFound("chat not found")


def check_post(actor: Actor, owner_id: uuid.UUID) -> None:
    """Only the chat's owner talks to the assistant in it."""
    check_read(actor, owner_id)
    if actor.id != owner_id:
        raise Forbidden("only the chat's owner may post in it")


def check_retry(actor: Actor, owner_id: uuid.UUID) -> None:
    check_read(actor, owner_id)
    if actor.id != owner_id and actor.role != Role.ADMIN:
        raise Forbidden("only the chat's owner or an admin may retry a message")


def listed_owner(actor: Actor, user_id: uuid.UUID | None) -> uuid.UUID | None:
    """Whose chats a listing shows: a customer's own; staff any user's (or all)."""
    if actor.role in STAFF:
        return user_id
    if user_id not in (None, actor.id):
        raise Forbidden("customers may list only their own chats")
    return actor.id
