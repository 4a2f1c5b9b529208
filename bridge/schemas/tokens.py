"""API token resources: create (the token shown once), list and read (never the token)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from bridge.models import ApiToken, TokenScope
from bridge.schemas.accounts import ACCOUNT_ID_PATTERN
from bridge.schemas.common import ApiModel

AccountName = Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN)]


class TokenCreate(ApiModel):
    description: str = Field(default="", max_length=200, description="What the token is for")
    scopes: list[TokenScope] = Field(
        min_length=1, max_length=len(TokenScope), description="What it may do; admin implies every scope"
    )
    accounts: list[AccountName] | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="The only accounts it may act on; omit for every account. Routes that span accounts "
        "(account list, webhooks, outbox, reviews, OAuth2 apps, tokens) then answer 403 accountRestricted.",
    )

    @field_validator("scopes")
    @classmethod
    def _unique_scopes(cls, value: list[TokenScope]) -> list[TokenScope]:
        return list(dict.fromkeys(value))

    @field_validator("accounts")
    @classmethod
    def _unique_accounts(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else list(dict.fromkeys(value))


class TokenOut(ApiModel):
    id: str
    description: str
    created: str
    last_used: str | None = None
    scopes: list[TokenScope]
    accounts: list[str] | None = None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            description=token.description,
            created=token.created,
            last_used=token.last_used,
            scopes=sorted(token.scopes),
            accounts=None if token.accounts is None else sorted(token.accounts),
        )


class TokenCreated(TokenOut):
    token: str = Field(description="The token; shown only in this answer, stored only as its SHA-256")


class TokenList(ApiModel):
    tokens: list[TokenOut]
