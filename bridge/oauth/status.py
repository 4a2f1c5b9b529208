"""Report an OAuth 2.0 grant that failed for good on the account, once.

The watcher reports the same state and reason when its next login fails, and
``InboundPipeline.report_state`` emits only on a change, so the account gets
one ``authenticationError`` event however many processes notice.
"""

from __future__ import annotations

from bridge.emit import emit
from bridge.events import EventName
from bridge.models import AccountState, ConnectionState
from bridge.storage import Storage


def report_revoked(storage: Storage, account_id: str, reason: str) -> None:
    previous = storage.accounts.get_state(account_id)
    state = ConnectionState.AUTHENTICATION_ERROR
    storage.accounts.set_state(account_id, AccountState(state=state, error=reason))
    if previous.state is not state or previous.error != reason:
        emit(storage, account_id, EventName.AUTHENTICATION_ERROR, {"state": state.value, "error": reason})
