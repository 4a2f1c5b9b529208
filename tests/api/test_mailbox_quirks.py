"""The live mailbox against behaviour the test Dovecot lacks (issue 14, parts 3 and 6).

Played by ``tests.servers.imap_quirks.QuirkProxy`` in front of the real Dovecot (a declared test
seam): a server that refuses to CREATE a Trash folder (``DELETE`` without ``force`` is then
``409 noTrashFolder`` and expunges nothing), and a Gmail-like server (X-GM-EXT-1) for ``labels``
on ``PUT …/message/{id}`` and the ``gmailRaw`` search. Every answer is checked with a second IMAP
client straight to Dovecot, past the proxy.
"""

from __future__ import annotations

import imaplib

import pytest

from tests.api.conftest import WatcherThread
from tests.servers.imap_quirks import QuirkProxy, keyword, serving
from tests.watcher_support import mail


def _attach(client, auth, storage, dns, mailbox, port: int) -> WatcherThread:
    body = {
        "account": "acme",
        "email": mailbox.address,
        "imap": {"host": mailbox.host, "port": port, "secure": False, "starttls": False,
                 "auth": {"user": mailbox.address, "pass": mailbox.password}},
    }  # fmt: skip
    created = client.post("/v1/accounts", json=body, headers=auth)
    assert created.status_code == 201, created.json
    return WatcherThread(storage, "acme", dns.address).start()


def _imap(mailbox) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(mailbox.host, mailbox.imap_port)  # Dovecot itself, not the proxy
    conn.login(mailbox.address, mailbox.password)
    return conn


def _flags(mailbox, folder: str = "INBOX") -> dict[int, list[str]]:
    conn = _imap(mailbox)
    try:
        conn.select(folder, readonly=True)
        _, data = conn.uid("fetch", "1:*", "(UID FLAGS)")
        out = {}
        for line in data:
            if line:
                text = line.decode()
                uid = int(text.split("UID ")[1].split()[0])
                out[uid] = text.split("FLAGS (")[1].split(")")[0].split()
        return out
    finally:
        conn.logout()


def _folders(mailbox) -> list[str]:
    conn = _imap(mailbox)
    try:
        return [line.decode().rsplit(" ", 1)[-1].strip('"') for line in conn.list()[1]]
    finally:
        conn.logout()


# --- no Trash, and the server refuses to create one ------------------------------------------------


def test_delete_without_a_trash_the_server_will_not_create_is_409_and_expunges_nothing(
    client, auth, storage, dns, no_trash
):
    mailbox = no_trash.new_account()
    no_trash.deliver(mailbox.address, mail(1))
    no_trash.deliver(mailbox.address, mail(2))
    with serving(QuirkProxy(mailbox.imap_port, refuse_create=["Trash"])) as proxy:
        watcher = _attach(client, auth, storage, dns, mailbox, proxy.port)
        try:
            listed = client.get("/v1/account/acme/messages", headers=auth).json["messages"]
            (first, first_uid), (second, _) = ((m["id"], m["uid"]) for m in listed)
            one = client.delete(f"/v1/account/acme/message/{first}", headers=auth)
            bulk = client.put("/v1/account/acme/messages/delete", json={"ids": [second]}, headers=auth)
            after_refusals = _flags(mailbox)
            forced = client.delete(f"/v1/account/acme/message/{first}?force=true", headers=auth)
        finally:
            watcher.stop()
    for refused in (one, bulk):
        assert refused.status_code == 409, refused.json
        assert refused.json["error"]["code"] == "noTrashFolder"
    assert proxy.creates_refused == ["Trash", "Trash"]  # it asked; the server said NO each time
    # Nothing moved, nothing marked \Deleted, no Trash appeared.
    assert sorted(after_refusals) == [1, 2] and not any("\\Deleted" in f for f in after_refusals.values())
    assert "Trash" not in _folders(mailbox)
    # Only force expunges.
    assert forced.status_code == 200 and forced.json["movedTo"] is None
    assert sorted(_flags(mailbox)) == sorted({1, 2} - {first_uid})


# --- Gmail: labels and X-GM-RAW ------------------------------------------------------------------------


@pytest.fixture
def gmail(client, auth, storage, dns, mailbox):
    """acme attached through a Gmail-like proxy (X-GM-EXT-1) in front of Dovecot."""
    with serving(QuirkProxy(mailbox.imap_port, gmail=True)) as proxy:
        watcher = _attach(client, auth, storage, dns, mailbox, proxy.port)
        try:
            yield proxy
        finally:
            watcher.stop()


def test_labels_are_added_and_removed_with_x_gm_labels(client, auth, dovecot, mailbox, gmail):
    dovecot.deliver(mailbox.address, mail(1))
    [listed] = client.get("/v1/account/acme/messages", headers=auth).json["messages"]
    assert listed["labels"] == []
    url = f"/v1/account/acme/message/{listed['id']}"

    added = client.put(url, json={"labels": {"add": ["Work", "Receipts 2026"]}}, headers=auth)
    assert added.status_code == 200, added.json
    assert sorted(added.json["labels"]) == ["Receipts 2026", "Work"]
    assert {keyword("Work"), keyword("Receipts 2026")} <= set(_flags(mailbox)[listed["uid"]])

    removed = client.put(url, json={"labels": {"delete": ["Work"]}, "flags": {"add": ["\\Flagged"]}}, headers=auth)
    assert removed.status_code == 200, removed.json
    assert removed.json["labels"] == ["Receipts 2026"] and "\\Flagged" in removed.json["flags"]
    on_server = set(_flags(mailbox)[listed["uid"]])
    assert keyword("Work") not in on_server and {keyword("Receipts 2026"), "\\Flagged"} <= on_server
    [again] = client.get("/v1/account/acme/messages", headers=auth).json["messages"]
    assert again["labels"] == ["Receipts 2026"] and "\\Flagged" in again["flags"]


def test_gmail_raw_is_searched_with_x_gm_raw(client, auth, dovecot, mailbox, gmail):
    for n in (1, "pineapple", 2):
        dovecot.deliver(mailbox.address, mail(n))
    found = client.post("/v1/account/acme/search", json={"search": {"gmailRaw": "pineapple"}}, headers=auth)
    assert found.status_code == 200, found.json
    conn = _imap(mailbox)
    try:
        conn.select("INBOX", readonly=True)
        expected = [int(u) for u in conn.uid("search", None, "TEXT", "pineapple")[1][0].split()]
    finally:
        conn.logout()
    assert [m["uid"] for m in found.json["messages"]] == expected and len(expected) == 1
    assert found.json["messages"][0]["subject"] == "message pineapple"


def test_labels_and_gmail_raw_need_a_gmail_server(client, auth, storage, dns, dovecot, mailbox):
    dovecot.deliver(mailbox.address, mail(1))
    watcher = _attach(client, auth, storage, dns, mailbox, mailbox.imap_port)  # Dovecot, no proxy
    try:
        [listed] = client.get("/v1/account/acme/messages", headers=auth).json["messages"]
        labels = client.put(f"/v1/account/acme/message/{listed['id']}", json={"labels": {"add": ["Work"]}},
                            headers=auth)  # fmt: skip
        raw = client.post("/v1/account/acme/search", json={"search": {"gmailRaw": "body"}}, headers=auth)
    finally:
        watcher.stop()
    assert "labels" not in listed
    assert labels.status_code == 422 and labels.json["error"]["code"] == "labelsNotSupported"
    assert raw.status_code == 422 and raw.json["error"]["code"] == "searchNotSupported"
