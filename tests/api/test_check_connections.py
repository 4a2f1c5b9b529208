"""Connection checks of a watched account ride its watcher's command connection (issue 14, "Connections").

Real parts: Dovecot, the SMTP sink, Redis, a watcher thread. Logins are counted in Dovecot's own log
(``DovecotServer.logins``: one line per IMAP login), and ``doveadm who`` is sampled while the checks run.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.api.conftest import WatcherThread


def _check(app, auth, body) -> dict:
    """``POST /v1/verifyAccount`` with the body's servers, from a client of its own (one per web thread)."""
    resp = app.test_client().post("/v1/verifyAccount", json={"imap": body["imap"], "smtp": body["smtp"]}, headers=auth)
    assert resp.status_code == 200, resp.json
    return resp.json


def test_checks_of_a_watched_account_log_in_to_nothing(app, auth, attached, account_body, dovecot, mailbox):
    body = account_body()
    before = dovecot.logins(mailbox.address)
    with dovecot.sampling_sessions(mailbox.address) as counts, ThreadPoolExecutor(4) as web:
        results = list(web.map(lambda _: _check(app, auth, body), range(12)))
    assert [(r["imap"]["success"], r["smtp"]["success"]) for r in results] == [(True, True)] * 12
    # The command connection, opened by the first check and kept; no login per check.
    assert dovecot.logins(mailbox.address) - before == 1
    assert counts and max(counts) <= 2, counts  # IDLE + BRIDGE_IMAP_COMMAND_CONNECTIONS (1)


def test_wrong_credentials_of_a_watched_account_are_still_refused(app, auth, attached, account_body):
    body = account_body()
    body["imap"]["auth"]["pass"] = "wrong"
    result = _check(app, auth, body)
    assert result["imap"]["success"] is False and result["imap"]["code"] == "authenticationFailed"


def test_without_a_watcher_the_check_logs_in_itself(app, auth, client, account_body, dovecot, mailbox):
    assert client.post("/v1/accounts", json=account_body(), headers=auth).status_code == 201
    before = dovecot.logins(mailbox.address)
    assert _check(app, auth, account_body())["imap"]["success"] is True
    assert dovecot.logins(mailbox.address) - before == 1


def test_attaching_a_watched_mailbox_again_reads_its_folders_on_the_watcher(
    client, auth, attached, account_body, storage, dovecot, mailbox
):
    assert client.get("/v1/account/acme/mailboxes", headers=auth).status_code == 200  # opens the command connection
    before = dovecot.logins(mailbox.address)
    resp = client.post("/v1/accounts", json=account_body("acme2"), headers=auth)
    assert resp.status_code == 201, resp.json
    assert dovecot.logins(mailbox.address) == before  # read on acme's command connection
    first, second = storage.accounts.get("acme"), storage.accounts.get("acme2")
    assert second.watch == first.watch and len(first.watch) == 2  # INBOX and the \Junk folder found by LIST
    # Its baseline (UIDNEXT - 1 from the watcher's STATUS): the folders are empty.
    assert [storage.mailstate.checkpoint("acme2", f)[1] for f in second.watch] == [0, 0]


def test_a_watcher_whose_mailbox_is_down_leaves_the_check_to_a_login(
    app, auth, client, account_body, storage, dns, dovecot, mailbox
):
    assert client.post("/v1/accounts", json=account_body(), headers=auth).status_code == 201
    watcher = WatcherThread(storage, "acme", dns.address).start()
    try:
        dovecot.stop()
        result = _check(app, auth, account_body())
    finally:
        dovecot.start()
        watcher.stop()
    # The watcher cannot check a server it has no connection to: the login says what is wrong.
    assert result["imap"]["success"] is False and result["imap"]["code"] == "connectFailed"
