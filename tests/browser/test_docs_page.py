"""/docs in a real headless Chromium: Swagger UI renders every operation, grouped by tag, from this server only.

Chromium resolves no host but the test server's (``--host-resolver-rules``), and the page's
resource timing and console are checked: a request to any other origin, or one the
Content-Security-Policy refused, fails the test.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import CHROMEDRIVER, CHROMIUM, FLAGS


@pytest.fixture
def browser(tmp_path):
    """Chromium that can reach 127.0.0.1 only, and keeps its console log for the test."""
    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), "run scripts/system-deps.sh (as root)"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_docs_renders_every_operation_grouped_by_tag_without_other_hosts(browser, served, client, tmp_path):
    _, settings = served
    base = settings.public_url
    spec = client.get("/openapi.json").json
    operations = sum(len(item) for item in spec["paths"].values())
    tags = [t["name"] for t in spec["tags"]]

    browser.get(base + "/docs")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock-summary")) == operations)
    shown_tags = [e.get_attribute("data-tag") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-tag")]
    assert shown_tags == tags  # each tag once, in the document's order
    paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/v1/accounts" in paths and "/metrics" in paths
    browser.save_screenshot(str(tmp_path / "docs.png"))

    # Open one operation: its example request body is shown.
    browser.find_element(By.CSS_SELECTOR, "#operations-accounts-post_v1_accounts .opblock-summary").click()
    WebDriverWait(browser, 15).until(
        lambda d: "imap.example.com" in d.find_element(By.ID, "operations-accounts-post_v1_accounts").text
    )

    origin = urlsplit(base).netloc
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(urlsplit(url).netloc == origin for url in loaded), loaded
    refused = [e for e in browser.get_log("browser") if "Content Security Policy" in e["message"]]
    assert refused == []
