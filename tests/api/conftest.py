"""App-level fixtures: a real app on the real test Redis, a token, account bodies."""

from __future__ import annotations

from typing import Any

import pytest

from app import create_app
from bridge.config import Secret, Settings
from bridge.storage import Storage

TEST_SECRET = "test-secret-do-not-use-0123456789"


@pytest.fixture
def settings(redis_url, tmp_path) -> Settings:
    return Settings(secret=Secret(TEST_SECRET), redis_url=redis_url, data_dir=tmp_path)


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def storage(app) -> Storage:
    return app.extensions["bridge"].storage


@pytest.fixture
def token(storage) -> str:
    return storage.tokens.create("tests")[1]


@pytest.fixture
def auth(token) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def account_body(mailbox, smtp):
    """A valid POST /v1/accounts body for a fresh Dovecot user, whose SMTP login the sink accepts."""
    smtp.add_user(mailbox.address, mailbox.password)

    def build(account: str = "acme", **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "account": account,
            "name": "Acme Support",
            "email": mailbox.address,
            "imap": {
                "host": mailbox.host,
                "port": mailbox.imap_port,
                "secure": False,
                "starttls": False,
                "auth": {"user": mailbox.address, "pass": mailbox.password},
            },
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "secure": False,
                "starttls": False,
                "auth": {"user": mailbox.address, "pass": mailbox.password},
            },
        }
        body.update(overrides)
        return body

    return build
