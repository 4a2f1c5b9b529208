"""A message read keeps its folder selected on the command connection; other clients may rename it meanwhile.

Real parts: Dovecot, Redis, a watcher thread; a second IMAP client renames and deletes folders. Dovecot
ends a session (BYE) whose selected folder another session renamed or deleted: the next read on that
connection meets a closed connection, and must still answer as if the connection had been fresh.
"""

from __future__ import annotations

import pytest

from tests.api.test_messages import Imap, simple


@pytest.fixture
def imap(mailbox) -> Imap:
    return Imap(mailbox)


def _messages(client, auth, path: str) -> list[dict]:
    listing = client.get("/v1/account/acme/messages", query_string={"path": path}, headers=auth)
    assert listing.status_code == 200, listing.json
    return listing.json["messages"]


def _create(imap: Imap, folder: str) -> None:
    async def act(c):
        assert (await c.create(folder)).result == "OK"

    imap.run(act)


def _rename(imap: Imap, old: str, new: str) -> None:
    async def act(c):
        assert (await c.rename(old, new)).result == "OK"

    imap.run(act)


def test_a_read_after_another_client_renames_the_kept_folder_answers_404(client, auth, attached, imap):
    _create(imap, "Projects")
    imap.append_many([simple(1), simple(2)], folder="Projects")
    second, first = _messages(client, auth, "Projects")
    assert client.get(f"/v1/account/acme/message/{first['id']}/source", headers=auth).status_code == 200

    _rename(imap, "Projects", "Archive")  # Projects was kept selected by that read
    for message in (second, first):
        gone = client.get(f"/v1/account/acme/message/{message['id']}/source", headers=auth)
        assert gone.status_code == 404 and gone.json["error"]["code"] == "messageNotFound", gone.json
    # Under its new name, each message reads as before.
    moved = _messages(client, auth, "Archive")
    assert [m["subject"] for m in moved] == [second["subject"], first["subject"]]
    for message in moved:
        assert client.get(f"/v1/account/acme/message/{message['id']}/source", headers=auth).status_code == 200


def test_a_read_after_the_kept_folder_was_renamed_and_made_again_gives_the_right_data(client, auth, attached, imap):
    _create(imap, "Projects")
    imap.append_many([simple(1)], folder="Projects")
    [old] = _messages(client, auth, "Projects")
    assert client.get(f"/v1/account/acme/message/{old['id']}", headers=auth).status_code == 200

    _rename(imap, "Projects", "Archive")
    _create(imap, "Projects")  # a new folder of the same name: a new UIDVALIDITY, so the old id names nothing
    imap.append_many([simple(5)], folder="Projects")
    gone = client.get(f"/v1/account/acme/message/{old['id']}", headers=auth)
    assert gone.status_code == 404 and gone.json["error"]["code"] == "messageNotFound", gone.json
    [new] = _messages(client, auth, "Projects")
    read = client.get(f"/v1/account/acme/message/{new['id']}", headers=auth)
    assert read.status_code == 200 and read.json["subject"] == new["subject"] != old["subject"]
