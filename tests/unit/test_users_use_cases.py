"""The users service's use cases, called as the bus calls them (``InProcessRpc``: each command
encoded, decoded and answered as the RPC server does it) in units of work kept in memory
(``unit.fakes.users``): the rules a user of the API would notice, and the events every change
publishes. Argon2 keeps its rules with the least work it allows, so the whole file takes a
moment; ``tests/integration`` runs the same rules on Postgres and RabbitMQ."""

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

import jwt
import pytest
from argon2 import PasswordHasher
from pydantic import BaseModel

from contracts.auth import (
    ListRevocations,
    Login,
    Logout,
    Refresh,
    Revocations,
    TokenPair,
    microseconds,
)
from contracts.base import Command, Event
from contracts.enums import ErrorCode, Role
from contracts.rpc import Actor, ErrorReply, Page
from contracts.users import (
    CreateUser,
    DeleteUser,
    GetUser,
    ListUsers,
    RestoreUser,
    SessionsRevoked,
    UpdateUser,
    UserCreate,
    UserCreated,
    UserDeleted,
    UserPublic,
    UserUpdate,
    UserUpdated,
)
from gateway.problems import Unauthenticated
from gateway.revocations import RevocationList
from gateway.security import TokenVerifier
from gateway.settings import GatewaySettings
from servicekit.rpc_client import RemoteError, RpcClient
from servicekit.testing import InProcessRpc
from support.cursors import NOT_OUR_CURSORS
from unit.fakes.users import FakeUsersUnitOfWork, UsersStore, cheap_passwords
from users_service.auth.passwords import Passwords
from users_service.bootstrap import USE_CASES
from users_service.settings import UsersSettings
from users_service.users.use_cases import ensure_user

SETTINGS = UsersSettings(_env_file=None, jwt_secret="unit-tests-secret-0123456789abcdef")
PASSWORD = "Password-123"
NEW_PASSWORD = "Another-pass-2"
ADMIN_EMAIL = "admin@example.com"
M = TypeVar("M", bound=BaseModel)
Users = Page[UserPublic]


@dataclass(frozen=True)
class Person:
    user: UserPublic
    actor: Actor
    tokens: TokenPair

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


class Service:
    """The users service in this process, on one in-memory store."""

    def __init__(self) -> None:
        self.store = UsersStore()
        self.passwords = cheap_passwords()
        self.rpc = InProcessRpc()
        self.rpc.serve(USE_CASES, self.unit_of_work)
        self._emails = 0

    def unit_of_work(self) -> FakeUsersUnitOfWork:
        return FakeUsersUnitOfWork(self.store, SETTINGS, self.passwords)

    async def ok(self, command: Command, model: type[M]) -> M:
        return model.model_validate_json(await self.rpc.call(command))

    async def done(self, command: Command) -> None:
        assert await self.rpc.call(command) == b""

    async def refused(self, command: Command) -> ErrorReply:
        with pytest.raises(RemoteError) as raised:
            await self.rpc.call(command)
        return raised.value.reply

    def events(self) -> list[Event]:
        """The events published since the last look."""
        taken = list(self.store.published)
        self.store.published.clear()
        return taken

    def email(self) -> str:
        self._emails += 1
        return f"user-{self._emails}@example.com"

    async def login(self, email: str, password: str = PASSWORD) -> TokenPair:
        return await self.ok(Login(email=email, password=password), TokenPair)

    async def sign_up(
        self,
        email: str | None = None,
        *,
        role: Role | None = None,
        by: Person | None = None,
        full_name: str = "Ada Lovelace",
    ) -> Person:
        data = UserCreate(
            email=email or self.email(), password=PASSWORD, full_name=full_name, role=role
        )
        user = await self.ok(CreateUser(actor=by and by.actor, data=data), UserPublic)
        tokens = await self.login(user.email)
        self.events()
        return Person(user, Actor(id=user.id, role=user.role), tokens)

    async def admin(self) -> Person:
        """The bootstrap admin, as the service creates it at start."""
        created = await ensure_user(
            self.unit_of_work(),
            email=ADMIN_EMAIL,
            password=PASSWORD,
            full_name="Administrator",
            role=Role.ADMIN,
        )
        assert created
        user = next(e for e in self.events() if isinstance(e, UserCreated))
        public = UserPublic(**user.model_dump())
        return Person(public, Actor(id=user.id, role=Role.ADMIN), await self.login(ADMIN_EMAIL))

    async def get(self, person: Person, user_id: uuid.UUID) -> UserPublic:
        return await self.ok(GetUser(actor=person.actor, user_id=user_id), UserPublic)

    async def update(self, person: Person, user_id: uuid.UUID, **fields: Any) -> UserPublic:
        command = UpdateUser(
            actor=person.actor, user_id=user_id, data=UserUpdate(**fields), fields=sorted(fields)
        )
        return await self.ok(command, UserPublic)

    async def update_refused(self, person: Person, user_id: uuid.UUID, **fields: Any) -> ErrorReply:
        command = UpdateUser(
            actor=person.actor, user_id=user_id, data=UserUpdate(**fields), fields=sorted(fields)
        )
        return await self.refused(command)

    async def list_users(self, person: Person, **query: Any) -> Users:
        return await self.ok(ListUsers(actor=person.actor, **query), Users)


