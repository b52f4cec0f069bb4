"""Stored stress results through the service (issue 19: "the service's stress route stores
results with scenario, as-of, inputs and model versions"), on SQLite and PostgreSQL: the
regulator's stress route commits its run before answering; the regulator lists every bank's
stored rows; a bank lists its own rows only and learns nothing of another bank's stored run."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from carbonfin.store.database import session_scope
from carbonfin.store.stress import load_stress_runs, save_stress_run
from tests.api.conftest import Api

AS_OF = dt.date(2026, 10, 30)


def _get(api: Api, path: str, who: str, **params: Any) -> Any:
    resp = api.client.get(path, params=params, headers=api.as_(who))
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_the_regulator_stress_route_stores_its_run(api: Api) -> None:
    first = _get(api, "/v1/regulator/stress", "regulator", as_of=AS_OF.isoformat(),
                 scenario="drop-30")  # fmt: skip
    # committed before the answer: a fresh session of the database reads it back
    with session_scope(api.engine) as s:
        runs = [r for r in load_stress_runs(session=s, scenario="drop-30", as_of=AS_OF)
                if r.scope == "all"]  # fmt: skip
    assert [r.id for r in runs] == [first["run_id"]]
    run = runs[0]
    assert run.inputs["moves"] == first["moves"]
    assert run.model_versions["haircut_model"] == "hs"
    assert run.model_versions["collateral_policy"]
    assert run.results["loss_cny"] == first["loss_cny"]
    # asked again: the same run is replaced, not stored twice
    again = _get(api, "/v1/regulator/stress", "regulator", as_of=AS_OF.isoformat(),
                 scenario="drop-30")  # fmt: skip
    assert again["replaced"] is True
    with session_scope(api.engine) as s:
        runs = [r for r in load_stress_runs(session=s, scenario="drop-30", as_of=AS_OF)
                if r.scope == "all"]  # fmt: skip
    assert [r.id for r in runs] == [again["run_id"]]
    # the regulator lists the stored rows per bank: the route's by_bank, bank by bank
    listed = _get(api, "/v1/regulator/stress-runs", "regulator", scenario="drop-30",
                  as_of=AS_OF.isoformat())  # fmt: skip
    rows = {r["bank_id"]: r for r in listed["rows"] if r["run_id"] == again["run_id"]}
    assert set(rows) == {b["bank_id"] for b in again["by_bank"]}
    assert len(rows) >= 2
    for b in again["by_bank"]:
        r = rows[b["bank_id"]]
        assert r["uncovered_cny"] == b["uncovered_cny"]
        assert r["loans_called_after"] == b["called"]
        assert r["loss_cny"] == b["value_before_cny"] - b["value_after_cny"]
        assert r["moves"] == again["moves"]
    total = sum(r["value_before_cny"] for r in rows.values())
    assert total == pytest.approx(again["value_before_cny"], rel=1e-9)
    one = _get(api, "/v1/regulator/stress-runs", "regulator", scenario="drop-30",
               bank_id="bank-01")  # fmt: skip
    assert {r["bank_id"] for r in one["rows"]} == {"BANK-01"}


def test_a_bank_lists_its_own_stored_results_only(api: Api) -> None:
    whole = _get(api, "/v1/regulator/stress", "regulator", as_of=AS_OF.isoformat(),
                 scenario="drop-50")  # fmt: skip
    # a run of BANK-02's own book (as `carbonfin stress --bank BANK-02 --save` stores it)
    record = {
        "scenario": "policy-jump", "as_of": AS_OF, "scope": "BANK-02", "seed": 0,
        "inputs": {"moves": {"SHEA": -0.25, "CCER": -0.4}, "data_source": "BANK-02 book"},
        "model_versions": {"haircut_model": "hs", "haircut_model_version": "1"},
        "results": {"by_bank": [{"bank_id": "BANK-02", "loans": 3, "called_before": 0,
                                 "called": 2, "outstanding_cny": 9_000_000.0,
                                 "value_before_cny": 12_000_000.0, "value_after_cny": 8.0e6,
                                 "topup_cash_cny": 1.0e6, "uncovered_cny": 1.0e6}]},
    }  # fmt: skip
    with session_scope(api.engine) as s:
        own2, _ = save_stress_run(session=s, record=record)
    mine = api.client.get("/v1/stress-runs", params={"limit": 500}, headers=api.as_("bank1"))
    assert mine.status_code == 200, mine.text
    rows = mine.json()["rows"]
    assert rows
    assert {r["bank_id"] for r in rows} == {"BANK-01"}
    assert "BANK-02" not in mine.text  # nothing of another bank, not even its id
    assert own2 not in {r["run_id"] for r in rows}
    # its row of the whole-book run, as the regulator's route gave it; no moves (a whole-book
    # run's moves name instruments other banks hold)
    row = next(r for r in rows if r["run_id"] == whole["run_id"])
    b1 = next(b for b in whole["by_bank"] if b["bank_id"] == "BANK-01")
    assert row["uncovered_cny"] == b1["uncovered_cny"]
    assert row["moves"] == {}
    # BANK-02's own run: BANK-01 gets nothing, BANK-02 gets it with its moves
    assert _get(api, "/v1/stress-runs", "bank1", scenario="policy-jump")["rows"] == []
    theirs = _get(api, "/v1/stress-runs", "bank2", scenario="policy-jump")["rows"]
    assert [(r["run_id"], r["moves"]) for r in theirs] == [(own2, {"SHEA": -0.25, "CCER": -0.4})]
    assert theirs[0]["loss_cny"] == 4_000_000.0
    # roles: a bank may not use the regulator's listing; admins read no lending data
    for who, path in (("bank1", "/v1/regulator/stress-runs"), ("admin", "/v1/stress-runs"),
                      ("admin", "/v1/regulator/stress-runs")):  # fmt: skip
        assert api.client.get(path, headers=api.as_(who)).status_code == 403, (who, path)
    assert api.client.get("/v1/stress-runs").status_code == 401
    bad = api.client.get("/v1/stress-runs", params={"as_of": "30/10/2026"},
                         headers=api.as_("bank1"))  # fmt: skip
    assert bad.status_code == 422
