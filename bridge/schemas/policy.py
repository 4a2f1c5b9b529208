"""The protection policy document of an account (``GET``/``PUT /v1/account/{account}/policy``).

Pure: pydantic only. ``PUT`` replaces the whole document; absent sections
take their defaults, unknown fields are refused, and every content-guard
pattern is compiled here, so a bad regex is refused with its path
(``inbound.contentGuards.0.pattern``) before anything is stored. The order
in which the rules apply is documented in ``bridge.policy``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from bridge.policy.guards import MAX_PATTERN_LENGTH, PatternError, compile_pattern
from bridge.schemas.common import INTEGRAL, ApiModel, EmailAddress, Matching

Action = Literal["deliver", "hold", "reject"]
# A guard or a rate limit only ever tightens a verdict.
TightenAction = Literal["hold", "reject"]
OnExpiry = Literal["reject", "approve"]
MAX_RULES = 500
MAX_GUARDS = 100
MAX_REVIEWERS = 20
DEFAULT_HOLD_TTL_S = 86400
REASON_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
# An ASCII domain name (punycode an IDN: xn--…), any case, an optional final dot.
DOMAIN_PATTERN = (
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def _domain(value: str) -> str:
    return value.lower().rstrip(".")


# Compared case-insensitively, so kept lower-cased.
Email = Annotated[EmailAddress, AfterValidator(str.lower)]
Domain = Annotated[
    str,
    Field(min_length=1, max_length=253),
    Matching(DOMAIN_PATTERN, "'{value}' is not a domain name (punycode an IDN: xn--…)"),
    AfterValidator(_domain),
]
Reason = Annotated[str, Matching(REASON_PATTERN, "must be 1-64 characters of A-Z, a-z, 0-9, '_', '.', ':' or '-'")]
HoldTtl = Annotated[int, Field(ge=60, le=30 * 86400), INTEGRAL]


class SenderMatch(ApiModel):
    """Exactly one of: an address (case-insensitive), or a domain (that domain and its subdomains)."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["address"], "properties": {"address": {"type": "string"}}},
                {"required": ["domain"], "properties": {"domain": {"type": "string"}}},
            ]
        }
    )

    address: Email | None = None
    domain: Domain | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SenderMatch:
        if (self.address is None) == (self.domain is None):
            raise ValueError("give exactly one of 'address' or 'domain'")
        return self


class Requirement(ApiModel):
    """Checks the sender must pass for the rule to apply; a failure falls to ``defaultAction``.

    ``dmarc``: the From domain verified (DMARC-aligned pass, the record's ``auth.verified``).
    ``dkim``: a valid DKIM signature aligned with the From domain. ``spf``: SPF pass.
    """

    dmarc: bool = False
    dkim: bool = False
    spf: bool = False


class RateLimit(ApiModel):
    """Messages per sender in a sliding hour and day; past either, ``action`` applies."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["perHour"], "properties": {"perHour": {"type": "integer"}}},
                {"required": ["perDay"], "properties": {"perDay": {"type": "integer"}}},
            ]
        }
    )

    per_hour: Annotated[int, Field(ge=1, le=1_000_000), INTEGRAL] | None = None
    per_day: Annotated[int, Field(ge=1, le=1_000_000), INTEGRAL] | None = None
    action: TightenAction = "hold"

    @model_validator(mode="after")
    def _some_limit(self) -> RateLimit:
        if self.per_hour is None and self.per_day is None:
            raise ValueError("give perHour, perDay or both")
        return self


class SenderRule(ApiModel):
    match: SenderMatch
    require: Requirement = Requirement()
    action: Action
    rate_limit: RateLimit | None = None


class ContentGuard(ApiModel):
    """A regular expression (``regex`` package syntax) searched in subject, text and HTML."""

    # Declared before ``pattern`` so the pattern is compiled with its flags.
    flags: str = Field(default="", pattern=r"^[imsx]{0,4}$", description="any of i (ignore case), m, s, x")
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN_LENGTH, json_schema_extra={"format": "regex"})
    action: TightenAction = "reject"
    reason: Reason = "content_guard"

    @field_validator("flags")
    @classmethod
    def _known_flags(cls, value: str) -> str:
        if set(value) - set("imsx"):
            raise ValueError("flags may only contain i, m, s and x")
        return value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str, info: ValidationInfo) -> str:
        flags = info.data.get("flags", "")
        try:
            compile_pattern(value, flags)
        except PatternError as exc:
            raise ValueError(str(exc)) from None
        return value


class InboundPolicy(ApiModel):
    """Who gets through to webhooks and streams. Holds use these reviewers, or the outbound ones."""

    default_action: Action = "deliver"
    senders: list[SenderRule] = Field(default_factory=list, max_length=MAX_RULES)
    content_guards: list[ContentGuard] = Field(default_factory=list, max_length=MAX_GUARDS)
    reviewers: list[Email] | None = Field(default=None, max_length=MAX_REVIEWERS)
    hold_ttl_seconds: HoldTtl | None = None
    on_expiry: OnExpiry = "reject"


class RecipientsOver(ApiModel):
    recipients_over: Annotated[int, Field(ge=0, le=10_000), INTEGRAL]


class OutboundPolicy(ApiModel):
    """When a submitted message waits for a human before it is queued."""

    review: Literal["never", "always", "external"] | RecipientsOver = "never"
    content_guards: list[ContentGuard] = Field(default_factory=list, max_length=MAX_GUARDS)
    reviewers: list[Email] = Field(default_factory=list, max_length=MAX_REVIEWERS)
    hold_ttl_seconds: HoldTtl = DEFAULT_HOLD_TTL_S
    on_expiry: OnExpiry = "reject"


class AuditPolicy(ApiModel):
    retention_days: Annotated[int, Field(ge=1, le=3650), INTEGRAL] = 90


class Policy(ApiModel):
    """An account's whole policy; the default lets everything through and audits it for 90 days."""

    inbound: InboundPolicy = InboundPolicy()
    outbound: OutboundPolicy = OutboundPolicy()
    audit: AuditPolicy = AuditPolicy()

    def inbound_reviewers(self) -> list[str]:
        return self.inbound.reviewers if self.inbound.reviewers is not None else self.outbound.reviewers

    def inbound_hold_ttl(self) -> int:
        return self.inbound.hold_ttl_seconds or self.outbound.hold_ttl_seconds


DEFAULT_POLICY = Policy()
