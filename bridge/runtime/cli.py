"""The command line: ``python app.py run|web|worker|watch|token|mcp|listen``.

``mcp`` serves MCP over stdio (bridge/agents/stdio.py); ``listen`` follows an account's events with
the Python client and forwards them to a local handler (bridge/runtime/listen.py).

``run`` is the development entry: it starts an embedded Redis when
BRIDGE_REDIS_URL is unset, prints the URL and (on first start) an admin API
token, then supervises the web, worker and watcher processes as children and
stops them all when one dies or on Ctrl-C. An embedded Redis that dies is
started again (its data is in its append-only file); the roles reconnect.
In production each role is started on its own (README, "Production").
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from bridge.config import Settings, load_settings
from bridge.crypto import Vault
from bridge.errors import BridgeError, ConfigError
from bridge.models import TokenScope
from bridge.runtime.embedded_redis import EmbeddedRedis
from bridge.runtime.lifetime import dies_with_parent
from bridge.storage import Storage, connect

ROOT = Path(__file__).resolve().parents[2]
# The processes `run` supervises.
ROLES = ("web", "worker", "watch")
log = logging.getLogger("bridge")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(os.environ)
        _configure_logging(settings.log_level)
        result: int = args.func(args, settings)
        return result
    except ConfigError as exc:
        print(f"mailbridge: configuration error: {exc.message}", file=sys.stderr)
        return 2
    except BridgeError as exc:
        print(f"mailbridge: {exc.message}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app.py", description="Mailbridge: a mailbox as an API.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    sub.add_parser("run", help="start everything (embedded Redis when BRIDGE_REDIS_URL is unset)").set_defaults(
        func=_run
    )
    sub.add_parser("web", help="start the web API (gunicorn)").set_defaults(func=_web)
    worker = sub.add_parser("worker", help="start an RQ worker with the scheduler")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.set_defaults(func=_worker)
    sub.add_parser("watch", help="start an IMAP watcher (IDLE on every attached account)").set_defaults(func=_watch)
    token = sub.add_parser("token", help="manage API tokens").add_subparsers(required=True, metavar="ACTION")
    create = token.add_parser("create", help="create a token and print it (shown only this once)")
    create.add_argument("--description", default="", help="what the token is for")
    create.add_argument(
        "--scope",
        action="append",
        choices=[s.value for s in TokenScope],
        help="what it may do; repeat for several (default: admin, which implies every scope)",
    )
    create.add_argument(
        "--account", action="append", help="the only account it may act on; repeat for several (default: every one)"
    )
    create.set_defaults(func=_token_create)
    token.add_parser(
        "list", help="list tokens: id, created, last used, scopes, accounts, description (never the tokens)"
    ).set_defaults(func=_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id")
    revoke.set_defaults(func=_token_revoke)
    sub.add_parser(
        "mcp", help="serve MCP over stdin/stdout for an agent runtime (token in MAILBRIDGE_TOKEN)"
    ).set_defaults(func=_mcp)
    listen = sub.add_parser(
        "listen",
        help="follow an account's events and forward each as a signed POST (--forward) or to a command (--exec)",
        description="Token in MAILBRIDGE_TOKEN. Reconnects and resumes after disconnects; nothing is lost or repeated.",
    )
    listen.add_argument("--account", required=True)
    target = listen.add_mutually_exclusive_group(required=True)
    target.add_argument("--forward", metavar="URL", help="POST each event here, signed as a Standard Webhook")
    target.add_argument("--exec", metavar="CMD", dest="exec_", help="run CMD per event with its JSON on stdin")
    listen.add_argument(
        "--secret",
        default=os.environ.get("MAILBRIDGE_WEBHOOK_SECRET"),
        help="whsec_ signing secret for --forward (default: MAILBRIDGE_WEBHOOK_SECRET, else a new one, printed)",
    )
    listen.add_argument(
        "--url", default=os.environ.get("MAILBRIDGE_URL"), help="Mailbridge's base URL (default: MAILBRIDGE_URL, "
        "else BRIDGE_PUBLIC_URL)"
    )  # fmt: skip
    listen.add_argument("--since", help="start after this event id (default: from now on)")
    listen.set_defaults(func=_listen)
    return parser


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aioimaplib logs every protocol line at DEBUG, message contents included.
    logging.getLogger("aioimaplib").setLevel(logging.WARNING)


def _storage(settings: Settings) -> Storage:
    if settings.redis_url is None:
        raise ConfigError("BRIDGE_REDIS_URL is missing; set it, or use `python app.py run` for an embedded Redis")
    return Storage(connect(settings.redis_url), Vault(settings.secret.reveal()), settings.event_retention)


# --- tokens --------------------------------------------------------------------


def _token_create(args: argparse.Namespace, settings: Settings) -> int:
    with _redis_for_cli(settings) as resolved:
        scopes = [TokenScope(s) for s in args.scope or [TokenScope.ADMIN]]
        _, token = _storage(resolved).tokens.create(args.description, scopes, args.account)
    print(token)
    return 0


def _token_list(args: argparse.Namespace, settings: Settings) -> int:
    with _redis_for_cli(settings) as resolved:
        tokens = _storage(resolved).tokens.list()
    for t in tokens:
        scopes = ",".join(sorted(t.scopes))
        accounts = "*" if t.accounts is None else ",".join(sorted(t.accounts))
        print(f"{t.id}\t{t.created}\t{t.last_used or '-'}\t{scopes}\t{accounts}\t{t.description}")
    return 0


def _token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with _redis_for_cli(settings) as resolved:
        _storage(resolved).tokens.revoke(args.id)
    print(f"revoked {args.id}")
    return 0


class _redis_for_cli:
    """Use BRIDGE_REDIS_URL, or the dev embedded Redis (running or started for this command)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded: EmbeddedRedis | None = None

    def __enter__(self) -> Settings:
        if self.settings.redis_url is not None:
            return self.settings
        embedded = EmbeddedRedis(self.settings.data_dir)
        if embedded.socket.exists():
            try:
                _storage(replace(self.settings, redis_url=embedded.url)).ping()
                return replace(self.settings, redis_url=embedded.url)
            except BridgeError:
                pass
        self.embedded = embedded
        return replace(self.settings, redis_url=embedded.start())

    def __exit__(self, *exc: object) -> None:
        if self.embedded is not None:
            self.embedded.stop()


