"""Declare endpoints once: validation, serialization and the OpenAPI 3.1 document.

``endpoint`` registers a Flask view on a blueprint, validates its JSON body
and query string with pydantic models, serializes its return value and
attaches an ``Operation`` to the view. ``build_spec(app)`` walks the URL map
and turns those operations into an OpenAPI 3.1 document, whose schemas are
pydantic's JSON Schema (2020-12, which OpenAPI 3.1 uses as is).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Response, jsonify, request
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from pydantic.json_schema import models_json_schema

from bridge import __version__
from bridge.api import examples
from bridge.api.body import json_bytes
from bridge.errors import ValidationError
from bridge.models import TokenScope
from bridge.schemas.common import ERROR_CODES, ErrorBody

View = Callable[..., Any]
M = TypeVar("M", bound=BaseModel)
_REF = "#/components/schemas/{model}"


@dataclass(frozen=True, slots=True)
class Operation:
    """What the OpenAPI document says about one view."""

    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    auth: bool = True
    description: str = ""
    raw_response: str | None = None  # content type of a non-JSON response
    # The API-token scope the route needs; read by the scope check (bridge.api.auth) and
    # published as x-scope. None on an authenticated route means admin (fail closed).
    scope: TokenScope | None = None
    extra_params: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def endpoint(
    bp: Blueprint,
    rule: str,
    method: str,
    *,
    summary: str,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    auth: bool = True,
    description: str = "",
    raw_response: str | None = None,
    scope: TokenScope | None = None,
) -> Callable[[View], View]:
    """Register a view; it receives ``body=`` and ``query=`` models when declared.

    The view returns a pydantic model (serialized as camelCase JSON with
    ``status``), a ``(model, status)`` pair, or a Flask ``Response``.
    """
    op = Operation(
        summary=summary,
        tag=bp.name,
        body=body,
        query=query,
        response=response,
        status=status,
        errors=errors,
        auth=auth,
        description=description,
        raw_response=raw_response,
        scope=scope,
    )

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapper(**path_args: Any) -> Response:
            kwargs = dict(path_args)
            if body is not None:
                kwargs["body"] = _validate_json(body, json_bytes())
            if query is not None:
                kwargs["query"] = _validate(query, request.args.to_dict(), "query")
            return render(view(**kwargs), status)

        wrapper.__openapi__ = op  # type: ignore[attr-defined]
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=wrapper, methods=[method])
        return wrapper

    return decorator


def document(op: Operation) -> Callable[[View], View]:
    """Attach an Operation to a view registered by other means (the WebSocket route)."""

    def decorator(view: View) -> View:
        view.__openapi__ = op  # type: ignore[attr-defined]
        return view

    return decorator


def render(result: Any, status: int = 200) -> Response:
    """Serialize a view's return value."""
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        result, status = result
    if isinstance(result, BaseModel):
        response = jsonify(result.model_dump(mode="json", by_alias=True))
    else:
        response = jsonify(result)
    response.status_code = status
    return response


def _validate_json(model: type[BaseModel], raw: bytes | bytearray) -> BaseModel:
    """Validate a JSON body strictly: the types the schema names, no coercion ("verify": 0 is no boolean)."""
    try:
        return model.model_validate_json(raw, strict=True)
    except PydanticValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors(include_url=False, include_input=False)):
            raise ValidationError("the request body is not valid JSON", code="invalidJson") from exc
        raise _invalid(exc, "body") from exc


def _validate(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    """Validate query parameters, which are strings by nature: "20" is a number here."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise _invalid(exc, where) from exc


def validate(model: type[M], data: Any, where: str = "body") -> M:
    """``data`` as ``model``, or the API's ValidationError (``details``: field, message, type) for other callers."""
    return cast(M, _validate(model, data, where))


def _invalid(exc: PydanticValidationError, where: str) -> ValidationError:
    details = [
        {
            "field": ".".join(str(p) for p in err["loc"]) or where,
            "message": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]
    first = details[0]
    # A check with its own code (invalidCursor, invalidHeader …) names the error; others are invalidInput.
    code = first["type"] if first["type"] in ERROR_CODES else None
    return ValidationError(f"invalid {where}: {first['field']}: {first['message']}", details=details, code=code)


# --- the document ------------------------------------------------------------

_STATUS_TEXT = {
    200: "OK",
    101: "Switching Protocols",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    302: "Redirect (Location header)",
    400: "Invalid input",
    401: "Missing or invalid API token",
    403: "The API token may not use this route (insufficientScope, accountRestricted)",
    404: "Not found",
    409: "Conflict",
    413: "Payload too large",
    415: "The body is not JSON (Content-Type must be application/json or +json)",
    422: "Cannot be carried out",
    426: "Not a WebSocket upgrade",
    503: "Dependency unavailable",
}


def build_spec(app: Flask) -> dict[str, Any]:
    """Build the OpenAPI 3.1 document from every view that carries an Operation."""
    ops: list[tuple[str, str, Operation]] = []
    for rule in app.url_map.iter_rules():
        op = getattr(app.view_functions.get(rule.endpoint), "__openapi__", None)
        if op is None:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            ops.append((path, method.lower(), op))
    models: set[type[BaseModel]] = {ErrorBody}
    for _, _, op in ops:
        models.update(m for m in (op.body, op.response) if m is not None)
    _, defs = models_json_schema(
        [(m, "validation" if _is_input(m, ops) else "serialization") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template=_REF,
        by_alias=True,
    )
    paths: dict[str, dict[str, Any]] = {}
    for path, method, op in ops:
        paths.setdefault(path, {})[method] = _operation(path, method, op)
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Mailbridge API",
            "version": __version__,
            "description": "An existing IMAP/SMTP mailbox as webhooks, a WebSocket stream and a REST API.",
        },
        "tags": examples.tags(op.tag for _, _, op in ops),
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
    examples.add_examples(spec)  # /docs shows one per request, response, parameter and error
    return spec


def _is_input(model: type[BaseModel], ops: list[tuple[str, str, Operation]]) -> bool:
    return any(op.body is model for _, _, op in ops)


def _operation(path: str, method: str, op: Operation) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{([^}]+)}", path)
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(by_alias=True)
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": _query_schema(prop),
                }
            )
    out: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{method}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}",
        "tags": [op.tag],
        "parameters": params + list(op.extra_params),
        "responses": {str(op.status): _response(op)},
    }
    if op.description:
        out["description"] = op.description
    if op.auth:
        out["x-scope"] = (op.scope or TokenScope.ADMIN).value
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model=op.body.__name__)}}},
        }
    codes = (
        set(op.errors)
        | ({400} if op.body or op.query else set())
        | ({413, 415} if op.body else set())
        | ({401, 403} if op.auth else set())
    )
    for code in sorted(codes):
        out["responses"][str(code)] = {
            "description": _STATUS_TEXT.get(code, "Error"),
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}},
        }
    out["security"] = [{"bearerAuth": []}] if op.auth else []
    return out


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema without pydantic's ``| None``: a query string has no null, only absence."""
    branches = [b for b in prop.get("anyOf", ()) if b != {"type": "null"}]
    if len(branches) != 1 or len(prop.get("anyOf", ())) != 2:
        return prop
    out = {k: v for k, v in prop.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**branches[0], **out}


def _response(op: Operation) -> dict[str, Any]:
    text = _STATUS_TEXT.get(op.status, "OK")
    if op.raw_response:
        return {
            "description": text,
            "content": {op.raw_response: {"schema": {"type": "string"}}},
        }
    if op.response is None:
        return {"description": text}
    return {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=op.response.__name__)}}},
    }
