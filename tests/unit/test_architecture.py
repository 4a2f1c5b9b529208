"""Keep the layering true: pure modules free of I/O, each library behind its one adapter.

Parses the source with ast (nothing is imported), in the spirit of httpx's
test_exported_members.py. The rules are HOUSE_STYLE.md's "Dependency direction".
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BRIDGE = ROOT / "bridge"

# Pure: no sockets, no Redis, no Flask, no environment, no clock.
PURE = [
    "errors.py", "keys.py", "models.py", "message.py", "mime_headers.py", "mime_parts.py",
    "auth_results.py", "received.py", "dmarc.py", "spf_check.py", "dkim_check.py", "arc_check.py",
    "resolver_protocol.py",
    "addresses.py", "crypto.py", "imap/responses.py", "events.py", "records.py", "analysis.py",
    "compose.py", "compose_reply.py", "compose_types.py", "signing.py", "ssrf.py", "review.py",
    "oauth/presets.py", "oauth/sasl.py", "oauth/pkce.py", "oauth/identity.py",
    "schemas", "bounces", "policy",
]  # fmt: skip
IO_MODULES = {
    "redis", "rq", "flask", "flask_sock", "aioimaplib", "aiosmtplib", "smtplib", "imaplib", "socket",
    "http", "httpx", "requests", "urllib3", "urllib.request", "asyncio", "subprocess", "dns.resolver",
}  # fmt: skip
CLOCK_AND_ENV = {"now", "utcnow", "today", "time", "monotonic", "environ", "getenv"}

# library -> the only places allowed to import it
OWNERS = {
    "redis": ["storage", "jobs.py", "embedded_redis.py"],
    "rq": ["jobs.py", "../workers"],
    "flask": ["api", "../app.py"],
    "flask_sock": ["api"],
    "aioimaplib": ["imap"],
    "aiosmtplib": ["smtp.py"],
}


def _files(entries: list[str]) -> list[Path]:
    found: list[Path] = []
    for entry in entries:
        path = (BRIDGE / entry).resolve()
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.exists() else [])
    return found


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _all_sources() -> list[Path]:
    return sorted(BRIDGE.rglob("*.py")) + sorted((ROOT / "workers").rglob("*.py")) + [ROOT / "app.py", ROOT / "wsgi.py"]


PURE_FILES = [p for p in _files(PURE) if p.name != "__main__.py"]  # a CLI entry may read files


def test_pure_modules_exist():
    # Guard against the list silently matching nothing after a rename.
    assert len(PURE_FILES) >= 12


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_imports_no_io(path):
    bad = {name for name in _imports(path) if any(name == m or name.startswith(m + ".") for m in IO_MODULES)}
    assert not bad, f"{path.relative_to(ROOT)} imports I/O modules {sorted(bad)}"


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_module_reads_no_clock_or_environment(path):
    tree = ast.parse(path.read_text())
    bad = sorted(
        {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr in CLOCK_AND_ENV}
    )
    assert not bad, f"{path.relative_to(ROOT)} uses {bad}: pass time and settings in"


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_library_is_imported_only_by_its_adapter(library):
    allowed = set(_files(OWNERS[library]))
    offenders = [
        str(p.relative_to(ROOT))
        for p in _all_sources()
        if p.resolve() not in allowed and any(n == library or n.startswith(library + ".") for n in _imports(p))
    ]
    assert not offenders, f"{library} is imported outside its adapter: {offenders}"


def test_only_keys_py_spells_the_redis_prefix():
    offenders = [
        str(p.relative_to(ROOT)) for p in _all_sources() if p.name != "keys.py" and '"bridge:' in p.read_text()
    ]
    assert not offenders


def test_only_message_py_parses_mail():
    offenders = [
        str(p.relative_to(ROOT))
        for p in _all_sources()
        if p.name != "message.py" and "message_from_bytes" in p.read_text()
    ]
    assert not offenders, "parse once: call bridge.message.parse, never the stdlib parser"
