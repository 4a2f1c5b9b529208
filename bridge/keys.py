"""Every Redis key name Mailbridge uses, built in one place.

Pure string building: no Redis import. No other module may write a literal
``"bridge:"``. Bump ``KEYS_VERSION`` whenever the layout changes, so a new
release can tell an old layout apart (pymap's DATA_VERSION idea).
"""

from __future__ import annotations

import hashlib

KEYS_VERSION = 2  # 2: compact audit entries, packed index entries, webhook body hashes (1 still reads)
PREFIX = "bridge:"


def _k(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def layout_version() -> str:
    """String: the KEYS_VERSION the data in this Redis was written with."""
    return _k("meta", "version")


# --- API tokens ------------------------------------------------------------


def token(token_id: str) -> str:
    """Hash: one API token's metadata and SHA-256 (never the token itself)."""
    return _k("token", token_id)


def token_ids() -> str:
    """Sorted set: token ids scored by creation time."""
    return _k("tokens")


def token_by_hash(token_hash: str) -> str:
    """String: the token id for a token's SHA-256."""
    return _k("token-hash", token_hash)


# --- accounts ----------------------------------------------------------------


def account(account_id: str) -> str:
    """String: the account document as JSON, with credentials encrypted."""
    return _k("account", account_id)


def account_ids() -> str:
    """Sorted set: account ids scored by creation time."""
    return _k("accounts")


def account_data_pattern(account_id: str) -> str:
    """SCAN pattern for everything kept under one account (ids hold no glob characters)."""
    return _k("account", account_id, "*")


def account_state(account_id: str) -> str:
    """Hash: live connection state of an account (state, error, since)."""
    return _k("account", account_id, "state")


def account_oauth(account_id: str) -> str:
    """Hash: an OAuth 2.0 account's tokens (sealed), expiry, generation (the fencing counter) and error."""
    return _k("account", account_id, "oauth")


def account_oauth_lock(account_id: str) -> str:
    """String with expiry: the owner of the one refresh in flight for an account."""
    return _k("account", account_id, "oauth-lock")


# --- OAuth2 apps and sign-ins --------------------------------------------------


def oauth_apps() -> str:
    """Hash: OAuth2 app id -> app document as JSON (client secret sealed)."""
    return _k("oauth-apps")


def oauth_signin(nonce: str) -> str:
    """String with expiry: one pending sign-in (account, app, PKCE verifier sealed), taken once by the callback."""
    return _k("oauth-signin", nonce)


# --- processes ---------------------------------------------------------------


def heartbeat(role: str) -> str:
    """Hash: process id -> last heartbeat (epoch seconds) for a role (watcher, worker)."""
    return _k("heartbeat", role)


# --- events ------------------------------------------------------------------


def event_seq() -> str:
    """String counter: the global event sequence (event ids are evt_<n>)."""
    return _k("event-seq")


def events(account_id: str) -> str:
    """Stream: the account's events; entry id ``<seq>-1``, field ``e`` holds the envelope."""
    return _k("account", account_id, "events")


def events_bytes(account_id: str) -> str:
    """String counter with expiry: envelope bytes ever appended to the account's stream (its trim point)."""
    return _k("account", account_id, "events-bytes")


# --- messages ------------------------------------------------------------------


def message_index(account_id: str) -> str:
    """Sorted set with expiry: ids of messages emitted (or kept back by policy), scored by receivedAt
    (epoch ms * 1000 + uid % 1000): the inbound pipeline's "emitted" marks and the recency index."""
    return _k("account", account_id, "messages")


def conversation_of(account_id: str, header_id_hash: str) -> str:
    """String with expiry: conversationId of a Message-ID header (SHA-256 of it): of a message the
    bridge sent; layout 1 kept one for every indexed message too (still read)."""
    return _k("account", account_id, "conv", header_id_hash)


def message_entry(account_id: str, message_id: str) -> str:
    """String with expiry: a message's index entry as JSON (``bridge.storage.message_index.Entry``)."""
    return _k("account", account_id, "ix", message_id)


def conversation_messages(account_id: str, conversation_id: str) -> str:
    """Sorted set with expiry: ids of the messages of a conversation of two or more, scored like
    ``message_index`` (layout 1 made one for every conversation; still read)."""
    return _k("account", account_id, "thread", conversation_id)


def conversation_heads(account_id: str, bucket: str) -> str:
    """Hash with expiry, one of 256 per account (``bucket``: 2 hex digits of the conversation id a
    message would start): the rest of those digits -> ``<saved at, base 36>:<message id>[:<its
    conversation's digits when it joined another>]`` (``bridge.storage.messages``)."""
    return _k("account", account_id, "heads", bucket)


# --- watcher ------------------------------------------------------------------


def folder_checkpoint(account_id: str, folder: str) -> str:
    """Hash: uidvalidity and last processed uid of a watched folder."""
    return _k("account", account_id, "folder", folder)


def account_lease(account_id: str) -> str:
    """String with expiry: the watcher id that owns an account's connection."""
    return _k("lease", account_id)


# --- outbox (submitted messages) ----------------------------------------------


def outbox_entry(queue_id: str) -> str:
    """Hash: one submission's state (account, state, attempts, lastError, envelope …)."""
    return _k("outbox", queue_id)


def outbox_raw(queue_id: str) -> str:
    """String: the composed RFC 5322 bytes of a submission, exactly as sent."""
    return _k("outbox", queue_id, "raw")


def outbox_active() -> str:
    """Sorted set: unfinished queue ids scored by when something must happen next (due time or lease end)."""
    return _k("outbox-active")


def outbox_ready() -> str:
    """List: queue ids whose first attempt is due now, oldest first; the drain job pops and claims them."""
    return _k("outbox-ready")


def outbox_drainers() -> str:
    """Sorted set: ids of the drain jobs serving ``outbox_ready`` (queued or running), scored by mark expiry."""
    return _k("outbox-drainers")


def outbox_by_message_id(account_id: str, header_id_hash: str) -> str:
    """String: queue id of the submission that sent a Message-ID (SHA-256 of it); ties bounces to sends."""
    return _k("account", account_id, "sent-mid", header_id_hash)


def idempotency(account_id: str, key_hash: str) -> str:
    """String: JSON {fingerprint, answer} of the first submit with an Idempotency-Key (SHA-256 of it)."""
    return _k("account", account_id, "idem", key_hash)


# --- webhooks ------------------------------------------------------------------


def webhooks() -> str:
    """Hash: subscription id -> subscription document as JSON (secrets sealed)."""
    return _k("webhooks")


def webhook_deliveries(webhook_id: str) -> str:
    """Sorted set: a subscription's delivery ids scored by event sequence (newest = highest)."""
    return _k("webhook", webhook_id, "deliveries")


def webhook_body(event_id: str) -> str:
    """Hash: ``b`` the exact JSON body (signed bytes) of an event sent to webhooks, ``n`` how many of
    its deliveries still hold it; deleted when the last one stops being pending (a String before)."""
    return _k("webhook-body", event_id)


def delivery(delivery_id: str) -> str:
    """Hash: one delivery of one event to one subscription (state, attempt count, next attempt)."""
    return _k("delivery", delivery_id)


def delivery_attempts(delivery_id: str) -> str:
    """List: a delivery's attempts as JSON, newest first, trimmed."""
    return _k("delivery", delivery_id, "attempts")


def delivery_lease(delivery_id: str) -> str:
    """String with expiry: held by the process making an attempt, so two never overlap."""
    return _k("delivery", delivery_id, "lease")


def deliveries_due() -> str:
    """Sorted set: pending delivery ids scored by when the sweeper should take them over (epoch s)."""
    return _k("deliveries-due")


def delivery_sweeper() -> str:
    """String with expiry: present while a sweep job is scheduled."""
    return _k("delivery-sweeper")


def outbox_sweeper() -> str:
    """String with expiry: present while an outbox sweep job is scheduled."""
    return _k("outbox-sweeper")


# --- suppression list -------------------------------------------------------------


def suppressions(account_id: str) -> str:
    """Hash: suppressed address (lower-cased) -> JSON {reason, kind, time, messageId}."""
    return _k("account", account_id, "suppressions")


# --- policy, reviews, audit --------------------------------------------------


def policy(account_id: str) -> str:
    """String: the account's protection policy as JSON (absent: the default policy)."""
    return _k("account", account_id, "policy")


def rate_log(account_id: str, sender_hash: str) -> str:
    """Sorted set: message ids from one sender (SHA-256 of the address) scored by arrival, for rate limits."""
    return _k("account", account_id, "rate", sender_hash)


def audit(account_id: str) -> str:
    """Stream: the account's audit records (field ``r``, JSON, or the compact fields of a plain
    delivery: ``bridge.storage.audit_records``), trimmed to the policy's retention."""
    return _k("account", account_id, "audit")


def audit_causes(account_id: str) -> str:
    """Hash: cause code -> ``rule\\nreason``, the causes compact audit records name; expires with ``audit``."""
    return _k("account", account_id, "audit-causes")


def review(review_id: str) -> str:
    """Hash: one review hold (state, expiry, preview, what to do on approval)."""
    return _k("review", review_id)


def review_raw(review_id: str) -> str:
    """String: the composed bytes of a held outbound message, sent as they are on approval."""
    return _k("review", review_id, "raw")


def reviews_pending() -> str:
    """Sorted set: pending review ids scored by when their hold expires (epoch seconds)."""
    return _k("reviews-pending")


def review_sweeper() -> str:
    """String with expiry: present while a review sweep job is scheduled."""
    return _k("review-sweeper")


def header_id_hash(message_id: str) -> str:
    """Key-safe form of a Message-ID header value (ids may hold any printable character)."""
    return hashlib.sha256(message_id.strip().strip("<>").encode()).hexdigest()[:32]


# --- metrics (bridge.metrics; a fixed number of keys whatever the mail volume) --------


def metrics_counters() -> str:
    """Hash: every counter, field "<counter>|<label value>" -> count since the data began."""
    return _k("metrics", "counters")


def metrics_histogram(name: str) -> str:
    """Hash: one histogram: "b<i>" per bucket (not cumulative), "count", "sum"."""
    return _k("metrics", "histogram", name)


def metrics_minute(minute: int) -> str:
    """Hash with expiry: what happened in one minute (epoch minutes), for the console's charts."""
    return _k("metrics", "minute", str(minute))


# --- operator console ---------------------------------------------------------


def console_session(session_hash: str) -> str:
    """Hash: one console sign-in (token id, CSRF secret), keyed by the SHA-256 of its cookie; expires."""
    return _k("console", "session", session_hash)


# --- live mailbox commands (bridge.mailbox) -----------------------------------


def mailbox_commands(watcher_id: str) -> str:
    """List with expiry: mailbox commands for the accounts one watcher process holds, oldest first."""
    return _k("mbcmd", watcher_id)


def mailbox_reply(request_id: str) -> str:
    """List with a short expiry: the acknowledgement, then the answer, of one mailbox command (popped on read)."""
    return _k("mbreply", request_id)
