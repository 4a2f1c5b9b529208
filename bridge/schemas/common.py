"""Shapes shared by every endpoint: the error body, base model config."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from bridge.addresses import normalize_address


def _check_email(value: str) -> str:
    normalized = normalize_address(value)
    if normalized is None:
        raise ValueError(f"{value!r} is not a valid email address")
    return normalized


# An addr-spec, checked with flanker and returned with its domain lower-cased.
EmailAddress = Annotated[str, AfterValidator(_check_email)]


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
