"""The account's suppression list: read, add, remove."""

from __future__ import annotations

from flask import Blueprint

from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.models import TokenScope
from bridge.schemas.common import Deleted
from bridge.schemas.suppressions import SuppressionIn, SuppressionList, SuppressionOut
from bridge.storage.suppressions import now_entry

bp = Blueprint("suppressions", __name__)


@endpoint(
    bp, "/account/<account>/suppressions", "GET", summary="List suppressed addresses, newest first",
    response=SuppressionList, errors=(404,),
    scope=TokenScope.MANAGE,
)  # fmt: skip
def list_all(account: str) -> SuppressionList:
    storage = services().storage
    storage.accounts.get(account)
    return SuppressionList(suppressions=[SuppressionOut.of(s) for s in storage.suppressions.all(account)])


@endpoint(
    bp, "/account/<account>/suppressions", "POST", summary="Suppress an address", body=SuppressionIn,
    response=SuppressionOut, status=201, errors=(404,),
    scope=TokenScope.MANAGE,
)  # fmt: skip
def add(account: str, body: SuppressionIn) -> SuppressionOut:
    storage = services().storage
    storage.accounts.get(account)
    return SuppressionOut.of(storage.suppressions.add(account, now_entry(body.address, body.reason, "manual")))


@endpoint(
    bp, "/account/<account>/suppressions/<address>", "DELETE", summary="Remove an address from the list",
    response=Deleted, errors=(404,),
    scope=TokenScope.MANAGE,
)  # fmt: skip
def remove(account: str, address: str) -> Deleted:
    storage = services().storage
    storage.accounts.get(account)
    storage.suppressions.remove(account, address)
    return Deleted(id=address)
