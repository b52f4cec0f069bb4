"""Writes from two server processes never overdraw a holding or a loan, on SQLite and PostgreSQL.

Found by a fresh-clone attack on ``carbonfin serve --workers 2`` over SQLite: 8 concurrent
pledges of 60% of a holding's free tonnes each, on 8 loans, were answered 201 twice (the holding
then had -1,920 t free), and 12 concurrent repayments of 600 on a 1,000 loan gave a 500
(``CHECK constraint failed: ck_loans_outstanding_nonneg``). pysqlite ran the checks' reads
outside any transaction, and the write lock of one process does not hold another
(``store.database._sqlite_begin`` now begins write transactions ``IMMEDIATE``). Three rounds of
each; every answer must be a 201/200 or a 409, with exactly one success.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from carbonfin.store.collateral import holdings
from carbonfin.store.database import session_scope
from tests.api._server import uvicorn_server
from tests.api.test_load import Db, db  # noqa: F401 - the fixture

AS_OF = dt.date(2026, 10, 30)
CONCURRENT = 8


def _free_holding(db: Db, minimum: int) -> tuple[str, int, int]:  # noqa: F811
    with session_scope(db.engine) as session:
        h = holdings(session=session, as_of=AS_OF, instrument="SHEA")
    h = h[(h["free_t"] >= minimum) & h["vintage"].notna()]
    h = h.sort_values(["free_t", "uscc"], ascending=[False, True])
    assert not h.empty, "the sample has no SHEA holding that large"
    row = h.iloc[0]
    return str(row["uscc"]), int(row["vintage"]), int(row["free_t"])


def _loan(client: httpx.Client, auth: dict[str, str], borrower: str, principal: str) -> str:
    body = {
        "borrower_uscc": borrower,
        "currency": "CNY",
        "principal": principal,
        "origination_date": AS_OF.isoformat(),
        "maturity_date": "2028-10-30",
        "rate": 0.035,
        "purpose": "green",
    }
    resp = client.post("/v1/loans", json=body, headers=auth)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["loan_id"])


async def _at_once(base: str, calls: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        return list(await asyncio.gather(*(client.post(p, **kw) for p, kw in calls)))


def _one_success(answers: list[httpx.Response], ok: int) -> None:
    codes = sorted(a.status_code for a in answers)
    assert codes == [ok] + [409] * (len(answers) - 1), [a.text[:200] for a in answers]


@pytest.mark.slow
def test_two_workers_never_overpledge_or_overdraw(db: Db) -> None:  # noqa: F811
    auth = {"Authorization": f"Bearer {db.keys['bank1']}"}
    with uvicorn_server(db.url, workers=2) as base, httpx.Client(base_url=base) as client:
        for _ in range(3):
            uscc, vintage, free = _free_holding(db, 1_000)
            quantity = free * 6 // 10  # two of them do not fit
            loans = [_loan(client, auth, uscc, "1000.00") for _ in range(CONCURRENT)]
            pledges = [
                (
                    "/v1/pledges",
                    {
                        "json": {
                            "loan_id": loan_id,
                            "instrument": "SHEA",
                            "vintage": vintage,
                            "quantity_t": quantity,
                            "registration_no": f"SHEA-ZY-X-{uuid.uuid4().hex[:10].upper()}",
                            "registration_date": AS_OF.isoformat(),
                        },
                        "headers": auth,
                    },
                )
                for loan_id in loans
            ]
            _one_success(asyncio.run(_at_once(base, pledges)), 201)
            with session_scope(db.engine) as session:
                h = holdings(session=session, as_of=AS_OF, uscc=uscc, instrument="SHEA")
            assert int(h.loc[h["vintage"] == vintage, "free_t"].sum()) == free - quantity

            loan_id = _loan(client, auth, uscc, "1000.00")
            pay = {"amount": "600.00", "on": AS_OF.isoformat()}
            repayments = [
                (f"/v1/loans/{loan_id}/repayments", {"json": pay, "headers": auth})
                for _ in range(CONCURRENT)
            ]
            _one_success(asyncio.run(_at_once(base, repayments)), 200)
            loan = client.get(f"/v1/loans/{loan_id}", headers=auth).json()
            assert loan["outstanding"] == "400.00", loan