@dataclass(frozen=True)
class World:
    service: Service
    admin: Person
    agent: Person
    customer: Person


@pytest.fixture
async def world() -> World:
    service = Service()
    admin = await service.admin()
    agent = await service.sign_up(role=Role.AGENT, by=admin, full_name="Grace Hopper")
    customer = await service.sign_up(full_name="Alan Turing")
    assert service.events() == []
    return World(service, admin, agent, customer)


def problem(reply: ErrorReply) -> tuple[ErrorCode, str]:
    return reply.code, reply.detail


USER_NOT_FOUND = (ErrorCode.NOT_FOUND, "user not found")
BAD_CREDENTIALS = (ErrorCode.UNAUTHORIZED, "wrong email or password")
BAD_REFRESH = (ErrorCode.UNAUTHORIZED, "refresh token is invalid, expired, spent or revoked")
EMAIL_TAKEN = (ErrorCode.CONFLICT, "a user with this email already exists")


# Sign-up and creation


async def test_sign_up_makes_a_customer_and_publishes_it(world: World) -> None:
    service = world.service
    data = UserCreate(email="Ada@Example.com", password=PASSWORD, full_name="  Ada  ")
    user = await service.ok(CreateUser(actor=None, data=data), UserPublic)
    assert (user.role, user.full_name, user.deleted_at) == (Role.CUSTOMER, "Ada", None)
    assert user.created_at == user.updated_at
    assert service.events() == [UserCreated(**user.model_dump())]
    assert await service.get(world.admin, user.id) == user
    assert (await service.login("ada@example.com")).token_type == "bearer"


@pytest.mark.parametrize("role", [Role.AGENT, Role.ADMIN])
async def test_only_admins_create_staff(world: World, role: Role) -> None:
    service = world.service
    for creator in (None, world.customer, world.agent):
        data = UserCreate(email=service.email(), password=PASSWORD, full_name="X", role=role)
        reply = await service.refused(CreateUser(actor=creator and creator.actor, data=data))
        assert problem(reply) == (ErrorCode.FORBIDDEN, "only an admin may create agents or admins")
    assert service.events() == []
    data = UserCreate(email=service.email(), password=PASSWORD, full_name="Staff", role=role)
    staff = await service.ok(CreateUser(actor=world.admin.actor, data=data), UserPublic)
    assert staff.role == role
    assert service.events() == [UserCreated(**staff.model_dump())]
    claims = jwt.decode(
        (await service.login(staff.email)).access_token, options={"verify_signature": False}
    )
    assert claims["role"] == role.value


async def test_a_taken_email_answers_409_whatever_its_case(world: World) -> None:
    service = world.service
    for email in (world.customer.user.email.upper(), world.customer.user.email):
        data = UserCreate(email=email, password=PASSWORD, full_name="Twin")
        reply = await service.refused(CreateUser(actor=None, data=data))
        assert problem(reply) == EMAIL_TAKEN
    assert service.events() == []
    listed = await service.list_users(world.admin, include_total=True)
    assert listed.total == 3


