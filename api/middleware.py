"""ASGI middleware: request-size limit, Prometheus metrics, and the audit record of every
authenticated call and every failed authentication.

Audit entries: an authenticated call's entry names the client, role, route template, status,
time and an HMAC-SHA256 of the body under the service secret (never the key or the body). A
failed authentication's entry names the client id if the key was parseable, the client address
and the reason (``missing``, ``malformed``, ``unknown``, ``revoked``, ``expired``,
``wrong_secret``, ``rate_limited``), never the secret. Entries go through
:class:`api.audit.AuditWriter` and are committed *before the response starts* (see there for
why and for what happens when the database refuses them).

The write-audit flag: a route whose write ran through a :mod:`carbonfin.lending` workflow has
its audit entry written by the workflow, in the write's own transaction (all or nothing). Such a
route sets ``request.state.audit_written = True`` after the workflow returned; the middleware
then writes no second entry for the call. Every other authenticated call (reads, refusals,
errors, and writes whose workflow raised) is audited here.

Metrics labels are bounded: methods outside the standard set count as ``OTHER`` and paths that
match no route as ``<unmatched>``, so invented methods or paths add no series.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.audit import AuditRecord, AuditWriter
from api.problems import PROBLEM_JSON

__all__ = ["KNOWN_METHODS", "Metrics", "ServiceMiddleware"]

log = logging.getLogger("carbonfin.api")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """Request counts and latencies by method, route template and status, in a registry of the
    app's own (so several apps in one process, as in the tests, do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "carbonfin_http_requests",
            "HTTP requests by method, route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "carbonfin_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ("method", "route"),
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )
        self.audit_failures = Counter(
            "carbonfin_audit_failures",
            "Audit entries that could not be written (each is also logged at ERROR)",
            registry=self.registry,
        )
        self.auth_refused = Counter(
            "carbonfin_auth_rate_limited",
            "Authentication attempts refused with 429 (too many recent failures)",
            registry=self.registry,
        )


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


def method_label(method: str) -> str:
    """The metrics label of an HTTP method: itself if standard, else ``OTHER``."""
    return method if method in KNOWN_METHODS else "OTHER"


class ServiceMiddleware:
    """Reads the body once (refusing it beyond ``max_body_bytes`` with 413), then times the call,
    counts it, and has its audit entry committed before the response starts."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: Metrics,
        audit: AuditWriter,
        secret: bytes,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.audit = audit
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        body = b""
        if method in _BODY_METHODS:
            read = await self._read_body(scope, receive, send)
            if read is None:
                return
            body = read

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status = 500
        audited = False

        async def capture(message: Message) -> None:
            nonlocal status, audited
            if message["type"] == "http.response.start":
                status = int(message["status"])
                audited = True
                await self._audit(scope, method, status, body)
            await send(message)

        scope.setdefault("state", {})
        try:
            await self.app(scope, replay, capture)
        finally:
            route = _route_template(scope)
            label = method_label(method)
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(label, route, str(status)).inc()
            self.metrics.latency.labels(label, route).observe(elapsed)
            if not audited:  # the app raised before answering
                await self._audit(scope, method, status, body)

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or ``None`` once a refusal (413, 415, 400) or a disconnect ended it."""
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, send)
            return None
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, send)
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        refusal = _body_refusal(scope, body)
        if refusal is not None:
            await self._refuse(scope, send, *refusal)
            return None
        return body

    async def _audit(self, scope: Scope, method: str, status: int, body: bytes) -> None:
        state = scope["state"]
        record = self._record(state, method, _route_template(scope), status, body)
        if record is not None:
            await self.audit.write(record)

    def _record(
        self, state: dict[str, Any], method: str, route: str, status: int, body: bytes
    ) -> AuditRecord | None:
        identity = state.get("identity")
        failure = state.get("auth_failure")
        if identity is None and failure is not None:
            return AuditRecord(
                actor=failure["client_id"] or "unauthenticated",
                action="auth_failed",
                entity="api",
                entity_id=None,
                detail={
                    "reason": failure["reason"],
                    "address": failure["address"],
                    "method": method_label(method),
                    "route": route,
                    "status": status,
                },
            )
        if identity is None or state.get("audit_written"):
            return None
        detail: dict[str, Any] = {
            "role": identity.role,
            "institution": identity.institution_id,
            "method": method,
            "route": route,
            "status": status,
            # Keyed with the service secret, so a low-entropy body cannot be recovered from the
            # log by hashing guesses.
            "body_hmac_sha256": (
                hmac.new(self.secret, body, hashlib.sha256).hexdigest() if body else None
            ),
        }
        if state.get("audit_versions"):
            detail["versions"] = state["audit_versions"]
        return AuditRecord(
            actor=identity.client_id,
            action=f"{method} {route}",
            entity="api",
            entity_id=state.get("audit_entity_id"),
            detail=detail,
        )

    async def _too_large(self, scope: Scope, send: Send) -> None:
        detail = f"request bodies are limited to {self.max_body_bytes} bytes"
        await self._refuse(scope, send, 413, "Content too large", detail)

    async def _refuse(self, scope: Scope, send: Send, status: int, title: str, detail: str) -> None:
        """A problem answer sent before the app sees the request (413, 415, 400)."""
        body = json.dumps(
            {
                "type": "about:blank",
                "title": title,
                "status": status,
                "detail": detail,
                "instance": scope.get("path", ""),
            }
        ).encode()
        self.metrics.requests.labels(
            method_label(scope["method"]), "<unmatched>", str(status)
        ).inc()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _body_refusal(scope: Scope, body: bytes) -> tuple[int, str, str] | None:
    """415 for an API body not sent as JSON, 400 for one that is not UTF-8 (docs/api.md).

    Only ``/v1`` routes take JSON bodies; the dashboard's forms are form-encoded.
    """
    if not body or not str(scope.get("path", "")).startswith("/v1/"):
        return None
    ctype = ""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            ctype = value.decode("latin-1").split(";")[0].strip().lower()
    if ctype != "application/json" and not (
        ctype.startswith("application/") and ctype.endswith("+json")
    ):
        shown = ctype or "none"
        return 415, "Unsupported media type", f"send the body as application/json (got {shown})"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return 400, "Bad request", f"the body is not UTF-8 (byte {exc.start})"
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
