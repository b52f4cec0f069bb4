"""Exposure through the API from stored valuations (issue 20, points 3 and 4), on SQLite and
PostgreSQL: the regulator's exposures equal a pandas computation on the stored rows to the cent;
a repayment with a value date after D leaves D's exposure unchanged while one on D lowers it by
its amount; a bank's summary and history hold only its own bank; the history's points equal the
summaries of their dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from carbonfin.collateral.aggregate import allocate_outstanding, group_exposures
from carbonfin.store import exposure as store
from carbonfin.store.database import session_scope
from tests.api.conftest import Api

AS_OF = dt.date(2026, 10, 30)
WEEK_BEFORE = dt.date(2026, 10, 23)
GROUPINGS = ("bank", "instrument", "vintage", "industry")
FIGURES = ("pledges", "pledges_not_valued", "collateral_value_cny", "lendable_value_cny",
           "loan_outstanding_cny", "outstanding_by_quantity_cny", "loans",
           "loans_outstanding_unknown")  # fmt: skip


def _get(api: Api, path: str, who: str, **params: Any) -> dict[str, Any]:
    resp = api.client.get(path, params=params, headers=api.as_(who))
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def _summary(api: Api, who: str = "regulator", day: dt.date = AS_OF) -> dict[str, Any]:
    return _get(api, "/v1/exposure/summary", who, as_of=day.isoformat())


def test_regulator_exposures_equal_pandas_on_the_stored_rows_to_the_cent(api: Api) -> None:
    bodies = {
        by: _get(api, "/v1/regulator/exposures", "regulator", as_of=AS_OF.isoformat(), group_by=by)
        for by in GROUPINGS
    }
    with session_scope(api.engine) as s:
        run = store.find_run(session=s, as_of=AS_OF)
        assert run is not None
        pledges, loans = store.load_run_rows(session=s, run_id=run.run_id)
    allocated = allocate_outstanding(pledges, loans)
    for by, body in bodies.items():
        ref = group_exposures(allocated, by)
        expected = {str(r["key"]): r for r in ref.rows.to_dict("records")}
        got = {r["key"]: r for r in body["rows"]}
        assert set(got) == set(expected), by
        for key, row in got.items():
            for col in FIGURES:
                assert row[col] == pytest.approx(expected[key][col], abs=0.005), (by, key, col)
        for col in FIGURES:
            assert body["total"][col] == pytest.approx(ref.total[col], abs=0.005), (by, col)
        assert any("stored valuation run" in n for n in body["provenance"]["notes"])


def _a_cny_loan_of_bank1(api: Api) -> tuple[str, float]:
    with session_scope(api.engine) as s:
        run = store.find_run(session=s, as_of=AS_OF)
        assert run is not None
        _, loans = store.load_run_rows(session=s, run_id=run.run_id, bank_id="BANK-01")
    ok = loans[(loans["currency"] == "CNY") & (loans["outstanding"] > 1_000)]
    assert not ok.empty
    row = ok.sort_values("loan_id").iloc[0]
    return str(row["loan_id"]), float(row["outstanding"])


def _repay(api: Api, loan_id: str, on: dt.date) -> None:
    resp = api.client.post(
        f"/v1/loans/{loan_id}/repayments",
        json={"amount": "100.00", "on": on.isoformat()},
        headers=api.as_("bank1"),
    )
    assert resp.status_code in (200, 201), resp.text


def test_a_repayment_after_the_date_does_not_change_its_exposure(api: Api) -> None:
    before = _summary(api)
    loan_id, _ = _a_cny_loan_of_bank1(api)
    today = dt.datetime.now(dt.UTC).date()
    _repay(api, loan_id, today)  # value date after AS_OF
    after = _summary(api)
    for col in FIGURES:
        assert after["total"][col] == pytest.approx(before["total"][col], abs=0.005), col
    # the run was valued again (the lending data changed), and says so
    assert after["provenance"]["notes"][0] != before["provenance"]["notes"][0]
    # a repayment with the value date AS_OF lowers AS_OF's outstanding by its 100.00 CNY
    _repay(api, loan_id, AS_OF)
    lower = _summary(api)
    assert lower["total"]["loan_outstanding_cny"] == pytest.approx(
        before["total"]["loan_outstanding_cny"] - 100.0, abs=0.005
    )


def test_a_bank_sees_only_its_own_book(api: Api) -> None:
    mine = _summary(api, "bank1")
    assert mine["bank_id"] == "BANK-01"
    assert [r["key"] for r in mine["groups"]["bank"]] == ["BANK-01"]
    # asking for another bank is a 422 (tests/api/test_request_gaps.py), as on /v1/loans
    whole = _summary(api)
    by_bank = {r["key"]: r for r in whole["groups"]["bank"]}
    assert mine["total"]["loan_outstanding_cny"] == pytest.approx(
        by_bank["BANK-01"]["loan_outstanding_cny"], abs=0.005
    )
    hist = _get(api, "/v1/exposure/history", "bank1", start=AS_OF.isoformat(),
                end=AS_OF.isoformat())  # fmt: skip
    assert hist["bank_id"] == "BANK-01"
    assert hist["points"][0]["loans"] == mine["total"]["loans"]
    resp = api.client.get(
        "/v1/regulator/exposure-history",
        params={"start": AS_OF.isoformat(), "end": AS_OF.isoformat()},
        headers=api.as_("bank1"),
    )
    assert resp.status_code == 403


def test_history_points_are_the_summaries_of_their_dates(api: Api) -> None:
    summaries = {d: _summary(api, day=d) for d in (WEEK_BEFORE, AS_OF)}  # stores both dates
    body = _get(api, "/v1/regulator/exposure-history", "regulator",
                start=WEEK_BEFORE.isoformat(), end=AS_OF.isoformat())  # fmt: skip
    points = {p["as_of"]: p for p in body["points"]}
    assert {WEEK_BEFORE.isoformat(), AS_OF.isoformat()} <= set(points)
    for day, summary in summaries.items():
        p, t = points[day.isoformat()], summary["total"]
        assert p["loan_outstanding_cny"] == pytest.approx(t["loan_outstanding_cny"], abs=0.005)
        assert p["collateral_value_cny"] == pytest.approx(t["collateral_value_cny"], abs=0.005)
        assert p["lendable_value_cny"] == pytest.approx(t["lendable_value_cny"], abs=0.005)
        assert p["loans"] == t["loans"]
        assert p["margin_calls"] == summary["margin_calls"]
        assert p["stale"] is False
    assert body["provenance"]["source"]
    resp = api.client.get(
        "/v1/exposure/history",
        params={"start": AS_OF.isoformat(), "end": WEEK_BEFORE.isoformat()},
        headers=api.as_("regulator"),
    )
    assert resp.status_code == 422
    assert "after `end`" in resp.json()["detail"]


def test_concentration_from_sql_equals_pandas_on_the_stored_rows(api: Api) -> None:
    body = _get(api, "/v1/regulator/concentration", "regulator", as_of=AS_OF.isoformat())
    with session_scope(api.engine) as s:
        run = store.find_run(session=s, as_of=AS_OF)
        assert run is not None
        pledges, _ = store.load_run_rows(session=s, run_id=run.run_id)
    valued = pledges[
        pledges["market_value_cny"].notna()
        & pledges["lendable_value_cny"].notna()
        & pledges["not_valued_reason"].isna()
    ]
    # Herfindahl-Hirschman index: the sum over pledgors of the squared share of value
    by_pledgor = valued.groupby("pledgor_uscc")["market_value_cny"].sum()
    shares = by_pledgor / by_pledgor.sum()
    assert body["pledgors"] == len(by_pledgor)
    assert body["herfindahl"] == pytest.approx(float((shares**2).sum()), rel=1e-9)
    assert body["top_shares"]["top_1"] == pytest.approx(float(shares.max()), rel=1e-9)
