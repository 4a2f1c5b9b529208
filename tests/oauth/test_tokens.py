"""The token manager against the real authorization server: refresh before expiry, once, fenced."""

from __future__ import annotations

import multiprocessing
import time

import pytest

from bridge.config import Secret
from bridge.crypto import Vault
from bridge.errors import TokenRevoked
from bridge.models import OAuthBinding
from bridge.oauth.client import TokenSet
from bridge.storage import Storage, connect
from bridge.storage.oauth import TokenState
from tests.api.conftest import TEST_SECRET
from tests.oauth.conftest import issue_tokens

ACCOUNT = "racer"


@pytest.fixture
def signed_in(client, auth, storage, oauth, oauth_app_body, oauth_mailbox):
    """An app and an account's tokens from a real code flow, the access token already expired."""
    app_id = client.post("/v1/oauth2", json=oauth_app_body, headers=auth).json["id"]
    issued = issue_tokens(oauth)
    state = TokenState(
        access_token=Secret(issued["access_token"]),
        refresh_token=Secret(issued["refresh_token"]),
        expires_at=time.time() - 1,
        issued_at=time.time() - 5,
    )
    storage.oauth.install_tokens(ACCOUNT, state)
    return OAuthBinding(app=app_id), oauth_mailbox.address, issued


def _race(redis_url: str, binding: OAuthBinding, user: str, barrier, results) -> None:
    storage = Storage(connect(redis_url), Vault(TEST_SECRET))
    barrier.wait()
    token, _ = storage.oauth_tokens.current(ACCOUNT, binding, user)
    results.put(token.reveal())


def test_two_processes_racing_make_one_refresh(signed_in, oauth, redis_url):
    binding, user, issued = signed_in
    oauth.refresh_delay = 0.5  # both surely arrive while the first refresh is in flight
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(redis_url, binding, user, barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    tokens = [results.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    assert oauth.refreshes == 1 and oauth.refused == 0
    assert tokens[0] == tokens[1] != issued["access_token"]
    assert oauth.introspect(tokens[0]) == (True, user)


def test_a_fresh_token_is_used_until_shortly_before_expiry(signed_in, storage, oauth):
    binding, user, _ = signed_in
    first, expires = storage.oauth_tokens.current(ACCOUNT, binding, user)
    assert oauth.refreshes == 1
    assert storage.oauth_tokens.current(ACCOUNT, binding, user)[0] == first
    assert oauth.refreshes == 1
    # A token the server refused is refreshed even though it has not expired yet.
    second, _ = storage.oauth_tokens.current(ACCOUNT, binding, user, rejected=first)
    assert second != first and oauth.refreshes == 2
    assert expires > time.time()


def test_a_stale_refresh_cannot_overwrite_a_newer_one(signed_in, storage):
    # The fencing check: a writer whose lock expired, or who read an older generation, is refused.
    before = storage.oauth.tokens(ACCOUNT)
    assert storage.oauth.lock(ACCOUNT, "a", 60_000)
    newer = TokenState(access_token=Secret("newer"), expires_at=time.time() + 60, issued_at=time.time())
    assert storage.oauth.write_tokens(ACCOUNT, "a", before.generation, newer)
    assert not storage.oauth.write_tokens(ACCOUNT, "a", before.generation, TokenState(access_token=Secret("stale")))
    storage.oauth.unlock(ACCOUNT, "a")
    assert not storage.oauth.write_tokens(ACCOUNT, "a", before.generation + 1, TokenState(access_token=Secret("late")))
    assert storage.oauth.tokens(ACCOUNT).access_token == Secret("newer")


def test_revoked_grant_is_recorded_and_not_retried(signed_in, storage, oauth):
    binding, user, _ = signed_in
    oauth.revoke_user(user)
    for _ in range(3):
        with pytest.raises(TokenRevoked, match="invalid_grant"):
            storage.oauth_tokens.current(ACCOUNT, binding, user)
    assert oauth.refused == 1
    state = storage.accounts.get_state(ACCOUNT)
    assert state.state.value == "authenticationError" and "invalid_grant" in state.error.message
    events = [e.event for e in storage.events.since(ACCOUNT, 0, count=100)]
    assert events == ["authenticationError"]
    # A new sign-in clears it.
    storage.oauth_tokens.install(ACCOUNT, TokenSet(Secret("x"), Secret("y"), 60))
    assert storage.oauth_tokens.current(ACCOUNT, binding, user)[0] == Secret("x")
