"""Choose the default haircut model out of sample, at its own 20-business-day horizon.

``python -m backtests.select_default [--real DIR] [--step 20]`` walks every series — the real
quotes in ``DIR`` (default ``$CARBONFIN_REAL_DATA`` or ``../shared/data/real``; read in place,
never copied) and the shipped sample's SHEA, CEA and CCER — on **non-overlapping** windows of 20
business days: at each test date ``t`` every candidate sees only the quotes on or before ``t``
and sets the haircut; the outcome is the loss of the mark from ``t`` to ``t + 20`` business days
(suspect prints left out, as in the engine). Candidates are the registered models with the
policy's art. 28(1)(a) buffer; the plain baselines are flat 25%, 30%, 35% and the 99% quantile
of all past overlapping 20-day losses (expanding window, no buffer).

Per candidate and series: test dates, exceptions (loss above the 1 kt haircut), Kupiec's p
(:func:`backtests.stats.kupiec`, 99%), the Basel zone at that number of observations
(:func:`backtests.stats.traffic_light`) and the median haircut at 1 kt, 100 kt and 1 Mt (the
baselines do not know the position: one number for every size). The pick (:func:`pick`): among
the registered models whose pooled exception count passes Kupiec at 5% and that are in no red
zone on any series, the lowest median 100 kt haircut pooled over series.

FHS is not a candidate here: its GARCH refit on every test date and on the buffer's path is
beyond the compute budget of this run (minutes on two shared cores); its in-sample mean haircut
on real SHEA was 64% (docs/collateral.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from backtests.stats import kupiec, traffic_light
from carbonfin.collateral import haircut_components, market_risk_profile
from carbonfin.collateral.market_risk import business_day_log_marks
from carbonfin.errors import CarbonfinError, CarbonfinWarning
from carbonfin.pricing.history import PriceHistory

__all__ = ["BASELINES", "CANDIDATES", "Row", "evaluate", "pick", "series"]

CANDIDATES = ("hs", "hs-vw", "t", "ewma")
BASELINES = ("flat-25", "flat-30", "flat-35", "past-quantile")
SIZES_T = (1_000.0, 100_000.0, 1_000_000.0)
HORIZON = 20
SAMPLE = Path(__file__).resolve().parents[1] / "carbonfin" / "data" / "sample" / "prices.csv"


@dataclass(frozen=True, slots=True)
class Row:
    """One candidate on one series."""

    series: str
    candidate: str
    dates: int
    exceptions: int
    kupiec_p: float
    zone: str
    median_frac: tuple[float, float, float]
    skipped: int


def series(real_dir: Path | None) -> Iterator[tuple[str, PriceHistory]]:
    """The series to walk: the real files found in ``real_dir`` and the sample's three."""
    if real_dir is not None and real_dir.is_dir():
        for f in sorted(real_dir.glob("shea_daily_*.csv")):
            yield "real SHEA", PriceHistory.from_csv(f, "SHEA", strict=False)
    frame = pd.read_csv(SAMPLE)
    for code in ("SHEA", "CEA", "CCER"):
        part = frame[frame["instrument"] == code].drop(columns="instrument")
        yield f"sample {code}", PriceHistory.from_frame(part, code)


def _past_quantile(marks: np.ndarray, k: int) -> float:
    m = marks[: k + 1]
    m = m[np.isfinite(m)]
    if len(m) <= HORIZON + 20:
        return np.nan
    return float(1.0 - np.exp(np.quantile(m[HORIZON:] - m[:-HORIZON], 0.01)))


def evaluate(name: str, history: PriceHistory, step: int = HORIZON) -> list[Row]:
    """Every candidate and baseline on one series (see the module notes)."""
    days, marks = business_day_log_marks(history)
    first = int(np.argmax(np.isfinite(marks)))
    idx = np.arange(first + 750, len(days) - HORIZON, step)
    loss = 1.0 - np.exp(marks[idx + HORIZON] - marks[idx])
    out: list[Row] = []
    for cand in (*CANDIDATES, *BASELINES):
        hc = np.full((len(idx), len(SIZES_T)), np.nan)
        for i, k in enumerate(idx):
            if cand.startswith("flat-"):
                hc[i] = int(cand[5:]) / 100
                continue
            if cand == "past-quantile":
                hc[i] = _past_quantile(marks, int(k))
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", CarbonfinWarning)
                    prof = market_risk_profile(history, as_of=days[k], model=cand)
                hc[i] = haircut_components(prof, np.asarray(SIZES_T)).total
            except CarbonfinError:
                continue  # a stale mark or too few returns on that date: counted as skipped
        ok = np.isfinite(hc[:, 0]) & np.isfinite(loss)
        x, n = int((loss[ok] > hc[ok, 0]).sum()), int(ok.sum())
        med = tuple(float(np.median(hc[ok, j])) if n else np.nan for j in range(len(SIZES_T)))
        kp = kupiec(x, n, 0.99).p_value if n else np.nan
        zone = traffic_light(x, n, 0.99).zone if n else "-"
        out.append(Row(name, cand, n, x, kp, zone, med, int(len(idx) - n)))  # type: ignore[arg-type]
    return out


