"""Settings: every BRIDGE_* variable, read once, typed and validated.

``load_settings(environ)`` is the only reader of the environment. A bad value
stops startup with a ``ConfigError`` naming the variable. Secrets are wrapped
in ``Secret`` so they never show up in a repr, a log line or a traceback.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets as _secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from bridge.errors import ConfigError

DEFAULT_PORT = 3000
DEFAULT_HOST = "127.0.0.1"
DEV_SECRET_FILE = "secret.key"  # noqa: S105 - a file name, not a secret
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_MIN_SECRET_LENGTH = 16


@dataclass(frozen=True, slots=True)
class EventRetention:
    """How much of each account's event stream is kept: ``max_bytes`` of envelopes and
    ``max_age_s`` seconds, whichever is reached first (BRIDGE_EVENT_RETENTION, e.g. ``16MiB,7d``).
    This is the WebSocket resume horizon (``?since=``) and, with the webhook delivery
    retention, the only mail content Redis holds."""

    max_bytes: int = 16 * 1024 * 1024
    max_age_s: int = 7 * 24 * 3600


DEFAULT_EVENT_RETENTION = "16MiB,7d"
_SIZE_UNITS = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "KB": 1000, "MB": 1000**2, "GB": 1000**3}
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Below these, a client that reconnects after a blip could not resume; above, Redis is the mailbox again.
_MIN_EVENT_BYTES, _MAX_EVENT_BYTES = 64 * 1024, 1024**3
_MIN_EVENT_AGE_S, _MAX_EVENT_AGE_S = 60, 90 * 86400


def parse_event_retention(value: str) -> EventRetention:
    """Parse ``<size>,<age>`` (either order; one may be left out and keeps its default).

    Size: a whole number with B, KiB, MiB, GiB (or KB, MB, GB), 64 KiB to 1 GiB.
    Age: a whole number with s, m, h or d, 1 minute to 90 days.

    Raises:
        ConfigError: anything else.
    """
    sizes: list[int] = []
    ages: list[int] = []
    parts = [p.strip() for p in value.split(",")]
    for part in parts:
        digits = part[: len(part) - len(part.lstrip("0123456789"))]
        unit = part[len(digits) :].strip()
        if not digits or (unit not in _SIZE_UNITS and unit not in _AGE_UNITS):
            raise ConfigError(
                f"BRIDGE_EVENT_RETENTION must be '<size>,<age>' such as '16MiB,7d' (units B, KiB, MiB, GiB; "
                f"s, m, h, d), not {value!r}"
            )
        if unit in _SIZE_UNITS:
            sizes.append(int(digits) * _SIZE_UNITS[unit])
        else:
            ages.append(int(digits) * _AGE_UNITS[unit])
    if len(sizes) > 1 or len(ages) > 1:
        raise ConfigError(f"BRIDGE_EVENT_RETENTION takes at most one size and one age, not {value!r}")
    default = EventRetention()
    found = EventRetention(sizes[0] if sizes else default.max_bytes, ages[0] if ages else default.max_age_s)
    if not _MIN_EVENT_BYTES <= found.max_bytes <= _MAX_EVENT_BYTES:
        raise ConfigError(f"BRIDGE_EVENT_RETENTION: the size must be from 64KiB to 1GiB, not {value!r}")
    if not _MIN_EVENT_AGE_S <= found.max_age_s <= _MAX_EVENT_AGE_S:
        raise ConfigError(f"BRIDGE_EVENT_RETENTION: the age must be from 1m to 90d, not {value!r}")
    return found


class Secret:
    """A string that is masked wherever it could be printed."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret itself; call only where it is used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and _secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime configuration of every Mailbridge process.

    Attributes:
        redis_url: BRIDGE_REDIS_URL; None means "start an embedded Redis" (development only).
        secret: BRIDGE_SECRET; derives the key that encrypts credentials at rest
            and signs review links. Required in production; in development a
            random one is kept in ``data_dir/secret.key``.
        host, port: BRIDGE_HOST / BRIDGE_PORT of the web API.
        public_url: BRIDGE_PUBLIC_URL, the externally reachable base URL used in magic links.
        dns_servers: BRIDGE_DNS_SERVERS as (host, port) pairs; empty means the system resolver.
        env: BRIDGE_ENV; production refuses a missing secret and private webhook targets.
        data_dir: BRIDGE_DATA_DIR, where the embedded Redis and the dev secret live.
        log_level: BRIDGE_LOG_LEVEL.
        analysis_processes: BRIDGE_ANALYSIS_PROCESSES, worker processes a watcher starts to analyse
            a backlog (``bridge.inbound.pool``); None means one per core but one, 0 means threads only.
        imap_command_connections: BRIDGE_IMAP_COMMAND_CONNECTIONS, command connections per account
            (``bridge.imap.pool``) beside its IDLE connection, for the live mailbox API; 1 to 16, default 1.
        event_retention: BRIDGE_EVENT_RETENTION, how much of each account's event stream is kept.
    """

    secret: Secret
    redis_url: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    public_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    dns_servers: tuple[tuple[str, int], ...] = ()
    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = field(default_factory=lambda: Path("data"))
    log_level: str = "INFO"
    analysis_processes: int | None = None
    imap_command_connections: int = 1
    event_retention: EventRetention = field(default_factory=EventRetention)

    @property
    def production(self) -> bool:
        return self.env is Environment.PRODUCTION


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read BRIDGE_* variables into Settings.

    Raises:
        ConfigError: a variable is malformed, or required and missing.
    """
    env = _parse_env(environ.get("BRIDGE_ENV", "development"))
    data_dir = Path(environ.get("BRIDGE_DATA_DIR") or "data")
    host = environ.get("BRIDGE_HOST") or DEFAULT_HOST
    port = _parse_port("BRIDGE_PORT", environ.get("BRIDGE_PORT"), DEFAULT_PORT)
    redis_url = _parse_redis_url(environ.get("BRIDGE_REDIS_URL"))
    if redis_url is None and env is Environment.PRODUCTION:
        raise ConfigError("BRIDGE_REDIS_URL is missing; production does not start an embedded Redis")
    secret = _parse_secret(environ.get("BRIDGE_SECRET"), env, data_dir)
    public_url = _parse_public_url(environ.get("BRIDGE_PUBLIC_URL"), host, port)
    level = (environ.get("BRIDGE_LOG_LEVEL") or "INFO").upper()
    if level not in _LOG_LEVELS:
        raise ConfigError(f"BRIDGE_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}, not {level!r}")
    return Settings(
        secret=secret,
        redis_url=redis_url,
        host=host,
        port=port,
        public_url=public_url,
        dns_servers=parse_dns_servers(environ.get("BRIDGE_DNS_SERVERS", "")),
        env=env,
        data_dir=data_dir,
        log_level=level,
        analysis_processes=_parse_count("BRIDGE_ANALYSIS_PROCESSES", environ.get("BRIDGE_ANALYSIS_PROCESSES")),
        imap_command_connections=_parse_connections(environ.get("BRIDGE_IMAP_COMMAND_CONNECTIONS")),
        event_retention=parse_event_retention(environ.get("BRIDGE_EVENT_RETENTION") or DEFAULT_EVENT_RETENTION),
    )