async def test_the_bootstrap_admin_is_created_once(world: World) -> None:
    service = world.service
    again = await ensure_user(
        service.unit_of_work(),
        email=ADMIN_EMAIL.upper(),
        password=PASSWORD,
        full_name="Another",
        role=Role.ADMIN,
    )
    assert again is False
    assert service.events() == []
    assert world.admin.user.role == Role.ADMIN


# Reading a user


async def test_self_and_staff_see_a_user_others_do_not(world: World) -> None:
    service, customer = world.service, world.customer
    for viewer in (customer, world.agent, world.admin):
        assert (await service.get(viewer, customer.id)).email == customer.user.email
    other = await service.sign_up()
    reply = await service.refused(GetUser(actor=other.actor, user_id=customer.id))
    assert problem(reply) == USER_NOT_FOUND
    reply = await service.refused(GetUser(actor=world.admin.actor, user_id=uuid.uuid4()))
    assert problem(reply) == USER_NOT_FOUND
    assert service.events() == []


async def test_a_soft_deleted_user_is_seen_by_admins_only(world: World) -> None:
    service, customer = world.service, world.customer
    await service.done(DeleteUser(actor=customer.actor, user_id=customer.id))
    service.events()
    for viewer in (customer, world.agent):
        reply = await service.refused(GetUser(actor=viewer.actor, user_id=customer.id))
        assert problem(reply) == USER_NOT_FOUND
    assert (await service.get(world.admin, customer.id)).deleted_at is not None


# Updates


async def test_a_user_updates_their_own_profile(world: World) -> None:
    service, customer = world.service, world.customer
    before = customer.user
    after = await service.update(customer, customer.id, full_name="Alan M. Turing")
    assert after.full_name == "Alan M. Turing"
    assert (after.email, after.role, after.created_at) == (
        before.email,
        before.role,
        before.created_at,
    )
    assert after.updated_at > before.updated_at
    assert service.events() == [UserUpdated(**after.model_dump())]
    assert await service.get(customer, customer.id) == after


async def test_the_same_values_again_change_nothing_but_are_recorded(world: World) -> None:
    service, customer = world.service, world.customer
    after = await service.update(customer, customer.id, full_name=customer.user.full_name)
    assert after == customer.user, "updated_at stays when no value differs"
    assert service.events() == [UserUpdated(**after.model_dump())]
    nothing = UpdateUser(actor=customer.actor, user_id=customer.id, data=UserUpdate(), fields=[])
    assert await service.ok(nothing, UserPublic) == customer.user
    assert service.events() == []


async def test_nobody_changes_their_own_role(world: World) -> None:
    service = world.service
    for person in (world.customer, world.agent):
        reply = await service.update_refused(person, person.id, role=Role.ADMIN)
        assert problem(reply) == (ErrorCode.FORBIDDEN, "only an admin may change a role")
    assert service.events() == []


async def test_only_admins_change_others(world: World) -> None:
    service, customer = world.service, world.customer
    other = await service.sign_up()
    reply = await service.update_refused(other, customer.id, full_name="X")
    assert problem(reply) == USER_NOT_FOUND
    reply = await service.update_refused(world.agent, customer.id, full_name="X")
    assert problem(reply) == (ErrorCode.FORBIDDEN, "only an admin may change another user")
    reply = await service.update_refused(world.customer, uuid.uuid4(), full_name="X")
    assert problem(reply) == USER_NOT_FOUND
    assert service.events() == []
    renamed = await service.update(world.admin, customer.id, full_name="By the admin")
    assert renamed.full_name == "By the admin"
    assert service.events() == [UserUpdated(**renamed.model_dump())]


async def test_an_email_someone_has_answers_409(world: World) -> None:
    service, customer = world.service, world.customer
    taken = world.agent.user.email.upper()
    reply = await service.update_refused(customer, customer.id, email=taken)
    assert problem(reply) == EMAIL_TAKEN
    assert service.events() == []
    assert await service.get(customer, customer.id) == customer.user
    mine = await service.update(customer, customer.id, email="Alan@Example.org")
    assert mine.email == "Alan@example.org"  # the domain of an address is lowercased
    assert service.events() == [UserUpdated(**mine.model_dump())]


