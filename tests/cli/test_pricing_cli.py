"""`carbonfin price ...` and `carbonfin vol ...` on the shipped sample market."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbonfin.cli import app
from carbonfin.pricing import black76

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # no database: the data commands read the shipped sample only when asked (--sample)
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")


def test_price_option_prints_price_and_greeks() -> None:
    args = "price option --forward 80 --strike 85 --expiry 0.5 --vol 0.45 --rate 0.018"
    result = runner.invoke(app, args.split())
    assert result.exit_code == 0, result.output
    expected = float(black76(80.0, 85.0, 0.5, 0.45, 0.018))
    assert f"{expected:.6f}" in result.output
    for name in ("delta", "gamma", "vega", "theta", "rho"):
        assert name in result.output


def test_implied_vol_and_its_reason() -> None:
    price = float(black76(80.0, 85.0, 0.5, 0.45, 0.018))
    args = f"price implied-vol --price {price!r} --forward 80 --strike 85 --expiry 0.5 --rate 0.018"
    ok = runner.invoke(app, args.split())
    assert ok.exit_code == 0, ok.output
    assert "45.000000%" in ok.output
    bad = runner.invoke(app, [*args.split()[:2], "--price", "-1", *args.split()[4:]])
    assert bad.exit_code == 2  # a negative price is bad input, not a price with no volatility
    assert "`--price` must be >= 0 (an option price is never negative); got -1.0" in bad.output
    deep = [*args.split()[:2], "--price", "100", "--forward", "200", *args.split()[6:]]
    none = runner.invoke(app, deep)  # below the discounted intrinsic value 113.97
    assert none.exit_code == 6  # no answer (README, exit codes), not a usage error
    assert "below the discounted intrinsic value" in none.output


# discounted intrinsic value of a call F=200, K=85, r=1.8%, T=0.5y: exp(-0.018 * 0.5) * (200 - 85)
_DEEP_ITM = math.exp(-0.018 * 0.5) * 115.0


@pytest.mark.parametrize(
    ("price", "forward", "expiry", "put", "code", "reason"),
    [
        ("1", "80", "0.5", True, 6, "below the discounted intrinsic value"),  # put worth >= 4.95
        ("80", "80", "0.5", False, 6, "at or above the no-arbitrage maximum"),  # a call <= e^-rT F
        (repr(_DEEP_ITM), "200", "0.5", False, 6, "no time value"),
        ("1", "80", "0", False, 6, "expiry is 0"),
        ("nan", "80", "0.5", False, 2, "not a finite number"),
        ("inf", "80", "0.5", False, 2, "not a finite number"),
    ],
    ids=["below-intrinsic", "above-maximum", "no-time-value", "expiry-0", "nan", "inf"],
)
def test_a_price_with_no_implied_vol_is_no_answer_not_bad_input(
    price: str, forward: str, expiry: str, put: bool, code: int, reason: str
) -> None:
    """README's exit codes: 6 "no answer ... no implied volatility"; the command gave 2 (bad
    input) for every reason but non-convergence. A price that is not a number stays 2."""
    args = ["price", "implied-vol", "--price", price, "--forward", forward, "--strike", "85"]
    args += ["--expiry", expiry, "--rate", "0.018", *(["--put"] if put else [])]
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    assert "no implied volatility" in result.stderr
    assert reason in result.stderr
    assert result.stdout == ""


def test_vol_fit_prints_the_summary() -> None:
    result = runner.invoke(app, ["vol", "fit", "CEA", "--model", "gjr", "--dist", "t", "--sample"])
    assert result.exit_code == 0, result.output
    assert "GJR(1,1) with t innovations" in result.output
    assert re.search(r"gamma\[1\]", result.output)


def test_vol_fit_says_when_the_long_run_is_not_meaningful() -> None:
    # issue 9 item 16: the default GARCH-t on SHEA is integrated; the CLI printed an annualised
    # long-run vol in the millions of percent without a word
    result = runner.invoke(app, ["vol", "fit", "SHEA", "--sample"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "NOT STATIONARY" in text
    assert "long-run variance: not meaningful" in text
    assert "warning: garch-t fit is not stationary" in text
    annualised = float(re.search(r"annualised next-business-day vol ([\d.]+)%", text)[1])  # type: ignore[index]
    assert annualised < 200


def test_vol_fit_and_select_warn_on_stderr_not_in_the_result() -> None:
    # the fresh-clone user check: warnings printed with the result on stdout mix with what a
    # script reads; `vol fit --json` lost the fit's warnings (the command's empty list replaced
    # them)
    import json

    fit = runner.invoke(app, ["vol", "fit", "SHEA", "--sample"])
    assert fit.exit_code == 0, fit.output
    assert "warning" not in fit.stdout
    assert "warning: garch-t fit is not stationary" in " ".join(fit.stderr.split())
    data = json.loads(runner.invoke(app, ["vol", "fit", "SHEA", "--sample", "--json"]).stdout)
    assert any("garch-t fit is not stationary" in w for w in data["warnings"])
    chosen = runner.invoke(app, ["vol", "select", "SHEA", "--sample"])
    assert chosen.exit_code == 0, chosen.output
    assert "warning" not in chosen.stdout
    assert "garch-t: garch-t fit is not stationary" in " ".join(chosen.stderr.split())


def test_vol_select_marks_non_stationary_fits() -> None:
    result = runner.invoke(app, ["vol", "select", "SHEA", "--sample"])
    assert result.exit_code == 0, result.output
    assert "stationary" in result.output
    assert "<- best" in result.output


def test_mark_and_scenarios() -> None:
    mark = runner.invoke(
        app, ["price", "mark", "SHEA", "--on", "2026-10-30", "--method", "vwap", "--sample"]
    )
    assert mark.exit_code == 0, mark.output
    assert "by vwap over 5 business days" in mark.output
    sim = runner.invoke(
        app, ["vol", "scenarios", "CEA", "--paths", "2000", "--method", "t", "--sample"]
    )
    assert sim.exit_code == 0, sim.output
    assert "99% VaR" in sim.output


def test_mark_refuses_a_stale_close_and_states_flags() -> None:
    # issue 9 item 17: `price mark SHEA --on 2040-01-01` valued at a 13-year-old close, exit 0
    old = runner.invoke(app, ["price", "mark", "SHEA", "--on", "2040-01-01", "--sample"])
    assert old.exit_code == 3  # data stale
    assert "2026-10-30" in old.output
    assert "(limit 20)" in old.output
    ok = runner.invoke(
        app, ["price", "mark", "SHEA", "--on", "2026-10-30", "--max-age", "0", "--sample"]
    )
    assert ok.exit_code == 0, ok.output
    assert "quotes used carry no flags" in ok.output
