"""The carbonfin HTTP API: ``uvicorn api.main:app``.

A thin FastAPI edge over the core and the store: it parses, authorises, calls and formats. See
``docs/api.md`` and the OpenAPI document at ``/docs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import QueuePool

from api.audit import AuditWriter
from api.book import BookCache
from api.dashboard.headers import DashboardHeaders
from api.dashboard.routes import router as dashboard_router
from api.data import MarketData
from api.deps import no_unknown_query
from api.head import HeadAsGet
from api.middleware import Metrics, ServiceMiddleware
from api.openapi import install_openapi
from api.problems import install_problem_handlers
from api.ratelimit import AuthGuard
from api.routes import (
    admin,
    carbon_cost,
    collateral,
    exposure,
    firms,
    fx,
    health,
    lending,
    market,
    pledges,
    regulator,
)
from api.settings import Settings, get_settings
from carbonfin.store.credentials import VerifiedKeyCache
from carbonfin.store.database import make_engine, public_name

__all__ = ["app", "create_app"]


def _side_engine(engine: Engine, timeout_s: float) -> Engine:
    """An engine on the same database with a pool of its own (one connection, at most two), for
    ``/health``: it answers even when the service's pool is exhausted."""
    creator = engine.pool._creator  # the dialect's connect function, with the connect_args
    return create_engine(
        engine.url, pool=QueuePool(creator, pool_size=1, max_overflow=1, timeout=timeout_s)
    )


def _lifespan(settings: Settings) -> Any:
    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        # The default thread limiter runs the sync routes and dependencies: sized with the pool.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threadpool_size
        api.state.write_limiter = anyio.CapacityLimiter(settings.threadpool_size)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(api.state.audit.close)
            api.state.health_engine.dispose()

    return lifespan


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: from the environment); ``engine`` overrides the
    settings' database (the tests give each run its own PostgreSQL schema this way)."""
    settings = settings or get_settings()
    if engine is None:
        engine = make_engine(
            settings.database_url,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout_s=settings.db_pool_timeout_s,
        )
    sessions = sessionmaker(engine, expire_on_commit=False)
    api = FastAPI(
        title="carbonfin",
        version=_version(),
        summary="Carbon-allowance collateral, scores and FX for lenders and the central bank",
        description=(
            "Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457 problem "
            "details. Banks see only their own lending data; the regulator reads everything "
            "and writes nothing; the platform operator's admins manage API clients."
        ),
        lifespan=_lifespan(settings),
    )
    api.state.settings = settings
    api.state.engine = engine
    api.state.health_engine = _side_engine(engine, health.HEALTH_TIMEOUT_S)
    api.state.sessions = sessions
    api.state.key_cache = VerifiedKeyCache()
    api.state.auth_guard = AuthGuard(
        per_address=settings.auth_failures_per_address,
        per_client=settings.auth_failures_per_client,
        window_s=settings.auth_window_s,
    )
    # Replaced in the lifespan (it must be made inside the event loop); this one serves apps
    # driven without their lifespan.
    api.state.write_limiter = None
    api.state.metrics = Metrics()
    api.state.audit = AuditWriter(sessions, api.state.metrics.audit_failures)
    api.state.data = MarketData(sessions, public_name(engine.url))
    api.state.book = BookCache(api.state.data)
    install_problem_handlers(api)
    for module in (
        health, firms, market, fx, lending, collateral, pledges, regulator, exposure, admin,
    ):  # fmt: skip
        api.include_router(module.router, dependencies=[Depends(no_unknown_query)])
    for extra in (carbon_cost.router, carbon_cost.regulator_router):
        api.include_router(extra, dependencies=[Depends(no_unknown_query)])
    api.include_router(dashboard_router)
    api.add_middleware(HeadAsGet)  # first added: innermost
    api.add_middleware(DashboardHeaders)
    api.add_middleware(
        ServiceMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=api.state.metrics,
        audit=api.state.audit,
        secret=settings.secret_key.get_secret_value().encode(),
    )
    _document_page_limit(api, settings.page_size_max)
    install_openapi(api)  # last: completes the document the steps above build
    return api


def _document_page_limit(api: FastAPI, page_size_max: int) -> None:
    """State ``page_size_max`` as the maximum of every ``limit`` query parameter in the OpenAPI
    document (the server refuses more with 422, :func:`api.deps.page_limit`)."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title,
                version=api.version,
                summary=api.summary,
                description=api.description,
                routes=api.routes,
            )
            for item in schema.get("paths", {}).values():
                for operation in item.values():
                    for param in operation.get("parameters", []):
                        if param.get("in") == "query" and param.get("name") == "limit":
                            param.setdefault("schema", {})["maximum"] = page_size_max
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("carbonfin")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


app = create_app()
