"""Caches keyed by the database's data versions (issue 18, point 10 and "Caches"): a market
write by another process (a CLI seed, another worker) is seen by the next request of every
worker, with no time-to-live; ``carbonfin serve --workers 2`` serves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.main import create_app
from api.settings import Settings
from carbonfin.store.database import make_engine, session_scope
from carbonfin.store.models import Price
from carbonfin.store.transactions import bump_data_version, read_data_version
from tests.api._server import uvicorn_server
from tests.api.test_load import Db, db  # noqa: F401  (the fixture)


def _add_next_quote(target: Db) -> dt.date:
    """What a market-data writer does: add a quote and bump the market version, one
    transaction."""
    with session_scope(target.engine) as session:
        last = session.scalar(select(func.max(Price.date)).where(Price.instrument == "SHEA"))
        assert last is not None
        day = last + dt.timedelta(days=1)
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        session.add(
            Price(
                instrument="SHEA",
                date=day,
                close_cny_per_t=Decimal("77.50"),
                vwap_cny_per_t=Decimal("77.40"),
                open_cny_per_t=Decimal("77.00"),
                high_cny_per_t=Decimal("78.00"),
                low_cny_per_t=Decimal("76.90"),
                volume_t=1000,
                amount_cny=Decimal("77400.00"),
            )
        )
        bump_data_version(session, "market")
    return day


def _last(client: TestClient | httpx.Client, key: str) -> str:
    resp = client.get("/v1/prices/SHEA", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["last"])


def test_a_market_write_elsewhere_is_seen_at_once(db: Db) -> None:  # noqa: F811
    url = db.url
    engines = [make_engine(db.url) for _ in range(2)] if "sqlite" in url else []
    try:
        apps = [
            create_app(Settings(database_url=url), engine=e if engines else None)
            for e in (engines or [None, None])
        ]
        with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
            before = _last(first, db.keys["bank1"])
            assert _last(second, db.keys["bank1"]) == before
            version = None
            with session_scope(db.engine) as session:
                version = read_data_version(session, "market")
            day = _add_next_quote(db)
            with session_scope(db.engine) as session:
                assert read_data_version(session, "market") == version + 1
            assert _last(first, db.keys["bank1"]) == str(day)
            assert _last(second, db.keys["bank1"]) == str(day)
    finally:
        for e in engines:
            e.dispose()


def test_serve_with_two_workers_sees_every_write(db: Db) -> None:  # noqa: F811
    with uvicorn_server(db.url, workers=2) as base, httpx.Client(base_url=base, timeout=30) as c:
        for _ in range(6):  # warm both workers' caches
            _last(c, db.keys["bank1"])
        day = _add_next_quote(db)
        assert {_last(c, db.keys["bank1"]) for _ in range(10)} == {str(day)}
