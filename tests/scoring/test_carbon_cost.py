"""Carbon cost at risk against hand-worked positions, a closed-form expectation and numpy's
order statistics; the clause 4 auction share and the clause 5 carry-over as the rules say."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument
from carbonfin.pricing.scenarios import merton_jump
from carbonfin.rules import load_rules_toml
from carbonfin.scoring.carbon_cost import CompliancePrices, carbon_cost, cost_statistics
from carbonfin.scoring.carbon_inputs import carbon_cost_outlook
from carbonfin.scoring.carbon_position import CEA, SHEA, project_positions
from carbonfin.scoring.carbon_rules import carbon_cost_rules, parse_rules

YEARS3 = (2026, 2027, 2028)
YEARS5 = (2026, 2027, 2028, 2029, 2030)


def _rules(shea: tuple[float, ...], cea: float = 0.0, **override: Any) -> Any:
    """The shipped rules with the auction shares replaced (independent of the shipped values)."""
    raw = copy.deepcopy(load_rules_toml("carbon_cost.toml"))
    raw["auction_share"] = [
        {"instrument": i, "year": y, "share": s, "status": "assumption", "source": "test"}
        for i, shares in (("SHEA", shea), ("CEA", (cea,) * len(shea)))
        for y, s in zip(range(2026, 2026 + len(shea)), shares, strict=True)
    ]
    for section, values in override.items():
        raw[section].update(values)
    return parse_rules(raw)


# --- hand-worked position and a degenerate price -----------------------------------------------


def test_degenerate_price_cost_is_shortfall_times_price() -> None:
    # Worked by hand (one SHEA firm, allocation 100,000 t a year, 20,000 t held):
    # 2026: emissions 110,000 rise on 100,000 -> full share 5%: free 95,000;
    #       20,000 + 95,000 - 110,000 = +5,000 banked, nothing bought
    # 2027: rise to 120,000 -> share 8%: free 92,000; 5,000 + 92,000 - 120,000 = -23,000 bought
    # 2028: fall to 100,000 -> share 10% x incentive 0.8 = 8%: free 92,000;
    #       0 + 92,000 - 100,000 = -8,000 bought
    # at 80 CNY/t: 0, 1,840,000, 640,000; horizon 2,480,000
    rules = _rules((0.05, 0.08, 0.10), incentive={"decline_coefficient": 0.8})
    pos = project_positions(
        ("F1",), YEARS3, market=np.array([[SHEA] * 3]),
        emissions_tco2e=np.array([[110_000.0, 120_000.0, 100_000.0]]),
        base_emissions_tco2e=np.array([100_000.0]), allocation_t=np.full((1, 3), 100_000.0),
        holdings_t=np.array([[20_000.0, 0.0]]), rules=rules,
    )  # fmt: skip
    np.testing.assert_allclose(pos.free_t[0], [95_000, 92_000, 92_000])
    np.testing.assert_allclose(pos.purchase_t[0], [0, 23_000, 8_000])
    res = carbon_cost(pos, CompliancePrices.constant(YEARS3, 80.0, n=50))
    years = res.years
    np.testing.assert_array_equal(years["expected_cny"], [0.0, 1_840_000.0, 640_000.0])
    for col in ("car95_cny", "car99_cny", "es95_cny", "es99_cny"):
        np.testing.assert_array_equal(years[col], years["expected_cny"])
    assert res.horizon["car99_cny"].iloc[0] == 2_480_000.0
    assert res.horizon["se_expected_cny"].iloc[0] == 0.0


def test_outstanding_obligation_is_bought_in_the_first_year() -> None:
    # 5,000 t of an earlier year not surrendered: 0 held, free = need, so 5,000 t bought in 2026
    rules = _rules((0.0, 0.0, 0.0))
    pos = project_positions(
        ("F1",), YEARS3, market=np.zeros((1, 3), dtype=int), emissions_tco2e=np.full((1, 3), 1e4),
        base_emissions_tco2e=np.array([1e4]), allocation_t=np.full((1, 3), 1e4),
        holdings_t=np.zeros((1, 2)), outstanding_t=np.array([[5_000.0, 0.0]]), rules=rules,
    )  # fmt: skip
    np.testing.assert_allclose(pos.purchase_t[0], [5_000, 0, 0])


# --- clause 4: the auction share as the shipped rules say ----------------------------------------


def test_shipped_auction_shares_follow_clause_4() -> None:
    rules = carbon_cost_rules()
    shea = [rules.auction_share(Instrument.SHEA, y) for y in YEARS5]
    assert shea[1].share == 0.08
    assert shea[1].status == "cap"
    assert "8%以内" in shea[1].source  # the action plan's own words
    assert shea[0].share <= 0.08  # "within 8% by 2027"
    assert all(a.share <= b.share for a, b in itertools.pairwise(shea))
    assert shea[4].share > 0.08  # "rises further by 2030"
    assert all(a.status == "assumption" for a in shea[2:])
    with pytest.raises(InvalidInputError, match="no auction share for SHEA in 2031"):
        rules.auction_share(Instrument.SHEA, 2031)


def test_free_allocation_moves_with_the_auction_share_each_year() -> None:
    # allocation 100,000 t, emissions rising every year (no incentive): free = 100,000 x (1 - share)
    # with the shipped shares 5%, 8%, 10%, 12.5%, 15% -> 95,000, 92,000, 90,000, 87,500, 85,000
    pos = project_positions(
        ("F1",), YEARS5, market=np.zeros((1, 5), dtype=int),
        emissions_tco2e=np.array([[101e3, 102e3, 103e3, 104e3, 105e3]]),
        base_emissions_tco2e=np.array([100e3]), allocation_t=np.full((1, 5), 100e3),
        holdings_t=np.zeros((1, 2)),
    )  # fmt: skip
    np.testing.assert_allclose(pos.free_t[0], [95_000, 92_000, 90_000, 87_500, 85_000])
    # the national market's allocation stays free (no paid share published)
    cea = project_positions(
        ("F1",), YEARS5, market=np.ones((1, 5), dtype=int),
        emissions_tco2e=np.array([[101e3, 102e3, 103e3, 104e3, 105e3]]),
        base_emissions_tco2e=np.array([100e3]), allocation_t=np.full((1, 5), 100e3),
        holdings_t=np.zeros((1, 2)),
    )  # fmt: skip
    np.testing.assert_allclose(cea.free_t[0], [100e3] * 5)


def test_incentive_coefficient_lowers_the_share_when_emissions_fall() -> None:
    rules = _rules((0.10,) * 5, incentive={"decline_coefficient": 0.5})
    pos = project_positions(
        ("F1",), YEARS5, market=np.zeros((1, 5), dtype=int),
        emissions_tco2e=np.array([[90e3, 95e3, 94e3, 94e3, 80e3]]),
        base_emissions_tco2e=np.array([100e3]), allocation_t=np.full((1, 5), 100e3),
        holdings_t=np.zeros((1, 2)), rules=rules,
    )  # fmt: skip
    # falls in 2026, 2028 and 2030 (5%), rises in 2027 and flat in 2029 (10%)
    np.testing.assert_allclose(pos.auction_share[0], [0.05, 0.10, 0.05, 0.10, 0.05])


# --- clause 5: carry-over within three years -----------------------------------------------------


def test_firm_entering_the_national_market_carries_over_within_three_years() -> None:
    # 2026 in Shanghai: 90,000 SHEA held, free 100,000 = need 100,000 -> 90,000 SHEA surplus.
    # From 2027 in the national market: the surplus is carried over in three equal tranches,
    # 30,000 t in 2027, 2028 and 2029, sold at the SHEA price (50): -1,500,000 CNY each year;
    # nothing is left in 2030 (the three-year limit); CEA need = CEA allocation: nothing bought.
    rules = _rules((0.0,) * 5)
    pos = project_positions(
        ("MOVER",), YEARS5, market=np.array([[SHEA, CEA, CEA, CEA, CEA]]),
        emissions_tco2e=np.full((1, 5), 100e3), base_emissions_tco2e=np.array([100e3]),
        allocation_t=np.full((1, 5), 100e3), holdings_t=np.array([[90e3, 0.0]]), rules=rules,
    )  # fmt: skip
    np.testing.assert_allclose(pos.carry_sale_t[0], [0, 30e3, 30e3, 30e3, 0])
    assert pos.surplus_end_t[0, 0] == 0.0
    assert rules.carryover_years == 3
    res = carbon_cost(pos, CompliancePrices.constant(YEARS5, {SHEA: 50.0, CEA: 90.0}))
    np.testing.assert_allclose(res.years["expected_cny"], [0, -1.5e6, -1.5e6, -1.5e6, 0])


def test_national_entry_through_the_account_builder() -> None:
    frames = _frames()
    _, pos = carbon_cost_outlook(
        frames, as_of=dt.date(2026, 10, 30), years=YEARS5, national_entry={"SH-STAY": 2027},
        prices=CompliancePrices.constant(YEARS5, {SHEA: 50.0, CEA: 90.0}), rules=_rules((0.0,) * 5),
    )  # fmt: skip
    i = pos.uscc.index("SH-STAY")
    assert list(pos.market[i]) == [SHEA, CEA, CEA, CEA, CEA]
    # by hand: 60,000 t held; 2026 allocation 100,000 x 0.98 (2% tightening, one year after
    # 2025) = 98,000 free against 100,000 emitted (flat trend) -> 58,000 t SHEA surplus on entry,
    # carried over as three tranches of 19,333.3 t in 2027-2029 and nothing in 2030
    np.testing.assert_allclose(pos.carry_sale_t[i], [0, 58e3 / 3, 58e3 / 3, 58e3 / 3, 0])
    assert pos.carry_sale_t[i, 4] == 0.0


# --- not covered, unknown inputs -----------------------------------------------------------------


def _frames() -> dict[str, pd.DataFrame]:
    """Four firms: a Shanghai incumbent, an 'other' firm (no rule), a small chemical firm and a
    large chemical firm newly covered from 2026 (clause 2); revenue of one firm unknown."""
    firms = pd.DataFrame(
        {"uscc": ["SH-STAY", "OTHER", "CHEM-SMALL", "CHEM-BIG"],
         "sector": ["steel", "other", "chemical", "chemical"]}
    )  # fmt: skip
    comp = pd.DataFrame(
        {"uscc": ["SH-STAY"] * 3, "year": [2023, 2024, 2025], "instrument": ["SHEA"] * 3,
         "allocated_t": [100e3] * 3, "verified_emissions_tco2e": [100e3] * 3,
         "surrendered_t": [100e3] * 3, "ccer_used_t": [0] * 3, "shortfall_t": [0] * 3,
         "surrender_date": [dt.date(2024, 6, 20), dt.date(2025, 6, 20), dt.date(2026, 6, 20)]}
    )  # fmt: skip
    fac = pd.DataFrame(
        {"facility_id": ["F1", "F2", "F3"], "uscc": ["OTHER", "CHEM-SMALL", "CHEM-BIG"]}
    )
    fe = pd.DataFrame(
        {"facility_id": ["F1", "F2", "F3"] * 3, "year": [2023] * 3 + [2024] * 3 + [2025] * 3,
         "scope1_tco2e": [50e3, 4e3, 30e3] * 3, "scope2_tco2e": [1e3, 1e3, 5e3] * 3}
    )  # fmt: skip
    fy = pd.DataFrame(
        {"uscc": ["SH-STAY", "OTHER", "CHEM-SMALL", "CHEM-BIG"], "year": [2025] * 4,
         "revenue_cny": [1e9, 1e8, 1e8, np.nan], "value_added_cny": [3e8, 3e7, 3e7, 2e8]}
    )  # fmt: skip
    ev = pd.DataFrame(
        {"date": [dt.date(2025, 3, 31)], "uscc": ["SH-STAY"], "instrument": ["SHEA"],
         "kind": ["allocation"], "quantity_t": [60_000]}
    )  # fmt: skip
    return {"firms": firms, "compliance": comp, "facilities": fac, "facility_emissions": fe,
            "firm_years": fy, "registry_events": ev}  # fmt: skip


def test_not_covered_firm_has_no_cost_and_says_why() -> None:
    res, _ = carbon_cost_outlook(
        _frames(), as_of=dt.date(2026, 10, 30), years=YEARS5,
        prices=CompliancePrices.constant(YEARS5, 60.0),
    )  # fmt: skip
    h = res.horizon.set_index("uscc")
    assert h.loc["OTHER", "status"] == "not covered"
    assert "no coverage rule for sector other" in h.loc["OTHER", "reason"]
    assert h.loc["CHEM-SMALL", "status"] == "not covered"
    assert "below the threshold 10,000" in h.loc["CHEM-SMALL", "reason"]
    for u in ("OTHER", "CHEM-SMALL"):  # no number at all, not a zero
        assert math.isnan(h.loc[u, "car99_cny"])
        assert math.isnan(h.loc[u, "expected_cny"])
    assert h.loc["CHEM-BIG", "status"] == "covered"
    assert "clause-2-energy-intensive-2026" in h.loc["CHEM-BIG", "reason"]
    # its revenue is unknown: the share of revenue is unknown, the share of value added is not
    assert math.isnan(h.loc["CHEM-BIG", "car99_share_revenue"])
    assert h.loc["CHEM-BIG", "car99_share_value_added"] > 0
    assert any("newly covered" in n for n in res.notes)
    assert any("8%以内" in a for a in res.assumptions)


def test_unknown_firm_and_missing_market_prices_are_errors() -> None:
    with pytest.raises(MissingDataError, match="no carbon account for firm"):
        carbon_cost_outlook(
            _frames(), as_of=dt.date(2026, 10, 30), years=YEARS5, uscc=("NOPE",),
            prices=CompliancePrices.constant(YEARS5, 60.0),
        )  # fmt: skip
    with pytest.raises(MissingDataError, match="no SHEA price scenarios"):
        carbon_cost_outlook(
            _frames(), as_of=dt.date(2026, 10, 30), years=YEARS5,
            prices=CompliancePrices.constant(YEARS5, {CEA: 60.0}),
        )  # fmt: skip


# --- statistics against numpy and a closed form ---------------------------------------------


def test_statistics_match_numpy_inverted_cdf_quantiles() -> None:
    rng = np.random.default_rng(7)
    cost = rng.lognormal(10, 1, size=(3, 2, 1000))
    got = cost_statistics(cost)
    for p, key in ((0.95, "car95_cny"), (0.99, "car99_cny")):
        ref = np.quantile(cost, p, axis=-1, method="inverted_cdf")
        np.testing.assert_array_equal(got[key], ref)
        tail = np.where(cost >= ref[..., None], cost, np.nan)
        np.testing.assert_allclose(got[key.replace("car", "es")], np.nanmean(tail, axis=-1))
    np.testing.assert_allclose(got["se_expected_cny"], cost.std(axis=-1, ddof=1) / math.sqrt(1000))


def _merton_prices(n: int, seed: int) -> tuple[CompliancePrices, float]:
    """One-year prices from uncapped Merton paths and the closed-form expected price:
    ``E[S_T/S_0] = exp(T·(μ + σ²/2 + λ·(exp(m + s²/2) − 1)))`` (Merton 1976)."""
    sigma, lam, m, s, days = 0.02, 0.05, -0.03, 0.05, 20
    paths = merton_jump(sigma, lam, m, s, 1.0, days, n, seed=seed, limit_frac=None)
    rel = paths.prices[:, -1]
    truth = math.exp(days * (sigma**2 / 2 + lam * (math.exp(m + s * s / 2) - 1)))
    prices = np.stack([rel[:, None], np.full((n, 1), np.nan)]) * 100.0
    return (
        CompliancePrices((2026,), prices, np.array([[100.0], [np.nan]]), "merton", seed, None, "t"),
        truth * 100.0,
    )


def test_expected_cost_converges_at_one_over_root_n() -> None:
    # 10,000 t short at the Merton price: E[cost] = 10,000 x 100 x E[S_T/S_0] in closed form.
    pos = project_positions(
        ("F1",), (2026,), market=np.zeros((1, 1), dtype=int), emissions_tco2e=np.array([[1e4]]),
        base_emissions_tco2e=np.array([1e4]), allocation_t=np.zeros((1, 1)),
        holdings_t=np.zeros((1, 2)), rules=_rules((0.0,)),
    )  # fmt: skip
    rms, se = {}, {}
    for n in (1_000, 16_000):
        errors, ses = [], []
        for seed in range(12):
            prices, truth = _merton_prices(n, seed)
            h = carbon_cost(pos, prices).horizon.iloc[0]
            errors.append(h["expected_cny"] - 1e4 * truth)
            ses.append(h["se_expected_cny"])
        rms[n], se[n] = float(np.sqrt(np.mean(np.square(errors)))), float(np.mean(ses))
    # 16 times the scenarios: the error and the reported standard error fall about 4 times
    assert 2.5 < rms[1_000] / rms[16_000] < 6.5
    assert 3.6 < se[1_000] / se[16_000] < 4.4
    # the reported standard error is the size of the actual error
    assert 0.6 < rms[16_000] / se[16_000] < 1.6


# --- seeds ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_same_seed_gives_bit_identical_numbers() -> None:
    from carbonfin.data import load_table
    from carbonfin.pricing.history import PriceHistory
    from carbonfin.scoring.carbon_prices import simulate_compliance_prices

    prices = load_table("prices")
    hist = {
        Instrument.SHEA: PriceHistory.from_frame(prices[prices["instrument"] == "SHEA"], "SHEA")
    }
    runs = [
        simulate_compliance_prices(
            hist, as_of=dt.date(2026, 10, 30), years=(2026, 2027), n_scenarios=300, seed=s
        )
        for s in (5, 5, 6)
    ]
    assert np.array_equal(runs[0].prices, runs[1].prices, equal_nan=True)
    assert not np.array_equal(runs[0].prices, runs[2].prices, equal_nan=True)
    assert any("independently" in n for n in runs[0].notes)
    pos = project_positions(
        ("F1",), (2026, 2027), market=np.zeros((1, 2), dtype=int),
        emissions_tco2e=np.full((1, 2), 1e4), base_emissions_tco2e=np.array([1e4]),
        allocation_t=np.zeros((1, 2)), holdings_t=np.zeros((1, 2)),
    )  # fmt: skip
    a, b = (carbon_cost(pos, runs[i]).horizon for i in (0, 1))
    pd.testing.assert_frame_equal(a, b, check_exact=True)


# --- properties ---------------------------------------------------------------------------------

_tonnes = st.floats(0, 1e6, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(
    need=st.lists(_tonnes, min_size=3, max_size=3),
    alloc=_tonnes,
    held=_tonnes,
    bump=st.floats(0, 1e5),
    price=st.floats(1, 500),
    up=st.floats(1.0, 3.0),
)
def test_cost_rises_with_price_and_emissions(
    need: list[float], alloc: float, held: float, bump: float, price: float, up: float
) -> None:
    def run(em: list[float], p: float) -> float:
        pos = project_positions(
            ("F",), YEARS3, market=np.zeros((1, 3), dtype=int), emissions_tco2e=np.array([em]),
            base_emissions_tco2e=np.array([em[0]]), allocation_t=np.full((1, 3), alloc),
            holdings_t=np.array([[held, 0.0]]),
        )  # fmt: skip
        return float(
            carbon_cost(pos, CompliancePrices.constant(YEARS3, p)).horizon["expected_cny"][0]
        )

    base = run(need, price)
    assert run(need, price * up) >= base - 1e-6 * abs(base)
    # more emissions in the last year (no incentive change there: the year already rises or falls
    # the same way after the bump only if it rose before; bump the last year upward only)
    more = [*need[:2], need[2] + bump]
    assert run(more, price) >= base - 1e-6 * max(abs(base), 1.0)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(20, 400),
    short=st.floats(0, 1e6),
)
def test_risk_measures_are_ordered(seed: int, n: int, short: float) -> None:
    rng = np.random.default_rng(seed)
    prices = rng.lognormal(4, 0.5, size=(2, n, 1))
    pos = project_positions(
        ("F",), (2026,), market=np.zeros((1, 1), dtype=int), emissions_tco2e=np.array([[short]]),
        base_emissions_tco2e=np.array([short]), allocation_t=np.zeros((1, 1)),
        holdings_t=np.zeros((1, 2)),
    )  # fmt: skip
    h = carbon_cost(
        pos, CompliancePrices((2026,), prices, np.ones((2, 1)), "lognormal", seed, None, "test")
    ).horizon.iloc[0]
    tol = 1e-9 * max(1.0, h["es99_cny"])
    assert h["es99_cny"] + tol >= h["car99_cny"] >= h["car95_cny"] - tol
    assert h["es95_cny"] + tol >= h["expected_cny"]
    assert h["es99_cny"] + tol >= h["es95_cny"]


def test_bad_inputs_name_the_argument() -> None:
    with pytest.raises(InvalidInputError, match="`years` must be consecutive"):
        project_positions(
            ("F",), (2026, 2028), market=np.zeros((1, 2), dtype=int),
            emissions_tco2e=np.zeros((1, 2)), base_emissions_tco2e=np.zeros(1),
            allocation_t=np.zeros((1, 2)), holdings_t=np.zeros((1, 2)),
        )  # fmt: skip
    with pytest.raises(InvalidInputError, match="`emissions_tco2e` must be finite and >= 0"):
        project_positions(
            ("F",), (2026,), market=np.zeros((1, 1), dtype=int),
            emissions_tco2e=np.array([[-1.0]]), base_emissions_tco2e=np.zeros(1),
            allocation_t=np.zeros((1, 1)), holdings_t=np.zeros((1, 2)),
        )  # fmt: skip
