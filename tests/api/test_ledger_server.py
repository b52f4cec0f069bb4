"""Acknowledged writes are kept, against a real ``uvicorn`` process on SQLite and PostgreSQL
(issue 18 points 1 and 6): 200 x (create a loan, read it at once) with 0 misses, and a repayment
retried with the same key is applied once. Bounded: each request times out after 30 s and the
whole run after 120 s."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import httpx
from sqlalchemy import func, select

from carbonfin.store.models import LoanLedgerEntry
from tests.api._server import uvicorn_server
from tests.api.test_load import FIRM, Db, db  # noqa: F401 - the fixture

BUDGET_S = 120.0


def test_create_then_read_at_once_never_misses_on_a_real_server(db: Db) -> None:  # noqa: F811
    auth = {"Authorization": f"Bearer {db.keys['bank1']}"}
    today = dt.date.today()
    body = {
        "borrower_uscc": FIRM,
        "currency": "CNY",
        "origination_date": str(today - dt.timedelta(days=30)),
        "maturity_date": str(today + dt.timedelta(days=365)),
        "rate": 0.03,
        "purpose": "green",
    }
    misses: list[tuple[str, int]] = []
    started = time.monotonic()
    with uvicorn_server(db.url) as base, httpx.Client(base_url=base, timeout=30) as client:
        for i in range(200):
            created = client.post(
                "/v1/loans", json=body | {"principal": f"{1000 + i}.00"}, headers=auth
            )
            assert created.status_code == 201, created.text
            loan_id = created.json()["loan_id"]
            read = client.get(f"/v1/loans/{loan_id}", headers=auth)
            if read.status_code != 200:
                misses.append((loan_id, read.status_code))
            assert time.monotonic() - started < BUDGET_S, f"only {i} rounds in {BUDGET_S} s"
        # a repayment sent twice with one key (a retry after a lost answer) is applied once
        key = auth | {"Idempotency-Key": f"srv-{uuid.uuid4()}"}
        pay = {"amount": "100.00", "on": str(today - dt.timedelta(days=1))}
        first = client.post(f"/v1/loans/{loan_id}/repayments", json=pay, headers=key)
        again = client.post(f"/v1/loans/{loan_id}/repayments", json=pay, headers=key)
    assert misses == []
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert first.json() == again.json()
    with db.engine.connect() as c:
        repayments = c.scalar(
            select(func.count())
            .select_from(LoanLedgerEntry)
            .where(LoanLedgerEntry.loan_id == loan_id, LoanLedgerEntry.kind == "repayment")
        )
    assert repayments == 1