def _parse_connections(value: str | None) -> int:
    if value is None or value == "":
        return 1
    if not value.isdigit() or not 1 <= int(value) <= 16:
        raise ConfigError(f"BRIDGE_IMAP_COMMAND_CONNECTIONS must be a whole number from 1 to 16, not {value!r}")
    return int(value)


def parse_dns_servers(value: str) -> tuple[tuple[str, int], ...]:
    """Parse ``host[:port],…`` (IPv6 as ``[addr]:port``) into (host, port) pairs.

    Raises:
        ConfigError: an entry is not an IP address with an optional port.
    """
    servers: list[tuple[str, int]] = []
    for raw in filter(None, (item.strip() for item in value.split(","))):
        host, port_text = raw, ""
        if raw.startswith("["):
            host, _, rest = raw[1:].partition("]")
            port_text = rest.removeprefix(":")
        elif raw.count(":") == 1:
            host, port_text = raw.split(":")
        try:
            ipaddress.ip_address(host)
        except ValueError as exc:
            raise ConfigError(f"BRIDGE_DNS_SERVERS: {raw!r} is not an IP address[:port]") from exc
        servers.append((host, _parse_port("BRIDGE_DNS_SERVERS", port_text or None, 53)))
    return tuple(servers)


def _parse_env(value: str) -> Environment:
    try:
        return Environment(value.strip().lower())
    except ValueError as exc:
        raise ConfigError(f"BRIDGE_ENV must be 'development' or 'production', not {value!r}") from exc


def _parse_port(name: str, value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigError(f"{name} must be a port number from 1 to 65535, not {value!r}")
    return int(value)


def _parse_count(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) > 64:
        raise ConfigError(f"{name} must be a whole number from 0 to 64, not {value!r}")
    return int(value)


def _parse_redis_url(value: str | None) -> str | None:
    if not value:
        return None
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("BRIDGE_REDIS_URL must start with redis://, rediss:// or unix://")
    return value


def _parse_public_url(value: str | None, host: str, port: int) -> str:
    if not value:
        return f"http://{host}:{port}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"BRIDGE_PUBLIC_URL must be an absolute http(s) URL, not {value!r}")
    return value.rstrip("/")


def _parse_secret(value: str | None, env: Environment, data_dir: Path) -> Secret:
    if value:
        if len(value) < _MIN_SECRET_LENGTH:
            raise ConfigError(f"BRIDGE_SECRET must be at least {_MIN_SECRET_LENGTH} characters long")
        return Secret(value)
    if env is Environment.PRODUCTION:
        raise ConfigError("BRIDGE_SECRET is missing, and production has no default")
    return Secret(_dev_secret(data_dir))


def _dev_secret(data_dir: Path) -> str:
    """Keep one random secret per data dir, so a dev restart can still decrypt."""
    path = data_dir / DEV_SECRET_FILE
    try:
        if path.exists():
            return path.read_text().strip()
        data_dir.mkdir(parents=True, exist_ok=True)
        value = _secrets.token_urlsafe(32)
        path.touch(mode=0o600)
        path.write_text(value + "\n")
    except OSError as exc:
        raise ConfigError(f"BRIDGE_DATA_DIR: cannot keep the development secret in {path}: {exc}") from exc
    logging.getLogger(__name__).warning("BRIDGE_SECRET is not set; using a generated one in %s", path)
    return value
