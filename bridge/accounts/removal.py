"""Deleting an account: stop what it has in flight, then purge its data.

Queued and scheduled sends are cancelled (their jobs discarded) and pending
review holds rejected, each through the same code as the API's own cancel
and reject, so events and the audit log say what happened. A send already
in progress is left to finish or fail on its own. Only then are the account
and everything under its keys removed (``storage.accounts.delete``), and the
account is taken out of the API tokens limited to it; a new account with the
same id starts clean, and no old token reaches it.
"""

from __future__ import annotations

from datetime import datetime

from bridge.errors import Conflict, NotFound
from bridge.outbound import submit as outbound
from bridge.review import holds
from bridge.review.links import LinkAction
from bridge.storage import Storage

# More than any one account should have in flight; entries past this are left to expire.
_MAX_IN_FLIGHT = 100_000


def delete_account(storage: Storage, account_id: str, *, by: str, now: datetime) -> None:
    """Raises: NotFound (code accountNotFound) when there is no such account."""
    storage.accounts.get(account_id)
    for entry in storage.outbox.active(_MAX_IN_FLIGHT, account=account_id):
        try:
            outbound.cancel(storage, entry.queue_id, now)
        except (NotFound, Conflict):
            pass  # finished meanwhile, or being sent right now: that attempt ends on its own
    for review in storage.reviews.pending(_MAX_IN_FLIGHT, account=account_id):
        holds.decide(storage, review.id, LinkAction.REJECT, by=by, now=now)
    storage.accounts.delete(account_id)
    # Last: a token limited to this account must not reach a new account created under its id.
    storage.tokens.forget_account(account_id)
