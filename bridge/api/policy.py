"""An account's protection policy: read it, replace it (the rule order is in ``bridge.policy``)."""

from __future__ import annotations

from flask import Blueprint

from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.models import TokenScope
from bridge.schemas.policy import Policy

bp = Blueprint("policy", __name__)


@endpoint(
    bp, "/account/<account>/policy", "GET", summary="The account's policy (the default one when none was set)",
    response=Policy, errors=(404,),
    scope=TokenScope.MANAGE,
)  # fmt: skip
def get(account: str) -> Policy:
    storage = services().storage
    storage.accounts.get(account)
    return storage.policies.get(account)


@endpoint(
    bp, "/account/<account>/policy", "PUT", summary="Replace the account's policy", body=Policy, response=Policy,
    errors=(404,),
    description=(
        "The whole document; absent sections take their defaults and unknown fields are refused. Every "
        "content-guard pattern is compiled first: a bad one is named with its path, e.g. "
        "inbound.contentGuards.0.pattern. Inbound: sender rules in list order, first match wins; a failed "
        "require falls to defaultAction; then the rule's rate limit; then content guards, which can turn a "
        "deliver into a hold or reject. A pattern that runs out of time counts as a hit (guard_timeout)."
    ),
    scope=TokenScope.MANAGE,
)  # fmt: skip
def put(account: str, body: Policy) -> Policy:
    storage = services().storage
    storage.accounts.get(account)
    storage.policies.put(account, body)
    return body
