"""A private Dovecot (IMAP, IMAPS, LMTP) for tests and benchmarks.

Owns one generated config in a temp dir, its self-signed cert, the users'
passwd-files and the Maildir tree. No pytest imports: bench/ reuses it.

Dovecot runs in the foreground
(`-F`) as our child, so we hold the master pid and nothing daemonizes away.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import grp
import itertools
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bridge.runtime.embedded_redis import dies_with_parent
from tests.servers.process import free_port

HOST = "127.0.0.1"
DOMAIN = "example.test"
MAIL_UID = 65534  # nobody: a root master refuses to run mail processes as root.
# Auto-created (and subscribed) for every user; name -> RFC 6154 SPECIAL-USE flag.
SPECIAL_USE = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}


@dataclass(frozen=True, slots=True)
class MailAccount:
    """One Dovecot user and where to reach its mailbox."""

    address: str
    password: str
    host: str
    imap_port: int
    imaps_port: int
    lmtp_port: int
    cafile: str


def _bin(name: str) -> str:
    # Debian installs dovecot in /usr/sbin, which is not on every user's PATH.
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise RuntimeError(f"{name} not found: apt-get install dovecot-imapd dovecot-lmtpd")
    return found


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _refuses(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), 0.2).close()
    except OSError:
        return True
    return False


class DovecotServer:
    """A throwaway Dovecot listening on free loopback ports.

    Ports stay fixed for the object's life, so `stop()` then `start()` looks
    to clients like the same server going down and coming back.
    """

    def __init__(
        self,
        *,
        oauth_introspection_url: str | None = None,
        oauth_mechanisms: str = "xoauth2 oauthbearer",
        special_use: dict[str, str] | None = None,
    ) -> None:
        # With an introspection URL, XOAUTH2/OAUTHBEARER logins are checked by Dovecot's oauth2
        # passdb against that RFC 7662 endpoint; passwords keep working through the passwd-files.
        # oauth_mechanisms="xoauth2" makes it look like Outlook, which offers no OAUTHBEARER.
        self.oauth_introspection_url = oauth_introspection_url
        self.oauth_mechanisms = oauth_mechanisms
        # The auto-created special-use folders (a server without a Sent folder leaves "Sent" out).
        self.special_use = SPECIAL_USE if special_use is None else special_use
        self.dir = Path(tempfile.mkdtemp(prefix="mb-dovecot-"))
        self.dir.chmod(0o755)  # mail processes (uid nobody under root) traverse it
        self.host = HOST
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.lmtp_port = free_port()
        self.cafile = str(self.dir / "cert.pem")  # self-signed: also the CA to trust
        self.keyfile = str(self.dir / "key.pem")  # lets other test servers reuse the cert
        self.config = str(self.dir / "dovecot.conf")
        self.log_path = self.dir / "dovecot.log"
        self.mail_dir = self.dir / "mail"
        self._users_dir = self.dir / "users"
        self._users: dict[str, str] = {}
        self._seen: set[str] = set()  # addresses whose file Dovecot may have cached
        self._mtime = 0  # last passwd-file mtime written, strictly increasing
        self._counter = itertools.count(1)
        self._offline_seq = itertools.count(1)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        for sub in ("run", "state", "mail", "users"):
            (self.dir / sub).mkdir()
        self._make_cert()
        Path(self.config).write_text(self._render_config())
        atexit.register(self.close)

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start Dovecot and wait until IMAP, IMAPS and LMTP accept connections."""
        if self.running:
            return
        if os.geteuid() == 0:
            self._chown_mail()
        self._proc = subprocess.Popen(
            [*dies_with_parent(), _bin("dovecot"), "-F", "-c", self.config],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # Own process group, so stop() can signal every Dovecot process.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        for port in (self.imap_port, self.imaps_port, self.lmtp_port):
            self._wait_port(port, deadline)

    def stop(self) -> None:
        """Stop Dovecot now: listeners and open IMAP sessions are gone on return.

        SIGTERM to the master alone is not enough: it lingers ~1 s while its
        log process drains, and already-connected imap processes outlive it
        and keep answering clients. Signalling the whole group ends it all
        in < 50 ms. Mail and users are kept.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        _signal_group(proc.pid, signal.SIGKILL)  # any straggler still in the group

    def close(self) -> None:
        """Stop and delete the temp dir. Idempotent (atexit calls it too)."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        atexit.unregister(self.close)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def reset(self) -> None:
        """Delete every mailbox and every user, keeping the server up.

        Dovecot keeps no per-user state outside the mail dir once sessions end,
        so `doveadm kick` (ends sessions a test left open) then wiping the
        tree is enough, and cheaper than a restart. A deleted user may still
        log in for up to 1 s (see `add_user`); `new_account()` never reuses
        an address, so only tests about deleting users can notice.
        """
        if self.running:
            self._doveadm("kick", "*", check=False)
        for child in self.mail_dir.iterdir():
            shutil.rmtree(child, ignore_errors=True)
        with self._lock:
            self._users.clear()
            for child in self._users_dir.iterdir():
                child.unlink()

    # -- users and mail ----------------------------------------------------

    def add_user(self, address: str, password: str) -> MailAccount:
        """Create or re-password a user; the next login sees it.

        Each user has their own passwd-file: Dovecot re-stats a passwd-file at
        most once per second (db-passwd-file.c, passwd_file_sync), so a shared
        file rewritten in the same second as any login would serve the old
        copy. A file it never read is always read fresh; rewriting one it may
        have read (same address again, e.g. after `reset()`) waits out the
        rest of the current second, up to 1 s.
        """
        with self._lock:
            path = self._users_dir / address
            tmp = path.with_name(f".{address}.tmp")
            tmp.write_text(f"{address}:{{PLAIN}}{password}::::::\n")
            tmp.chmod(0o644)
            # Dovecot reloads only if st_mtime (whole seconds) or size changed.
            self._mtime = max(int(time.time()), self._mtime + 1)
            os.utime(tmp, (self._mtime, self._mtime))
            os.replace(tmp, path)
            self._users[address] = password
            if address in self._seen:
                time.sleep(1.01 - time.time() % 1)
            self._seen.add(address)
        return self.account(address)

    def new_account(self, prefix: str = "user") -> MailAccount:
        """Create a user with a unique address such as ``user-3@example.test``."""
        n = next(self._counter)
        return self.add_user(f"{prefix}-{n}@{DOMAIN}", f"pw-{n}-{os.getpid()}")

    def account(self, address: str) -> MailAccount:
        return MailAccount(
            address=address,
            password=self._users[address],
            host=self.host,
            imap_port=self.imap_port,
            imaps_port=self.imaps_port,
            lmtp_port=self.lmtp_port,
            cafile=self.cafile,
        )

    def deliver(self, rcpt: str, raw: bytes, mail_from: str = f"sender@{DOMAIN}") -> None:
        """Deliver `raw` to `rcpt`'s INBOX over LMTP, as an MTA would."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], raw)

    def append_offline(self, user: str, folder: str, raw: bytes) -> Path:
        """Drop `raw` into `folder` as a new Maildir file; works while Dovecot is down.

        LMTP and doveadm both need the auth process, so with Dovecot stopped
        the only way in is the Maildir itself. Dovecot indexes the file as a
        new message (next UID, \\Recent) on the next session.
        """
        maildir = self.mail_dir / user / "Maildir"
        if folder.upper() != "INBOX":
            # Maildir++ layout: folder "a.b" lives in Maildir/.a.b
            maildir = maildir / f".{folder}"
        created = [p for p in (maildir, *(maildir / sub for sub in ("tmp", "new", "cur"))) if not p.exists()]
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        now = time.time()
        name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(self._offline_seq)}.mb-test"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(raw)
        if os.geteuid() == 0:
            # Only what we made: Dovecot may be moving other files (new/ -> cur/) right now.
            for path in (*created, tmp):
                os.lchown(path, MAIL_UID, MAIL_UID)
        os.replace(tmp, maildir / "new" / name)  # Maildir delivery: tmp/ then rename into new/
        return maildir / "new" / name

    def sessions(self, user: str) -> int:
        """IMAP connections the server holds for ``user`` now (``doveadm who``, one line per connection)."""
        out = self._doveadm("who", "-1", user, check=False)
        return sum(1 for line in out.splitlines()[1:] if line.split()[:1] == [user] and " imap " in f" {line} ")

    @contextlib.contextmanager
    def sampling_sessions(self, user: str) -> Iterator[list[int]]:
        """``sessions(user)`` sampled over and over in a thread while the block runs; the counts."""
        counts: list[int] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                counts.append(self.sessions(user))

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            yield counts
        finally:
            done.set()
            sampler.join()

    def logins(self, user: str) -> int:
        """IMAP logins of ``user`` so far, from the log (one line each: none slips between two samples)."""
        log = self.log_path.read_text(errors="replace").splitlines()
        return sum(1 for line in log if "imap-login: Info: Login: " in line and f"user=<{user}>" in line)

    # -- internals ---------------------------------------------------------

    def _doveadm(self, *args: str, check: bool = True) -> str:
        result = subprocess.run([_bin("doveadm"), "-c", self.config, *args], capture_output=True, timeout=30)
        if check and result.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {result.stderr.decode()}")
        return result.stdout.decode()

    def _chown_mail(self) -> None:
        os.chown(self.mail_dir, MAIL_UID, MAIL_UID)
        for root, dirs, files in os.walk(self.mail_dir):
            for name in (*dirs, *files):
                os.lchown(os.path.join(root, name), MAIL_UID, MAIL_UID)

    def _wait_port(self, port: int, deadline: float) -> None:
        while _refuses(port):
            if not self.running or time.monotonic() > deadline:
                self.stop()
                log = self.log_path.read_text() if self.log_path.exists() else ""
                raise RuntimeError(f"Dovecot did not listen on {port}; log:\n{log}")
            time.sleep(0.002)

    def _make_cert(self) -> None:
        # An EC key generates in milliseconds (RSA-2048 takes ~100 ms); the SAN
        # makes hostname checks pass for both names clients use.
        args = "req -x509 -nodes -days 3650 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj /CN=localhost"
        san = "subjectAltName=DNS:localhost,IP:127.0.0.1"
        cmd = ["openssl", *args.split(), "-addext", san, "-keyout", self.keyfile, "-out", self.cafile]
        subprocess.run(cmd, check=True, capture_output=True)

    def _render_config(self) -> str:
        mailboxes = "".join(
            f"  mailbox {name} {{\n    special_use = {flag}\n    auto = subscribe\n  }}\n"
            for name, flag in self.special_use.items()
        )
        if os.geteuid() == 0:
            identity = f"mail_uid = {MAIL_UID}\nmail_gid = {MAIL_UID}\n"
        else:
            # An unprivileged master can neither switch users nor chroot.
            user = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            identity = (
                f"default_login_user = {user}\ndefault_internal_user = {user}\n"
                f"default_internal_group = {group}\n"
                "service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}\n"
            )
        return self._base_config(identity, mailboxes) + self._oauth_config()

    def _oauth_config(self) -> str:
        if not self.oauth_introspection_url:
            return ""
        ext = self.dir / "dovecot-oauth2.conf.ext"
        # Dovecot 2.3 oauth2 passdb: POST token=<token> to the introspection URL; the token
        # is good when "active" is true and "username" equals the login name.
        ext.write_text(
            "introspection_mode = post\n"
            f"introspection_url = {self.oauth_introspection_url}\n"
            "force_introspection = yes\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
        )
        return f"""\
passdb {{
  driver = oauth2
  mechanisms = {self.oauth_mechanisms}
  args = {ext}
}}
"""

    def _base_config(self, identity: str, mailboxes: str) -> str:
        oauth = self.oauth_introspection_url is not None
        mechanisms = f"plain login {self.oauth_mechanisms}" if oauth else "plain login"
        passwd_mechanisms = "  mechanisms = plain login\n" if oauth else ""
        # LMTP's user lookup would otherwise go to the passdbs, and the oauth2 one cannot look users up.
        userdb_extra = " allow_all_users=yes" if oauth else ""
        return f"""\
protocols = imap lmtp
listen = {HOST}
base_dir = {self.dir}/run
state_dir = {self.dir}/state
instance_name = mb-dovecot-{os.getpid()}-{self.imap_port}
log_path = {self.log_path}
ssl = yes
ssl_cert = <{self.cafile}
ssl_key = <{self.keyfile}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
# Default 2 s: every wrong-password test would sleep that long.
auth_failure_delay = 0
mail_location = maildir:{self.mail_dir}/%u/Maildir
mail_fsync = never
first_valid_uid = 1
passdb {{
  driver = passwd-file
{passwd_mechanisms}  args = scheme=PLAIN username_format=%u {self._users_dir}/%u
}}
userdb {{
  driver = static
  args = home={self.mail_dir}/%u{userdb_extra}
}}
namespace inbox {{
  inbox = yes
{mailboxes}}}
service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    port = {self.lmtp_port}
  }}
}}
service anvil {{
  # Auth penalty (2^n s delay for every login from an IP after failures)
  # is off when auth cannot reach this socket; mode 0 makes connect() fail.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  # The default of 10 per user and IP is too low for fan-out tests.
  mail_max_userip_connections = 200
}}
{identity}"""


async def imap_logout(client) -> None:
    """LOGOUT a test's own aioimaplib client, and close its socket.

    aioimaplib never closes its transport after LOGOUT (it waits for the server to), and a TLS
    close() waits for the peer's close_notify; if the test's loop ends first the socket leaks and
    its ResourceWarning fails some later test. abort() closes it on the next loop iteration.
    """
    try:
        await client.logout()
    finally:
        if client.protocol.transport is not None:
            client.protocol.transport.abort()
        await asyncio.sleep(0)
