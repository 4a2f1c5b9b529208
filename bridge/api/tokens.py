"""API tokens over the API (``admin`` only): create (the token shown once), list, revoke."""

from __future__ import annotations

from flask import Blueprint

from bridge.api.openapi import endpoint
from bridge.api.services import services
from bridge.models import TokenScope
from bridge.schemas.common import Deleted
from bridge.schemas.tokens import TokenCreate, TokenCreated, TokenList, TokenOut

bp = Blueprint("tokens", __name__)


@endpoint(
    bp, "/tokens", "POST", summary="Create an API token (shown only in this answer)", body=TokenCreate,
    response=TokenCreated, status=201, scope=TokenScope.ADMIN,
)  # fmt: skip
def create(body: TokenCreate) -> TokenCreated:
    record, token = services().storage.tokens.create(body.description, body.scopes, body.accounts)
    return TokenCreated(**TokenOut.of(record).model_dump(), token=token)


@endpoint(
    bp, "/tokens", "GET", summary="List API tokens (never the tokens)", response=TokenList, scope=TokenScope.ADMIN
)
def list_all() -> TokenList:
    return TokenList(tokens=[TokenOut.of(t) for t in services().storage.tokens.list()])


@endpoint(
    bp, "/tokens/<token_id>", "DELETE", summary="Revoke an API token", response=Deleted, errors=(404,),
    scope=TokenScope.ADMIN,
)  # fmt: skip
def revoke(token_id: str) -> Deleted:
    services().storage.tokens.revoke(token_id)
    return Deleted(id=token_id)
