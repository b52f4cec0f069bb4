"""The carbon cost at risk on the score card, in the v1.2 loan premium and in loan coverage,
worked by hand from a degenerate price."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from carbonfin.scoring.carbon_card import (
    carbon_premium_bp,
    card_from_result,
    loan_coverage,
    with_carbon_cost,
)
from carbonfin.scoring.carbon_cost import CompliancePrices
from carbonfin.scoring.carbon_inputs import carbon_cost_outlook
from carbonfin.scoring.methodology import DEFAULT_VERSION, load_methodology
from tests.scoring.test_carbon_cost import YEARS5, _frames, _rules

AS_OF = dt.date(2026, 10, 30)


def _run(price: float = 100.0):  # type: ignore[no-untyped-def]
    # CHEM-BIG (newly covered from 2026, 35,000 t a year, flat): no allocation on record, so the
    # fallback ratio (the only incumbent's 1.0) gives 35,000 t tightened 2% a year from 2025:
    # 34,300 t in 2026; all auction shares 0 here -> it buys 35,000 - 34,300 = 700 t in 2026,
    # 35,000 - 35,000 x 0.98^2 = 1,386 t in 2027, ... at 100 CNY/t: 70,000 CNY in 2026.
    result, _ = carbon_cost_outlook(
        _frames(), as_of=AS_OF, years=YEARS5, prices=CompliancePrices.constant(YEARS5, price),
        rules=_rules((0.0,) * 5),
    )  # fmt: skip
    return result


def test_card_carries_the_hand_worked_cost_and_its_inputs() -> None:
    card = card_from_result(_run(), "CHEM-BIG")
    buy = [35_000 * (1 - 0.98 ** (y - 2025)) for y in YEARS5]
    np.testing.assert_allclose(card.purchase_by_year_t, buy)
    np.testing.assert_allclose(card.car99_by_year_cny, [100 * b for b in buy])
    assert card.car99_cny == pytest.approx(100 * sum(buy))
    # value added 2e8 a year over five years
    assert card.car99_share_value_added == pytest.approx(100 * sum(buy) / (2e8 * 5))
    assert card.car99_share_revenue is None  # revenue unknown: unknown, not zero
    assert card.inputs["rules_version"]
    assert card.assumptions
    assert "CaR99" in card.summary()
    other = card_from_result(_run(), "OTHER")
    assert not other.covered
    assert other.car99_cny is None
    assert "no coverage rule" in other.summary()


def test_v11_stays_the_default_and_prices_no_carbon_cost() -> None:
    assert DEFAULT_VERSION == "v1.1"
    assert load_methodology("v1.1").carbon_cost is None
    card = card_from_result(_run(), "CHEM-BIG")
    got = carbon_premium_bp(card, load_methodology("v1.1"))
    assert got.premium_bp == 0.0
    assert "does not price carbon cost" in got.reason


def test_v12_premium_by_hand() -> None:
    m = load_methodology("v1.2")
    spec = m.carbon_cost
    assert spec is not None
    # v1.2 scores exactly like v1.1: same factors and weights
    assert dict(m.max_points) == dict(load_methodology("v1.1").max_points)
    # a price that puts CaR99 at 10% of value added a year: premium (10 - 2) x 2 = 16 bp
    buy = sum(35_000 * (1 - 0.98 ** (y - 2025)) for y in YEARS5)
    price = 0.10 * 2e8 * 5 / buy
    card = card_from_result(_run(price), "CHEM-BIG")
    assert card.car99_share_value_added == pytest.approx(0.10)
    assert carbon_premium_bp(card, m).premium_bp == pytest.approx(16.0)
    assert carbon_premium_bp(card, m, coverage_flag=True).premium_bp == pytest.approx(26.0)
    # a very large cost is capped at 25 bp (+10 with the flag)
    big = card_from_result(_run(price * 10), "CHEM-BIG")
    assert carbon_premium_bp(big, m).premium_bp == 25.0


def test_loan_coverage_after_the_99_cost_by_hand() -> None:
    result = _run()
    loans = pd.DataFrame(
        {"loan_id": ["L1", "L2", "L3"], "bank_id": ["B1", "B1", "B2"],
         "borrower_uscc": ["CHEM-BIG", "OTHER", "CHEM-BIG"], "rate": [0.04, 0.04, 0.04],
         "maturity_date": [dt.date(2027, 6, 30), dt.date(2028, 1, 1), dt.date(2030, 6, 30)]}
    )  # fmt: skip
    # CHEM-BIG: debt 5e8 at 4% = 2e7 interest; value added 2e8 -> 10x before.
    # L1 matures in 2027: worst yearly CaR99 up to 2027 = 1,386 t x 100 = 138,600 CNY
    # -> (2e8 - 138,600) / 2e7 = 9.99307x
    out = loan_coverage(loans, result, {"CHEM-BIG": 5e8, "OTHER": 1e6}).set_index("loan_id")
    assert out.loc["L1", "coverage_before"] == pytest.approx(10.0)
    worst_2027 = 35_000 * (1 - 0.98**2) * 100
    assert out.loc["L1", "car99_worst_year_cny"] == pytest.approx(worst_2027)
    assert out.loc["L1", "coverage_after"] == pytest.approx((2e8 - worst_2027) / 2e7)
    assert not out.loc["L1", "below_floor"]
    # L3 runs to 2030: the worst year is 2030
    assert out.loc["L3", "car99_worst_year_cny"] == pytest.approx(35_000 * (1 - 0.98**5) * 100)
    # OTHER is not covered: nothing deducted, and the reason says so
    assert math.isnan(out.loc["L2", "car99_worst_year_cny"])
    assert out.loc["L2", "coverage_after"] == out.loc["L2", "coverage_before"]
    assert "not a covered entity" in out.loc["L2", "reason"]


def test_loan_coverage_flags_below_the_floor_and_unknown_is_na() -> None:
    result = _run(price=50_000.0)  # a price that eats the value added
    loans = pd.DataFrame(
        {"loan_id": ["L1", "L2"], "bank_id": ["B1", "B1"],
         "borrower_uscc": ["CHEM-BIG", "CHEM-BIG"], "rate": [0.04, 0.04],
         "maturity_date": [dt.date(2030, 6, 30)] * 2}
    )  # fmt: skip
    out = loan_coverage(loans, result, {"CHEM-BIG": 5e8})
    assert out["below_floor"].iloc[0]
    assert "below the floor 3x" in out["reason"].iloc[0]
    unknown = loan_coverage(loans, result, {})
    assert unknown["below_floor"].isna().all()
    assert "debt or rate unknown" in unknown["reason"].iloc[0]


def test_score_card_shows_the_carbon_cost() -> None:
    from carbonfin.scoring import build_panel, score_firm
    from tests.scoring.test_account_coverage_financed import _tiny_frames
    from tests.store import tiny

    score = score_firm(build_panel(_tiny_frames()), tiny.FIRM_A, as_of=dt.date(2026, 11, 26))
    card = card_from_result(_run(), "CHEM-BIG")
    with pytest.raises(ValueError, match="is for CHEM-BIG"):
        with_carbon_cost(score, card)
    mine = dataclasses.replace(card, uscc=score.uscc)
    shown = with_carbon_cost(score, mine)
    assert shown.score == score.score
    assert "carbon cost" in shown.summary()
    assert shown.to_record()["detail"]["carbon_cost"]["status"] == "covered"
