"""Errors as RFC 9457 problem details (``application/problem+json``), in one place.

The core's errors map to statuses by kind: bad input 422 (or 400 for a malformed request), an
unknown object 404, a conflict (idempotency key reused, over-pledge) 409, missing or stale data
409 with its reason, a database that is not ready 503, a database that stayed busy beyond the
bounded wait 503 with ``Retry-After``. Anything unexpected is logged and answered
with a generic 500 body that reveals nothing; the fuzz test makes sure no client input gets there.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.wording import plain_error
from carbonfin.errors import (
    CarbonfinError,
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    MissingDataError,
    StaleDataError,
    UnknownInstrumentError,
    in_callers_terms,
)
from carbonfin.store.transactions import BusyError

__all__ = [
    "PROBLEM_JSON",
    "ApiProblemError",
    "Problem",
    "install_problem_handlers",
    "problem_responses",
]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("carbonfin.api")

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(default="about:blank", examples=["about:blank"])
    title: str = Field(examples=["Unprocessable content"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["`quantity_t` must be positive; got -5"])
    instance: str | None = Field(default=None, examples=["/v1/pledges"])
    errors: list[dict[str, Any]] | None = None


class ApiProblemError(Exception):
    """Raised by routes for an HTTP-level answer (401, 403, 404, 409) with a message."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def problem_response(
    status: int,
    detail: str,
    request: Request,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    ).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_for(exc: CarbonfinError) -> int:
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, UnknownInstrumentError):
        return 422
    if isinstance(exc, InvalidInputError):
        return 422
    if isinstance(exc, StaleDataError):
        return 409
    if isinstance(exc, MissingDataError):
        return 404
    if isinstance(exc, ConfigurationError):
        return 503
    return 422


def _clean_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Each error as ``loc``, ``msg`` and ``type``, the message in words (:mod:`api.wording`)."""
    return [plain_error(err) for err in exc.errors()]


def _parameter_names(request: Request) -> dict[str, str]:
    """What a caller of the request's route can send: its query and path parameters (by their
    public name) and the top-level fields of its JSON body, each as engine name -> public name."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    names: dict[str, str] = {}
    stack = [dependant] if dependant is not None else []
    while stack:
        current = stack.pop()
        for p in (*current.query_params, *current.path_params):
            names[p.name] = p.alias
        for b in current.body_params:
            model = getattr(b.field_info, "annotation", None)
            names.update({f: f for f in getattr(model, "model_fields", {})})
        stack.extend(current.dependencies)
    return names


def install_problem_handlers(app: FastAPI) -> None:
    """Register the one mapping of exceptions to problem-details responses."""

    @app.exception_handler(ApiProblemError)
    async def _api_problem(request: Request, exc: ApiProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.detail, request, headers=exc.headers)

    @app.exception_handler(BusyError)
    async def _busy(request: Request, exc: BusyError) -> JSONResponse:
        return problem_response(
            503, str(exc), request, headers={"Retry-After": str(exc.retry_after_s)}
        )

    @app.exception_handler(CarbonfinError)
    async def _carbonfin(request: Request, exc: CarbonfinError) -> JSONResponse:
        detail = in_callers_terms(str(exc), _parameter_names(request))
        return problem_response(status_for(exc), detail, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_validation_errors(exc)
        detail = errors[0]["msg"] if errors else "invalid request"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more in `errors`)"
        return problem_response(422, detail, request, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return problem_response(exc.status_code, str(exc.detail), request, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(500, "an unexpected error occurred; it has been logged", request)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem bodies for ``statuses``."""
    return {
        s: {"model": Problem, "description": _TITLES.get(s, "Error"), "content": {PROBLEM_JSON: {}}}
        for s in statuses
    }
