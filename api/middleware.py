"""ASGI middleware: request-size limit, Prometheus metrics, and the audit record of every
authenticated call (client, role, route template, status, time, an HMAC-SHA256 of the body
under the service secret — never the key or the body itself)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import anyio
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy.orm import sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import PROBLEM_JSON
from carbonfin.store.repositories import record_audit

__all__ = ["Metrics", "ServiceMiddleware"]

log = logging.getLogger("carbonfin.api")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


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


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "<unmatched>"


class ServiceMiddleware:
    """Reads the body once (refusing it beyond ``max_body_bytes`` with 413), then times the call,
    counts it, and appends an audit entry when a client was authenticated."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        metrics: Metrics,
        sessions: sessionmaker[Any],
        secret: bytes,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics
        self.sessions = sessions
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        body = b""
        if method in _BODY_METHODS:
            declared = _content_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                await self._too_large(scope, send)
                return
            chunks: list[bytes] = []
            size = 0
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body_bytes:
                    await self._too_large(scope, send)
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        scope.setdefault("state", {})
        try:
            await self.app(scope, replay, capture)
        finally:
            route = _route_template(scope)
            elapsed = time.perf_counter() - started
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            identity = scope["state"].get("identity")
            if identity is not None:
                await anyio.to_thread.run_sync(
                    self._audit, identity, method, route, status, body, scope
                )

    def _audit(
        self, identity: Any, method: str, route: str, status: int, body: bytes, scope: Scope
    ) -> None:
        detail = {
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
        version = scope["state"].get("audit_versions")
        if version:
            detail["versions"] = version
        try:
            with self.sessions.begin() as session:
                record_audit(
                    session=session,
                    actor=identity.client_id,
                    action=f"{method} {route}",
                    entity="api",
                    entity_id=scope["state"].get("audit_entity_id"),
                    detail=detail,
                    at=dt.datetime.now(dt.UTC),
                )
        except Exception:  # the audit must never turn an answered call into an error
            log.exception("could not write the audit entry for %s %s", method, route)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Content too large",
                "status": 413,
                "detail": f"request bodies are limited to {self.max_body_bytes} bytes",
                "instance": scope.get("path", ""),
            }
        ).encode()
        self.metrics.requests.labels(scope["method"], "<unmatched>", "413").inc()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
