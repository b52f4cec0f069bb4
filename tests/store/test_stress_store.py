"""Stored stress runs (issue 19, point 9) on SQLite and PostgreSQL: migration 0008, a run read
back with its scenario, as-of, inputs and model versions, replaced (not duplicated) when stored
again, filters; and ``carbonfin stress --save`` refused with --sample."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, inspect

from carbonfin.collateral import stress_book, stress_record
from carbonfin.errors import InvalidInputError
from carbonfin.store.database import head_revision, session_scope, upgrade
from carbonfin.store.stress import load_stress_runs, save_stress_run
from tests.collateral.test_stress import BOOK, HIST, INDUSTRY


def _record(scope: str = "all", seed: int = 0) -> dict[str, object]:
    res = stress_book(BOOK, "drop-30", HIST, industries=INDUSTRY, seed=seed)
    return stress_record(res, scope=scope, seed=seed, model="hs", model_version="1",
                         policy_version=BOOK.policy_version, data_source="test book")  # fmt: skip


def test_stress_runs_round_trip_and_replace(engine: Engine) -> None:
    assert upgrade(engine) == head_revision()
    assert "stress_runs" in inspect(engine).get_table_names()
    rec = _record()
    # by hand: drop-30 moves every instrument of the book by -30%
    value = float(BOOK.pledges["market_value_cny"].sum())
    with session_scope(engine) as s:
        _, replaced = save_stress_run(session=s, record=rec)
    assert not replaced
    with session_scope(engine) as s:
        _, replaced = save_stress_run(session=s, record=rec)
        save_stress_run(session=s, record=_record(scope="B1"))
    assert replaced
    with session_scope(engine) as s:
        runs = load_stress_runs(session=s, scenario="drop-30", scope="all")
        every = load_stress_runs(session=s, as_of=BOOK.as_of)
    assert len(runs) == 1  # stored twice, kept once
    assert len(every) == 2
    run = runs[0]
    assert (run.scenario, run.as_of, run.scope, run.seed) == ("drop-30", BOOK.as_of, "all", 0)
    assert run.inputs["moves"] == {"SHEA": -0.3, "CEA": -0.3}
    assert run.inputs["data_source"] == "test book"
    assert run.model_versions["haircut_model"] == "hs"
    assert run.model_versions["collateral_policy"] == BOOK.policy_version
    assert run.results["value_before_cny"] == pytest.approx(value)
    assert run.results["value_after_cny"] == pytest.approx(0.7 * value)
    assert {r["bank_id"] for r in run.results["by_bank"]} == {"B1", "B2"}


def test_stress_record_refuses_bad_input(engine: Engine) -> None:
    upgrade(engine)
    with pytest.raises(InvalidInputError, match="`scope`"):
        _record(scope="")
    bad = dict(_record())
    bad.pop("results")
    with session_scope(engine) as s, pytest.raises(InvalidInputError, match="missing"):
        save_stress_run(session=s, record=bad)
    bad = dict(_record(), as_of="2020-01-01")
    with session_scope(engine) as s, pytest.raises(InvalidInputError, match="`as_of`"):
        save_stress_run(session=s, record=bad)
    assert isinstance(_record()["as_of"], dt.date)


def test_stress_results_by_bank_keep_each_bank_to_its_own(engine: Engine) -> None:
    # The exposure page reads stress results per scenario and bank from here: the regulator
    # gets every bank's row; a bank gets its row of the runs that covered it and nothing that
    # describes another bank's book (B1 holds only SHEA; the whole-book run's moves also name
    # CEA, which only B2 holds)
    from carbonfin.collateral import value_book
    from carbonfin.store.stress import stress_results_by_bank
    from tests.collateral.test_stress import FX, LOANS, PLEDGES

    upgrade(engine)
    # B2's own book (as `carbonfin stress --bank B2 --save` stores it)
    loans2 = LOANS[LOANS["bank_id"] == "B2"]
    book2 = value_book(PLEDGES[PLEDGES["loan_id"].isin(loans2["loan_id"])], loans2, HIST, FX,
                       as_of=BOOK.as_of)  # fmt: skip
    own2 = stress_record(stress_book(book2, "drop-30", HIST, industries=INDUSTRY), scope="B2",
                         seed=0, model="hs", model_version="1",
                         policy_version=book2.policy_version, data_source="test book")  # fmt: skip
    with session_scope(engine) as s:
        whole, _ = save_stress_run(session=s, record=_record())
        b2_only, _ = save_stress_run(session=s, record=own2)
    res = stress_book(BOOK, "drop-30", HIST, industries=INDUSTRY)
    v = BOOK.pledges.set_index("pledge_id")["market_value_cny"]
    with session_scope(engine) as s:
        every = stress_results_by_bank(session=s, scenario="drop-30", as_of=BOOK.as_of)
        b1 = stress_results_by_bank(session=s, scenario="drop-30", bank_id="B1")
        b2 = stress_results_by_bank(session=s, scenario="drop-30", bank_id="B2")
        b3 = stress_results_by_bank(session=s, bank_id="B3")
        other = stress_results_by_bank(session=s, scenario="drop-50", bank_id="B1")
    # regulator: B1 and B2 of the whole-book run, B2 of B2's own run
    assert sorted((r.run_id, r.bank_id) for r in every) == sorted(
        [(whole, "B1"), (whole, "B2"), (b2_only, "B2")]
    )
    # B1: one row, its own, from the whole-book run; no moves (they would name CEA)
    assert [(r.run_id, r.bank_id, r.scope) for r in b1] == [(whole, "B1", "all")]
    row = b1[0]
    assert row.moves == {}
    assert row.value_before_cny == pytest.approx(v["P1"])
    assert row.loss_cny == pytest.approx(0.3 * v["P1"])
    assert row.uncovered_cny == pytest.approx(max(500_000 - 0.7 * v["P1"], 0.0))
    assert row.model_versions["haircut_model"] == "hs"
    assert not any(r.bank_id != "B1" for r in b1)
    # B2: its row of the whole-book run and of its own run; moves only on its own run
    assert sorted((r.run_id, r.scope) for r in b2) == sorted([(whole, "all"), (b2_only, "B2")])
    assert {r.scope: dict(r.moves) for r in b2} == {
        "all": {},
        "B2": {"SHEA": -0.3, "CEA": -0.3},
    }
    assert all(r.bank_id == "B2" for r in b2)
    b2_row = next(r for r in b2 if r.scope == "all")
    assert b2_row.uncovered_cny == pytest.approx(
        float(res.by_bank.set_index("bank_id").loc["B2", "uncovered_cny"])
    )
    assert b3 == []  # a bank no run covered learns nothing
    assert other == []
    with session_scope(engine) as s, pytest.raises(InvalidInputError, match="`limit`"):
        stress_results_by_bank(session=s, limit=0)
