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
