"""The OpenAPI document made equal to the API, and a complete ``Allow`` on 405.

FastAPI documents what a route declares; the statuses that the app's machinery answers around
every route are added here from the route itself, so they cannot drift:

* a route that authenticates (every ``/v1`` route): the bearer security scheme (``/docs``
  shows an Authorize button), 401, 403 (role or tenancy), 429 (rate limit, with
  ``Retry-After``);
* a route with a JSON body: 400 (malformed JSON), 413 (body over the size limit), 415 and 422;
* a route with parameters: 422;
* a route that values, converts or prices (a date parameter or a body): 404 (no data for the
  date) and 409 (stale or missing data);
* every route: 503 (database busy beyond the bounded wait, with ``Retry-After``, or unreachable).

Every error answers ``application/problem+json`` (RFC 9457) with the ``Problem`` schema. A 405
lists in ``Allow`` every method the path serves, not only the first route's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.problems import PROBLEM_JSON, problem_response

__all__ = ["allowed_methods", "install_openapi"]

BEARER = "bearerAuth"
_TITLES = {
    400: "Malformed request (the body is not JSON, or a header is malformed)",
    401: "No API key, or an unknown, revoked or expired one",
    403: "The key's role may not use this route",
    404: "Not found (or another bank's), or no data for the date",
    409: "Conflict: stale or missing market data, a state that forbids the change, a reused "
    "Idempotency-Key",
    413: "Request body over the size limit",
    415: "Body not sent as application/json",
    422: "Invalid parameters or body (field and reason in `errors`)",
    429: "Too many requests (or failed authentications): retry after `Retry-After` seconds",
    503: "Database busy beyond the bounded wait (retry after `Retry-After` seconds) or unreachable",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }
}
_DATE_PARAMS = {"as_of", "on", "start", "end", "date"}


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def _authenticated(path: str) -> bool:
    """Every ``/v1`` route needs an API key (``/health``, ``/metrics`` and the docs do not)."""
    return path.startswith("/v1/")


def _statuses(path: str, op: dict[str, Any]) -> set[int]:
    params = {p.get("name") for p in op.get("parameters", [])}
    has_body = "requestBody" in op
    out = {503}
    if _authenticated(path):
        out |= {401, 403, 429}
    if has_body:
        out |= {400, 413, 415, 422}
    if params:
        out.add(422)
    if has_body or params & _DATE_PARAMS or "{" in path:
        out |= {404, 409}
    return out


def _complete(doc: dict[str, Any]) -> dict[str, Any]:
    doc.setdefault("components", {}).setdefault("securitySchemes", {})[BEARER] = {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key `cfk.<client>.<secret>` from an administrator",
    }
    for path, item in doc.get("paths", {}).items():
        for op in item.values():
            responses = op.setdefault("responses", {})
            if _authenticated(path):
                op["security"] = [{BEARER: []}]
            for status in _statuses(path, op):
                responses.setdefault(str(status), {"description": _TITLES[status]})
            for code, resp in responses.items():
                if code.isdigit() and int(code) >= 400:
                    resp["content"] = _problem_content()
                    if code in ("429", "503"):
                        resp["headers"] = _RETRY_AFTER
    schemas = doc["components"].get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p) + "$"
    )


def allowed_methods(doc: dict[str, Any], path: str) -> list[str]:
    """Every method that the document serves on ``path`` (sorted, upper case)."""
    methods: set[str] = set()
    for template, item in doc.get("paths", {}).items():
        if _template_regex(template).match(path):
            methods |= {m.upper() for m in item}
    return sorted(methods)


def install_openapi(app: FastAPI) -> None:
    """Serve the completed OpenAPI document and answer 405 with the full ``Allow`` list.

    Call it last among the steps that change ``app.openapi``: it completes what they build."""

    previous = app.openapi  # FastAPI's, or another step's that builds on it
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        doc = previous()
        if not completed or completed[0] is not doc:
            completed[:] = [_complete(doc)]
        return doc

    app.openapi = openapi  # type: ignore[method-assign]

    async def method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
        allow = allowed_methods(app.openapi(), request.url.path)
        if not allow and isinstance(exc, StarletteHTTPException) and exc.headers:
            allow = [m.strip() for m in exc.headers.get("Allow", "").split(",") if m.strip()]
        detail = f"{request.method} is not served here; allowed: {', '.join(allow)}"
        return problem_response(405, detail, request, headers={"Allow": ", ".join(allow)})

    handler: Callable[..., Any] = method_not_allowed
    app.add_exception_handler(405, handler)
