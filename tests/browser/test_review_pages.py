"""The review email and pages in a real headless Chromium (Debian's chromium + chromedriver, via Selenium).

The app is served by werkzeug in a thread on a free port, which is also its
BRIDGE_PUBLIC_URL, so the links in the reviewer email that the SMTP sink
captured open for real. The approved message must then reach the sink once.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import struct
import zlib
from pathlib import Path

import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.api.test_reviews import RECIPIENT, REVIEWER, drain, set_policy, submit, to

BODY = "Hi Ann,\nthe quarterly numbers are attached in spirit.\n"


@pytest.fixture
def held_email(client, auth, account_body, storage, smtp, workers):
    """A held submission and the reviewer email the sink received for it."""
    assert client.post("/v1/accounts", json=account_body(verify=False), headers=auth).status_code == 201
    set_policy(client, auth)
    resp = submit(client, auth, text=BODY)
    assert resp.status_code == 202 and resp.json["status"] == "pending_review"
    drain(storage, lambda: len(to(smtp, REVIEWER)) == 1)
    [received] = to(smtp, REVIEWER)
    return resp.json["reviewId"], email.message_from_bytes(received.raw, policy=email.policy.default)


def links(message) -> tuple[str, str]:
    text = message.get_body(("plain",)).get_content()
    approve = re.search(r"Approve: (\S+)", text).group(1)
    reject = re.search(r"Reject:  (\S+)", text).group(1)
    return approve, reject


def wait_for(driver, element_id):
    return WebDriverWait(driver, 15).until(expected_conditions.presence_of_element_located((By.ID, element_id)))


def wait_page(driver, name: str) -> None:
    """Wait until the review page shown is ``name``; a navigation may swap the element under us."""
    WebDriverWait(driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(
        lambda d: d.find_element(By.ID, "review").get_attribute("data-page") == name
    )


def png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct pixel values of an 8-bit RGB(A) PNG (stdlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour_type = header[0], header[1], header[2], header[3]
    assert depth == 8 and colour_type in (2, 6), header
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    # Sample unfiltered bytes of a few rows; filter bytes make exact decoding unnecessary for "not blank".
    values = {raw[row * stride + 1 : (row + 1) * stride] for row in range(0, height, max(1, height // 40))}
    return width, height, len(values)


def test_open_link_from_email_see_preview_click_and_the_message_is_sent_once(
    browser, held_email, storage, smtp, tmp_path
):
    review_id, message = held_email
    approve, reject = links(message)

    browser.get(approve)
    card = wait_for(browser, "review")
    assert card.get_attribute("data-page") == "confirm"
    assert browser.find_element(By.ID, "subject").text == "Quarterly numbers"
    assert "the quarterly numbers are attached in spirit." in browser.find_element(By.ID, "preview").text
    buttons = browser.find_elements(By.TAG_NAME, "button")
    assert [b.text for b in buttons] == ["Approve and send"]

    # The screenshot check: a real PNG of the viewport, not blank.
    shot = browser.get_screenshot_as_png()
    (tmp_path / "review-confirm.png").write_bytes(shot)
    if os.environ.get("BRIDGE_TEST_SCREENSHOT_DIR"):  # to look at it by eye
        Path(os.environ["BRIDGE_TEST_SCREENSHOT_DIR"], "review-confirm.png").write_bytes(shot)
    width, height, distinct = png_size_and_colours(shot)
    assert (width, height) == tuple(browser.execute_script("return [window.innerWidth, window.innerHeight]"))
    assert distinct > 5, "the page rendered blank"

    # Opening the page sent nothing; the button does.
    assert storage.reviews.get(review_id).state == "pending"
    buttons[0].click()
    wait_page(browser, "done")
    assert "on its way" in browser.find_element(By.ID, "review").text
    drain(storage, lambda: len(to(smtp, RECIPIENT)) == 1)
    [sent] = to(smtp, RECIPIENT)
    assert b"Subject: Quarterly numbers" in sent.raw

    # The other link, opened afterwards, says what happened and offers no button.
    browser.get(reject)
    wait_page(browser, "already")
    assert "already approved" in browser.find_element(By.ID, "review").text
    assert browser.find_elements(By.TAG_NAME, "button") == []
    drain(storage)
    assert len(to(smtp, RECIPIENT)) == 1


def test_email_html_renders_and_its_reject_button_leads_to_the_confirmation(
    browser, held_email, storage, smtp, tmp_path
):
    review_id, message = held_email
    page = tmp_path / "email.html"
    page.write_text(message.get_body(("html",)).get_content())
    browser.get(page.as_uri())
    assert "quarterly numbers are attached in spirit" in browser.find_element(By.TAG_NAME, "body").text
    browser.find_element(By.LINK_TEXT, "Reject").click()
    wait_page(browser, "confirm")
    browser.find_element(By.ID, "confirm").click()
    wait_page(browser, "done")
    assert storage.reviews.get(review_id).state == "rejected"
    drain(storage)
    assert to(smtp, RECIPIENT) == []


def test_tampered_link_shows_a_clear_page(browser, held_email, storage):
    review_id, message = held_email
    approve, _ = links(message)
    browser.get(approve[:-4] + "AAAA")
    wait_page(browser, "invalid")
    assert "not valid" in browser.find_element(By.TAG_NAME, "h1").text
    assert storage.reviews.get(review_id).state == "pending"
