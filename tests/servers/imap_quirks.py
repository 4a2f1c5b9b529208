"""A test seam, not our code: an IMAP proxy in front of the real Dovecot that behaves like other servers.

Emulates, at the network edge, behaviour the test Dovecot does not have, so the bridge's
handling of it is tested over a real IMAP session (``tcp_proxy.FaultProxy`` underneath):

- ``refuse_create``: CREATE of the named folders is answered ``NO [NOPERM]`` by the proxy and
  never reaches Dovecot (a server or an admin policy that will not let the bridge make a Trash
  or Sent folder).
- ``gmail``: advertises ``X-GM-EXT-1`` and translates Gmail's extensions into what Dovecot has:
  ``X-GM-RAW "q"`` in a SEARCH becomes ``TEXT "q"``; ``STORE ±X-GM-LABELS (…)`` becomes
  ``STORE ±FLAGS (…)`` with one keyword per label (``$gm_`` and the label's UTF-8 in hex, so
  any label is an atom); ``X-GM-LABELS`` in a FETCH becomes FLAGS, and in the answer those
  keywords leave FLAGS and come back as ``X-GM-LABELS ("label" …)``. Gmail's semantics beyond
  that (system labels, label-as-folder, its search grammar) are not played.

The rewriting is by line, on commands and untagged answers; message literals pass unchanged
(none of the patterns below starts a line of test mail). No pytest imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Iterable, Iterator

from tests.servers.tcp_proxy import FaultProxy

_CREATE = re.compile(rb'^(\S+) CREATE ("(?:[^"\\]|\\.)*"|\S+)', re.I)
_CAPABILITY = re.compile(rb"\bCAPABILITY IMAP4rev1\b", re.I)
_GM_RAW = re.compile(rb'\bX-GM-RAW ("(?:[^"\\]|\\.)*")', re.I)
_STORE_LABELS = re.compile(rb"\b([+-]?)X-GM-LABELS(\.SILENT)? \(([^)]*)\)", re.I)
_COMMAND = re.compile(rb"^\S+ (UID )?(SEARCH|STORE|FETCH) ", re.I)
_FETCH_ANSWER = re.compile(rb"^\* \d+ FETCH \(", re.I)
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)", re.I)
_LABEL = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')
_KEYWORD = "$gm_"


def keyword(label: str) -> str:
    """The Dovecot keyword that stands for a Gmail label."""
    return _KEYWORD + label.encode().hex()


class QuirkProxy(FaultProxy):
    def __init__(self, upstream_port: int, *, refuse_create: Iterable[str] = (), gmail: bool = False) -> None:
        super().__init__(upstream_port)
        self.refused = {name.lower() for name in refuse_create}
        self.gmail = gmail
        self.creates_refused: list[str] = []
        self.intercept = self._command
        self.rewrite = self._answer if gmail else None

    def _command(self, line: bytes) -> tuple[bytes, bytes]:
        create = _CREATE.match(line)
        if create is not None:
            name = create.group(2).strip(b'"').decode()
            if name.lower() in self.refused:
                self.creates_refused.append(name)
                return b"", create.group(1) + b" NO [NOPERM] Permission denied\r\n"
        if self.gmail and _COMMAND.match(line):
            line = _GM_RAW.sub(rb"TEXT \1", line)
            line = _STORE_LABELS.sub(self._labels_as_keywords, line)
            if b"X-GM-LABELS" in line.upper():  # a FETCH: labels are read from FLAGS
                has_flags = re.search(rb"\bFLAGS\b", line, re.I) is not None
                line = re.sub(rb" ?\bX-GM-LABELS\b", b"" if has_flags else b" FLAGS", line, flags=re.I)
        return line, b""

    @staticmethod
    def _labels_as_keywords(match: re.Match[bytes]) -> bytes:
        labels = [_unquote(q, a) for q, a in _LABEL.findall(match.group(3))]
        keywords = " ".join(keyword(label) for label in labels).encode()
        return match.group(1) + b"FLAGS" + (match.group(2) or b"") + b" (" + keywords + b")"

    def _answer(self, line: bytes) -> bytes:
        line = _CAPABILITY.sub(b"CAPABILITY IMAP4rev1 X-GM-EXT-1", line)
        if not _FETCH_ANSWER.match(line):
            return line
        flags = _FLAGS.search(line)
        if flags is None:
            return line
        plain, labels = [], []
        for flag in flags.group(1).split():
            name = flag.decode()
            if name.startswith(_KEYWORD):
                labels.append('"' + bytes.fromhex(name[len(_KEYWORD) :]).decode().replace('"', '\\"') + '"')
            else:
                plain.append(name)
        replaced = f"FLAGS ({' '.join(plain)}) X-GM-LABELS ({' '.join(labels)})".encode()
        return line[: flags.start()] + replaced + line[flags.end() :]


def _unquote(quoted: bytes, atom: bytes) -> str:
    return quoted.decode().replace('\\"', '"').replace("\\\\", "\\") if quoted else atom.decode()


@contextlib.contextmanager
def serving(proxy: FaultProxy) -> Iterator[FaultProxy]:
    """Run ``proxy`` on an event loop of its own (a thread), for tests that are not async."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(5)
        yield proxy
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
