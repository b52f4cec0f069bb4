"""Caches keyed by the database's data versions (issue 18, point 10 and "Caches"): a market
write by another process (a CLI seed, another worker) is seen by the next request of every
worker, with no time-to-live; ``carbonfin serve --workers 2`` serves."""

from __future__ import annotations

import datetime as dt
import inspect
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.data import MarketData
from api.deps import no_unknown_query
from api.main import create_app
from api.routes import firms
from api.schemas.firms import ScorePublic
from api.settings import Settings
from carbonfin.store.credentials import revoke_api_client
from carbonfin.store.database import make_engine, session_scope
from carbonfin.store.models import ApiClient, Price
from carbonfin.store.transactions import bump_data_version, read_data_version
from tests.api._server import uvicorn_server
from tests.api.test_load import Db, db  # noqa: F401  (the fixture)

_FIRM = "91310105GN93T2369N"
_SCORE_ROUTE = "/v1/firms/{uscc}/score"


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


def test_a_score_answer_is_built_once_per_market_version(
    db: Db,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The score card's answer (its pydantic model and JSON) is built once per market version,
    firm, year and scoring date, and is byte for byte what FastAPI's ``response_model``
    serialisation of that model gives; a market write rebuilds it on the next call."""
    built: list[ScorePublic] = []
    public = firms._public

    def counting(*args: Any) -> ScorePublic:
        built.append(public(*args))
        return built[-1]

    monkeypatch.setattr(firms, "_public", counting)
    engine = make_engine(db.url) if "sqlite" in db.url else None
    try:
        app = create_app(Settings(database_url=db.url), engine=engine)
        route = next(r for r in firms.router.routes if getattr(r, "path", "") == _SCORE_ROUTE)
        field = route.response_field  # type: ignore[attr-defined]
        auth = {"Authorization": f"Bearer {db.keys['bank1']}"}
        with TestClient(app) as client:
            answers = [client.get(f"/v1/firms/{_FIRM}/score", headers=auth) for _ in range(3)]
            assert len(built) == 1
            for resp in answers:
                assert resp.status_code == 200, resp.text
                assert resp.headers["content-type"] == "application/json"
                assert resp.content == field.serialize_json(built[0])
            dated = client.get(f"/v1/firms/{_FIRM}/score?as_of=2025-12-31", headers=auth)
            assert dated.status_code == 200
            assert len(built) == 2
            assert dated.content == field.serialize_json(built[1])
            assert (
                client.get(f"/v1/firms/{_FIRM}/score", headers=auth).content == answers[0].content
            )
            assert len(built) == 2
            _add_next_quote(db)  # a market write: the next call rebuilds
            again = client.get(f"/v1/firms/{_FIRM}/score", headers=auth)
            assert again.status_code == 200
            assert len(built) == 3
            assert again.content == field.serialize_json(built[2])
    finally:
        if engine is not None:
            engine.dispose()


def test_the_unknown_query_check_runs_on_the_event_loop() -> None:
    """FastAPI runs a sync dependency in a worker thread: the check of every route's query
    parameters is ``async`` so that it costs no thread hop per call."""
    assert inspect.iscoroutinefunction(no_unknown_query)


def test_the_score_route_reads_its_market_version_with_the_key(
    db: Db,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The score route's key check reads the market version in its own transaction, so a
    cached answer needs no second session, read or thread hop; a write to the market, or a
    revoked key, still shows on the very next call."""
    reads: list[int] = []
    version = MarketData.version

    def counting(self: MarketData) -> int:
        reads.append(1)
        return version(self)

    monkeypatch.setattr(MarketData, "version", counting)
    engine = make_engine(db.url) if "sqlite" in db.url else None
    try:
        app = create_app(Settings(database_url=db.url), engine=engine)
        bank = {"Authorization": f"Bearer {db.keys['bank1']}"}
        path = f"/v1/firms/{_FIRM}/score"
        with TestClient(app) as client:
            first = client.get(path, headers=bank)
            assert first.status_code == 200, first.text
            reads.clear()
            for _ in range(3):
                assert client.get(path, headers=bank).content == first.content
            assert reads == []
            day = _add_next_quote(db)
            again = client.get(path, headers=bank)
            assert again.status_code == 200
            assert reads  # rebuilt under the new version
            assert _last(client, db.keys["bank1"]) == str(day)
            admin = {"Authorization": f"Bearer {db.keys['admin']}"}
            assert client.get(path, headers=admin).status_code == 403
            _until_expired(db, "test-expired")  # it was made to live one second
            expired = {"Authorization": f"Bearer {db.keys['expired']}"}
            assert client.get(path, headers=expired).status_code == 401
            with session_scope(db.engine) as session:
                revoke_api_client(session=session, client_id="test-bank1")
            assert client.get(path, headers=bank).status_code == 401
    finally:
        if engine is not None:
            engine.dispose()


def _until_expired(db: Db, client_id: str) -> None:  # noqa: F811
    """Sleep until the key of ``client_id`` has expired (by its stored expiry, not a guess: the
    test reached the check within the key's one second of life on a fast CI run)."""
    with session_scope(db.engine) as session:
        expires = session.get(ApiClient, client_id).expires_at  # type: ignore[union-attr]
    assert expires is not None
    if expires.tzinfo is None:  # SQLite gives the stored UTC time back without its zone
        expires = expires.replace(tzinfo=dt.UTC)
    time.sleep(max(0.0, (expires - dt.datetime.now(dt.UTC)).total_seconds()) + 0.05)
