"""Who may do what to a user: 404 for what you may not see, 403 for what you may not do."""

import uuid
from datetime import UTC, datetime

import pytest

from contracts.enums import Role
from contracts.rpc import Actor
from servicekit.errors import Forbidden, NotFound
from users_service.users import policy

NOW = datetime.now(UTC)


def actor(role: Role) -> Actor:
    return Actor(id=uuid.uuid4(), role=role)


def test_customers_see_only_themselves() -> None:
    me = actor(Role.CUSTOMER)
    assert policy.can_see(me, me.id, None)
    assert not policy.can_see(me, uuid.uuid4(), None)


def test_staff_see_live_users_and_only_admins_see_deleted_ones() -> None:
    target = uuid.uuid4()
    assert policy.can_see(actor(Role.AGENT), target, None)
    assert not policy.can_see(actor(Role.AGENT), target, NOW)
    assert policy.can_see(actor(Role.ADMIN), target, NOW)
    me = actor(Role.CUSTOMER)
    assert not policy.can_see(me, me.id, NOW)
    with pytest.raises(NotFound):
        policy.check_visible(me, uuid.uuid4(), None)


@pytest.mark.parametrize("role", [Role.AGENT, Role.ADMIN])
def test_only_admins_create_staff(role: Role) -> None:
    for creator in (None, actor(Role.CUSTOMER), actor(Role.AGENT)):
        with pytest.raises(Forbidden):
            policy.check_create(creator, role)
    policy.check_create(actor(Role.ADMIN), role)
    policy.check_create(None, Role.CUSTOMER)
    policy.check_create(None, None)


def test_updates() -> None:
    me = actor(Role.CUSTOMER)
    policy.check_update(me, me.id, {"full_name", "email", "password"})
    with pytest.raises(Forbidden):
        policy.check_update(me, me.id, {"role"})
    with pytest.raises(Forbidden):
        policy.check_update(actor(Role.AGENT), me.id, {"full_name"})
    policy.check_update(actor(Role.ADMIN), me.id, {"role"})


def test_deletes() -> None:
    me = actor(Role.CUSTOMER)
    policy.check_delete(me, me.id, hard=False)
    with pytest.raises(Forbidden):
        policy.check_delete(me, me.id, hard=True)
    with pytest.raises(Forbidden):
        policy.check_delete(actor(Role.AGENT), me.id, hard=False)
    policy.check_delete(actor(Role.ADMIN), me.id, hard=True)


def test_listing() -> None:
    with pytest.raises(Forbidden):
        policy.check_list(actor(Role.CUSTOMER), include_deleted=False)
    policy.check_list(actor(Role.AGENT), include_deleted=False)
    with pytest.raises(Forbidden):
        policy.check_list(actor(Role.AGENT), include_deleted=True)
    policy.check_list(actor(Role.ADMIN), include_deleted=True)
