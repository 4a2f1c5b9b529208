"""A kept listing is never stale: whatever a second client changes shows on the next listing or search.

The command connection keeps the listed folder selected read-only and serves a kept answer again
after a NOOP when no change notice came since the folder was selected (``bridge.imap.live.examine``).
These tests change the folder from a second IMAP session on the real Dovecot between two listings,
including when the notice reaches the command connection during some other command (a message read,
a search, a FETCH), which aioimaplib files under that command or drops.
"""

from __future__ import annotations

import asyncio
import json

import aioimaplib
import pytest
from aioimaplib.aioimaplib import Command

from bridge.config import Secret
from bridge.errors import NotFound
from bridge.imap import live, session
from bridge.imap.handshake import Protocol
from bridge.mail import ids
from bridge.mailbox import operations
from bridge.mailbox.operations import Answers
from bridge.models import ServerConfig
from tests.servers.dovecot import MailAccount

PAGE = {"path": "INBOX", "pageSize": 5, "page": 0, "cursor": None}


def note(n: int) -> bytes:
    return f"From: a@example.test\r\nSubject: note {n}\r\nMessage-ID: <n{n}@example.test>\r\n\r\nbody {n}\r\n".encode()


class Ours:
    """The bridge's side: one command connection and its kept answers, run as the watcher runs commands."""

    def __init__(self, client: aioimaplib.IMAP4) -> None:
        self.client, self.answers = client, Answers()

    async def call(self, op: str, args: dict) -> operations.Reply:
        return await operations.run(operations.OPERATIONS[op], op, self.client, args, b"", self.answers)

    async def listing(self, folder: str = "INBOX") -> list[dict]:
        return json.loads((await self.call("list", {**PAGE, "path": folder})).payload)["messages"]

    async def seen(self) -> list[int]:
        reply = await self.call("search", {**PAGE, "search": {"seen": True}})
        return [m["uid"] for m in json.loads(reply.payload)["messages"]]


async def other_session(mailbox: MailAccount) -> aioimaplib.IMAP4:
    other = aioimaplib.IMAP4(mailbox.host, mailbox.imap_port, timeout=10)
    await other.wait_hello_from_server()
    await other.login(mailbox.address, mailbox.password)
    await other.select("INBOX")
    return other


@pytest.fixture
async def both(mailbox):
    config = ServerConfig(mailbox.host, mailbox.imap_port, mailbox.address, Secret(mailbox.password), starttls=False)
    seed = await other_session(mailbox)
    for n in range(3):
        assert (await seed.append(note(n), mailbox="INBOX")).result == "OK"
    await seed.logout()
    client = await session.connect(config)
    await live.prepare(client)
    other = await other_session(mailbox)
    yield Ours(client), other
    await other.logout()
    await session.close(client)


def flags(listing: list[dict], uid: int) -> list[str]:
    return next(m["flags"] for m in listing if m["uid"] == uid)


async def test_a_kept_listing_is_served_again_while_nothing_changed(both):
    ours, _ = both
    first = await ours.call("list", PAGE)
    assert live.keeps(ours.client, "INBOX")  # the folder stays selected for the next listing
    heard = ours.client.protocol.notices
    assert await ours.call("list", PAGE) is first  # the kept answer, after a NOOP that told of nothing ...
    assert ours.client.protocol.notices == heard  # ... and no second EXAMINE (its EXISTS would count)
    assert [m["uid"] for m in json.loads(first.payload)["messages"]] == [3, 2, 1]


async def change(other: aioimaplib.IMAP4, kind: str) -> None:
    if kind == "flag":
        await other.uid("store", "2", "+FLAGS.SILENT", "(\\Seen)")
    elif kind == "append":
        await other.append(note(9), mailbox="INBOX")
    else:
        await other.uid("store", "3", "+FLAGS.SILENT", "(\\Deleted)")
        await other.uid("expunge", "3")


def shows(kind: str, listing: list[dict]) -> bool:
    if kind == "flag":
        return "\\Seen" in flags(listing, 2)
    if kind == "append":
        return listing[0]["subject"] == "note 9"
    return [m["uid"] for m in listing] == [2, 1]


@pytest.mark.parametrize("kind", ["flag", "append", "expunge"])
@pytest.mark.parametrize("between", ["nothing", "message read", "search", "uid fetch"])
async def test_a_change_by_another_client_shows_on_the_next_listing(both, kind, between):
    # Whatever ran in the kept selection between the two listings (and heard of the change there, with
    # a NOOP of its own or within its answer), the second listing shows the change.
    ours, other = both
    before = await ours.listing()
    uidvalidity = live._kept[ours.client].selected.status.uidvalidity
    await change(other, kind)
    if between == "message read":
        read = await ours.call("source", {"id": ids.encode("INBOX", uidvalidity, 1)})
        assert read.payload.startswith(b"From: a@example.test") and live.keeps(ours.client, "INBOX")
    elif between == "search":
        await ours.seen()
    elif between == "uid fetch":
        await live.ok(ours.client.uid("fetch", "1", "(UID)"), "UID FETCH")
    assert not shows(kind, before) and shows(kind, await ours.listing())


async def test_a_change_heard_during_a_search_shows_in_the_search_and_the_next_listing(both):
    ours, other = both
    await ours.listing()
    assert await ours.seen() == []
    await other.append(note(9), mailbox="INBOX", flags="(\\Seen)")
    assert await ours.seen() == [4]  # the search hears of the new message ...
    assert [m["uid"] for m in await ours.listing()] == [4, 3, 2, 1]  # ... and so does the next listing


