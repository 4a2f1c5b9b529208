"""Shapes shared by every endpoint: the error body, base model config."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from bridge.mail.addresses import normalize_address
from bridge.webhooks.ssrf import MAX_URL_LENGTH, check_url

# Error codes a Matching check answers with instead of invalidInput (bridge/api/openapi.py reads them).
ERROR_CODES: set[str] = set()


@dataclass(frozen=True, slots=True)
class Matching:
    """``Annotated`` metadata: the string must match ``pattern``, and the JSON Schema says so.

    Unlike ``Field(pattern=...)``, the error names the value (``{value}`` in ``message``) and carries a stable API error ``code``. The pattern is a Python ``re`` pattern
    that is also valid ECMA 262, as JSON Schema's ``pattern`` is.
    """

    pattern: str
    message: str
    code: str = "invalidInput"

    def __post_init__(self) -> None:
        ERROR_CODES.add(self.code)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        compiled = re.compile(self.pattern)

        def check(value: str) -> str:
            if not compiled.search(value):
                raise PydanticCustomError(self.code, self.message, {"value": value})
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


def _check_email(value: str) -> str:
    normalized = normalize_address(value)
    if normalized is None:
        raise ValueError(f"{value!r} is not a valid email address")
    return normalized


# An addr-spec as the schema can say it: a dot-atom local part (RFC 5322 § 3.2.3 atext) "@" a domain of
# dot-separated labels (letters, digits, '-', '_'), non-ASCII allowed in both (RFC 6531 SMTPUTF8, IDN).
# Quoted local parts and address literals are refused. flanker checks the rest and normalizes.
_LOCAL = r"(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]|[^\x00-\x7f])+"
_LABEL = r"(?:[A-Za-z0-9_-]|[^\x00-\x7f])+"
EMAIL_PATTERN = rf"^{_LOCAL}(?:\.{_LOCAL})*@{_LABEL}(?:\.{_LABEL})*$"
# No control characters but HTAB (RFC 5322 § 2.2: header bodies are VCHAR and WSP).
NO_CONTROLS_PATTERN = r"^[^\x00-\x08\x0a-\x1f\x7f]*$"

# An addr-spec, checked with flanker and returned with its domain lower-cased.
EmailAddress = Annotated[
    str,
    Field(min_length=3, max_length=254, json_schema_extra={"format": "email"}),
    Matching(EMAIL_PATTERN, "'{value}' is not a valid email address"),
    AfterValidator(_check_email),
]


# RFC 3339 § 5.6 date-time; the offset may be left out (then it is UTC). pydantic alone would also take
# "0" or "1700000000" (Unix time) and a bare date, which JSON Schema's date-time does not.
_DATE_TIME = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})?$"
)


def _date_time_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if not _DATE_TIME.match(value):
        raise ValueError("must be an RFC 3339 date-time such as 2026-01-31T09:30:00Z")
    return datetime.fromisoformat(value.upper())  # ValueError for a day or hour out of range


DateTime = Annotated[datetime, BeforeValidator(_date_time_text)]


def _integral(value: Any) -> Any:
    # RFC 8259 § 6: JSON has one number type, and JSON Schema's integer includes 443.0.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Metadata for an integer in a JSON body, which strict validation would refuse as 443.0. Goes after the
# bounds (``Annotated[int, Field(ge=1), INTEGRAL]``): before them, pydantic's schema says ge/le, not minimum.
INTEGRAL = BeforeValidator(_integral)


class ApiModel(BaseModel):
    """Base for API models: camelCase JSON, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class ErrorDetail(ApiModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(ApiModel):
    """Every API error: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


class Deleted(ApiModel):
    deleted: bool = True
    id: str


class ComponentHealth(ApiModel):
    ok: bool
    detail: str | None = None
    count: int | None = None


class Health(ApiModel):
    status: str
    version: str
    redis: ComponentHealth
    workers: ComponentHealth
    watchers: ComponentHealth
    # Things that work now but may lose data later (Redis' eviction policy); /health stays 200.
    warnings: list[str] = Field(default_factory=list)


def _check_url(value: str) -> str:
    check_url(value)  # ValueError becomes a 400 naming the field
    return value


# What check_url takes, as a pattern: http or https; a host name, an IPv4 address or a bracketed IPv6
# address (RFC 3986 § 3.2.2; the forms below are the ones ipaddress parses); no credentials; a port up
# to 65535; then printable ASCII but '#' (no fragment) and space.
_PORT = r"(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_H16 = r"[0-9A-Fa-f]{1,4}"
_IPV4 = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}"
_IPV6 = "|".join(
    (
        rf"(?:{_H16}:){{7}}{_H16}",
        rf"(?:{_H16}:){{1,7}}:",
        rf"(?:{_H16}:){{1,6}}:{_H16}",
        rf"(?:{_H16}:){{1,5}}(?::{_H16}){{1,2}}",
        rf"(?:{_H16}:){{1,4}}(?::{_H16}){{1,3}}",
        rf"(?:{_H16}:){{1,3}}(?::{_H16}){{1,4}}",
        rf"(?:{_H16}:){{1,2}}(?::{_H16}){{1,5}}",
        rf"{_H16}:(?::{_H16}){{1,6}}",
        rf":(?:(?::{_H16}){{1,7}}|:)",
        rf"::(?:[Ff]{{4}}:)?{_IPV4}",
    )
)
URL_PATTERN = (
    rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[(?:{_IPV6})\])"
    rf"(?::{_PORT})?(?:[/?][!\x22$-~]*)?$"
)

HttpUrl = Annotated[
    str,
    Field(max_length=MAX_URL_LENGTH),
    Matching(URL_PATTERN, "must be an http:// or https:// URL without credentials or fragment"),
    AfterValidator(_check_url),
]
