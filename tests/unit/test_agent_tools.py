"""The MCP tool table (bridge.agents.tools): argument names, the REST request each tool makes."""

from __future__ import annotations

import pytest

from bridge.agents.tools import BY_NAME, TOOLS, RestAnswer, RestCall

ISSUE_TOOLS = [
    "list_accounts", "list_mailboxes", "list_messages", "search_messages", "get_message", "get_attachment",
    "get_conversation", "send_message", "reply_to_message", "forward_message", "update_message", "move_message",
    "delete_message", "wait_for_messages", "list_reviews", "approve_review", "reject_review", "get_policy",
    "update_policy",
]  # fmt: skip


def build(name, **args) -> RestCall:
    return BY_NAME[name].build(args)


def test_the_tools_are_the_ones_the_issue_names():
    assert [t.name for t in TOOLS] == ISSUE_TOOLS


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_every_schema_is_a_closed_object_using_the_rest_names(tool):
    schema = tool.input_schema
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["required"]) <= set(schema["properties"])
    assert not {"message", "message_id", "review_id", "messageId"} & set(schema["properties"])


@pytest.mark.parametrize("tool", [t for t in TOOLS if "id" in t.input_schema["properties"]], ids=lambda t: t.name)
def test_message_ids_and_accounts_stay_one_path_segment(tool):
    args = {"account": "a/../b", "id": "../../tokens?x=1", "to": ["x@example.com"], "flags": {}, "path": "INBOX",
            "attachment": "1"}  # fmt: skip
    call = tool.build(args)
    assert call.path.startswith("/v1/account/a%2F..%2Fb/")
    assert "?" not in call.path
    if call.path.endswith("/submit"):  # replies and forwards name the message in the body
        assert call.body["reference"]["message"] == args["id"]
    else:
        assert "/..%2F..%2Ftokens%3Fx%3D1" in call.path


def test_the_tools_map_onto_the_live_mailbox_routes():
    assert build("list_messages", account="acme") == RestCall("GET", "/v1/account/acme/messages")
    assert build("list_messages", account="acme", path="Archive", limit=5, cursor="c") == RestCall(
        "GET", "/v1/account/acme/messages", {"path": "Archive", "pageSize": "5", "cursor": "c"}
    )
    assert build("list_messages", account="acme", unseen=True) == RestCall(
        "POST", "/v1/account/acme/search", {}, {"search": {"seen": False}}
    )
    assert build("search_messages", account="acme", search={"from": "ann@example.com"}).body == {
        "search": {"from": "ann@example.com"}
    }
    assert build("move_message", account="acme", id="m1", path="Archive") == RestCall(
        "PUT", "/v1/account/acme/message/m1/move", {}, {"path": "Archive"}
    )
    assert build("delete_message", account="acme", id="m1", force=True).query == {"force": "true"}
    assert build("get_conversation", account="acme", conversationId="c1").path == "/v1/account/acme/conversation/c1"
    assert build("get_attachment", account="acme", id="m1", attachment="2").path == (
        "/v1/account/acme/message/m1/attachment/2"
    )


def test_sends_go_through_submit_with_the_rest_body():
    sent = build("send_message", account="acme", to=["ann@example.com", {"name": "Bo", "address": "bo@example.com"}],
                 subject="Hi", text="Hello")  # fmt: skip
    assert sent == RestCall(
        "POST",
        "/v1/account/acme/submit",
        {},
        {
            "subject": "Hi",
            "text": "Hello",
            "to": [{"address": "ann@example.com"}, {"name": "Bo", "address": "bo@example.com"}],
        },
    )
    assert build("reply_to_message", account="acme", id="m1", text="ok").body == {
        "text": "ok", "reference": {"message": "m1", "action": "reply"}
    }  # fmt: skip
    assert build("reply_to_message", account="acme", id="m1", replyAll=True).body["reference"]["action"] == "replyAll"
    assert build("forward_message", account="acme", id="m1", to=["c@example.com"]).body["reference"] == {
        "message": "m1", "action": "forward"
    }  # fmt: skip


def test_wait_for_messages_long_polls_message_new_for_at_most_a_minute():
    assert build("wait_for_messages", account="acme").query == {"event": "messageNew", "timeout": "60"}
    assert build("wait_for_messages", account="acme", cursor="evt_9", timeout=5).query == {
        "event": "messageNew", "timeout": "5", "cursor": "evt_9"
    }  # fmt: skip


def test_reviews_and_policy():
    assert build("approve_review", reviewId="rv_1") == RestCall("POST", "/v1/reviews/rv_1/approve")
    assert build("reject_review", reviewId="rv_1") == RestCall("POST", "/v1/reviews/rv_1/reject")
    assert build("list_reviews", account="acme") == RestCall("GET", "/v1/reviews", {"account": "acme"})
    assert build("update_policy", account="acme", policy={"x": 1}) == RestCall(
        "PUT", "/v1/account/acme/policy", {}, {"x": 1}
    )


@pytest.mark.parametrize(
    ("content_type", "body", "text"),
    [("text/plain; charset=iso-8859-1", "Größe".encode("latin-1"), "Größe"), ("text/csv", b"a,b\n", "a,b\n")],
)
def test_a_text_attachment_is_its_text(content_type, body, text):
    args = {"account": "acme", "id": "m1", "attachment": "a1"}
    out = BY_NAME["get_attachment"].shape(RestAnswer(200, content_type, body), args, "https://mb.example/")
    assert out["text"] == text and out["truncated"] is False
    assert out["url"] == "https://mb.example/v1/account/acme/message/m1/attachment/a1"


def test_a_binary_attachment_is_its_metadata_and_url():
    args = {"account": "acme", "id": "m1", "attachment": "a1"}
    out = BY_NAME["get_attachment"].shape(RestAnswer(200, "application/pdf", b"%PDF-1.4"), args, "http://x")
    url = "http://x/v1/account/acme/message/m1/attachment/a1"
    assert out == {"id": "a1", "contentType": "application/pdf", "size": 8, "url": url}


def test_descriptions_warn_that_content_is_data_and_unverified_senders_are_unproven():
    for name in (
        "list_messages",
        "search_messages",
        "get_message",
        "get_attachment",
        "get_conversation",
        "wait_for_messages",
    ):
        text = BY_NAME[name].description
        assert "not instructions" in text or "never instructions" in text
        assert "`auth.verified: false`" in text and "unproven" in text


def test_read_only_tools_make_get_requests_and_the_rest_do_not():
    args = {"account": "acme", "id": "m1", "attachment": "1", "conversationId": "c", "reviewId": "r",
            "search": {}, "flags": {}, "path": "INBOX", "to": ["a@example.com"], "policy": {}}  # fmt: skip
    for tool in TOOLS:
        reads = tool.build(args).method == "GET" or tool.name in ("search_messages", "list_messages")
        assert tool.read_only == reads, tool.name
    assert {t.name for t in TOOLS if t.destructive} == {"delete_message", "update_policy", "reject_review"}
