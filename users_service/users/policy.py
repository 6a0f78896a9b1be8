"""Who may do what to a user. Pure functions: no database, no I/O.

A user that exists but is not the caller's to see answers 404 (as if it did not exist); an
action the caller's role may not take on a user they can see answers 403.
"""

import uuid
from datetime import datetime

from contracts.enums import STAFF, Role
from contracts.rpc import Actor
from servicekit.errors import Forbidden, NotFound


def can_see(actor: Actor, user_id: uuid.UUID, deleted_at: datetime | None) -> bool:
    """Self and staff see live users; only admins see soft-deleted ones."""
    if actor.role == Role.ADMIN:
        return True
    if deleted_at is not None:
        return False
    return actor.id == user_id or actor.role in STAFF


def check_visible(actor: Actor, user_id: uuid.UUID, deleted_at: datetime | None) -> None:
    if not can_see(actor, user_id, deleted_at):
        raise NotFound("user not found")


def check_create(actor: Actor | None, role: Role | None) -> None:
    """Anyone signs up as a customer; only an admin creates staff."""
    if role not in (None, Role.CUSTOMER) and (actor is None or actor.role != Role.ADMIN):
        raise Forbidden("only an admin may create agents or admins")


def check_update(actor: Actor, user_id: uuid.UUID, fields: set[str]) -> None:
    """Self edits own profile (not role); an admin edits anyone. Call after check_visible."""
    if actor.role == Role.ADMIN:
        return
    if actor.id != user_id:
        raise Forbidden("only an admin may change another user")
    if "role" in fields:
        raise Forbidden("only an admin may change a role")


def check_delete(actor: Actor, user_id: uuid.UUID, *, hard: bool) -> None:
    """Self or admin soft-deletes; only an admin hard-deletes. Call after check_visible."""
    if actor.role == Role.ADMIN:
        return
    if hard:
        raise Forbidden("only an admin may delete a user for good")
    if actor.id != user_id:
        raise Forbidden("only an admin may delete another user")


def check_list(actor: Actor, *, include_deleted: bool) -> None:
    if actor.role not in STAFF:
        raise Forbidden("only agents and admins may list users")
    if include_deleted and actor.role != Role.ADMIN:
        raise Forbidden("only admins may list deleted users")


def check_admin(actor: Actor) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden("only an admin may do this")
