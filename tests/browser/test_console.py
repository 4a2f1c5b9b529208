"""The operator console in real headless Chromium: sign-in, accounts going live, events, reviews, webhooks, tokens.

Everything behind the pages is real: the app on a real port (werkzeug), the test
Redis, Dovecot, the SMTP sink, the HTTP receiver, a real watcher and the RQ jobs
run in-process. Each test saves screenshots of the pages it visits under
``test-artifacts/console/`` (git-ignored; ``BRIDGE_TEST_ARTIFACTS`` moves it),
and checks each is a real, non-blank image of the viewport.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bridge.events.emit import emit
from bridge.imap.watcher import AccountWatcher, WatchTiming
from bridge.inbound.pipeline import InboundPipeline
from bridge.models import TokenScope
from bridge.senderauth.resolver import DnsResolver
from bridge.webhooks import signing
from tests.api.conftest import WatcherThread
from tests.api.test_reviews import RECIPIENT, drain, set_policy, submit, to
from tests.browser.test_review_pages import png_size_and_colours
from tests.watcher_support import append, mail
from tests.webhook_support import drain as drain_webhooks
from tests.webhook_support import webhook_worker

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("BRIDGE_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "console"
WAIT_S = 20
# While a page navigates, Chromium may answer a query with "unhandled inspector error" (a WebDriverException
# with no subclass): the next poll reads the new page. A real failure still ends the wait at its timeout.
IGNORED = (NoSuchElementException, StaleElementReferenceException, WebDriverException)


@pytest.fixture
def base(served):
    return served[1].public_url


def shot(driver, name: str) -> None:
    """Save the viewport as ``<name>.png`` and check it is a real picture, not a blank page."""
    data = driver.get_screenshot_as_png()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(data)
    width, height, distinct = png_size_and_colours(data)
    assert (width, height) == tuple(driver.execute_script("return [window.innerWidth, window.innerHeight]"))
    assert distinct > 5, f"{name}: the page rendered blank"


def until(driver, condition, what: str = "condition"):
    return WebDriverWait(driver, WAIT_S, ignored_exceptions=IGNORED).until(condition, what)


def on_page(driver, name: str) -> None:
    until(driver, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-page") == name, f"page {name}")


def sign_in(driver, base: str, token: str, page: str = "accounts") -> None:
    driver.get(f"{base}/console/signin")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "signin").click()
    on_page(driver, page)


def click_confirmed(driver, element_id: str) -> None:
    """Click a button whose form asks first (data-confirm), and say yes."""
    driver.find_element(By.ID, element_id).click()
    until(driver, lambda d: d.switch_to.alert, "the confirm dialog").accept()


class GatedWatch:
    """A real watcher and inbound pipeline for one account whose login waits for a slot the test hands out.

    The slots are the watcher's own login limiter (``connect_slots``), held at zero: the watch reports
    "connecting" and waits, as it would behind other accounts logging in, until ``open_slot``.
    """

    def __init__(self, storage, account_id: str, dns_address) -> None:
        self.executor = ThreadPoolExecutor(2)
        pipeline = InboundPipeline(storage, DnsResolver([dns_address], timeout=1.0), self.executor)
        self.slots = asyncio.Semaphore(0)
        timing = WatchTiming(poll_interval_s=0.3, retry_base_s=0.05, retry_cap_s=0.3)
        self.watcher = AccountWatcher(storage.accounts.get(account_id), pipeline, storage.mailstate, timing=timing,
                                      connect_slots=self.slots)  # fmt: skip
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.thread.start()
        assert self.ready.wait(10), "the watch's loop did not start"

    async def _main(self) -> None:
        self.loop, self.stopping = asyncio.get_running_loop(), asyncio.Event()
        task = asyncio.create_task(self.watcher.run())
        self.ready.set()
        await self.stopping.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    def open_slot(self) -> None:
        self.loop.call_soon_threadsafe(self.slots.release)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)
        self.executor.shutdown()


def state_of(driver, account: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'tr[data-account="{account}"] .state-cell .state').text


def test_signed_out_pages_redirect_to_sign_in_and_back(browser, base, token):
    browser.get(f"{base}/")
    on_page(browser, "signin")
    shot(browser, "signin")
    browser.get(f"{base}/console/outbox")
    on_page(browser, "signin")
    assert "/console/signin?next=" in browser.current_url
    browser.find_element(By.ID, "token").send_keys("mb_wrong")
    browser.find_element(By.ID, "signin").click()
    until(browser, lambda d: d.find_element(By.ID, "signin-error"))
    assert "not valid" in browser.find_element(By.ID, "signin-error").text
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "signin").click()
    on_page(browser, "outbox")  # back where the operator was going
    shot(browser, "outbox")
    assert all(c["name"] != "mb_console" or c["httpOnly"] for c in browser.get_cookies())
    browser.find_element(By.ID, "signout").click()
    on_page(browser, "signin")
    browser.get(f"{base}/console/tokens")
    on_page(browser, "signin")


def test_a_post_without_the_csrf_token_is_refused(browser, base, token, storage):
    sign_in(browser, base, token)
    before = {t.id for t in storage.tokens.list()}
    # A form another page could build: right cookie (same browser), no CSRF field.
    browser.execute_script(
        """const f = document.createElement('form'); f.method = 'post'; f.action = '/console/tokens';
        for (const [k, v] of [['description', 'forged'], ['scopes', 'admin']]) {
          const i = document.createElement('input'); i.name = k; i.value = v; f.append(i); }
        document.body.append(f); f.submit();"""
    )
    on_page(browser, "error")
    assert browser.find_element(By.ID, "error").get_attribute("data-status") == "403"
    assert "CSRF" in browser.find_element(By.ID, "error").text
    shot(browser, "csrf-refused")
    assert {t.id for t in storage.tokens.list()} == before


def test_add_an_account_and_see_it_go_from_connecting_to_connected(browser, base, token, storage, mailbox, smtp, dns):
    smtp.add_user(mailbox.address, mailbox.password)
    sign_in(browser, base, token)
    shot(browser, "accounts-empty")
    browser.find_element(By.ID, "add-account").click()
    on_page(browser, "account-new")
    fields = {"account": "acme", "name": "Acme Support", "email": mailbox.address, "imap.host": mailbox.host,
              "imap.port": str(mailbox.imap_port), "imap.auth.user": mailbox.address,
              "imap.auth.pass": "wrong-password", "smtp.host": smtp.host, "smtp.port": str(smtp.port)}  # fmt: skip
    for name, value in fields.items():
        box = browser.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    for side in ("imap", "smtp"):
        browser.find_element(By.CSS_SELECTOR, f'select[name="{side}.security"] option[value="none"]').click()

    # The verify step: a wrong password is named on the IMAP side, and nothing is saved.
    browser.find_element(By.ID, "verify").click()
    until(browser, lambda d: d.find_element(By.ID, "imap-check"))
    assert "authenticationFailed" in browser.find_element(By.ID, "imap-check").text
    browser.find_element(By.NAME, "imap.auth.pass").clear()
    browser.find_element(By.NAME, "imap.auth.pass").send_keys(mailbox.password)
    browser.find_element(By.ID, "verify").click()
    until(browser, lambda d: "login works" in d.find_element(By.ID, "imap-check").text)
    assert "login works" in browser.find_element(By.ID, "smtp-check").text
    shot(browser, "account-new-verified")
    assert storage.accounts.list() == []

    browser.find_element(By.ID, "save").click()
    on_page(browser, "account")
    assert storage.accounts.get("acme").email == mailbox.address

    # A real watcher whose login waits for a slot: the account is "connecting" until the test hands one out.
    watch = GatedWatch(storage, "acme", dns.address)
    try:
        browser.get(f"{base}/console/")
        on_page(browser, "accounts")
        until(browser, lambda d: state_of(d, "acme") == "connecting", "state connecting")
        shot(browser, "accounts-connecting")
        watch.open_slot()
        until(browser, lambda d: state_of(d, "acme") == "connected", "state connected")
        shot(browser, "accounts-connected")
    finally:
        watch.stop()


def test_a_message_appended_to_dovecot_appears_live_on_the_account_page(
    browser, base, token, client, auth, account_body, storage, mailbox, dns
):
    assert client.post("/v1/accounts", json=account_body(), headers=auth).status_code == 201
    watcher = WatcherThread(storage, "acme", dns.address).start()
    try:
        sign_in(browser, base, token)
        browser.find_element(By.LINK_TEXT, "acme").click()
        on_page(browser, "account")
        until(browser, lambda d: d.find_element(By.ID, "live").get_attribute("data-state") == "on", "stream open")
        asyncio.run(append(mailbox, mail(1, to=mailbox.address, subject="Live from Dovecot")))
        row = until(
            browser,
            lambda d: next((r for r in d.find_elements(By.CSS_SELECTOR, "#events tbody tr") if "Live from Dovecot" in r.text), None),
            "the new message's event",
        )  # fmt: skip
        assert "messageNew" in row.text
        shot(browser, "account-live-event")
        [event] = watcher.wait_events(1)
        assert row.get_attribute("data-id") == event.id  # the stream's event, once

        # The message browser: the folder lists it; opening it shows who really sent it, plainly.
        browser.find_element(By.ID, "browse").click()
        on_page(browser, "mail")
        assert "INBOX" in browser.find_element(By.ID, "folders").text
        listed = browser.find_element(By.CSS_SELECTOR, f'#messages tr[data-message="{event.data["id"]}"]')
        assert "Live from Dovecot" in listed.text and "not verified" in listed.text
        shot(browser, "mail")
        listed.find_element(By.LINK_TEXT, "Live from Dovecot").click()
        on_page(browser, "message")
        assert browser.find_element(By.ID, "subject").text == "Live from Dovecot"
        verdict = browser.find_element(By.ID, "verdict").text
        assert verdict == "Not verified: nothing proves this message comes from example.test."
        assert "DMARC: none" in browser.find_element(By.ID, "auth").text
        assert "body 1" in browser.find_element(By.ID, "body").text
        shot(browser, "message")
    finally:
        watcher.stop()


def test_approve_a_held_message_from_the_reviews_page_and_it_is_sent_once(
    browser, base, token, client, auth, account_body, storage, smtp, workers
):
    assert client.post("/v1/accounts", json=account_body(verify=False), headers=auth).status_code == 201
    set_policy(client, auth)
    resp = submit(client, auth, text="Hi Ann,\nheld for a look first.\n")
    assert resp.status_code == 202
    review_id = resp.json["reviewId"]
    sign_in(browser, base, token)
    browser.find_element(By.LINK_TEXT, "Reviews").click()
    on_page(browser, "reviews")
    card = browser.find_element(By.ID, f"review-{review_id}")
    assert "Quarterly numbers" in card.text and "held for a look first." in card.text
    shot(browser, "reviews")
    browser.find_element(By.ID, f"approve-{review_id}").click()
    until(browser, lambda d: d.find_element(By.ID, "notice").text == "Approved.")
    assert browser.find_elements(By.ID, f"review-{review_id}") == []
    drain(storage, lambda: len(to(smtp, RECIPIENT)) == 1)
    drain(storage)
    [sent] = to(smtp, RECIPIENT)
    assert b"Subject: Quarterly numbers" in sent.raw
    assert storage.reviews.get(review_id).decided_by == f"token:{storage.tokens.authenticate(token).id}"


def test_redeliver_a_failed_webhook(browser, base, token, client, auth, storage, settings, http_receiver, redis_client):
    with webhook_worker(storage, settings) as dispatcher:
        http_receiver.respond_always(500, b"boom: upstream down")
        hook = client.post("/v1/webhooks", json={"url": http_receiver.url}, headers=auth).json
        emit(storage, "acme", "messageNew", {"subject": "hook me"}, dispatcher=dispatcher)

        def delivery():
            [(found, _)] = storage.webhooks.page(hook["id"], limit=5)[0]
            return found

        drain_webhooks(redis_client, lambda: delivery().status == "failed")
        http_receiver.recover()
        sign_in(browser, base, token)
        browser.find_element(By.LINK_TEXT, "Webhooks").click()
        on_page(browser, "webhooks")
        shot(browser, "webhooks")
        browser.find_element(By.LINK_TEXT, hook["id"]).click()
        on_page(browser, "webhook")
        card = browser.find_element(By.ID, f"delivery-{delivery().id}")
        assert card.get_attribute("data-status") == "failed"
        codes = [c.text for c in card.find_elements(By.CSS_SELECTOR, "td.status-code")]
        assert codes and set(codes) == {"500"}
        excerpt = card.find_element(By.CSS_SELECTOR, "td.excerpt").text
        assert "HTTP 500" in excerpt and "boom: upstream down" in excerpt  # status code and response excerpt
        shot(browser, "webhook-failed")

        browser.find_element(By.ID, f"redeliver-{delivery().id}").click()
        until(browser, lambda d: "Redelivery queued" in d.find_element(By.ID, "notice").text)
        drain_webhooks(redis_client, lambda: delivery().status == "delivered")
        browser.refresh()
        until(
            browser,
            lambda d: d.find_element(By.ID, f"delivery-{delivery().id}").get_attribute("data-status") == "delivered",
        )
        assert "200" in browser.find_element(By.CSS_SELECTOR, f"#delivery-{delivery().id} td.status-code").text
        shot(browser, "webhook-redelivered")

        # A test event: sent now, signed, its answer shown; it is no delivery.
        browser.find_element(By.LINK_TEXT, "Webhooks").click()
        on_page(browser, "webhooks")
        seen = len(http_receiver.requests)
        browser.find_element(By.ID, f"test-{hook['id']}").click()
        tested = until(browser, lambda d: d.find_element(By.ID, "tested"))
        assert tested.get_attribute("data-outcome") == "delivered"
        assert browser.find_element(By.ID, "tested-status").text == "200"
        test_request = http_receiver.requests[seen]
        assert test_request.json()["event"] == "webhookTest"
        assert signing.verify(hook["secret"], test_request.headers, test_request.body, now=test_request.received_at)
        assert len(storage.webhooks.page(hook["id"], limit=5)[0]) == 1
        shot(browser, "webhooks-tested")

        # The success-rate chart drew those attempts (8 failed, then 1 delivered; a bucket edge may split them).
        browser.get(f"{base}/console/")
        on_page(browser, "accounts")
        label = browser.find_element(By.ID, "chart-webhooks").get_attribute("aria-label")
        assert label.startswith("Webhook attempts delivered: latest ") and "no data" not in label, label


def test_cancel_a_scheduled_message_from_the_outbox(browser, base, token, client, auth, account_body, storage):
    assert client.post("/v1/accounts", json=account_body(verify=False), headers=auth).status_code == 201
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    resp = submit(client, auth, sendAt=later)
    assert resp.status_code == 202
    queue_id = resp.json["queueId"]
    sign_in(browser, base, token)
    browser.find_element(By.LINK_TEXT, "Outbox").click()
    on_page(browser, "outbox")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-queue-id="{queue_id}"]')
    assert "scheduled" in row.text and "Quarterly numbers" in row.text and RECIPIENT in row.text
    shot(browser, "outbox-scheduled")
    row.find_element(By.TAG_NAME, "button").click()
    until(browser, lambda d: d.switch_to.alert, "the confirm dialog").accept()
    until(browser, lambda d: d.find_element(By.ID, "notice").text.startswith("Message cancelled"))
    assert browser.find_elements(By.CSS_SELECTOR, f'tr[data-queue-id="{queue_id}"]') == []
    assert storage.outbox.get(queue_id).state == "cancelled"


def test_create_and_revoke_a_scoped_token(browser, base, token, storage):
    sign_in(browser, base, token)
    browser.find_element(By.LINK_TEXT, "Tokens").click()
    on_page(browser, "tokens")
    browser.find_element(By.NAME, "description").send_keys("billing service")
    browser.find_element(By.ID, "scope-read").click()
    browser.find_element(By.ID, "scope-send").click()
    browser.find_element(By.ID, "token-create").click()
    created = until(browser, lambda d: d.find_element(By.ID, "created-token")).text
    shot(browser, "tokens-created")
    record = storage.tokens.authenticate(created)
    assert record is not None and record.scopes == {TokenScope.READ, TokenScope.SEND}
    assert record.description == "billing service" and record.accounts is None
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-token="{record.id}"]')
    assert row.find_element(By.CSS_SELECTOR, ".scopes").text == "read, send"

    click_confirmed(browser, f"revoke-{record.id}")
    until(browser, lambda d: d.find_element(By.ID, "notice").text == "Token revoked.")
    assert browser.find_elements(By.CSS_SELECTOR, f'tr[data-token="{record.id}"]') == []
    assert storage.tokens.authenticate(created) is None
    shot(browser, "tokens")


def test_every_other_page_renders(browser, base, token, client, auth, account_body, storage):
    assert client.post("/v1/accounts", json=account_body(verify=False), headers=auth).status_code == 201
    sign_in(browser, base, token)
    browser.get(f"{base}/console/accounts/acme")
    on_page(browser, "account")
    shot(browser, "account")
    # The policy editor: a bad value is named next to the editor, and nothing is saved.
    editor = browser.find_element(By.ID, "policy-text")
    editor.clear()
    editor.send_keys('{"outbound": {"review": "sometimes"}}')
    browser.find_element(By.ID, "policy-save").click()
    errors = until(browser, lambda d: d.find_element(By.ID, "policy-errors"))
    assert "outbound.review" in errors.text
    shot(browser, "account-policy-error")
    for name, path in [("audit", "/console/audit"), ("accounts", "/console/")]:
        browser.get(base + path)
        on_page(browser, name)
        shot(browser, name)
    assert browser.find_element(By.ID, "chart-events").get_attribute("role") == "img"
