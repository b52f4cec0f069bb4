"""Load behaviour against a real ``uvicorn`` process (issue 18, points 2 and 5): nothing
unauthenticated takes a lock or a connection, ``/health`` keeps answering, SIGTERM stops the
server, no 500 under contention, and exactly one audit row per authenticated call."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from carbonfin.store.database import make_engine
from carbonfin.store.models import AuditEntry, Loan
from tests.api._server import uvicorn_server
from tests.api.conftest import _keys, _seed

#: it measures /health under a flood: under pytest-xdist it runs alone (tests/conftest.py)
pytestmark = pytest.mark.serial

FIRM = "91310105GN93T2369N"


@dataclass
class Db:
    url: str
    engine: Engine
    keys: dict[str, str]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """A seeded database of its own, with the suite's keys, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'load.db'}"
        engine = make_engine(url)
        _seed(engine)
        yield Db(url, engine, _keys(engine))
        engine.dispose()
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(base, schema=schema)
    _seed(engine)
    sep = "&" if "?" in base else "?"
    yield Db(f"{base}{sep}options=-csearch_path%3D{schema}", engine, _keys(engine))
    engine.dispose()
    with admin.begin() as c:
        c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _book_loan(base: str, key: str) -> str:
    today = dt.date.today()
    resp = httpx.post(
        f"{base}/v1/loans",
        headers=_auth(key),
        json={
            "borrower_uscc": FIRM,
            "currency": "CNY",
            "principal": "100000000.00",
            "origination_date": str(today - dt.timedelta(days=30)),
            "maturity_date": str(today + dt.timedelta(days=365)),
            "rate": 0.03,
            "purpose": "green",
        },
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["loan_id"])


async def _send(base: str, calls: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        return list(await asyncio.gather(*(client.request(m, p, **kw) for m, p, kw in calls)))


def _burst(
    base: str, calls: list[tuple[str, str, dict[str, Any]]]
) -> tuple[list[httpx.Response], list[tuple[int, float]]]:
    """Send every call at once while another thread (its own client, so the burst's client
    work does not inflate the figure) probes /health every 100 ms."""
    probes: list[tuple[int, float]] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=base, timeout=10) as client:
            while not done.is_set():
                started = time.perf_counter()
                try:
                    status = client.get("/health").status_code
                except httpx.HTTPError:
                    status = 0
                probes.append((status, time.perf_counter() - started))
                done.wait(0.1)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        results = asyncio.run(_send(base, calls))
    finally:
        done.set()
        prober.join()
    return results, probes


@pytest.mark.slow
def test_health_answers_under_a_flood_and_sigterm_stops_the_server(db: Db) -> None:
    """200 concurrent requests without a key and 60 concurrent repayments with a valid key:
    /health answers 200 within 2 s throughout, nothing is a 500, every 503 says when to retry,
    the acknowledged repayments add up, and SIGTERM stops the server (the context exit)."""
    with uvicorn_server(db.url) as base:
        loan_id = _book_loan(base, db.keys["bank1"])
        path = f"/v1/loans/{loan_id}/repayments"
        body = {"amount": "1000.00", "on": str(dt.date.today())}
        calls = [("POST", path, {"json": body}) for _ in range(200)]
        calls += [("POST", path, {"json": body, "headers": _auth(db.keys["bank1"])})] * 60
        results, probes = _burst(base, calls)
        assert probes, "no /health probe ran"
        slow = [p for p in probes if p[0] != 200 or p[1] > 2.0]
        assert not slow, f"/health failed or took > 2 s: {slow}"
        anonymous, repaid = results[:200], results[200:]
        assert {r.status_code for r in anonymous} <= {401, 429}
        for r in repaid:
            assert r.status_code in (200, 201, 503), r.text
            if r.status_code == 503:
                assert int(r.headers["Retry-After"]) >= 1
        ok = sum(1 for r in repaid if r.status_code in (200, 201))
        assert ok >= 1
        assert httpx.get(f"{base}/health", timeout=2).status_code == 200
    with db.engine.connect() as c:
        outstanding = c.scalar(select(Loan.outstanding).where(Loan.loan_id == loan_id))
    assert outstanding is not None
    assert float(outstanding) == pytest.approx(100_000_000.0 - 1000.0 * ok)


@pytest.mark.slow
def test_concurrent_calls_leave_no_500_and_one_audit_row_each(db: Db) -> None:
    """50 concurrent authenticated calls (reads and repayments on one loan) with a small pool:
    no 500, and exactly one audit row per call (the workflow's or the middleware's)."""
    env = {"CARBONFIN_THREADPOOL_SIZE": "8"}
    with uvicorn_server(db.url, extra_env=env) as base:
        loan_id = _book_loan(base, db.keys["bank1"])
        with db.engine.connect() as c:
            before = c.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == "test-bank2")
            )
        bank2 = _auth(db.keys["bank2"])
        other = _book_loan(base, db.keys["bank2"])
        with db.engine.connect() as c:
            before = c.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == "test-bank2")
            )
        body = {"amount": "10.00", "on": str(dt.date.today())}
        calls: list[tuple[str, str, dict[str, Any]]] = []
        for i in range(50):
            if i % 2:
                calls.append(("GET", "/v1/loans", {"headers": bank2}))
            else:
                calls.append(
                    ("POST", f"/v1/loans/{other}/repayments", {"json": body, "headers": bank2})
                )
        results, _ = _burst(base, calls)
        statuses = [r.status_code for r in results]
        assert 500 not in statuses, [r.text for r in results if r.status_code == 500][:3]
        assert all(s < 500 or s == 503 for s in statuses), statuses
        assert loan_id != other
    with db.engine.connect() as c:
        after = c.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.actor == "test-bank2")
        )
    assert (after or 0) - (before or 0) == 50
