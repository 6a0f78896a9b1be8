"""The gateway's access-token check: a token verified once is remembered, yet its expiry and
its user's revocations still apply on every request."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import jwt
import pytest

from contracts.enums import Role
from gateway.problems import Unauthenticated
from gateway.revocations import RevocationList
from gateway.security import TokenVerifier
from gateway.settings import GatewaySettings
from servicekit.rpc_client import RpcClient
from users_service.auth.tokens import issue_access_token

SETTINGS = GatewaySettings(jwt_secret="s" * 40, access_token_ttl=60)


def _revocations() -> RevocationList:
    return RevocationList("amqp://unused/", cast(RpcClient, None), token_ttl=60)


def _token(**claims: Any) -> str:
    now = int(time.time())
    body = {
        "sub": str(uuid.uuid4()),
        "role": "agent",
        "iss": SETTINGS.jwt_issuer,
        "aud": SETTINGS.jwt_audience,
        "iat": now,
        "exp": now + 60,
        **claims,
    }
    return jwt.encode(body, SETTINGS.jwt_secret, algorithm="HS256")


def test_a_valid_token_names_its_actor_every_time() -> None:
    user_id = uuid.uuid4()
    token = issue_access_token(SETTINGS, user_id, Role.AGENT)
    verifier = TokenVerifier(SETTINGS, _revocations())
    for _ in range(3):
        actor = verifier.verify(token)
        assert (actor.id, actor.role) == (user_id, Role.AGENT)


@pytest.mark.parametrize(
    "token",
    [
        _token(exp=int(time.time()) - 1),
        _token(aud="someone-else"),
        _token(role="overlord"),
        _token(sub="not-a-uuid"),
        jwt.encode({"sub": str(uuid.uuid4())}, "s" * 40, algorithm="HS256"),
        _token()[:-2] + "xx",
        "garbage",
    ],
    ids=["expired", "audience", "role", "subject", "claims missing", "signature", "garbage"],
)
def test_a_bad_token_is_refused(token: str) -> None:
    with pytest.raises(Unauthenticated):
        TokenVerifier(SETTINGS, _revocations()).verify(token)


def test_a_remembered_token_still_expires() -> None:
    token = _token(exp=int(time.time()) + 1)
    verifier = TokenVerifier(SETTINGS, _revocations())
    verifier.verify(token)
    time.sleep(1.05)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(token)


def test_a_remembered_token_is_refused_once_its_user_is_revoked() -> None:
    user_id = uuid.uuid4()
    token = _token(sub=str(user_id), iat=int(time.time()) - 5)
    revocations = _revocations()
    verifier = TokenVerifier(SETTINGS, revocations)
    verifier.verify(token)
    revocations._note(user_id, datetime.now(UTC))
    with pytest.raises(Unauthenticated, match="revoked"):
        verifier.verify(token)


def test_the_memory_is_bounded() -> None:
    verifier = TokenVerifier(SETTINGS, _revocations(), capacity=3)
    tokens = [_token() for _ in range(5)]
    for token in tokens:
        verifier.verify(token)
    assert len(verifier._seen) == 3
    assert verifier.verify(tokens[0]).role == Role.AGENT  # forgotten, so checked again


def test_a_token_issued_after_the_revocation_it_knows_of_works() -> None:
    """``rev``: the user's latest revocation when the token was issued. A revocation no newer
    than that does not void it, whatever second it happened in."""
    user_id = uuid.uuid4()
    revocations = _revocations()
    revoked_at = datetime.now(UTC)
    revocations._note(user_id, revoked_at)
    token = issue_access_token(SETTINGS, user_id, Role.AGENT, revoked_at=revoked_at)
    verifier = TokenVerifier(SETTINGS, revocations)
    assert verifier.verify(token).id == user_id
    revocations._note(user_id, revoked_at)  # the same revocation heard again: still fine
    assert verifier.verify(token).id == user_id


def test_a_token_issued_before_a_revocation_is_refused() -> None:
    user_id = uuid.uuid4()
    revocations = _revocations()
    first = datetime.now(UTC)
    token = issue_access_token(SETTINGS, user_id, Role.AGENT, revoked_at=first)
    verifier = TokenVerifier(SETTINGS, revocations)
    revocations._note(user_id, first)
    verifier.verify(token)
    revocations._note(user_id, first + timedelta(microseconds=1))
    with pytest.raises(Unauthenticated, match="revoked"):
        verifier.verify(token)


def test_a_token_issued_with_no_revocation_dies_at_the_first() -> None:
    user_id = uuid.uuid4()
    token = issue_access_token(SETTINGS, user_id, Role.AGENT)
    revocations = _revocations()
    verifier = TokenVerifier(SETTINGS, revocations)
    verifier.verify(token)
    revocations._note(user_id, datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(Unauthenticated, match="revoked"):
        verifier.verify(token)


def test_a_token_without_rev_keeps_the_whole_second_rule() -> None:
    """Tokens issued before ``rev`` existed: void if issued in or before the second of the
    revocation, as before."""
    user_id = uuid.uuid4()
    now = int(time.time())
    older, later = _token(sub=str(user_id), iat=now - 5), _token(sub=str(user_id), iat=now)
    revocations = _revocations()
    revocations._note(user_id, datetime.fromtimestamp(now - 5, UTC))
    verifier = TokenVerifier(SETTINGS, revocations)
    with pytest.raises(Unauthenticated, match="revoked"):
        verifier.verify(older)
    assert verifier.verify(later).id == user_id


@pytest.mark.parametrize("rev", ["soon", 1.5, True, -1, None])
def test_a_token_with_a_malformed_rev_is_refused(rev: object) -> None:
    with pytest.raises(Unauthenticated):
        TokenVerifier(SETTINGS, _revocations()).verify(_token(rev=rev))
