"""Evidence for the default haircut model: out-of-sample tests on the real SHEA quotes.

1. **Model choice** (the test the default is chosen by): rolling 500-return windows of the
   per-business-day trade-to-trade log returns, a one-day 99% VaR from each model, compared with
   the next return (492 test days on the real file). Counts exceptions and runs Kupiec's
   proportion-of-failures test and Christoffersen's independence test.
2. **First haircut backtest**: on every business day, the market-risk haircut (20 business days,
   99%) from ``market_risk_profile`` with only the quotes up to that day, against the loss of
   the mark over the following 20 business days.

Reads ``../shared/data/real`` (never copied into the repository). Prints markdown tables for
``docs/collateral.md``. Takes a few minutes (one GARCH fit per window and model)::

    PYTHONPATH=. python tools/haircut_model_choice.py [--skip-backtest]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import optimize, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backtests.stats import christoffersen, kupiec
from carbonfin.calendars import get_calendar
from carbonfin.collateral import market_risk_profile
from carbonfin.errors import CarbonfinWarning
from carbonfin.pricing import PriceHistory, ewma, fit_garch
from tests.realdata import REAL_SHEA

WINDOW = 500
Q = 0.99


def t_fit(r: np.ndarray) -> tuple[float, float]:
    sd = float(np.std(r))

    def nll(x: np.ndarray) -> float:
        return -float(stats.t.logpdf(r, x[0], 0.0, x[1]).sum())

    res = optimize.minimize(
        nll, np.array([4.0, 0.7 * sd]), method="L-BFGS-B",
        bounds=[(2.05, 500.0), (sd * 1e-4, sd * 10)],
    )  # fmt: skip
    return float(res.x[0]), float(res.x[1])


def one_day_vars(w: np.ndarray, gaps: np.ndarray, limit: float) -> dict[str, float]:
    """One-day 99% VaR (positive log loss) of each model from the window ``w``."""
    out: dict[str, float] = {"HS": -float(np.quantile(w, 1 - Q))}
    out["EWMA normal"] = float(stats.norm.ppf(Q)) * ewma(w).next_vol
    nu, s = t_fit(w)
    out["Student-t iid"] = s * float(stats.t.ppf(Q, nu))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CarbonfinWarning)
        g = fit_garch(w, "garch", "t", mean="zero", gap_days=gaps)
        gjr = fit_garch(w, "gjr", "t", mean="zero", gap_days=gaps)
    nu_g = g.params["nu"]
    out["GARCH-t"] = g.next_vol() * float(stats.t.ppf(Q, nu_g)) * math.sqrt((nu_g - 2) / nu_g)
    z = gjr.std_resid[np.isfinite(gjr.std_resid)]
    zq = -float(np.quantile(z, 1 - Q)) * gjr.next_vol()
    out["FHS (GJR-t), listed cap 10%"] = min(zq, -math.log(1 - limit))
    out["FHS (GJR-t), block cap 30%"] = min(zq, -math.log(1 - 0.30))
    out["FHS (GJR-t), no cap"] = zq
    return out


def model_choice(history: PriceHistory) -> None:
    rets = history.returns(per="business_day")
    r, gaps = rets.values, rets.gap_days
    n_test = len(r) - WINDOW
    names: list[str] = []
    hits: dict[str, list[bool]] = {}
    start = time.perf_counter()
    for i in range(WINDOW, len(r)):
        v = one_day_vars(r[i - WINDOW : i], gaps[i - WINDOW : i], history.limit_frac)
        for name, var in v.items():
            if name not in hits:
                names.append(name)
                hits[name] = []
            hits[name].append(bool(r[i] < -var))
    print(
        f"\n### One-day 99% VaR out of sample: real SHEA, {len(r)} per-business-day returns, "
        f"rolling {WINDOW}-return window, {n_test} test days "
        f"({n_test * (1 - Q):.1f} exceptions expected; {time.perf_counter() - start:.0f} s)\n"
    )
    print("| model | exceptions | rate | Kupiec p | Christoffersen p |")
    print("|---|---:|---:|---:|---:|")
    for name in names:
        h = np.array(hits[name])
        pof = kupiec(int(h.sum()), len(h), Q).p_value
        ind = christoffersen(h, Q).p_value
        print(f"| {name} | {int(h.sum())} | {h.mean():.2%} | {pof:.3f} | {ind:.3f} |")


def _marks_on_business_days(history: PriceHistory) -> tuple[list, np.ndarray]:
    closes = history.closes()
    days = get_calendar(history.calendar).business_days(history.dates[0], history.dates[-1])
    close_dates = np.array(list(closes.index), dtype=object)
    pos = np.searchsorted(close_dates, np.array(days, dtype=object), side="right") - 1
    ok = pos >= 0
    return [d for d, k in zip(days, ok, strict=True) if k], np.log(closes.to_numpy())[pos[ok]]


def haircut_backtest(
    history: PriceHistory, variants: dict[str, dict[str, object]], step: int = 1
) -> None:
    """Each variant's haircut set on a day vs the loss of the mark over the next 20 business
    days; exceptions counted on all (overlapping) days and on non-overlapping 20-day blocks."""
    days, log_mark = _marks_on_business_days(history)
    print(
        "\n### First haircut backtest: 20-business-day 99% market-risk haircut (market + "
        "anti-procyclicality, before liquidation and add-ons) set on a day vs the loss of the "
        "mark over the next 20 business days (real SHEA)\n"
    )
    print(
        "| variant | days | mean haircut | exceptions (overlapping) | rate "
        "| non-overlapping blocks | exceptions | Kupiec p | worst shortfall |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, kwargs in variants.items():
        start = time.perf_counter()
        hs, hits, firsts = [], [], []
        for k in range(0, len(days) - 20, step):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CarbonfinWarning)
                    prof = market_risk_profile(history, as_of=days[k], **kwargs)  # type: ignore[arg-type]
            except Exception:  # too little history yet, or a stale mark: not a haircut day
                continue
            firsts.append(k)
            hs.append(prof.apc_frac)
            hits.append(1 - math.exp(log_mark[k + 20] - log_mark[k]) - prof.apc_frac)
        short = np.array(hits)
        exc = short > 0
        block = exc[:: max(1, 20 // step)]
        pof = kupiec(int(block.sum()), len(block), Q).p_value
        print(
            f"| {name} | {len(exc)} | {np.mean(hs):.1%} | {int(exc.sum())} | {exc.mean():.2%} "
            f"| {len(block)} | {int(block.sum())} | {pof:.3f} | {short.max():+.1%} |",
            flush=True,
        )
        print(f"<!-- {name}: {time.perf_counter() - start:.0f} s -->")


VARIANTS: dict[str, dict[str, object]] = {
    "HS, no anti-procyclicality": {"model": "hs", "anti_procyclicality": "none"},
    "HS + 25% buffer (default)": {"model": "hs", "anti_procyclicality": "buffer"},
    "HS + 25% stressed weight": {"model": "hs", "anti_procyclicality": "stressed"},
    "HS + 10-year floor": {"model": "hs", "anti_procyclicality": "floor"},
    "HS, 1,250-day lookback + buffer": {"model": "hs", "lookback_days": 1250},
    "Student-t + buffer": {"model": "t"},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-backtest", action="store_true")
    parser.add_argument("--skip-choice", action="store_true")
    args = parser.parse_args()
    if not REAL_SHEA.exists():
        print(f"real SHEA quotes not found at {REAL_SHEA}; nothing to do")
        return 1
    history = PriceHistory.from_csv(REAL_SHEA, "SHEA", strict=False)
    print(f"data: {REAL_SHEA} ({len(history.quotes)} rows, {len(history.closes())} closes)")
    if not args.skip_choice:
        model_choice(history)
    if not args.skip_backtest:
        haircut_backtest(history, VARIANTS)
        haircut_backtest(history, {"FHS (GJR-t, block cap) + buffer": {"model": "fhs"}}, step=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
