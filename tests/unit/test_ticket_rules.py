"""The ticket workflow and who may touch a ticket: pure rules."""

import itertools
import uuid

import pytest

from contracts.enums import Role, TicketStatus
from contracts.rpc import Actor
from servicekit.errors import Forbidden, NotFound
from ticket_service.tickets import policy
from ticket_service.tickets.errors import InvalidTransition
from ticket_service.tickets.workflow import check_transition

S = TicketStatus
ALLOWED = {
    (S.OPEN, S.IN_PROGRESS),
    (S.OPEN, S.RESOLVED),
    (S.IN_PROGRESS, S.OPEN),
    (S.IN_PROGRESS, S.RESOLVED),
    (S.RESOLVED, S.OPEN),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_every_pair_of_statuses(current: TicketStatus, target: TicketStatus) -> None:
    if current == target:
        assert check_transition(current, target) is False, "the same status is a no-op"
    elif (current, target) in ALLOWED:
        assert check_transition(current, target) is True
    else:
        with pytest.raises(InvalidTransition):
            check_transition(current, target)


def actor(role: Role) -> Actor:
    return Actor(id=uuid.uuid4(), role=role)


def test_owners_and_staff_read_others_do_not() -> None:
    owner = actor(Role.CUSTOMER)
    policy.check_read(owner, owner.id)
    policy.check_read(actor(Role.AGENT), owner.id)
    with pytest.raises(NotFound):
        policy.check_read(actor(Role.CUSTOMER), owner.id)


def test_only_staff_change() -> None:
    owner = actor(Role.CUSTOMER)
    with pytest.raises(Forbidden):
        policy.check_change(owner, owner.id)
    with pytest.raises(NotFound):
        policy.check_change(actor(Role.CUSTOMER), owner.id)
    policy.check_change(actor(Role.AGENT), owner.id)
    policy.check_change(actor(Role.ADMIN), owner.id)


def test_listing_scope() -> None:
    me = actor(Role.CUSTOMER)
    assert policy.listed_owner(me, None) == me.id
    assert policy.listed_owner(me, me.id) == me.id
    with pytest.raises(Forbidden):
        policy.listed_owner(me, uuid.uuid4())
    anyone = uuid.uuid4()
    assert policy.listed_owner(actor(Role.AGENT), anyone) == anyone
    assert policy.listed_owner(actor(Role.ADMIN), None) is None
