"""The token manager: a current access token for every OAuth 2.0 account, refreshed once at a time.

Every process (web, workers, watchers) asks here right before it
authenticates. A token is used until shortly before it expires; then exactly
one process refreshes it:

1. It takes the account's lock in Redis (``SET NX PX``, a lease that outlives
   the HTTP timeout), re-reads the tokens under it (another process may just
   have refreshed), calls the token endpoint, and writes the result only if
   it still holds the lock and the tokens' generation is the one it read (a
   fencing check in one Lua step, ``bridge.storage.oauth``).
2. Everyone else waits for the lock to go and reads what the winner wrote.

Microsoft rotates refresh tokens: two refreshes racing with the same one can
each invalidate the other's result, and the account is lost. Hence the lock.

A grant refused for good (``invalid_grant``: revoked, password changed) is
recorded with the provider's reason; from then on every caller gets
``TokenRevoked`` at once, with no further call to the provider, until the user
signs in again (``install``). The account's state becomes
``authenticationError`` and the event is emitted once (``on_revoked``).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from bridge.clock import SYSTEM_CLOCK, Clock
from bridge.config import Secret
from bridge.errors import NotFound, TokenRevoked, TokenUnavailable
from bridge.models import Account, OAuthBinding
from bridge.oauth import presets
from bridge.oauth.client import TokenClient, TokenSet
from bridge.storage.oauth import OAuthStore, TokenState

log = logging.getLogger(__name__)

LOCK_LEASE_MS = 30_000  # longer than the token endpoint's HTTP timeout (client.TIMEOUT_S)
REFRESH_MARGIN_S = 60.0  # refresh this long before expiry, or after 3/4 of a shorter lifetime
WAIT_POLL_S = 0.05


class TokenManager:
    """Current access tokens for OAuth 2.0 accounts, shared through Redis by every process."""

    def __init__(
        self,
        store: OAuthStore,
        *,
        client: TokenClient | None = None,
        on_revoked: Callable[[str, str], None] | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.client = client or TokenClient()
        self.on_revoked = on_revoked
        self._clock = clock

    def bind(self, account: Account) -> Account:
        """The account with its IMAP and SMTP configs asking this manager for tokens."""
        if account.oauth is None:
            return account
        provider = _Provider(self, account.id, account.oauth, account.imap.user)
        return replace(
            account,
            imap=replace(account.imap, credentials=provider),
            smtp=replace(account.smtp, credentials=provider) if account.smtp else None,
        )

    def install(self, account_id: str, tokens: TokenSet) -> None:
        """Keep the tokens of a new sign-in; clears a grant that had failed."""
        now = self._clock.time()
        self.store.install_tokens(
            account_id,
            TokenState(
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                expires_at=now + tokens.expires_in,
                issued_at=now,
            ),
        )

    def current(
        self, account_id: str, binding: OAuthBinding, user: str, *, rejected: Secret | None = None
    ) -> tuple[Secret, float]:
        """A usable access token and when it expires (epoch seconds).

        Args:
            rejected: a token the server just refused: refresh unless someone already did.

        Raises:
            TokenRevoked: the grant failed for good; the user must sign in again.
            TokenUnavailable: the provider cannot be reached, or another process's refresh did not end in time.
        """
        deadline = self._clock.time() + LOCK_LEASE_MS / 1000 + 5
        while True:
            state = self.store.tokens(account_id)
            if state.error:
                raise TokenRevoked(state.error)
            if self._usable(state, rejected):
                return state.access_token, state.expires_at  # type: ignore[return-value]
            owner = uuid.uuid4().hex
            if self.store.lock(account_id, owner, LOCK_LEASE_MS):
                try:
                    return self._refresh_locked(account_id, binding, user, owner, rejected)
                finally:
                    self.store.unlock(account_id, owner)
            while self.store.locked(account_id):
                if self._clock.time() > deadline:
                    raise TokenUnavailable("another process is still refreshing this account's token")
                time.sleep(WAIT_POLL_S)

    def _usable(self, state: TokenState, rejected: Secret | None) -> bool:
        if state.access_token is None or (rejected is not None and state.access_token == rejected):
            return False
        margin = min(REFRESH_MARGIN_S, (state.expires_at - state.issued_at) / 4)
        return self._clock.time() < state.expires_at - margin

    def _refresh_locked(
        self, account_id: str, binding: OAuthBinding, user: str, owner: str, rejected: Secret | None
    ) -> tuple[Secret, float]:
        state = self.store.tokens(account_id)  # again, under the lock: someone may just have refreshed
        if state.error:
            raise TokenRevoked(state.error)
        if self._usable(state, rejected):
            return state.access_token, state.expires_at  # type: ignore[return-value]
        try:
            tokens = self._fetch(account_id, binding, user, state)
        except TokenRevoked as exc:
            if self.store.write_tokens(account_id, owner, state.generation, replace(state, error=exc.message)):
                log.warning("account %s: token refresh refused for good: %s", account_id, exc.message)
                if self.on_revoked is not None:
                    self.on_revoked(account_id, exc.message)
            raise
        now = self._clock.time()
        fresh = TokenState(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token or state.refresh_token,
            expires_at=now + tokens.expires_in,
            issued_at=now,
        )
        if not self.store.write_tokens(account_id, owner, state.generation, fresh):
            # Our lease ran out and someone else wrote since: theirs stands, ours is dropped.
            raise TokenUnavailable("the token refresh lost its lock; try again")
        log.info("account %s: access token refreshed (valid %.0f s)", account_id, tokens.expires_in)
        return fresh.access_token, fresh.expires_at  # type: ignore[return-value]

    def _fetch(self, account_id: str, binding: OAuthBinding, user: str, state: TokenState) -> TokenSet:
        if binding.token_url:
            return self.client.external(binding.token_url, account=account_id, user=user)
        if state.refresh_token is None or binding.app is None:
            raise TokenRevoked("no refresh token is stored for this account; sign in again")
        try:
            app = self.store.get_app(binding.app)
        except NotFound as exc:
            raise TokenRevoked(f"the OAuth2 app {binding.app!r} was deleted; sign in again") from exc
        return self.client.refresh(presets.resolve(app), app, state.refresh_token)


class _Provider:
    """The ``CredentialsProvider`` of one account (see ``bridge.models``)."""

    def __init__(self, manager: TokenManager, account_id: str, binding: OAuthBinding, user: str) -> None:
        self._manager = manager
        self._account_id = account_id
        self._binding = binding
        self._user = user

    async def access_token(self, *, rejected: Secret | None = None) -> Secret:
        token, _ = await asyncio.to_thread(
            self._manager.current, self._account_id, self._binding, self._user, rejected=rejected
        )
        return token
