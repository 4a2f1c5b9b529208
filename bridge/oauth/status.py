"""Report an OAuth 2.0 grant that failed for good on the account, once.

The watcher reports the same state, code and reason when its next login fails, and
``InboundPipeline.report_state`` emits only on a change, so the account gets
one ``authenticationError`` event however many processes notice.
"""

from __future__ import annotations

from bridge.events.emit import emit
from bridge.events.model import EventName
from bridge.models import AccountError, AccountState, ConnectionState, MailboxFault
from bridge.storage import Storage
from bridge.storage.base import utc_now


def report_revoked(storage: Storage, account_id: str, reason: str) -> None:
    previous = storage.accounts.get_state(account_id)
    error = AccountError(code=MailboxFault.AUTHENTICATION_FAILED, message=reason, at=utc_now())
    state = AccountState(state=ConnectionState.AUTHENTICATION_ERROR, error=error)
    storage.accounts.set_state(account_id, state)
    same = previous.error is not None and (previous.error.code, previous.error.message) == (error.code, reason)
    if previous.state is not state.state or not same:
        emit(storage, account_id, EventName.AUTHENTICATION_ERROR, state.event_data())