@pytest.mark.parametrize("change", ["flag", "append"])
async def test_a_notice_a_fetch_takes_in_is_not_lost(both, change):
    # Dovecot tells a flag change during a UID FETCH (aioimaplib files it under the FETCH's lines) and
    # a new message during a FETCH (aioimaplib drops the EXISTS): the next NOOP repeats neither.
    ours, other = both
    await ours.listing()
    if change == "flag":
        await other.uid("store", "2", "+FLAGS.SILENT", "(\\Seen)")
        fetched = await live.ok(ours.client.uid("fetch", "1", "(UID)"), "UID FETCH")
        assert any(b"MODSEQ" in bytes(line) for line in fetched.lines)  # the notice came here, not to a NOOP
        assert "\\Seen" in flags(await ours.listing(), 2)
    else:
        await other.append(note(9), mailbox="INBOX")
        await live.ok(ours.client.fetch("1", "(UID)"), "FETCH")
        assert [m["subject"] for m in await ours.listing()][0] == "note 9"


async def test_a_search_kept_sees_a_flag_change_by_another_client(both):
    ours, other = both
    await ours.listing()
    assert await ours.seen() == []
    await other.uid("store", "1", "+FLAGS.SILENT", "(\\Seen)")
    assert await ours.seen() == [1]


async def test_a_listing_of_another_folder_is_fresh_and_moves_the_selection(both):
    ours, other = both
    await ours.listing()
    assert (await other.create('"Other"')).result == "OK"
    assert await ours.listing("Other") == []
    assert live.keeps(ours.client, "Other") and not live.keeps(ours.client, "INBOX")
    assert (await other.append(note(5), mailbox='"Other"')).result == "OK"
    await other.uid("store", "3", "+FLAGS.SILENT", "(\\Seen)")
    # INBOX is not selected now, so its STATUS is current; Other's kept selection hears of the APPEND.
    assert "\\Seen" in flags(await ours.listing(), 3)
    assert [m["subject"] for m in await ours.listing("Other")] == ["note 5"]


async def test_a_command_that_changes_leaves_the_kept_selection(both):
    ours, _ = both
    listed = await ours.listing()
    await ours.call("flags", {"id": listed[0]["id"], "add": ["\\Flagged"]})
    assert ours.client.get_state() == "AUTH" and not live.keeps(ours.client, "INBOX")
    assert "\\Flagged" in flags(await ours.listing(), listed[0]["uid"])


async def test_a_notice_right_after_the_selections_answer_is_not_taken_as_part_of_it():
    # RFC 3501 § 5.2 lets a server send an EXISTS at any time, so also in the same read as the EXAMINE's
    # tagged answer, before the selection's count is taken: it must count as heard after the selection.
    protocol = Protocol(asyncio.get_running_loop())
    protocol.state = "SELECTED"
    protocol.pending_sync_command = Command("EXAMINE", "A1", "INBOX")
    protocol.data_received(
        b"* 3 EXISTS\r\n* OK [HIGHESTMODSEQ 7] Highest\r\nA1 OK [READ-ONLY] Examined\r\n* 4 EXISTS\r\n"
    )
    assert (protocol.notices_when_answered, protocol.notices) == (2, 3)


async def test_two_command_connections_share_kept_answers_and_each_sees_changes(both, mailbox):
    # BRIDGE_IMAP_COMMAND_CONNECTIONS=2: the account's kept answers are shared; each connection keeps
    # its own selection and hears of changes on its own.
    ours, other = both
    config = ServerConfig(mailbox.host, mailbox.imap_port, mailbox.address, Secret(mailbox.password), starttls=False)
    second = Ours(await session.connect(config))
    second.answers = ours.answers
    try:
        await live.prepare(second.client)
        first = await ours.call("list", PAGE)
        assert await second.call("list", PAGE) is first  # its STATUS shows the version the answer was kept at
        await change(other, "flag")
        assert shows("flag", await second.listing())
        assert shows("flag", await ours.listing())
        await change(other, "append")
        assert shows("append", await ours.listing()) and shows("append", await second.listing())
    finally:
        await session.close(second.client)


async def test_a_read_of_a_rebuilt_folders_id_leaves_no_untracked_selection(both):
    # The read EXAMINEs the folder, then finds the id's UIDVALIDITY is not the folder's (404). The folder
    # stays selected; were that not tracked, the next listing's STATUS would answer from its old view.
    ours, other = both
    before = await ours.listing()
    uidvalidity = ids.decode(before[0]["id"]).uidvalidity
    await ours.call("list", {**PAGE, "path": "Trash"})  # Trash selected now: the read EXAMINEs INBOX again
    with pytest.raises(NotFound):
        await ours.call("source", {"id": ids.encode("INBOX", uidvalidity + 1, 1)})
    await change(other, "flag")
    assert not shows("flag", before) and shows("flag", await ours.listing())


async def test_a_selection_no_read_keeps_track_of_is_left_before_the_next_read(both):
    # Should any path leave a folder selected without recording it, the next read leaves it first
    # rather than asking STATUS of it (answered from its old view).
    ours, other = both
    before = await ours.listing()
    await live.leave(ours.client, read_only=True)
    await live.select(ours.client, "INBOX")  # selected, and recorded nowhere
    await change(other, "flag")
    assert not shows("flag", before) and shows("flag", await ours.listing())
