"""``Mailbridge(base_url, token)``: one method per REST route, and ``listen()`` over the event stream."""

from __future__ import annotations

import json
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
import simple_websocket
import simple_websocket.ws
from wsproto import ConnectionType

from mailbridge.errors import ApiError, MailbridgeError, TransportError, api_error

F = TypeVar("F", bound=Callable[..., Any])
JSON = Any


class StreamSocket(simple_websocket.Client):  # type: ignore[misc]  # simple_websocket is untyped
    """simple_websocket's client, which closes its socket when the connection or the handshake fails.

    simple_websocket 1.x raises from its constructor (connection refused, or the server refusing the
    upgrade: a 503 while no watcher runs, a 401) and leaves the socket to the garbage collector
    ("unclosed socket"); ``listen()`` connects again after each failure. So the socket is opened here
    (every address of the host, as ``socket.create_connection`` tries them) and closed on any failure;
    the rest is simple_websocket's own ``Base`` (its client state, the same attributes its constructor sets).
    """

    def __init__(
        self,
        url: str,
        subprotocols: str | list[str] | None = None,
        headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        **options: Any,
    ) -> None:
        parts = urlsplit(url)
        secure = parts.scheme in ("https", "wss")
        self.host = parts.hostname
        self.port = parts.port or (443 if secure else 80)
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.subprotocols = [subprotocols] if isinstance(subprotocols, str) else list(subprotocols or [])
        self.extra_headeers = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
        sock = socket.create_connection((self.host, self.port))
        try:
            if secure:
                context = ssl_context or ssl.create_default_context(purpose=ssl.Purpose.SERVER_AUTH)
                sock = context.wrap_socket(sock, server_hostname=self.host)
            simple_websocket.ws.Base.__init__(self, sock, connection_type=ConnectionType.CLIENT, **options)
        except BaseException:
            sock.close()
            raise


def route(method: str, path: str) -> Callable[[F], F]:
    """Mark a method with the REST route it calls (checked against /openapi.json by the tests)."""

    def mark(fn: F) -> F:
        fn.__route__ = (method, path)  # type: ignore[attr-defined]
        return fn

    return mark


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _params(**values: Any) -> dict[str, str]:
    """Query parameters without the ones left out (None); booleans as the API spells them."""
    out = {}
    for name, value in values.items():
        if value is None:
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return out


def _seq(event_id: str) -> int:
    return int(event_id.removeprefix("evt_"))