# --- agents ------------------------------------------------------------------------


def _mcp(args: argparse.Namespace, settings: Settings) -> int:
    from app import create_app
    from bridge.agents.stdio import TOKEN_ENV, serve

    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        print(f"mailbridge: set {TOKEN_ENV} to an API token (python app.py token create)", file=sys.stderr)
        return 2
    with _redis_for_cli(settings) as resolved:
        if _storage(resolved).tokens.authenticate(token) is None:
            print(f"mailbridge: {TOKEN_ENV} is not a valid API token", file=sys.stderr)
            return 2
        serve(create_app(resolved), token, resolved.public_url)
    return 0


def _listen(args: argparse.Namespace, settings: Settings) -> int:
    import httpx
    from mailbridge import Mailbridge, MailbridgeError

    from bridge.runtime import listen
    from bridge.webhooks.signing import generate_secret

    token = os.environ.get("MAILBRIDGE_TOKEN", "").strip()
    if not token:
        print("mailbridge: set MAILBRIDGE_TOKEN to an API token with the read scope", file=sys.stderr)
        return 2
    if args.forward:
        secret = args.secret or generate_secret()
        if not args.secret:
            print(f"mailbridge: signing with {secret} (pass --secret to choose one)", file=sys.stderr)
        handle = listen.forwarder(args.forward, secret, http=httpx.Client(timeout=listen.FORWARD_TIMEOUT_S))
    else:
        handle = listen.executor(args.exec_)
    client = Mailbridge(args.url or settings.public_url, token)
    try:
        listen.run(client, args.account, handle, since=args.since)
    except MailbridgeError as exc:
        print(f"mailbridge: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


# --- processes -------------------------------------------------------------------


def _web(args: argparse.Namespace, settings: Settings) -> int:
    _storage(settings)  # fail early on a missing BRIDGE_REDIS_URL
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "gunicorn.conf.py"),
        "--chdir",
        str(ROOT),
        "wsgi:app",
    ]
    os.execv(sys.executable, cmd)  # noqa: S606 - replaces this process with gunicorn


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from bridge import jobs
    from workers.context import worker_context

    storage = _storage(settings)
    # The one context every job of this process uses (storage, dispatcher, SMTP pool): workers/context.py.
    with worker_context(storage, settings):
        jobs.run_worker(storage.redis, burst=args.burst)
    return 0