def pick(rows: list[Row]) -> str:
    """The default: among the registered models (not the baselines) with pooled Kupiec p >= 5%
    and no red zone on any series, the lowest median 100 kt haircut over all series."""
    best, best_med = "", np.inf
    for cand in CANDIDATES:
        mine = [r for r in rows if r.candidate == cand and r.dates]
        x, n = sum(r.exceptions for r in mine), sum(r.dates for r in mine)
        if not n or kupiec(x, n, 0.99).p_value < 0.05 or any(r.zone == "red" for r in mine):
            continue
        med = float(np.median([r.median_frac[1] for r in mine]))
        if med < best_med:
            best, best_med = cand, med
    return best


def _table(rows: list[Row]) -> str:
    head = (
        "| series | candidate | test dates | exceptions | Kupiec p | zone | median 1 kt | "
        "100 kt | 1 Mt |\n|---|---|---:|---:|---:|---|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        if not r.dates:
            lines.append(f"| {r.series} | {r.candidate} | 0 | - | - | - | - | - | - |")
            continue
        m = r.median_frac
        lines.append(
            f"| {r.series} | {r.candidate} | {r.dates} | {r.exceptions} | {r.kupiec_p:.3f} | "
            f"{r.zone} | {m[0]:.1%} | {m[1]:.1%} | {m[2]:.1%} |"
        )
    for cand in (*CANDIDATES, *BASELINES):
        mine = [r for r in rows if r.candidate == cand and r.dates]
        x, n = sum(r.exceptions for r in mine), sum(r.dates for r in mine)
        lines.append(
            f"| pooled | {cand} | {n} | {x} | {kupiec(x, n, 0.99).p_value:.3f} | "
            f"{traffic_light(x, n, 0.99).zone} | "
            + " | ".join(f"{np.median([r.median_frac[j] for r in mine]):.1%}" for j in range(3))
            + " |"
        )
    return "\n".join(lines)


def episodes(name: str, history: PriceHistory, models: tuple[str, ...] = ("hs", "hs-vw")) -> str:
    """How the applied 1 kt haircut (with the art. 28(1)(a) buffer) moves within 20 business
    days of each fall of the mark by 20-30% over at most 20 business days (episodes at least
    60 business days apart; only dates with 750 business days of history before them)."""
    days, marks = business_day_log_marks(history)
    first = int(np.argmax(np.isfinite(marks))) + 750
    lines = [f"| {name}: fall start | fall | " + " | ".join(
        f"{m} at start / +10 / +20 bd" for m in models) + " |",
        "|---|---:|" + "---:|" * len(models)]  # fmt: skip
    k, last = first, -(10**9)
    while k + HORIZON < len(days):
        drop = 1.0 - np.exp(marks[k + 1 : k + HORIZON + 1] - marks[k])
        if k - last >= 60 and np.nanmax(drop) >= 0.20 and np.nanmax(drop) <= 0.30:
            cells = []
            for m in models:
                vals = []
                for j in (0, 10, 20):
                    try:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore", CarbonfinWarning)
                            prof = market_risk_profile(history, as_of=days[k + j], model=m)
                        vals.append(f"{haircut_components(prof, 1_000.0).total[0]:.1%}")
                    except CarbonfinError:
                        vals.append("-")
                cells.append(" / ".join(vals))
            lines.append(f"| {days[k]} | {np.nanmax(drop):.0%} | " + " | ".join(cells) + " |")
            last = k
        k += 1
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_real = os.environ.get("CARBONFIN_REAL_DATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
    )
    ap.add_argument("--real", type=Path, default=Path(default_real))
    ap.add_argument("--step", type=int, default=HORIZON, help="business days between test dates")
    ap.add_argument("--episodes", action="store_true", help="only the fall episodes table")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows: list[Row] = []
    if args.episodes:
        for name, hist in series(args.real):
            print(episodes(name, hist) + "\n")
        return 0
    for name, hist in series(args.real):
        rows += evaluate(name, hist, args.step)
        print(f"{name}: done at {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(_table(rows))
    print(f"\ndefault by the rule of backtests.select_default.pick: {pick(rows) or 'none'}")
    print(f"({dt.date.today()}; {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
