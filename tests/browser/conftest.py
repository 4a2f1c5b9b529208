"""Browser tests: the app on a real port, real headless Chromium; the API fixtures (settings, storage, …) reused.

``served`` runs the app with werkzeug in a thread on a free port, which is also its
BRIDGE_PUBLIC_URL; ``app`` (and so ``client`` and ``storage``) is that same app.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from werkzeug.serving import make_server

from app import create_app
from tests.api.conftest import account_body, auth, client, settings, storage, token
from workers.context import worker_context

__all__ = ["account_body", "auth", "client", "settings", "storage", "token"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1100, 900
# Flags for a closed network and a root user (../.library/env/machines/python-svc.md).
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars",
]  # fmt: skip


@pytest.fixture
def served(settings):
    """The app on a real port, with that port's URL as its public URL."""
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    settings = replace(settings, public_url=f"http://127.0.0.1:{server.server_port}")
    holder["app"] = create_app(settings)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["app"], settings
    server.shutdown()
    thread.join(5)


@pytest.fixture
def app(served):
    return served[0]


@pytest.fixture
def workers(storage, served):
    with worker_context(storage, served[1]):
        yield


@pytest.fixture
def browser(tmp_path):
    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), "run scripts/system-deps.sh (as root)"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
