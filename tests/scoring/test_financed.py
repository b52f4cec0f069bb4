"""Issue 9 items 1 and 13: financed emissions of a whole loan book in CNY, foreign-currency loans
converted through carbonfin.fx in the core, every loan left out listed with its reason; the
result cannot be changed through its frame. PCAF worked by hand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from carbonfin.data import load_table
from carbonfin.errors import InvalidInputError
from carbonfin.fx import RateStore
from carbonfin.scoring import build_panel, financed_emissions
from tests.scoring.cards import account, firm_year_row, uscc

FIRM, PATCHY = uscc("0011"), uscc("0012")
ON = dt.date(2025, 12, 31)
ACCOUNT = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")


def _panel() -> pd.DataFrame:
    frames = account(
        facilities=[("FAC-1", FIRM), ("FAC-2", PATCHY)],
        reports=[
            ("FAC-1", 2025, 40_000.0, 10_000.0, "verified"),  # 50,000 tCO2e, PCAF score 1
            ("FAC-2", 2025, None, 10_000.0, "verified"),  # scope 1 blank: incomplete
        ],
        # equity 2e8 + debt 3e8 = 5e8 CNY (cards.firm_year_row)
        firm_years=[firm_year_row(FIRM, 2025), firm_year_row(PATCHY, 2025)],
    )
    return build_panel(frames)


def _loans() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("L1", FIRM, "CNY", 10_000_000.0),
            ("L2", FIRM, "USD", 2_000_000.0),
            ("L3", FIRM, "EUR", 1_000_000.0),
            ("L4", FIRM, "JPY", 5_000_000.0),  # the store holds no JPY rate
            ("L5", PATCHY, "CNY", 7_000_000.0),  # borrower's emissions incomplete
            ("L6", FIRM, "USD", 0.0),  # repaid
        ],
        columns=["loan_id", "borrower_uscc", "currency", "outstanding"],
    )


def _store(fixing_date: dt.date = ON) -> RateStore:
    # USD/CNY 7.0288 and EUR/USD 1.1750 (typed for the test; EUR/CNY only through USD)
    return RateStore.from_records([(fixing_date, "USD/CNY", "7.0288"), (ON, "EUR/USD", "1.1750")])


def test_foreign_currency_loans_are_converted_in_the_core() -> None:
    result = financed_emissions(_loans(), _panel(), 2025, fx=_store(), on=ON)
    # L2: 2,000,000 USD x 7.0288 = 14,057,600 CNY
    # L3: 1,000,000 EUR x 1.1750 USD/EUR x 7.0288 CNY/USD = 8,258,840 CNY (two legs)
    # covered: 10,000,000 + 14,057,600 + 8,258,840 = 32,316,440 CNY
    assert result.covered_outstanding == pytest.approx(32_316_440.0)
    # PCAF 2022 Part A §5.2: attribution = outstanding / (equity + debt) = 32,316,440 / 5e8
    # = 0.06463288; financed = 0.06463288 x (40,000 + 10,000) tCO2e = 3,231.644 tCO2e
    assert result.total_tco2e == pytest.approx(3_231.644)
    assert result.weighted_data_quality == pytest.approx(1.0)  # all verified: PCAF score 1
    loans = result.loans.set_index("loan_id")
    assert loans.loc["L3", "fx_route"] == "EUR/USD x USD/CNY"
    assert loans.loc["L2", "outstanding_cny"] == pytest.approx(14_057_600.0)
    # nothing is dropped silently: every loan given is in the frame, with its status
    assert list(loans.index) == ["L1", "L2", "L3", "L4", "L5", "L6"]
    reasons = result.excluded.set_index("loan_id")["reason"]
    assert "no JPY/CNY rate on 2025-12-31" in reasons["L4"]
    assert reasons["L5"] == "the borrower's 2025 emissions are incomplete"
    assert reasons["L6"] == "nothing outstanding"
    assert dict(result.unconverted) == {"JPY": 5_000_000.0}
    assert result.uncovered_outstanding == pytest.approx(7_000_000.0)  # L5, converted
    summary = result.summary()
    assert "not included: 1 loan in JPY (5,000,000 JPY outstanding): no JPY/CNY rate" in summary
    assert "FX USD/CNY 7.028800" in summary


def test_without_rates_foreign_loans_are_listed_not_dropped() -> None:
    result = financed_emissions(_loans(), _panel(), 2025)
    reasons = result.excluded.set_index("loan_id")["reason"]
    assert reasons["L2"] == "in USD: no FX rates given (pass fx= and on=)"
    assert result.covered_outstanding == pytest.approx(10_000_000.0)
    assert dict(result.unconverted) == {"EUR": 1_000_000.0, "JPY": 5_000_000.0, "USD": 2e6}


def test_a_stale_fixing_is_a_reason_not_a_silent_rate() -> None:
    # the last USD/CNY fixing is 20 days before `on`; the default limit is 10 days
    result = financed_emissions(
        _loans(), _panel(), 2025, fx=_store(ON - dt.timedelta(days=20)), on=ON
    )
    reasons = result.excluded.set_index("loan_id")["reason"]
    assert "no USD/CNY rate on 2025-12-31" in reasons["L2"]
    assert "20 days old" in reasons["L2"]
    with pytest.raises(InvalidInputError, match="`on` must be a date"):
        financed_emissions(_loans(), _panel(), 2025, fx=_store(), on="2025-12-31")  # type: ignore[arg-type]


def test_the_result_cannot_be_changed_through_its_frames() -> None:
    result = financed_emissions(_loans(), _panel(), 2025, fx=_store(), on=ON)
    frame = result.loans
    frame.loc[:, "financed_tco2e"] = 1e12
    frame.iloc[0, 0] = "edited"
    assert len(result.loans) == 6
    assert result.loans["loan_id"].iloc[0] == "L1"
    assert result.loans["financed_tco2e"].max() < 1e4
    assert result.by("sector")["financed_tco2e"].sum() == pytest.approx(3_231.644)
    with pytest.raises(TypeError):
        result.unconverted["JPY"] = 0.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.total_tco2e = 0.0  # type: ignore[misc]


def test_bank_01_includes_its_foreign_currency_book() -> None:
    """The sample: BANK-01's EUR, HKD and USD loans enter the 2025 totals."""
    from carbonfin.data import load_table as table

    panel = build_panel({name: load_table(name) for name in ACCOUNT})
    loans = table("loans")
    loans = loans[loans["bank_id"] == "BANK-01"]
    store = RateStore(table("fx_fixings"))
    result = financed_emissions(loans, panel, 2025, fx=store, on=ON)
    cny_only = financed_emissions(loans[loans["currency"] == "CNY"], panel, 2025)
    frame = result.loans
    assert len(frame) == len(loans)
    covered = frame[frame["status"] == "covered"]
    assert set(covered["currency"]) == {"CNY", "EUR", "HKD", "USD"}
    assert result.total_tco2e > cny_only.total_tco2e
    foreign = frame[(frame["currency"] != "CNY") & (frame["outstanding"] > 0)]
    assert (foreign["status"] == "covered").sum() + len(
        result.excluded[result.excluded["currency"] != "CNY"].query("outstanding > 0")
    ) == len(foreign)
    assert not result.unconverted  # every currency had a fixing on 2025-12-31