async def test_a_new_password_ends_every_session(world: World) -> None:
    service, customer = world.service, world.customer
    after = await service.update(customer, customer.id, password=NEW_PASSWORD)
    revoked, updated = service.events()
    assert updated == UserUpdated(**after.model_dump())
    assert isinstance(revoked, SessionsRevoked) and revoked.user_id == customer.id
    assert revoked.revoked_at > after.updated_at, "the insert's moment, not the transaction's"
    reply = await service.refused(Login(email=customer.user.email, password=PASSWORD))
    assert problem(reply) == BAD_CREDENTIALS
    reply = await service.refused(Refresh(refresh_token=customer.tokens.refresh_token))
    assert problem(reply) == BAD_REFRESH, "the refresh tokens issued before are revoked"
    await service.login(customer.user.email, NEW_PASSWORD)
    assert service.events() == []


async def test_a_new_role_ends_access_tokens_but_not_sessions(world: World) -> None:
    service, customer = world.service, world.customer
    promoted = await service.update(world.admin, customer.id, role=Role.AGENT)
    assert promoted.role == Role.AGENT
    revoked, updated = service.events()
    assert updated == UserUpdated(**promoted.model_dump())
    assert isinstance(revoked, SessionsRevoked) and revoked.user_id == customer.id
    assert revoked.revoked_at > promoted.updated_at
    pair = await service.ok(Refresh(refresh_token=customer.tokens.refresh_token), TokenPair)
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    assert claims["role"] == "agent", "the next access token carries the new role"
    again = await service.update(world.admin, customer.id, role=Role.AGENT)
    assert again == promoted
    assert [type(e) for e in service.events()] == [SessionsRevoked, UserUpdated]


# Listing and searching


async def test_only_staff_list_and_only_admins_list_deleted_users(world: World) -> None:
    service = world.service
    reply = await service.refused(ListUsers(actor=world.customer.actor))
    assert problem(reply) == (ErrorCode.FORBIDDEN, "only agents and admins may list users")
    reply = await service.refused(ListUsers(actor=world.agent.actor, include_deleted=True))
    assert problem(reply) == (ErrorCode.FORBIDDEN, "only admins may list deleted users")
    await service.done(DeleteUser(actor=world.customer.actor, user_id=world.customer.id))
    live = await service.list_users(world.agent)
    assert [u.id for u in live.items] == [world.agent.id, world.admin.id]
    every = await service.list_users(world.admin, include_deleted=True)
    assert [u.id for u in every.items] == [world.customer.id, world.agent.id, world.admin.id]
    service.events()


