"""Positions, robust volume, marks a print cannot fake, and the gradual sale (issue 19, points 1,
2, 3, 4 and 8): each against an independent reference (hand-worked numbers, direct summation,
simulation, scipy) or an invariant stated as a hypothesis property."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from carbonfin.collateral import haircut, haircut_components, market_risk_profile, value_book
from carbonfin.collateral.liquidity import (
    daily_volume,
    impact_frac,
    liquidity_rules,
    robust_volume,
    sale_variance_days,
    valuation_mark,
)
from carbonfin.collateral.market_risk import business_day_log_marks
from carbonfin.collateral.positions import position_tonnes
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.fx import RateStore
from carbonfin.instruments import Instrument
from carbonfin.pricing import PriceHistory
from tests.collateral.synthetic import history_from_returns, trading_days
from tests.realdata import REAL_SHEA

RNG = np.random.default_rng(41)
RETURNS = RNG.standard_t(4, 900) * 0.012
# 20,000 t a day: 200,000 t sells in 50 days at 20% participation, 20,000 t in 5
SHEA = history_from_returns(RETURNS, volume_t=20_000.0, price0=50.0)
AS_OF = SHEA.dates[-1]
PROFILE = market_risk_profile(SHEA, as_of=AS_OF)
FX = RateStore.from_records([(AS_OF, "USD/CNY", "7.2000")])


def _value(pledges: pd.DataFrame, loans: pd.DataFrame):  # type: ignore[no-untyped-def]
    return value_book(
        pledges, loans, {Instrument.SHEA: SHEA}, FX, as_of=AS_OF,
        profiles={Instrument.SHEA: PROFILE},
    )  # fmt: skip


# --- 1. positions ------------------------------------------------------------------------------


def test_one_pledge_or_ten_give_the_same_haircut_and_state() -> None:
    # issue 19 point 1: 200,000 t as one pledge and as ten pledges of 20,000 t (one loan; and
    # ten loans of the same pledgor at the same bank) are one position
    loans1 = pd.DataFrame(
        {"loan_id": ["L1"], "bank_id": ["B1"], "borrower_uscc": ["F1"], "currency": ["CNY"],
         "outstanding": [4_000_000.0]}
    )  # fmt: skip
    one = pd.DataFrame(
        {"pledge_id": ["P"], "loan_id": ["L1"], "instrument": ["SHEA"], "quantity_t": [200_000]}
    )
    ten = pd.DataFrame(
        {"pledge_id": [f"P{i}" for i in range(10)], "loan_id": ["L1"] * 10,
         "instrument": ["SHEA"] * 10, "quantity_t": [20_000] * 10}
    )  # fmt: skip
    a, b = _value(one, loans1), _value(ten, loans1)
    h_one = a.pledges["haircut_frac"].iloc[0]
    np.testing.assert_allclose(b.pledges["haircut_frac"], h_one, rtol=0, atol=1e-12)
    assert b.loans["state"].iloc[0] == a.loans["state"].iloc[0]
    assert b.loans["lendable_value_cny"].iloc[0] == pytest.approx(
        a.loans["lendable_value_cny"].iloc[0], rel=1e-12
    )
    # the position sells in 200,000 / (20% x 20,000) = 50 days after the 20-day holding period
    assert (b.pledges["sale_days"] == 50).all()
    assert (b.pledges["position_t"] == 200_000).all()
    # ten loans of the same pledgor at the same bank: still one position
    loans10 = pd.DataFrame(
        {"loan_id": [f"L{i}" for i in range(10)], "bank_id": "B1", "borrower_uscc": "F1",
         "currency": "CNY", "outstanding": 400_000.0}
    )  # fmt: skip
    c = _value(ten.assign(loan_id=[f"L{i}" for i in range(10)]), loans10)
    np.testing.assert_allclose(c.pledges["haircut_frac"], h_one, rtol=0, atol=1e-12)
    # and the single-pledge haircut with the rest of the position as an argument agrees
    single = haircut(SHEA, as_of=AS_OF, quantity_t=20_000, other_position_t=180_000,
                     bank_position_t=200_000, profile=PROFILE)  # fmt: skip
    assert single.total == pytest.approx(h_one, abs=1e-12)
    assert single.component("liquidation").inputs["position_t"] == 200_000


def test_positions_by_hand() -> None:
    code, pos, share = position_tonnes(
        np.array(["B1", "B1", "B1", "B2", "B1"]),
        np.array(["F1", "F1", "F2", "F1", "F1"]),
        np.array(["SHEA", "SHEA", "SHEA", "SHEA", "CEA"]),
        np.array([10.0, 30.0, 60.0, 5.0, 7.0]),
    )
    # B1 SHEA: F1 holds 10 + 30 = 40 of the bank's 100; F2 60; B2 F1 SHEA 5 of 5; B1 F1 CEA 7 of 7
    assert pos.tolist() == [40.0, 40.0, 60.0, 5.0, 7.0]
    assert share.tolist() == [0.4, 0.4, 0.6, 1.0, 1.0]
    assert code[0] == code[1]
    assert len(set(code.tolist())) == 4


_BANKS, _FIRMS = ["B1", "B2"], ["F1", "F2", "F3"]


@st.composite
def _books(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    n = draw(st.integers(1, 8))
    rows = [
        (draw(st.integers(0, 3)), draw(st.sampled_from(_FIRMS)),
         draw(st.floats(100.0, 400_000.0)), draw(st.integers(1, 3)))
        for _ in range(n)
    ]  # fmt: skip
    loans = pd.DataFrame(
        {"loan_id": [f"L{k}" for k in range(4)], "bank_id": ["B1", "B1", "B2", "B1"],
         "currency": ["CNY", "USD", "CNY", "CNY"],
         "outstanding": [draw(st.floats(1e4, 2e7)) for _ in range(4)]}
    )  # fmt: skip
    pledges = pd.DataFrame(
        {"pledge_id": [f"P{i}" for i in range(n)], "loan_id": [f"L{r[0]}" for r in rows],
         "instrument": "SHEA", "quantity_t": [r[2] for r in rows],
         "pledgor_uscc": [r[1] for r in rows]}
    )  # fmt: skip
    return pledges, loans, [r[3] for r in rows]


def _split(pledges: pd.DataFrame, pieces: list[int]) -> pd.DataFrame:
    """Each pledge cut into ``pieces`` unequal parts (same loan and pledgor)."""
    out = []
    for (_, row), k in zip(pledges.iterrows(), pieces, strict=True):
        w = np.arange(1, k + 1, dtype=float)
        for j, part in enumerate(row["quantity_t"] * w / w.sum()):
            out.append(
                {**row.to_dict(), "pledge_id": f"{row['pledge_id']}-{j}", "quantity_t": part}
            )
    return pd.DataFrame(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=_books())
def test_splitting_or_merging_pledges_changes_no_haircut_value_or_state(
    book: tuple[pd.DataFrame, pd.DataFrame, list[int]],
) -> None:
    pledges, loans, pieces = book
    fx = RateStore.from_records([(AS_OF, "USD/CNY", "7.2000")])
    whole = value_book(pledges, loans, {Instrument.SHEA: SHEA}, fx, as_of=AS_OF,
                       profiles={Instrument.SHEA: PROFILE}, covered_usccs={"F2"})  # fmt: skip
    split = value_book(_split(pledges, pieces), loans, {Instrument.SHEA: SHEA}, fx, as_of=AS_OF,
                       profiles={Instrument.SHEA: PROFILE}, covered_usccs={"F2"})  # fmt: skip
    h_whole = whole.pledges.set_index("pledge_id")["haircut_frac"]
    parent = split.pledges["pledge_id"].str.split("-").str[0]
    np.testing.assert_allclose(
        split.pledges["haircut_frac"].to_numpy(), h_whole.loc[parent].to_numpy(), atol=1e-12
    )
    a, b = whole.loans.set_index("loan_id"), split.loans.set_index("loan_id")
    assert (a["state"] == b.loc[a.index, "state"]).all()
    np.testing.assert_allclose(a["lendable_value_cny"], b.loc[a.index, "lendable_value_cny"],
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(a["collateral_value_cny"], b.loc[a.index, "collateral_value_cny"],
                               rtol=1e-12)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    q=st.floats(1.0, 1e6),
    pos=st.lists(st.floats(0.0, 5e6), min_size=2, max_size=2),
    bank_other=st.floats(0.0, 5e6),
)
def test_haircut_never_falls_when_the_position_grows(
    q: float, pos: list[float], bank_other: float
) -> None:
    position = q + np.sort(np.asarray(pos))
    out = haircut_components(
        PROFILE, [q, q], position_t=position, book_share=position / (position + bank_other),
        pledgor_covered=True, loan_currency_mismatch=True,
    )  # fmt: skip
    assert out.total[1] >= out.total[0] - 1e-12
    assert out.liquidation[1] >= out.liquidation[0] - 1e-12


_VOL_BASE = np.abs(np.random.default_rng(8).standard_t(3, 901)) * 3000.0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(k=st.lists(st.floats(0.05, 1.0), min_size=2, max_size=2), q=st.floats(1e3, 3e5))
def test_haircut_never_falls_when_the_volume_falls(k: list[float], q: float) -> None:
    lo, hi = sorted(k)
    # lower volume on every day (block days included): the haircut cannot fall
    thin = history_from_returns(RETURNS, volume_t=_VOL_BASE * lo)
    deep = history_from_returns(RETURNS, volume_t=_VOL_BASE * hi)
    a = haircut(thin, as_of=thin.dates[-1], quantity_t=q).total
    b = haircut(deep, as_of=deep.dates[-1], quantity_t=q).total
    assert a >= b - 1e-12


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(d=st.lists(st.integers(0, 15), min_size=2, max_size=2), q=st.floats(1e3, 3e5))
def test_haircut_never_falls_when_the_mark_ages(d: list[int], q: float) -> None:
    young, old = sorted(d)
    days = trading_days(len(SHEA.dates) + 16)
    a = haircut(SHEA, as_of=days[len(SHEA.dates) - 1 + young], quantity_t=q).total
    b = haircut(SHEA, as_of=days[len(SHEA.dates) - 1 + old], quantity_t=q).total
    assert b >= a - 1e-12


# --- 2 and 3. the daily volume ------------------------------------------------------------------


def test_robust_volume_by_hand() -> None:
    # 20 business days: 14 of 100 t, 3 no-trade days, 2 of 1,000 t and one 250,000 t block day
    v = np.array([100.0] * 14 + [0.0] * 3 + [1000.0] * 2 + [250_000.0])
    # mean: (1,400 + 2,000 + 250,000) / 20 = 12,670
    assert robust_volume(v, "mean", trim_frac=0.05) == pytest.approx(12_670)
    # 5% trimmed mean of 20 values drops one from each end (a zero and the block day):
    # (1,400 + 2,000) / 18 = 188.89
    t = robust_volume(v, "trimmed_mean", trim_frac=0.05)
    assert t == pytest.approx(3400 / 18)
    assert t == pytest.approx(stats.trim_mean(v, 0.05))
    # median of the 20 business days (zeros counted): the 10th and 11th values are both 100
    assert robust_volume(v, "median", trim_frac=0.05) == 100.0


def _close_only(n: int = 900) -> pd.DataFrame:
    closes = 60.0 * np.exp(np.r_[0.0, np.cumsum(RETURNS[: n - 1])])
    return pd.DataFrame({"date": trading_days(n), "close": closes})


def test_volume_unknown_is_refused_or_taken_as_stated() -> None:
    # issue 19 point 3: a close-only file is not a market with zero volume
    hist = PriceHistory.from_frame(_close_only(), "SHEA", limit_frac=0.5)
    as_of = hist.dates[-1]
    with pytest.raises(
        MissingDataError, match=r"volume unknown on 2\d\d of 2\d\d trading days.*`adv_t`"
    ):
        haircut(hist, as_of=as_of, quantity_t=1.0)
    b = haircut(hist, as_of=as_of, quantity_t=10_000.0, adv_t=5_000.0)
    liq = b.component("liquidation")
    assert liq.inputs["adv_stated"] is True
    assert liq.inputs["adv_t"] == 5000.0
    assert "stated" in liq.method
    assert any("stated by the caller" in n for n in b.notes)
    # 10,000 t at 20% of 5,000 t = 10 days of sale
    assert liq.inputs["sale_days"] == 10
    with pytest.raises(InvalidInputError, match="`adv_t` must be a number of tonnes > 0"):
        haircut(hist, as_of=as_of, quantity_t=1.0, adv_t=0.0)


def test_a_stated_volume_that_replaces_a_measured_one_says_what_it_replaced() -> None:
    """``adv_t`` over quotes that have their volume: the breakdown names the measured figure it
    replaces and the ratio (a user check found only "given by the user"); a close-only file has
    no measured figure to name."""
    b = haircut(SHEA, as_of=AS_OF, quantity_t=10_000.0, adv_t=5_000.0)
    # every day of the synthetic SHEA trades 20,000 t: any robust statistic of them is 20,000
    assert any(
        "own daily volume is 20,000 t" in n and "the stated 5,000 t replaces it (0.2x it)" in n
        for n in b.notes
    ), b.notes
    hist = PriceHistory.from_frame(_close_only(), "SHEA", limit_frac=0.5)
    c = haircut(hist, as_of=hist.dates[-1], quantity_t=10_000.0, adv_t=5_000.0)
    assert not any("own daily volume" in n for n in c.notes)


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_SHEA.exists(), reason=f"no real SHEA file at {REAL_SHEA}")
def test_real_shea_volume_is_not_the_block_inflated_mean() -> None:
    hist = PriceHistory.from_csv(REAL_SHEA, "SHEA", strict=False)
    grid = hist.session_days(dt.date(2022, 5, 5), dt.date(2023, 5, 5))[-250:]
    vol = daily_volume(hist, grid)
    # raw file, independently: known volumes of the rows inside the window
    raw = pd.read_csv(REAL_SHEA, parse_dates=["date"])
    inside = raw[(raw["date"].dt.date >= grid[0]) & (raw["date"].dt.date <= grid[-1])]
    known = inside["volume_t"].dropna()
    assert vol.window_days == len(grid)
    assert vol.mean_t == pytest.approx(known.sum() / (len(grid) - vol.unknown_days), rel=1e-9)
    assert 7_000 < vol.mean_t < 8_500  # issue 19: ~7,655 t a day
    assert vol.median_trading_day_t == pytest.approx(known[known > 0].median())
    assert vol.block_days == int((known >= 100_000).sum()) == 5
    # the robust statistic is a fraction of the mean the block days inflate
    assert vol.statistic == "trimmed_mean"
    assert vol.adv_t < vol.mean_t / 3


# --- 4. marks and returns that a print cannot fake ----------------------------------------------


def _with_last_day(close: float, vwap: float, volume: float) -> PriceHistory:
    base = history_from_returns(RETURNS, volume_t=20_000.0, price0=50.0)
    q = base.quotes.reset_index()
    q["amount_cny"] = q["volume_t"] * q["vwap"]
    day = trading_days(len(q) + 1)[-1]
    last = {
        "date": day,
        "close": close,
        "vwap": vwap,
        "volume_t": volume,
        "amount_cny": volume * vwap,
        "high": max(close, vwap),
        "low": min(close, vwap),
    }
    if close != vwap:  # the day's range corroborates the VWAP, not the close
        last["high"], last["low"] = vwap * 1.01, vwap * 0.99
    frame = pd.concat([q, pd.DataFrame([last])], ignore_index=True)
    return PriceHistory.from_frame(frame, "SHEA", limit_frac=0.5)


def test_a_one_tonne_print_sets_no_mark_and_enters_no_return() -> None:
    prev = SHEA.closes().iloc[-1]
    # the last trade of a 20,000 t day was 1 t at 60% of the day's VWAP: a suspect print
    hist = _with_last_day(close=0.6 * prev, vwap=prev, volume=20_000.0)
    assert hist.flags["suspect_print"].iloc[-1]
    as_of = hist.dates[-1]
    b = haircut(hist, as_of=as_of, quantity_t=100_000.0)
    assert b.mark_price_cny_per_t == pytest.approx(prev)  # the previous close, not the print
    # the returns are those of the history without that day: same market haircut
    clean = haircut(SHEA, as_of=as_of, quantity_t=100_000.0)
    assert b.component("market").frac == pytest.approx(clean.component("market").frac, abs=1e-12)
    assert any("1 print(s) left out" in n for n in b.notes)
    # and the backtest's realised losses do not see it either
    _, marks = business_day_log_marks(hist)
    assert marks[-1] == pytest.approx(math.log(prev))


def test_an_odd_lot_close_is_not_a_mark() -> None:
    prev = SHEA.closes().iloc[-1]
    # a day of one 1-t trade at 70% of the previous close (within the ±50% limit here)
    hist = _with_last_day(close=0.7 * prev, vwap=0.7 * prev, volume=1.0)
    mark = valuation_mark(hist, hist.dates[-1], max_age_days=20)
    # fallback: VWAP of the last 5 business days = (4 x 20,000 x P_k + 1 x 0.7 P) / 80,001
    q = hist.quotes.iloc[-5:]
    expected = (q["volume_t"] * q["vwap"]).sum() / q["volume_t"].sum()
    assert mark.method == "vwap"
    assert mark.price_cny_per_t == pytest.approx(expected)
    assert abs(mark.price_cny_per_t / prev - 1) < 0.05
    assert any("below the 100 t a close needs" in n for n in mark.notes)
    # an odd lot beyond the price limit is left out of the returns as well
    lr = liquidity_rules()
    assert lr.mark_min("SHEA") == 100
    breach = _with_last_day(close=0.4 * prev, vwap=0.4 * prev, volume=1.0)
    assert breach.flags["limit_breach"].iloc[-1]
    _, marks = business_day_log_marks(breach)
    assert marks[-1] == pytest.approx(math.log(prev))


# --- 8. the gradual sale --------------------------------------------------------------------------


@pytest.mark.parametrize("t_l", [1, 2, 3, 7, 40, 250])
def test_sale_variance_days_by_direct_summation(t_l: int) -> None:
    # held whole for 20 days, then (t_l - j)/t_l still held on sale day j = 1 .. t_l - 1
    direct = 20 + sum(((t_l - j) / t_l) ** 2 for j in range(1, t_l))
    assert float(sale_variance_days(20, t_l)) == pytest.approx(direct, rel=1e-12)


def test_sale_variance_matches_a_simulated_linear_sale() -> None:
    # P&L of selling 1 unit in 10 slices at the ends of days 20..29 with i.i.d. N(0, 1) daily
    # price moves: the slice sold at the end of day 20 + i carries the moves of days 1..20 + i
    rng = np.random.default_rng(0)
    t_m, t_l, n = 20, 10, 200_000
    moves = rng.standard_normal((n, t_m + t_l - 1))
    path = np.cumsum(moves, axis=1)
    pnl = path[:, t_m - 1 : t_m - 1 + t_l].mean(axis=1)
    assert float(np.var(pnl)) == pytest.approx(float(sale_variance_days(t_m, t_l)), rel=0.01)


def test_square_root_impact_by_hand() -> None:
    # the average of a concave sqrt impact path over a constant-rate sale is 2/3 of its peak:
    # (1/N) sum_k sqrt(k/N) -> integral_0^1 sqrt(x) dx = 2/3
    n = 1_000_000
    assert np.mean(np.sqrt(np.arange(1, n + 1) / n)) == pytest.approx(2 / 3, abs=1e-6)
    # 40,000 t against 1,000 t a day at 3% daily volatility: 2/3 x 1 x 0.03 x sqrt(40) = 12.65%
    assert float(impact_frac(40_000.0, 1000.0, 0.03)) == pytest.approx(2 / 3 * 0.03 * 40**0.5)


def test_large_positions_no_longer_jump_to_full_horizon_scaling() -> None:
    # 200,000 t at 20% of 20,000 t a day: 50 days of sale. The old rule held the whole position
    # for 50 days (sqrt(50/20)); the linear sell-down has the variance of 20 + 49 x 99/300 days
    b = haircut(SHEA, as_of=AS_OF, quantity_t=200_000.0, profile=PROFILE)
    liq = b.component("liquidation").inputs
    assert liq["variance_days"] == pytest.approx(20 + 49 * 99 / 300)
    assert liq["liquidation_days"] == 69
    h_apc = PROFILE.apc_frac
    old_liq = h_apc * math.sqrt(50 / 20) - h_apc
    new_market_part = h_apc * math.sqrt(liq["variance_days"] / 20) - h_apc
    assert new_market_part < old_liq
    assert b.component("liquidation").frac == pytest.approx(new_market_part + liq["impact_frac"])


def test_no_block_sale_the_data_do_not_show() -> None:
    prof = dataclasses.replace(PROFILE, max_day_volume_t=50_000.0)
    ok = haircut_components(prof, 50_000.0, liquidation="block")
    assert ok.liquidation[0] == pytest.approx(0.30 * (1 - prof.apc_frac))
    with pytest.raises(
        InvalidInputError, match="not supported by the data for a position of 50,001"
    ):
        haircut_components(prof, 50_001.0, liquidation="block")


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4)), min_size=1, max_size=30))
def test_largest_pledge_per_loan_against_a_plain_loop(rows: list[tuple[int, int]]) -> None:
    from carbonfin.collateral.topup import largest_per_group as _largest_per_group

    group = np.array([r[0] for r in rows])
    value = np.array([float(r[1]) for r in rows])
    expected = np.full(6, -1)
    for g in range(6):
        members = [i for i in range(len(rows)) if group[i] == g]
        if members:
            expected[g] = max(members, key=lambda i: (value[i], -i))  # first of equals
    np.testing.assert_array_equal(_largest_per_group(group, value, 6), expected)


def test_an_unknown_pledgor_never_merges_two_loans() -> None:
    loans = pd.DataFrame(
        {"loan_id": ["L1", "L2"], "bank_id": "B1", "currency": "CNY", "outstanding": 1e6}
    )
    pledges = pd.DataFrame(
        {"pledge_id": ["P1", "P2"], "loan_id": ["L1", "L2"], "instrument": "SHEA",
         "quantity_t": [100_000.0, 100_000.0]}
    )  # fmt: skip
    book = _value(pledges, loans)
    assert (book.pledges["position_t"] == 100_000.0).all()
    assert any("without a known pledgor" in n for n in book.notes)
    # with the borrower known and the same for both loans, they are one position
    book = _value(pledges, loans.assign(borrower_uscc="F9"))
    assert (book.pledges["position_t"] == 200_000.0).all()
    assert (book.pledges["pledgor_uscc"] == "F9").all()


def test_haircut_backtest_realises_the_gradual_sale() -> None:
    from backtests.engine import JobSpec, run_haircut_job

    spec = JobSpec("SHEA", "hs", 20, kind="haircut", quantities_t=(1_000.0, 400_000.0),
                   haircut_step_days=200, start=SHEA.dates[760], end=SHEA.dates[800])  # fmt: skip
    series = run_haircut_job(SHEA, spec)
    closes = SHEA.closes().to_numpy()  # one close on every business day
    day = {d: i for i, d in enumerate(SHEA.dates)}
    for i, d in enumerate(series.dates):
        k = day[d]
        # 1,000 t: sold on day 20 -> the 20-day loss
        assert series.liquidation_days[i, 0] == 20
        assert series.loss_frac[i, 0] == pytest.approx(1 - closes[k + 20] / closes[k])
        # 400,000 t at 20% of 20,000 t a day: 100 slices on days 20..119, the mean slice loss
        assert series.liquidation_days[i, 1] == 119
        if k + 119 < len(closes):
            slices = [1 - closes[k + j] / closes[k] for j in range(20, 120)]
            assert series.loss_frac[i, 1] == pytest.approx(np.mean(slices))
