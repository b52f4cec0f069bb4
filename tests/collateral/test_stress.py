"""Stress scenarios on a small book worked by hand: shocks, a replayed window, a policy jump,
the proxy for an instrument without quotes in a window, and the breakdowns."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from carbonfin.collateral import stress_book, stress_scenarios, value_book
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.fx import RateStore
from carbonfin.instruments import Instrument
from tests.collateral.synthetic import history_from_returns, trading_days

RNG = np.random.default_rng(29)
N = 900
DAYS = trading_days(N + 1)
# SHEA: calm, then a slide of 1% a day over 40 days inside the 2014-15 window, then calm again
_r = RNG.normal(0, 0.01, N)
_win = [i for i, d in enumerate(DAYS[1:]) if dt.date(2014, 9, 1) <= d <= dt.date(2014, 12, 31)]
_r[_win[:40]] = -0.01
_r[_win[40:]] = 0.0
SHEA = history_from_returns(_r, volume_t=5_000.0)
CEA = history_from_returns(RNG.normal(0, 0.01, N), volume_t=80_000.0, price0=70.0)
HIST = {Instrument.SHEA: SHEA, Instrument.CEA: CEA}
AS_OF = SHEA.dates[-1]
FX = RateStore.from_records([(AS_OF, "USD/CNY", "7.0")])
PLEDGES = pd.DataFrame(
    {
        "pledge_id": ["P1", "P2", "P3"],
        "loan_id": ["L1", "L2", "L2"],
        "instrument": ["SHEA", "SHEA", "CEA"],
        "quantity_t": [20_000, 10_000, 10_000],
        "pledgor_uscc": ["F1", "F2", "F2"],
    }
)
LOANS = pd.DataFrame(
    {
        "loan_id": ["L1", "L2"],
        "bank_id": ["B1", "B2"],
        "currency": ["CNY", "CNY"],
        "outstanding": [500_000.0, 900_000.0],
    }
)
BOOK = value_book(PLEDGES, LOANS, HIST, FX, as_of=AS_OF)
INDUSTRY = {"F1": "steel", "F2": "power"}


def test_a_30pc_drop_worked_by_hand() -> None:
    res = stress_book(BOOK, "drop-30", HIST, industries=INDUSTRY)
    p = BOOK.pledges.set_index("pledge_id")
    v = p["market_value_cny"]
    assert res.value_after_cny == pytest.approx(0.7 * v.sum())
    assert res.loss_cny == pytest.approx(0.3 * v.sum())
    # uncovered: loan above the stressed collateral value
    unc1 = max(500_000 - 0.7 * v["P1"], 0.0)
    unc2 = max(900_000 - 0.7 * (v["P2"] + v["P3"]), 0.0)
    assert res.uncovered_cny == pytest.approx(unc1 + unc2)
    by_bank = res.by_bank.set_index("bank_id")["uncovered_cny"]
    assert by_bank["B1"] == pytest.approx(unc1)
    assert by_bank["B2"] == pytest.approx(unc2)
    # L2's uncovered exposure is split between SHEA and CEA by stressed value
    by_inst = res.by_instrument.set_index("instrument")["uncovered_cny"]
    assert by_inst["CEA"] == pytest.approx(unc2 * v["P3"] / (v["P2"] + v["P3"]))
    assert by_inst["SHEA"] == pytest.approx(unc1 + unc2 * v["P2"] / (v["P2"] + v["P3"]))
    by_ind = res.by_industry.set_index("industry")["uncovered_cny"]
    assert by_ind["steel"] == pytest.approx(unc1)
    # states: utilisation = loan / stressed lendable value, same thresholds
    lend1 = 0.7 * p.loc["P1", "lendable_value_cny"]
    u1 = 500_000 / lend1
    th = BOOK.thresholds
    called1 = u1 >= th.margin_call_utilisation
    lend2 = 0.7 * (p.loc["P2", "lendable_value_cny"] + p.loc["P3", "lendable_value_cny"])
    called2 = 900_000 / lend2 >= th.margin_call_utilisation
    assert res.loans_called_after == int(called1) + int(called2)


def test_reserve_release_moves_only_shea() -> None:
    res = stress_book(BOOK, "reserve-release", HIST)
    assert dict(res.moves) == {Instrument.SHEA: -0.20}
    p = BOOK.pledges.set_index("pledge_id")["market_value_cny"]
    assert res.value_after_cny == pytest.approx(0.8 * (p["P1"] + p["P2"]) + p["P3"])
    assert any("no industries" in n for n in res.notes)


def test_replay_takes_the_deepest_point_of_the_window() -> None:
    res = stress_book(BOOK, "shea-2015", HIST)
    # the window 2014-07-01..2015-06-30 holds 40 moves of -1% (log): the deepest point of the
    # replayed path is at least exp(-0.40) - 1 = -33.0% below its start (more with the noise
    # of July-August 2014 before the slide)
    closes = SHEA.closes()
    idx = np.array(list(closes.index), dtype=object)
    start = closes[idx < dt.date(2014, 7, 1)].iloc[-1]
    inside = closes[(idx >= dt.date(2014, 7, 1)) & (idx <= dt.date(2015, 6, 30))]
    assert res.moves[Instrument.SHEA] == pytest.approx(inside.min() / start - 1.0)
    assert res.moves[Instrument.SHEA] <= np.exp(-0.40) - 1 + 0.05


def test_replay_uses_the_proxy_or_refuses() -> None:
    # the CEA history here starts in 2013, not covering 2024-25: CEA has no proxy but itself
    with pytest.raises(MissingDataError, match="does not cover"):
        stress_book(BOOK, "cea-2024", HIST)
    # SHEA-only scenario on a book of CEA: nothing moves, and the result says so
    cea_only = value_book(PLEDGES[PLEDGES.instrument == "CEA"], LOANS, HIST, FX, as_of=AS_OF)
    res = stress_book(cea_only, "shea-2015", HIST)
    assert res.loss_cny == 0.0
    assert any("moves no instrument" in n for n in res.notes)


def test_policy_jump_is_a_loss_beyond_the_diffusion() -> None:
    res = stress_book(BOOK, "policy-jump", HIST, seed=3)
    scen = stress_scenarios()["policy-jump"]
    assert scen.assumed
    for move in res.moves.values():
        assert -0.9 < move < -0.15  # one -25% jump in a year: the 1% tail holds a jump
    assert res.loss_cny > 0


def test_unknown_scenario() -> None:
    with pytest.raises(InvalidInputError, match="unknown stress scenario 'doom'"):
        stress_book(BOOK, "doom", HIST)


def test_per_bank_values_before_and_after_by_hand() -> None:
    # the per-bank rows carry the bank's collateral value before and after the shock (the
    # exposure page shows the loss per scenario and bank): B1 holds P1, B2 holds P2 and P3
    res = stress_book(BOOK, "drop-30", HIST, industries=INDUSTRY)
    v = BOOK.pledges.set_index("pledge_id")["market_value_cny"]
    by_bank = res.by_bank.set_index("bank_id")
    assert by_bank.loc["B1", "value_before_cny"] == pytest.approx(v["P1"])
    assert by_bank.loc["B1", "value_after_cny"] == pytest.approx(0.7 * v["P1"])
    assert by_bank.loc["B2", "value_before_cny"] == pytest.approx(v["P2"] + v["P3"])
    assert by_bank.loc["B2", "value_after_cny"] == pytest.approx(0.7 * (v["P2"] + v["P3"]))
    assert by_bank["called_before"].sum() == res.loans_called_before
    assert by_bank["called"].sum() == res.loans_called_after