def _watch(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.imap import runner

    _storage(settings)  # fail early on a missing BRIDGE_REDIS_URL
    runner.main(settings)
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    embedded: EmbeddedRedis | None = None
    if settings.redis_url is None:
        embedded = EmbeddedRedis(settings.data_dir)
        settings = replace(settings, redis_url=embedded.start())
    children: list[subprocess.Popen[bytes]] = []
    try:
        storage = _storage(settings)
        if not storage.tokens.list():
            _, token = storage.tokens.create("admin (created by the first `make run`)")
            print(
                f"\nFirst start: an admin API token was created. It is shown only now:\n\n    {token}\n",
                flush=True,
            )
        env = dict(
            os.environ,
            BRIDGE_REDIS_URL=str(settings.redis_url),
            BRIDGE_SECRET=settings.secret.reveal(),
        )
        for role in ROLES:
            # Tied to this process: should `run` be killed outright, its roles stop with it.
            command = [*dies_with_parent(), sys.executable, str(ROOT / "app.py"), role]
            children.append(subprocess.Popen(command, env=env))  # noqa: S603 - our own entry point
        print(
            f"Mailbridge is starting at http://{settings.host}:{settings.port}  (console: /, docs: /docs, health: /health)",
            flush=True,
        )
        return _supervise(children, _RedisKeeper(embedded) if embedded is not None else None)
    finally:
        _stop_all(children)
        if embedded is not None:
            embedded.stop()


def _supervise(children: list[subprocess.Popen[bytes]], redis_keeper: _RedisKeeper | None) -> int:
    """Wait until a role exits or we are told to stop; return its exit code. Keep the embedded Redis up."""
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop:
        for child in children:
            code = child.poll()
            if code is not None:
                log.error("process %s exited with %s; stopping the others", child.args, code)
                return code or 1
        if redis_keeper is not None:
            redis_keeper.check()
        time.sleep(0.2)
    return 0


class _RedisKeeper:
    """Start the embedded Redis again when it dies, with a growing pause while it keeps failing.

    Its data survives in the append-only file (fsynced every second, so a killed server
    loses at most the last second of writes). The roles see a short Redis outage.
    """

    PAUSE_S = (1.0, 30.0)  # first and longest pause between failed starts

    def __init__(self, embedded: EmbeddedRedis) -> None:
        self.embedded = embedded
        self.pause = self.PAUSE_S[0]
        self.next_try = 0.0

    def check(self) -> None:
        code = self.embedded.exit_code
        if code is None or time.monotonic() < self.next_try:
            return
        log.error("the embedded redis-server exited with %s; starting it again", code)
        started = time.monotonic()
        try:
            self.embedded.start()
        except ConfigError as exc:
            log.error("the embedded Redis did not start (%s); next try in %.0f s", exc.message, self.pause)
            self.next_try = time.monotonic() + self.pause
            self.pause = min(self.pause * 2, self.PAUSE_S[1])
            return
        log.warning("the embedded Redis is back after a restart of %.1f s", time.monotonic() - started)
        self.pause = self.PAUSE_S[0]


def _stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