async def test_search_role_filter_pages_and_total(world: World) -> None:
    service = world.service
    adas = [await service.sign_up(f"ada-{i}@example.com", full_name="Ada") for i in range(5)]
    found = await service.list_users(world.agent, q="ADA-", include_total=True)
    assert found.total == 5
    assert [u.id for u in found.items] == [p.id for p in reversed(adas)], "newest first"
    by_name = await service.list_users(world.agent, q="turing")
    assert [u.id for u in by_name.items] == [world.customer.id]
    agents = await service.list_users(world.admin, role=Role.AGENT)
    assert [u.id for u in agents.items] == [world.agent.id]
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await service.list_users(world.agent, q="ada", limit=2, cursor=cursor)
        seen += [u.id for u in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [p.id for p in reversed(adas)]
    assert (await service.list_users(world.agent, q="ada")).total is None, "only when asked"
    assert service.events() == []


@pytest.mark.parametrize("cursor", NOT_OUR_CURSORS)
async def test_a_cursor_we_did_not_make_answers_invalid_cursor(world: World, cursor: str) -> None:
    reply = await world.service.refused(ListUsers(actor=world.agent.actor, cursor=cursor))
    assert problem(reply) == (ErrorCode.INVALID_CURSOR, "cursor is not one this API returned")
    assert [error.loc for error in reply.errors] == [["query", "cursor"]]


# Deleting and restoring


async def test_a_soft_deleted_user_cannot_log_in_and_nothing_happens_twice(world: World) -> None:
    service, customer = world.service, world.customer
    await service.done(DeleteUser(actor=customer.actor, user_id=customer.id))
    revoked, deleted = service.events()
    assert deleted == UserDeleted(user_id=customer.id, hard=False)
    assert isinstance(revoked, SessionsRevoked) and revoked.user_id == customer.id
    reply = await service.refused(Login(email=customer.user.email, password=PASSWORD))
    assert problem(reply) == BAD_CREDENTIALS
    reply = await service.refused(Refresh(refresh_token=customer.tokens.refresh_token))
    assert problem(reply) == BAD_REFRESH
    await service.done(DeleteUser(actor=world.admin.actor, user_id=customer.id))
    assert service.events() == [], "already soft-deleted: nothing happens twice"
    reply = await service.refused(DeleteUser(actor=customer.actor, user_id=customer.id))
    assert problem(reply) == USER_NOT_FOUND, "a deleted user no longer sees themselves"


async def test_who_may_delete(world: World) -> None:
    service, customer = world.service, world.customer
    other = await service.sign_up()
    reply = await service.refused(DeleteUser(actor=other.actor, user_id=customer.id))
    assert problem(reply) == USER_NOT_FOUND
    reply = await service.refused(DeleteUser(actor=world.agent.actor, user_id=customer.id))
    assert problem(reply) == (ErrorCode.FORBIDDEN, "only an admin may delete another user")
    reply = await service.refused(DeleteUser(actor=customer.actor, user_id=customer.id, hard=True))
    assert problem(reply) == (ErrorCode.FORBIDDEN, "only an admin may delete a user for good")
    reply = await service.refused(DeleteUser(actor=world.admin.actor, user_id=uuid.uuid4()))
    assert problem(reply) == USER_NOT_FOUND
    assert service.events() == []
    assert (await service.get(customer, customer.id)).deleted_at is None


async def test_a_hard_delete_erases_the_user(world: World) -> None:
    service, customer = world.service, world.customer
    await service.done(DeleteUser(actor=world.admin.actor, user_id=customer.id, hard=True))
    revoked, deleted = service.events()
    assert deleted == UserDeleted(user_id=customer.id, hard=True)
    assert isinstance(revoked, SessionsRevoked) and revoked.user_id == customer.id
    reply = await service.refused(GetUser(actor=world.admin.actor, user_id=customer.id))
    assert problem(reply) == USER_NOT_FOUND
    reply = await service.refused(Login(email=customer.user.email, password=PASSWORD))
    assert problem(reply) == BAD_CREDENTIALS
    reply = await service.refused(Refresh(refresh_token=customer.tokens.refresh_token))
    assert problem(reply) == BAD_REFRESH
    again = await service.sign_up(customer.user.email)
    assert again.id != customer.id, "a hard-deleted user's email is free again"


async def test_a_soft_deleted_user_is_hard_deleted_too(world: World) -> None:
    service, customer = world.service, world.customer
    await service.done(DeleteUser(actor=customer.actor, user_id=customer.id))
    service.events()
    await service.done(DeleteUser(actor=world.admin.actor, user_id=customer.id, hard=True))
    assert service.events()[-1] == UserDeleted(user_id=customer.id, hard=True)


async def test_restore_brings_a_user_back(world: World) -> None:
    service, customer = world.service, world.customer
    await service.done(DeleteUser(actor=world.admin.actor, user_id=customer.id))
    service.events()
    reply = await service.refused(RestoreUser(actor=world.agent.actor, user_id=customer.id))
    assert problem(reply) == USER_NOT_FOUND, "an agent does not see a deleted user"
    reply = await service.refused(RestoreUser(actor=world.admin.actor, user_id=uuid.uuid4()))
    assert problem(reply) == USER_NOT_FOUND
    restored = await service.ok(
        RestoreUser(actor=world.admin.actor, user_id=customer.id), UserPublic
    )
    assert restored.deleted_at is None
    assert service.events() == [UserUpdated(**restored.model_dump())]
    await service.login(customer.user.email)
    again = await service.ok(RestoreUser(actor=world.admin.actor, user_id=customer.id), UserPublic)
    assert again == restored
    assert service.events() == [], "a live user: nothing to restore"
    reply = await service.refused(RestoreUser(actor=world.agent.actor, user_id=customer.id))
    assert problem(reply) == (ErrorCode.FORBIDDEN, "only an admin may do this")


# Logging in, refreshing, logging out


async def test_login_answers_a_token_pair_for_the_user(world: World) -> None:
    service, customer = world.service, world.customer
    pair = await service.login(f"  {customer.user.email.upper()} ")
    assert (pair.token_type, pair.expires_in) == ("bearer", SETTINGS.access_token_ttl)
    claims = jwt.decode(
        pair.access_token,
        SETTINGS.jwt_secret,
        algorithms=["HS256"],
        audience=SETTINGS.jwt_audience,
        issuer=SETTINGS.jwt_issuer,
    )
    assert (claims["sub"], claims["role"]) == (str(customer.id), "customer")
    assert claims["exp"] - claims["iat"] == SETTINGS.access_token_ttl
    assert pair.refresh_token != customer.tokens.refresh_token
    assert service.events() == [], "logging in publishes nothing"


async def test_a_wrong_password_or_an_unknown_email_answer_401(world: World) -> None:
    service = world.service
    for email, password in (
        (world.customer.user.email, "Wrong-pass-9"),
        ("no@example.com", PASSWORD),
    ):
        reply = await service.refused(Login(email=email, password=password))
        assert problem(reply) == BAD_CREDENTIALS


async def test_a_hash_with_older_parameters_is_replaced_at_login(world: World) -> None:
    service, customer = world.service, world.customer
    service.passwords = cheap_passwords(time_cost=2)  # today's parameters, say
    before = service.store.state.users[customer.id].password_hash
    assert service.passwords.needs_rehash(before)
    await service.login(customer.user.email)
    after = service.store.state.users[customer.id].password_hash
    assert after != before and not service.passwords.needs_rehash(after)
    await service.login(customer.user.email)
    assert service.store.state.users[customer.id].password_hash == after
    assert service.events() == []


async def test_refresh_rotates_and_a_reused_token_revokes_its_family(world: World) -> None:
    service, customer = world.service, world.customer
    first = customer.tokens
    second = await service.ok(Refresh(refresh_token=first.refresh_token), TokenPair)
    assert second.refresh_token != first.refresh_token
    claims = jwt.decode(second.access_token, options={"verify_signature": False})
    assert claims["sub"] == str(customer.id)
    elsewhere = await service.login(customer.user.email)  # another session of the same user
    reply = await service.refused(Refresh(refresh_token=first.refresh_token))
    assert problem(reply) == BAD_REFRESH
    reply = await service.refused(Refresh(refresh_token=second.refresh_token))
    assert problem(reply) == BAD_REFRESH, "reuse means a leak: the whole chain is revoked"
    await service.ok(Refresh(refresh_token=elsewhere.refresh_token), TokenPair)
    assert service.events() == []


async def test_unknown_and_expired_refresh_tokens_answer_401(world: World) -> None:
    service, customer = world.service, world.customer
    reply = await service.refused(Refresh(refresh_token="nope"))
    assert problem(reply) == BAD_REFRESH
    service.store.clock.advance(SETTINGS.refresh_token_ttl + 1)
    reply = await service.refused(Refresh(refresh_token=customer.tokens.refresh_token))
    assert problem(reply) == BAD_REFRESH


async def test_logout_revokes_the_callers_refresh_token_only(world: World) -> None:
    service, customer = world.service, world.customer
    token = customer.tokens.refresh_token
    await service.done(Logout(actor=world.agent.actor, refresh_token=token))
    kept = await service.ok(Refresh(refresh_token=token), TokenPair)
    await service.done(Logout(actor=customer.actor, refresh_token=kept.refresh_token))
    await service.done(Logout(actor=customer.actor, refresh_token=kept.refresh_token))
    reply = await service.refused(Refresh(refresh_token=kept.refresh_token))
    assert problem(reply) == BAD_REFRESH
    assert service.events() == []


async def test_revocations_since_a_moment(world: World) -> None:
    service, customer, agent = world.service, world.customer, world.agent
    await service.done(DeleteUser(actor=customer.actor, user_id=customer.id))
    first = next(e for e in service.events() if isinstance(e, SessionsRevoked))
    await service.update(world.admin, agent.id, role=Role.CUSTOMER)
    second = next(e for e in service.events() if isinstance(e, SessionsRevoked))
    since_start = await service.ok(
        ListRevocations(since=first.revoked_at - timedelta(seconds=1)), Revocations
    )
    assert [(r.user_id, r.revoked_at) for r in since_start.items] == [
        (customer.id, first.revoked_at),
        (agent.id, second.revoked_at),
    ]
    later = await service.ok(ListRevocations(since=first.revoked_at), Revocations)
    assert [r.user_id for r in later.items] == [agent.id]


def _rev(pair: TokenPair) -> int:
    rev: int = jwt.decode(pair.access_token, options={"verify_signature": False})["rev"]
    return rev


def _revoked(service: Service) -> SessionsRevoked:
    """The one revocation among the events published since the last look."""
    (revoked,) = [e for e in service.events() if isinstance(e, SessionsRevoked)]
    return revoked


async def test_an_access_token_carries_its_users_newest_revocation(world: World) -> None:
    """``rev``: the user's newest session revocation as read with the user, at login and at
    refresh alike (0: none yet); a gateway refuses the token only for a newer one."""
    service, customer, admin = world.service, world.customer, world.admin
    assert _rev(customer.tokens) == 0
    await service.update(customer, customer.id, password=NEW_PASSWORD)
    first = _revoked(service)
    assert _rev(await service.login(customer.user.email, NEW_PASSWORD)) == microseconds(
        first.revoked_at
    )
    await service.update(admin, customer.id, role=Role.AGENT)
    second = _revoked(service)
    assert second.revoked_at > first.revoked_at
    session = await service.login(customer.user.email, NEW_PASSWORD)
    assert _rev(session) == microseconds(second.revoked_at)
    refreshed = await service.ok(Refresh(refresh_token=session.refresh_token), TokenPair)
    assert _rev(refreshed) == microseconds(second.revoked_at)
    await service.done(DeleteUser(actor=admin.actor, user_id=customer.id))
    third = _revoked(service)
    await service.ok(RestoreUser(actor=admin.actor, user_id=customer.id), UserPublic)
    service.events()
    restored = await service.login(customer.user.email, NEW_PASSWORD)
    assert _rev(restored) == microseconds(third.revoked_at), "a restore revokes nothing more"


async def test_a_login_in_the_second_of_a_revocation_gets_a_token_that_works(
    world: World,
) -> None:
    """The store's clock moves a millisecond a transaction: the revocation and the login after
    it fall in one second, which a token's whole-second ``iat`` cannot tell apart; its ``rev``
    can. A gateway that heard of the revocation refuses the token from before it only."""
    service, customer, admin = world.service, world.customer, world.admin
    gateway = GatewaySettings(
        _env_file=None,
        jwt_secret=SETTINGS.jwt_secret,
        jwt_issuer=SETTINGS.jwt_issuer,
        jwt_audience=SETTINGS.jwt_audience,
    )
    revocations = RevocationList("amqp://unused/", cast(RpcClient, None), token_ttl=60)
    verifier = TokenVerifier(gateway, revocations)
    assert verifier.verify(customer.tokens.access_token).role == Role.CUSTOMER
    await service.update(admin, customer.id, role=Role.AGENT)
    revoked = _revoked(service)
    login = await service.login(customer.user.email)
    refreshed = await service.ok(Refresh(refresh_token=customer.tokens.refresh_token), TokenPair)
    revocations._note(revoked.user_id, revoked.revoked_at)  # as the event reaches a gateway
    with pytest.raises(Unauthenticated, match="revoked"):
        verifier.verify(customer.tokens.access_token)
    for pair in (login, refreshed):
        assert verifier.verify(pair.access_token).role == Role.AGENT


# The service's limits


class CountingHasher(PasswordHasher):
    """argon2id, cheap, counting how many hashes run at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.running = self.most = 0
        self._lock = threading.Lock()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.005)  # long enough for the others to start, if they may
            return super().hash(password, salt=salt)
        finally:
            with self._lock:
                self.running -= 1


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_password_hashes_run_at_most_password_hash_concurrency_at_once(
    monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    monkeypatch.setenv("PASSWORD_HASH_CONCURRENCY", str(concurrency))
    settings = UsersSettings(_env_file=None)
    assert settings.password_hash_concurrency == concurrency
    hasher = CountingHasher()
    passwords = Passwords(settings.password_hash_concurrency, hasher)
    hashes = [passwords.hash(PASSWORD) for _ in range(4)]
    checks = [passwords.verify(None, PASSWORD) for _ in range(4)]
    await asyncio.gather(*hashes, *checks)
    assert 1 <= hasher.most <= concurrency
