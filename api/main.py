"""The carbonfin HTTP API: ``uvicorn api.main:app``.

A thin FastAPI edge over the core and the store: it parses, authorises, calls and formats. See
``docs/api.md`` and the OpenAPI document at ``/docs``.
"""

from __future__ import annotations

import threading

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from api.book import BookCache
from api.data import MarketData
from api.middleware import Metrics, ServiceMiddleware
from api.problems import install_problem_handlers
from api.routes import admin, collateral, firms, fx, health, lending, market, pledges, regulator
from api.settings import Settings, get_settings
from carbonfin.store.credentials import VerifiedKeyCache
from carbonfin.store.database import make_engine

__all__ = ["app", "create_app"]


def create_app(settings: Settings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: from the environment); ``engine`` overrides the
    settings' database (the tests give each run its own PostgreSQL schema this way)."""
    settings = settings or get_settings()
    engine = engine if engine is not None else make_engine(settings.database_url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    api = FastAPI(
        title="carbonfin",
        version=_version(),
        summary="Carbon-allowance collateral, scores and FX for lenders and the central bank",
        description=(
            "Authenticate with `Authorization: Bearer <API key>`. Errors are RFC 9457 problem "
            "details. Banks see only their own lending data; the regulator reads everything "
            "and writes nothing."
        ),
    )
    api.state.settings = settings
    api.state.engine = engine
    api.state.sessions = sessions
    api.state.key_cache = VerifiedKeyCache()
    api.state.sqlite_write_lock = (
        threading.Lock() if engine.url.get_backend_name() == "sqlite" else None
    )
    api.state.metrics = Metrics()
    api.state.data = MarketData(sessions, engine.url.render_as_string(hide_password=True))
    api.state.book = BookCache(api.state.data)
    install_problem_handlers(api)
    for module in (health, firms, market, fx, lending, collateral, pledges, regulator, admin):
        api.include_router(module.router)
    api.add_middleware(
        ServiceMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=api.state.metrics,
        sessions=sessions,
        secret=settings.secret_key.get_secret_value().encode(),
    )
    return api


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("carbonfin")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


app = create_app()
