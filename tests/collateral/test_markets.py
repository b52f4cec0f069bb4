"""Any series can be haircut (issue 19, point 5): its own name, calendar (TARGET, weekdays, the
China calendars), currency, price limit and marks from close or VWAP, with market parameters
from the rules (carbonfin/rules/series.toml) or a file the user gives."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from carbonfin.cli import app
from carbonfin.collateral import haircut, market_risk_profile
from carbonfin.collateral.markets import load_series, market_params, series_rules
from carbonfin.collateral.policy import collateral_policy
from carbonfin.errors import DataIntegrityError, InvalidInputError
from carbonfin.pricing import PriceHistory
from carbonfin.pricing._sessions import Sessions

# Basel CRE22.54/57 worked by hand: 8% at 10 days scaled to 20 days, daily remargining:
# 0.08 x sqrt(20/10) = 0.08 x 1.4142136 = 0.1131371
FX_20D = 0.1131371


def _frame(days: list[dt.date], r: np.ndarray, *, price0: float = 80.0, vwap_only: bool = False,
           volume: float = 5_000.0) -> pd.DataFrame:  # fmt: skip
    p = price0 * np.exp(np.r_[0.0, np.cumsum(r)])[: len(days)]
    vol = np.full(len(p), volume)
    return pd.DataFrame({
        "date": days, "close": np.full(len(p), np.nan) if vwap_only else p, "vwap": p,
        "volume_t": vol, "amount_cny": vol * p,
    })  # fmt: skip


def _days(calendar: str, n: int, start: dt.date = dt.date(2016, 1, 4)) -> list[dt.date]:
    grid = [d.item() for d in Sessions(calendar).grid(start, start + dt.timedelta(days=2 * n))]
    return grid[:n]


@pytest.fixture(scope="module")
def returns() -> np.ndarray:
    return np.random.default_rng(7).standard_t(4, 1200) * 0.02


def _hs_by_hand(r: np.ndarray, n_marks: int, h: int = 20) -> float:
    """HS 99% VaR of h-day sums of the last n_marks-1 daily returns, as a fraction of value:
    every grid day trades here, so the h-day mark change is the sum of h consecutive returns."""
    x = r[-(n_marks - 1) :]
    c = np.r_[0.0, np.cumsum(x)]
    sums = c[h:] - c[:-h]
    return 1.0 - math.exp(-max(-float(np.quantile(sums, 0.01)), 0.0))


def test_eu_allowance_series_on_target_in_eur(returns: np.ndarray) -> None:
    # on the old code calendar="TARGET" passed validation and then failed in
    # market_risk_profile ("a collateral haircut needs a history of one of the engine's
    # instruments"; get_calendar knew only the China calendars)
    days = _days("TARGET", 1001)
    hist = PriceHistory.from_frame(_frame(days, returns), name="EUA", calendar="TARGET",
                                   currency="EUR", limit_frac=None)  # fmt: skip
    as_of = days[-1]
    b_cny = haircut(hist, as_of=as_of, quantity_t=1_000.0, loan_currency="CNY",
                    anti_procyclicality="none")  # fmt: skip
    b_eur = haircut(hist, as_of=as_of, quantity_t=1_000.0, loan_currency="EUR",
                    anti_procyclicality="none")  # fmt: skip
    assert b_cny.series == "EUA"
    assert b_cny.instrument is None
    assert b_cny.collateral_currency.code == "EUR"
    # the market component is the HS quantile over the 750-day lookback (751 marks), by hand
    assert b_cny.component("market").frac == pytest.approx(_hs_by_hand(returns[:1000], 751),
                                                           rel=1e-9)  # fmt: skip
    # an EUR allowance against a CNY loan carries Basel's currency component; against EUR none
    assert b_cny.component("currency").frac == pytest.approx(FX_20D, abs=2e-7)
    assert b_eur.component("currency").frac == 0.0
    assert b_cny.market_origin == "carbonfin/rules/series.toml [series.EUA]"
    assert b_cny.market_value == pytest.approx(1_000.0 * hist.closes().iloc[-1])
    with pytest.raises(InvalidInputError, match="priced in EUR, not CNY"):
        _ = b_cny.market_value_cny
    # EUA has no block-trade band: the block alternative is refused, not priced at a made-up band
    with pytest.raises(InvalidInputError, match="needs a block-trade price band; EUA has none"):
        haircut(hist, as_of=as_of, quantity_t=1_000.0, liquidation="block")


def test_vwap_only_series_is_marked_and_modelled_on_vwaps(returns: np.ndarray) -> None:
    days = _days("weekdays", 1001)
    frame = _frame(days, returns, vwap_only=True)
    hist = PriceHistory.from_frame(
        frame, name="VWAPMKT", calendar="weekdays", currency="CNY", limit_frac=0.10
    )
    b = haircut(hist, as_of=days[-1], quantity_t=100.0, mark_method="vwap",
                anti_procyclicality="none")  # fmt: skip
    # the mark: amount / volume over the last 5 business days; equal volumes -> the mean VWAP
    p = 80.0 * np.exp(np.r_[0.0, np.cumsum(returns[:1000])])
    assert b.mark_price_per_t == pytest.approx(float(np.mean(p[-5:])), rel=1e-12)
    assert b.component("market").frac == pytest.approx(_hs_by_hand(returns[:1000], 751), rel=1e-9)
    assert "not named in carbonfin/rules/series.toml" in " ".join(b.notes)


def test_pilot_series_takes_its_rules(tmp_path: Path, returns: np.ndarray) -> None:
    days = _days("China.SSE", 1001)
    csv = tmp_path / "hubei.csv"
    _frame(days, returns * 0.5, price0=30.0).to_csv(csv, index=False)
    loaded = load_series(csv, name="HBEA")
    h = loaded.history
    assert (h.calendar, h.limit_frac, h.currency) == ("China.SSE", 0.10, "CNY")
    assert "calendar China.SSE, daily price limit ±10%" in loaded.applied
    assert loaded.warnings == ()
    b = haircut(h, as_of=days[-1], quantity_t=1_000.0, anti_procyclicality="none")
    assert b.market_origin == "carbonfin/rules/series.toml [series.HBEA]"
    assert b.component("currency").frac == 0.0
    assert b.component("market").frac == pytest.approx(_hs_by_hand(returns[:1000] * 0.5, 751),
                                                       rel=1e-9)  # fmt: skip
    prof = market_risk_profile(h, as_of=days[-1], anti_procyclicality="none")
    assert prof.block_discount_frac == 0.30
    assert prof.participation_frac == 0.10  # the stated default, its source "assumed"
    assert prof.market is not None
    assert not prof.market.verified


def test_every_named_series_has_sourced_limits() -> None:
    rules = series_rules()
    for name in ("HBEA", "GDEA", "BEA", "SZEA", "TJEA", "CQEA", "FJEA", "EUA"):
        spec = rules.series[name]
        assert spec["sources"]["listed_limit_frac"], name
        assert spec["verified"] or "unverified" in spec["sources"]["listed_limit_frac"], name
    assert rules.series["BEA"]["listed_limit_frac"] == 0.20
    assert rules.series["CQEA"]["listed_limit_frac"] == 0.20
    assert rules.series["EUA"]["listed_limit_frac"] is None


def test_user_rules_file(tmp_path: Path, returns: np.ndarray) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(
        'version = "bank-1"\n[defaults]\nparticipation_frac = 0.05\nadv_window_days = 120\n'
        "max_liquidation_days = 100\nmax_mark_age_days = 5\nsimulation_cap_frac = 0.2\n"
        'mark_method = "close"\n[defaults.sources]\nparticipation_frac = "committee 2026-11"\n'
    )
    days = _days("weekdays", 900)
    hist = PriceHistory.from_frame(_frame(days, returns[:899]), name="X", calendar="weekdays",
                                   currency="USD", limit_frac=None)  # fmt: skip
    mp = market_params(hist, collateral_policy(), rules=series_rules(f))
    assert (mp.participation_frac, mp.adv_window_days, mp.max_liquidation_days) == (0.05, 120, 100)
    assert mp.origin == f"{f} [defaults]"
    bad = tmp_path / "bad.toml"
    bad.write_text("[defaults]\nparticipation_frac = 2\n")
    with pytest.raises(DataIntegrityError, match=r"bad\.toml"):
        series_rules(bad)
    with pytest.raises(InvalidInputError, match="no such rules file"):
        series_rules(tmp_path / "none.toml")


def test_cli_haircut_on_any_csv(tmp_path: Path, returns: np.ndarray) -> None:
    days = _days("TARGET", 1001)
    csv = tmp_path / "eua.csv"
    _frame(days, returns).to_csv(csv, index=False)
    r = CliRunner().invoke(app, ["haircut", "--csv", str(csv), "--name", "EUA", "--quantity",
                                 "1000", "--loan-currency", "CNY"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "EUA: calendar TARGET, no daily price limit, prices in EUR" in r.output
    assert "EUR/t" in r.output
    r = CliRunner().invoke(app, ["haircut", "--csv", str(csv), "--name", "MYSERIES",
                                 "--quantity", "10"])  # fmt: skip
    assert r.exit_code == 2
    assert "give --calendar and --currency" in r.output


def test_cli_backtest_says_calendar_and_warns_off_calendar_rows(
    tmp_path: Path, returns: np.ndarray
) -> None:
    # an EU-allowance file read as SHEA: rows on Chinese holidays are counted, not silent
    days = _days("TARGET", 700)
    csv = tmp_path / "eua.csv"
    _frame(days, returns[:699]).to_csv(csv, index=False)
    off = int((~Sessions("China.SEEE").is_business(np.array(days, dtype="datetime64[D]"))).sum())
    assert off > 0
    r = CliRunner().invoke(app, ["backtest", "--csv", str(csv), "--name", "SHEA", "--models",
                                 "hs", "--horizons", "1", "--no-haircut", "--lookback", "250",
                                 "--out", str(tmp_path / "rep")])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "calendar China.SEEE, daily price limit ±10%" in r.output
    assert f"{off} rows of SHEA fall on days that are not business days" in r.output
    r = CliRunner().invoke(app, ["backtest", "--csv", str(csv), "--models", "hs"])
    assert r.exit_code == 2
    assert "`--csv` needs `--name`" in r.output
