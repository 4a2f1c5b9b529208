"""What a job needs from its worker process: settings and a Storage, read once from the environment.

Job functions receive ids only; each job module builds its runtime on first use
from here, so a worker started by ``python app.py worker`` needs nothing else.
"""

from __future__ import annotations

import os

from bridge.config import Settings, load_settings
from bridge.crypto import Vault
from bridge.errors import ConfigError
from bridge.storage import Storage, connect


def storage_from_environment(kind: str) -> tuple[Storage, Settings]:
    """Settings and a Storage for ``kind`` jobs (the word only makes the error clearer).

    Raises:
        ConfigError: BRIDGE_REDIS_URL (or another variable) is missing or malformed.
    """
    settings = load_settings(os.environ)
    if settings.redis_url is None:
        raise ConfigError(f"BRIDGE_REDIS_URL is missing; {kind} jobs run in a worker started by app.py")
    return Storage(connect(settings.redis_url), Vault(settings.secret.reveal())), settings