class Mailbridge:
    """A Mailbridge server: ``Mailbridge("http://127.0.0.1:3000", "mb_…")``.

    Every method returns the API's JSON (dicts as documented at /docs) or, for raw routes, bytes,
    and raises an ``ApiError`` subclass carrying the API's ``code`` on an error answer.
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.http = http or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Mailbridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: JSON = None,
        headers: Mapping[str, str] | None = None,
        raw: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """Call any route; the JSON answer (or bytes with ``raw``), or an ``ApiError``."""
        sent = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        kwargs: dict[str, Any] = {"params": params, "headers": sent}
        if json_body is not None:
            kwargs["content"] = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        if timeout is not None:
            kwargs["timeout"] = timeout
        try:
            response = self.http.request(method, self.base_url + path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise api_error(response.status_code, body)
        if raw:
            return response.content
        return response.json() if response.content else None

    # --- meta ---------------------------------------------------------------------------

    @route("GET", "/health")
    def health(self) -> JSON:
        return self.request("GET", "/health")

    @route("GET", "/metrics")
    def metrics(self) -> str:
        """Prometheus text exposition (needs the metrics scope)."""
        data: bytes = self.request("GET", "/metrics", raw=True)
        return data.decode()

    # --- accounts ------------------------------------------------------------------------

    @route("GET", "/v1/accounts")
    def list_accounts(self) -> JSON:
        return self.request("GET", "/v1/accounts")

    @route("POST", "/v1/accounts")
    def create_account(self, body: JSON) -> JSON:
        return self.request("POST", "/v1/accounts", json_body=body)

    @route("POST", "/v1/verifyAccount")
    def verify_account(self, body: JSON) -> JSON:
        return self.request("POST", "/v1/verifyAccount", json_body=body)

    @route("GET", "/v1/account/{account}")
    def get_account(self, account: str) -> JSON:
        return self.request("GET", f"/v1/account/{_seg(account)}")

    @route("PUT", "/v1/account/{account}")
    def update_account(self, account: str, body: JSON) -> JSON:
        return self.request("PUT", f"/v1/account/{_seg(account)}", json_body=body)

    @route("DELETE", "/v1/account/{account}")
    def delete_account(self, account: str) -> JSON:
        return self.request("DELETE", f"/v1/account/{_seg(account)}")

    @route("GET", "/v1/account/{account}/mailboxes")
    def list_mailboxes(self, account: str) -> JSON:
        return self.request("GET", f"/v1/account/{_seg(account)}/mailboxes")

    @route("GET", "/v1/account/{account}/oauth-token")
    def get_oauth_token(self, account: str) -> JSON:
        return self.request("GET", f"/v1/account/{_seg(account)}/oauth-token")

    # --- messages ------------------------------------------------------------------------

    @route("GET", "/v1/account/{account}/messages")
    def list_messages(self, account: str, **params: Any) -> JSON:
        """Query parameters as the API names them, e.g. ``path="INBOX", pageSize=20, cursor=…``."""
        return self.request("GET", f"/v1/account/{_seg(account)}/messages", params=_params(**params))

    @route("POST", "/v1/account/{account}/search")
    def search_messages(self, account: str, search: JSON, **params: Any) -> JSON:
        return self.request(
            "POST", f"/v1/account/{_seg(account)}/search", params=_params(**params), json_body={"search": search}
        )

    @route("GET", "/v1/account/{account}/message/{message}")
    def get_message(self, account: str, message: str, **params: Any) -> JSON:
        return self.request("GET", f"/v1/account/{_seg(account)}/message/{_seg(message)}", params=_params(**params))

    @route("GET", "/v1/account/{account}/message/{message}/source")
    def get_message_source(self, account: str, message: str) -> bytes:
        path = f"/v1/account/{_seg(account)}/message/{_seg(message)}/source"
        data: bytes = self.request("GET", path, raw=True)
        return data

    @route("GET", "/v1/account/{account}/message/{message}/attachment/{attachment}")
    def get_message_attachment(self, account: str, message: str, attachment: str) -> bytes:
        path = f"/v1/account/{_seg(account)}/message/{_seg(message)}/attachment/{_seg(attachment)}"
        data: bytes = self.request("GET", path, raw=True)
        return data

    @route("GET", "/v1/account/{account}/conversation/{conversation}")
    def get_conversation(self, account: str, conversation: str) -> JSON:
        return self.request("GET", f"/v1/account/{_seg(account)}/conversation/{_seg(conversation)}")

    @route("PUT", "/v1/account/{account}/message/{message}")
    def update_message(self, account: str, message: str, flags: JSON) -> JSON:
        """``flags``: ``{"add": ["\\\\Seen"], "delete": []}``."""
        path = f"/v1/account/{_seg(account)}/message/{_seg(message)}"
        return self.request("PUT", path, json_body={"flags": flags})

    @route("PUT", "/v1/account/{account}/message/{message}/move")
    def move_message(self, account: str, message: str, path: str) -> JSON:
        url = f"/v1/account/{_seg(account)}/message/{_seg(message)}/move"
        return self.request("PUT", url, json_body={"path": path})

    @route("DELETE", "/v1/account/{account}/message/{message}")
    def delete_message(self, account: str, message: str, *, force: bool = False) -> JSON:
        path = f"/v1/account/{_seg(account)}/message/{_seg(message)}"
        return self.request("DELETE", path, params=_params(force=force or None))

    @route("PUT", "/v1/account/{account}/messages")
    def update_messages(self, account: str, body: JSON, **params: Any) -> JSON:
        """Flags of many messages: ``{"ids": [...]} or {"search": {...}}`` with ``"flags"``."""
        return self.request("PUT", f"/v1/account/{_seg(account)}/messages", params=_params(**params), json_body=body)

    @route("PUT", "/v1/account/{account}/messages/move")
    def move_messages(self, account: str, body: JSON, **params: Any) -> JSON:
        path = f"/v1/account/{_seg(account)}/messages/move"
        return self.request("PUT", path, params=_params(**params), json_body=body)

    @route("PUT", "/v1/account/{account}/messages/delete")
    def delete_messages(self, account: str, body: JSON, **params: Any) -> JSON:
        path = f"/v1/account/{_seg(account)}/messages/delete"
        return self.request("PUT", path, params=_params(**params), json_body=body)

    @route("POST", "/v1/account/{account}/message")
    def store_message(self, account: str, body: JSON) -> JSON:
        """Store a message on the server (a draft, by default); send it later with ``submit({"draft": id})``."""
        return self.request("POST", f"/v1/account/{_seg(account)}/message", json_body=body)

    @route("POST", "/v1/account/{account}/mailbox")
    def create_mailbox(self, account: str, body: JSON) -> JSON:
        return self.request("POST", f"/v1/account/{_seg(account)}/mailbox", json_body=body)

    @route("PUT", "/v1/account/{account}/mailbox")
    def rename_mailbox(self, account: str, body: JSON) -> JSON:
        return self.request("PUT", f"/v1/account/{_seg(account)}/mailbox", json_body=body)

    @route("DELETE", "/v1/account/{account}/mailbox")
    def delete_mailbox(self, account: str, path: str) -> JSON:
        return self.request("DELETE", f"/v1/account/{_seg(account)}/mailbox", params={"path": path})

    # --- sending -------------------------------------------------------------------------

    @route("POST", "/v1/account/{account}/submit")
    def submit(self, account: str, body: JSON, *, idempotency_key: str | None = None) -> JSON:
        """Queue a message; a held one answers ``{"status": "pending_review", "reviewId", …}``."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.request("POST", f"/v1/account/{_seg(account)}/submit", json_body=body, headers=headers)

    @route("GET", "/v1/outbox")
    def list_outbox(self, **params: Any) -> JSON:
        return self.request("GET", "/v1/outbox", params=_params(**params))

    @route("GET", "/v1/outbox/{queue_id}")
    def get_outbox_entry(self, queue_id: str) -> JSON:
        return self.request("GET", f"/v1/outbox/{_seg(queue_id)}")

    @route("DELETE", "/v1/outbox/{queue_id}")
    def cancel_outbox_entry(self, queue_id: str) -> JSON:
        return self.request("DELETE", f"/v1/outbox/{_seg(queue_id)}")

    # --- suppressions, policy, audit ------------------------------------------------------

    @route("GET", "/v1/account/{account}/suppressions")
    def list_suppressions(self, account: str, **params: Any) -> JSON:
        return self.request("GET", f"/v1/account/{_seg(account)}/suppressions", params=_params(**params))

    @route("POST", "/v1/account/{account}/suppressions")
    def add_suppression(self, account: str, body: JSON) -> JSON:
        return self.request("POST", f"/v1/account/{_seg(account)}/suppressions", json_body=body)

    @route("DELETE", "/v1/account/{account}/suppressions/{address}")
    def delete_suppression(self, account: str, address: str) -> JSON:
        return self.request("DELETE", f"/v1/account/{_seg(account)}/suppressions/{_seg(address)}")

    @route("GET", "/v1/account/{account}/policy")
    def get_policy(self, account: str) -> JSON:
        return self.request("GET", f"/v1/account/{_seg(account)}/policy")

    @route("PUT", "/v1/account/{account}/policy")
    def update_policy(self, account: str, policy: JSON) -> JSON:
        return self.request("PUT", f"/v1/account/{_seg(account)}/policy", json_body=policy)

    @route("GET", "/v1/account/{account}/audit")
    def list_audit(self, account: str, **params: Any) -> JSON:
        return self.request("GET", f"/v1/account/{_seg(account)}/audit", params=_params(**params))

    # --- review --------------------------------------------------------------------------

    @route("GET", "/v1/reviews")
    def list_reviews(self, *, account: str | None = None, limit: int | None = None) -> JSON:
        return self.request("GET", "/v1/reviews", params=_params(account=account, limit=limit))

    @route("GET", "/v1/reviews/{review_id}")
    def get_review(self, review_id: str) -> JSON:
        return self.request("GET", f"/v1/reviews/{_seg(review_id)}")

    @route("POST", "/v1/reviews/{review_id}/approve")
    def approve_review(self, review_id: str) -> JSON:
        return self.request("POST", f"/v1/reviews/{_seg(review_id)}/approve")

    @route("POST", "/v1/reviews/{review_id}/reject")
    def reject_review(self, review_id: str) -> JSON:
        return self.request("POST", f"/v1/reviews/{_seg(review_id)}/reject")

    # --- webhooks ------------------------------------------------------------------------

    @route("POST", "/v1/webhooks")
    def create_webhook(self, body: JSON) -> JSON:
        return self.request("POST", "/v1/webhooks", json_body=body)

    @route("GET", "/v1/webhooks")
    def list_webhooks(self) -> JSON:
        return self.request("GET", "/v1/webhooks")

    @route("GET", "/v1/webhooks/{webhook_id}")
    def get_webhook(self, webhook_id: str) -> JSON:
        return self.request("GET", f"/v1/webhooks/{_seg(webhook_id)}")

    @route("DELETE", "/v1/webhooks/{webhook_id}")
    def delete_webhook(self, webhook_id: str) -> JSON:
        return self.request("DELETE", f"/v1/webhooks/{_seg(webhook_id)}")

    @route("GET", "/v1/webhooks/{webhook_id}/deliveries")
    def list_webhook_deliveries(self, webhook_id: str, **params: Any) -> JSON:
        return self.request("GET", f"/v1/webhooks/{_seg(webhook_id)}/deliveries", params=_params(**params))

    @route("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
    def redeliver_webhook(self, webhook_id: str, delivery_id: str) -> JSON:
        path = f"/v1/webhooks/{_seg(webhook_id)}/deliveries/{_seg(delivery_id)}/redeliver"
        return self.request("POST", path)

    @route("POST", "/v1/webhooks/{webhook_id}/rotate-secret")
    def rotate_webhook_secret(self, webhook_id: str) -> JSON:
        return self.request("POST", f"/v1/webhooks/{_seg(webhook_id)}/rotate-secret")

    # --- OAuth2 apps ---------------------------------------------------------------------

    @route("POST", "/v1/oauth2")
    def create_oauth_app(self, body: JSON) -> JSON:
        return self.request("POST", "/v1/oauth2", json_body=body)

    @route("GET", "/v1/oauth2")
    def list_oauth_apps(self) -> JSON:
        return self.request("GET", "/v1/oauth2")

    @route("GET", "/v1/oauth2/{app_id}")
    def get_oauth_app(self, app_id: str) -> JSON:
        return self.request("GET", f"/v1/oauth2/{_seg(app_id)}")

    @route("PUT", "/v1/oauth2/{app_id}")
    def update_oauth_app(self, app_id: str, body: JSON) -> JSON:
        return self.request("PUT", f"/v1/oauth2/{_seg(app_id)}", json_body=body)

    @route("DELETE", "/v1/oauth2/{app_id}")
    def delete_oauth_app(self, app_id: str) -> JSON:
        return self.request("DELETE", f"/v1/oauth2/{_seg(app_id)}")

    @route("POST", "/v1/authentication/form")
    def authentication_form(self, body: JSON) -> JSON:
        """A sign-in URL for a user's browser (OAuth2 accounts)."""
        return self.request("POST", "/v1/authentication/form", json_body=body)

    # --- tokens --------------------------------------------------------------------------

    @route("POST", "/v1/tokens")
    def create_token(
        self, *, description: str = "", scopes: list[str] | None = None, accounts: list[str] | None = None
    ) -> JSON:
        body: dict[str, Any] = {"description": description}
        if scopes is not None:
            body["scopes"] = scopes
        if accounts is not None:
            body["accounts"] = accounts
        return self.request("POST", "/v1/tokens", json_body=body)

    @route("GET", "/v1/tokens")
    def list_tokens(self) -> JSON:
        return self.request("GET", "/v1/tokens")

    @route("DELETE", "/v1/tokens/{token_id}")
    def revoke_token(self, token_id: str) -> JSON:
        return self.request("DELETE", f"/v1/tokens/{_seg(token_id)}")

    # --- events --------------------------------------------------------------------------

    @route("GET", "/v1/account/{account}/events")
    def get_events(
        self,
        account: str,
        *,
        cursor: str | None = None,
        event: str | None = None,
        timeout: int = 0,
        limit: int | None = None,
    ) -> JSON:
        """Events after ``cursor`` (long poll up to ``timeout`` s): ``{"events": [...], "cursor"}``."""
        params = _params(cursor=cursor, event=event, timeout=timeout, limit=limit)
        return self.request("GET", f"/v1/account/{_seg(account)}/events", params=params, timeout=timeout + 30.0)

    @route("GET", "/v1/account/{account}/stream")
    def listen(
        self,
        account: str,
        since: str | None = None,
        *,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[JSON]:
        """Every event of ``account`` after ``since`` (an event id), for as long as you iterate.

        Follows the WebSocket stream and, when the connection drops (network, a server restart),
        reconnects with exponential backoff and full jitter, asking for what came after the last
        event it yielded (``?since=``). Without ``since`` it starts from now, but first asks the
        server where "now" is, so even a disconnect before the first event loses nothing. Events
        are yielded once each, in order: ids already yielded are skipped. A refused connection
        (401, 403, 404: a bad token or account) raises its ``ApiError``; anything else is retried.
        """
        failures = 0
        last = since
        while last is None:
            try:
                last = str(self.get_events(account)["cursor"])
            except ApiError:
                raise
            except MailbridgeError:
                failures += 1
                sleep(random.uniform(0, min(backoff_cap, backoff_base * 2 ** min(failures, 16))))  # noqa: S311
        while True:
            try:
                ws = self._connect_stream(account, last)
            except ApiError:
                raise
            except MailbridgeError:
                failures += 1
                sleep(random.uniform(0, min(backoff_cap, backoff_base * 2 ** min(failures, 16))))  # noqa: S311
                continue
            try:
                while True:
                    try:
                        frame = ws.receive(timeout=None)
                    except (simple_websocket.ConnectionClosed, OSError):
                        break
                    if frame is None:
                        break
                    event = json.loads(frame)
                    if _seq(event["id"]) <= _seq(last):
                        continue  # already yielded before a reconnect
                    last = event["id"]
                    failures = 0
                    yield event
            finally:
                try:
                    ws.close()
                except (simple_websocket.ConnectionClosed, OSError):
                    pass  # already closed by the server or the network
            failures += 1
            sleep(random.uniform(0, min(backoff_cap, backoff_base * 2 ** min(failures, 16))))  # noqa: S311

    def _connect_stream(self, account: str, since: str) -> Any:
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path}/v1/account/{_seg(account)}/stream"
        url = urlunsplit((scheme, parts.netloc, path, urlencode({"since": since}), ""))
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            # Pings every 25 s: a server that vanished without closing the connection is noticed.
            return StreamSocket.connect(url, headers=headers, ping_interval=25)
        except simple_websocket.ConnectionError as exc:
            status = getattr(exc, "status_code", None)
            if status in (400, 401, 403, 404):
                # The handshake's refusal has no readable body here. The events route takes the same
                # token, scope and account checks, and answers the API's error (code, message).
                self.get_events(account, cursor=since)
                raise api_error(int(status), None) from exc
            raise TransportError(f"stream connection failed ({status})") from exc
        except OSError as exc:
            raise TransportError(f"stream connection failed: {exc}") from exc
