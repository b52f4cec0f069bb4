"""Carbon cost at risk through the API (SQLite and PostgreSQL): a bank sees only the borrowers of
its own active loans; the regulator sees sums by bank and by sector; bad input is a 422."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from carbonfin.store.database import session_scope
from carbonfin.store.models import Loan
from tests.api.conftest import Api

AS_OF = dt.date(2026, 10, 30)
PARAMS = {"as_of": AS_OF.isoformat(), "years": 2, "scenarios": "merton", "paths": 200, "seed": 3}


def _borrowers(api: Api, bank: str) -> set[str]:
    with session_scope(api.engine) as session:
        rows = session.scalars(
            select(Loan.borrower_uscc).where(Loan.bank_id == bank, Loan.status == "active")
        )
        return set(rows)


def _get(api: Api, path: str, who: str, **extra: Any) -> Any:
    return api.client.get(path, params={**PARAMS, **extra}, headers=api.as_(who))


def test_bank_sees_only_its_own_borrowers(api: Api) -> None:
    resp = _get(api, "/v1/carbon-cost/borrowers", "bank1")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["bank_id"] == "BANK-01"
    got = {b["uscc"] for b in body["borrowers"]}
    assert got == _borrowers(api, "BANK-01")
    assert body["inputs"]["years"] == [2026, 2027]
    assert body["inputs"]["n_scenarios"] == 200
    assert body["assumptions"]
    mine = {loan["loan_id"] for b in body["borrowers"] for loan in b["loans"]}
    with session_scope(api.engine) as session:
        other = set(session.scalars(select(Loan.loan_id).where(Loan.bank_id != "BANK-01")))
    assert not mine & other  # no other bank's loan appears
    covered = [b for b in body["borrowers"] if b["status"] == "covered"]
    assert covered
    for b in covered:
        assert b["car99_cny"] >= b["car95_cny"] - 1e-6
        assert len(b["years"]) == 2
    for b in body["borrowers"]:
        if b["status"] != "covered":
            assert b["car99_cny"] is None  # not a silent zero
            assert b["reason"]
    # the same request gives the same numbers (seeded)
    again = _get(api, "/v1/carbon-cost/borrowers", "bank1").json()
    assert again["borrowers"] == body["borrowers"]


def test_regulator_reads_the_aggregate_not_the_bank_route(api: Api) -> None:
    resp = _get(api, "/v1/regulator/carbon-cost", "regulator")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    banks = {g["key"] for g in body["by_bank"]}
    assert {"BANK-01", "BANK-02"} <= banks
    total_bank = sum(g["car99_cny"] for g in body["by_bank"])
    assert total_bank > 0
    assert body["by_sector"]
    assert _get(api, "/v1/carbon-cost/borrowers", "regulator").status_code == 403
    assert _get(api, "/v1/regulator/carbon-cost", "bank1").status_code == 403
    assert _get(api, "/v1/regulator/carbon-cost", "admin").status_code == 403
    assert api.client.get("/v1/regulator/carbon-cost", params=PARAMS).status_code == 401


def test_bad_input_is_a_422_with_a_problem_body(api: Api) -> None:
    for extra in ({"paths": 10}, {"years": 9}, {"scenarios": "garch"}, {"as_of": "2026-13-01"}):
        resp = _get(api, "/v1/carbon-cost/borrowers", "bank1", **extra)
        assert resp.status_code == 422, (extra, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")


def test_regulator_stress_shows_both_sides_per_bank(api: Api) -> None:
    """A +50% spike on the regulator's stress route with ``both_sides=true``: per bank, the
    pledged collateral and the borrowers' carbon cost both rise by the move; without the flag
    the view is absent (not an empty table)."""
    params = {"as_of": AS_OF.isoformat(), "scenario": "spike-50"}
    who = api.as_("regulator")
    plain = api.client.get("/v1/regulator/stress", params=params, headers=who)
    assert plain.status_code == 200, plain.text
    assert plain.json()["both_sides"] is None
    resp = api.client.get(
        "/v1/regulator/stress", params={**params, "both_sides": "true"}, headers=who
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    moves = set(body["moves"].values())
    assert moves == {0.5}
    rows = {r["bank_id"]: r for r in body["both_sides"]}
    assert {"BANK-01", "BANK-02"} <= set(rows)
    # the collateral side is the book's: per bank it adds up to the stress's own totals
    assert sum(r["collateral_before_cny"] for r in rows.values()) == pytest.approx(
        body["value_before_cny"], rel=1e-9
    )
    assert sum(r["collateral_after_cny"] for r in rows.values()) == pytest.approx(
        body["value_after_cny"], rel=1e-9
    )
    exposed = [r for r in rows.values() if r["borrowers_exposed"] > 0]
    assert exposed  # some bank lends to covered emitters that must buy allowances
    for r in rows.values():
        assert r["collateral_after_cny"] == pytest.approx(1.5 * r["collateral_before_cny"])
        assert r["carbon_cost_after_cny"] == pytest.approx(1.5 * r["carbon_cost_before_cny"])
        assert r["carbon_cost_change_cny"] == pytest.approx(
            r["carbon_cost_after_cny"] - r["carbon_cost_before_cny"]
        )
    assert (
        api.client.get(
            "/v1/regulator/stress", params={**params, "both_sides": "maybe"}, headers=who
        ).status_code
        == 422
    )
