"""Synthetic daily quotes of SHEA, CEA and CCER and the FX fixings, calibrated to the real market.

How a price series is made
--------------------------
1. **Trading days.** China SSE business days (QuantLib). On each day the instrument trades with a
   probability that depends on the era and the season (SHEA was thin before 2017 and trades almost
   every day around the June compliance deadline); a day without trades has volume 0 and no prices.
2. **Returns** between trades come from a GARCH(1,1) process with Student-t innovations
   (Bollerslev 1987): volatility clusters and the tails are fat.
3. **Anchors.** A Brownian-bridge-style drift correction spreads, over the trades of each segment
   between two published price points, the difference between the simulated and the published
   log-price, so the path passes through the anchors while keeping the simulated shocks.
4. **Price limit.** Each close is clipped to the listed-trade limit around the previous close
   (``carbonfin.rules.market_rules()``: ±10%), with the limit prices rounded inwards to the
   0.01 CNY tick, so no close-to-close move ever exceeds the limit. The clipping deficit is
   re-spread over the segment's unclipped days (three passes), so anchors still hold.
5. **Intraday**: open near the previous close, high/low beyond open and close by a half-normal
   intraday range, VWAP between low and high; all within the day's limits, rounded to the tick.
6. **Volume**: log-normal with a heavy right tail, times a month-of-year profile measured on the
   real SHEA data (June carries 35% of the year's volume), times an era level; tiny trades (1-50 t)
   are common for SHEA as in the real market.

Calibration (SHEA, real file 2016-11-18..2023-05-05, trade-to-trade log returns of closes)
-------------------------------------------------------------------------------------------
The real series holds close-to-close moves beyond ±10% (block trades and multi-day gaps, 7.7% of
trades; raw std 0.058, Pearson kurtosis 23.9). The sample applies the listed-trade limit to every
close, so the comparison is made on real returns clipped at ±10%. Figures measured by
``tests/data/test_real_calibration.py`` on the shipped sample (seed 20261125):

=================================  ===============  ============
statistic                          real (clipped)   sample SHEA
=================================  ===============  ============
std per trade                      0.044            0.041
kurtosis (Pearson)                 4.07             5.06
share of SSE days with a close     0.63             0.64
|move| >= 9.5% (limit hits)        12.1%            12.8%
unchanged close (return == 0)      15.8%            15.0%
median volume on trade days        2,000 t          1,020 t
volume share in June               35.2%            36.2%
=================================  ===============  ============

CCER (relaunched 2024) has no real series here; its parameters are assumed, chosen so that its
~500 trades still show an ARCH effect (Engle LM, 5 lags, p < 0.01) and fat tails.

Anchors (published points, CNY/t): SHEA 2015-06 low 12.5 (SHEA14 in June 2015); SHEA ~40 in
September 2021; CEA first trade 52.78 on 2021-07-16 (SEEE), year-end 2021 close 54.22, year-end
2023 close 79.42. Other anchors are the house's plausible levels, marked ``assumed`` below.

FX fixings: ``rate`` is units of the quote currency per 1 base unit. CFETS publishes JPY as CNY per
100 JPY; the sample stores CNY per 1 JPY (the published figure / 100). Central parities are on China
interbank (China.IB) business days, which include the official weekend working days; the USD/CNH
fixing (HKMA/TMA, 11:15 HKT) is on Hong Kong business days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carbonfin._quantlib import business_days
from carbonfin.instruments import Instrument
from carbonfin.rules import market_rules

D = dt.date
END = D(2026, 10, 30)


@dataclass(frozen=True, slots=True)
class PriceModel:
    """Parameters of one instrument's synthetic series."""

    instrument: Instrument
    start: dt.date
    #: (date, price CNY/t, source) — the path passes through these.
    anchors: tuple[tuple[dt.date, float, str], ...]
    vol_per_trade: float  # unconditional std of a trade-to-trade log return
    garch_alpha: float
    garch_beta: float
    t_dof: float
    #: probability of a trade on a business day, by era (first year it applies -> probability)
    trade_prob: tuple[tuple[int, float], ...]
    #: median volume on a trade day in tonnes, by era
    volume_median_t: tuple[tuple[int, float], ...]
    volume_sigma: float  # log-normal sigma of daily volume
    deadline_month: int
    flat_share: float = 0.0  # share of trades at an unchanged close (thin markets)
    #: probability that a trade is a jump (news, a lone small order through a thin book); the
    #: jump's size is |N(jump_mean, jump_sd)| with a random sign, usually clipped at the limit
    jump_prob: float = 0.0
    jump_mean: float = 0.10
    jump_sd: float = 0.04


# Month-of-year share of the real SHEA volume, 2016-11..2023-05 (sums to 1).
SHEA_MONTH_PROFILE = np.array(
    [0.041, 0.018, 0.045, 0.038, 0.106, 0.352, 0.063, 0.041, 0.048, 0.088, 0.076, 0.085]
)


def _deadline_profile(month: int) -> np.ndarray:
    """The SHEA month profile rotated so its peak falls on ``month`` (1-12)."""
    return np.roll(SHEA_MONTH_PROFILE, month - 6)


MODELS: dict[Instrument, PriceModel] = {
    Instrument.SHEA: PriceModel(
        Instrument.SHEA,
        D(2014, 1, 2),
        (
            (D(2014, 1, 2), 38.0, "assumed: SHEA traded near 38-40 CNY/t in early 2014"),
            (D(2014, 7, 1), 36.0, "assumed"),
            (D(2015, 6, 15), 12.5, "published: SHEA14 low of 12.5 CNY/t in June 2015"),
            (D(2016, 6, 15), 9.0, "assumed: SHEA fell below 10 CNY/t in 2016"),
            (D(2016, 11, 21), 11.8, "real file: first close 11.80 on 2016-11-21"),
            (D(2017, 6, 15), 35.0, "real file: 2017 mean close 34.5"),
            (D(2018, 6, 15), 37.0, "real file: 2018 mean close 36.3"),
            (D(2019, 6, 14), 41.0, "real file: 2019 mean close 40.5"),
            (D(2020, 6, 15), 40.0, "real file: 2020 mean close 40.3"),
            (D(2021, 9, 15), 40.0, "published: SHEA around 40 CNY/t in September 2021"),
            (D(2022, 6, 15), 57.0, "real file: 2022 mean close 56.2"),
            (D(2023, 4, 28), 60.0, "real file: 2023 mean close 58.1"),
            (D(2024, 6, 14), 72.0, "assumed"),
            (D(2025, 6, 16), 68.0, "assumed"),
            (D(2026, 10, 30), 64.0, "assumed"),
        ),
        vol_per_trade=0.040,
        garch_alpha=0.20,
        garch_beta=0.78,
        t_dof=3.2,
        trade_prob=((2014, 0.45), (2017, 0.62), (2021, 0.70), (2024, 0.78)),
        volume_median_t=((2014, 600.0), (2017, 1500.0), (2021, 2500.0), (2024, 4000.0)),
        volume_sigma=2.6,
        deadline_month=6,
        flat_share=0.15,  # real SHEA: 15.8% of trade-to-trade returns are exactly 0
        jump_prob=0.19,  # real SHEA: 12.1% of trade-to-trade moves at or beyond the ±9.5% mark
        jump_mean=0.13,
    ),
    Instrument.CEA: PriceModel(
        Instrument.CEA,
        D(2021, 7, 16),
        (
            (D(2021, 7, 16), 52.78, "published: SEEE first trade 52.78 CNY/t on 2021-07-16"),
            (D(2021, 12, 31), 54.22, "published: CEA year-end 2021 close 54.22 CNY/t"),
            (D(2022, 6, 30), 58.0, "assumed"),
            (D(2022, 12, 30), 55.0, "assumed"),
            (D(2023, 12, 29), 79.42, "published: CEA year-end 2023 close 79.42 CNY/t"),
            (D(2024, 4, 24), 100.0, "assumed: CEA reached about 100 CNY/t in April 2024"),
            (D(2024, 12, 31), 97.0, "assumed"),
            (D(2025, 6, 30), 72.0, "assumed"),
            (D(2025, 12, 31), 62.0, "assumed"),
            (D(2026, 10, 30), 66.0, "assumed"),
        ),
        vol_per_trade=0.020,
        garch_alpha=0.10,
        garch_beta=0.86,
        t_dof=4.0,
        trade_prob=((2021, 0.97),),
        volume_median_t=((2021, 120_000.0), (2024, 250_000.0)),
        volume_sigma=1.3,
        deadline_month=12,
        jump_prob=0.004,
    ),
    Instrument.CCER: PriceModel(
        Instrument.CCER,
        D(2024, 1, 22),
        (
            (D(2024, 1, 22), 63.51, "assumed: national CCER market relaunch, first trades ~63.5"),
            (D(2024, 12, 31), 86.0, "assumed"),
            (D(2025, 6, 30), 80.0, "assumed"),
            (D(2026, 10, 30), 74.0, "assumed"),
        ),
        vol_per_trade=0.030,
        garch_alpha=0.25,
        garch_beta=0.72,
        t_dof=6.0,
        trade_prob=((2024, 0.75),),
        volume_median_t=((2024, 8_000.0),),
        volume_sigma=1.8,
        deadline_month=12,
        jump_prob=0.02,
    ),
}


def _by_era(table: tuple[tuple[int, float], ...], years: np.ndarray) -> np.ndarray:
    starts = np.array([y for y, _ in table])
    values = np.array([v for _, v in table])
    idx = np.searchsorted(starts, years, side="right") - 1
    return np.asarray(values[np.clip(idx, 0, len(values) - 1)], dtype=float)


def _garch_t(rng: np.random.Generator, n: int, model: PriceModel) -> tuple[np.ndarray, np.ndarray]:
    """GARCH(1,1) with unit-variance Student-t innovations; unconditional std ``vol_per_trade``.

    Returns the shocks and the conditional variances relative to the unconditional one.
    """
    nu = model.t_dof
    z = rng.standard_t(nu, size=n) * np.sqrt((nu - 2.0) / nu)
    a, b = model.garch_alpha, model.garch_beta
    uncond = model.vol_per_trade**2
    omega = uncond * (1.0 - a - b)
    out = np.empty(n)
    rel = np.empty(n)
    var = uncond
    for i in range(n):  # a recursion: each variance depends on the previous shock
        eps = np.sqrt(var) * z[i]
        out[i] = eps
        rel[i] = var / uncond
        var = omega + a * eps * eps + b * var
    return out, rel


def _tick_floor(x: np.ndarray) -> np.ndarray:
    return np.floor(x * 100.0 + 1e-9) / 100.0


def _tick_ceil(x: np.ndarray) -> np.ndarray:
    return np.ceil(x * 100.0 - 1e-9) / 100.0


def _closes(rng: np.random.Generator, days: list[dt.date], traded: np.ndarray, model: PriceModel,
            limit: float) -> np.ndarray:  # fmt: skip
    """Closes on the traded days: GARCH-t shocks bridged through the anchors, limit-clipped."""
    trade_days = np.array(days, dtype="datetime64[D]")[traded]
    n = len(trade_days)
    shocks, rel_var = _garch_t(rng, n, model)
    # jumps cluster with volatility: probability rises linearly with the rank of the conditional
    # variance, averaging ``jump_prob``
    rank = (np.argsort(np.argsort(rel_var)) + 0.5) / n
    jumps = rng.random(n) < 2.0 * model.jump_prob * rank
    sizes = np.abs(rng.normal(model.jump_mean, model.jump_sd, n)) * rng.choice([-1.0, 1.0], n)
    shocks = np.where(jumps, sizes, shocks)
    anchor_days = np.array([a[0] for a in model.anchors], dtype="datetime64[D]")
    anchor_logp = np.log([a[1] for a in model.anchors])
    # index of the first trade on/after each anchor date; the first anchor is the first trade
    anchor_idx = np.searchsorted(trade_days, anchor_days)
    anchor_idx[0] = 0
    anchor_idx = np.minimum(anchor_idx, n - 1)
    returns = shocks.copy()
    returns[0] = 0.0
    flat = rng.random(n) < model.flat_share
    returns[flat] = 0.0
    seg_of = np.searchsorted(anchor_idx[1:], np.arange(n), side="left")  # segment of each return
    seg_of = np.minimum(seg_of, len(anchor_idx) - 2)
    up, down = np.log1p(limit), np.log1p(-limit)
    for _ in range(4):
        logp = anchor_logp[0] + np.cumsum(returns)
        # each segment's own shortfall: target increment minus simulated increment
        gap = np.diff(anchor_logp) - np.diff(logp[anchor_idx])
        free = (returns < up - 1e-12) & (returns > down + 1e-12) & ~flat
        free[0] = False
        counts = np.bincount(seg_of[free], minlength=len(gap)).astype(float)
        per_day = np.divide(gap, counts, out=np.zeros_like(gap), where=counts > 0)
        returns = np.where(free, returns + per_day[seg_of], returns)
        returns[1:] = np.clip(returns[1:], down, up)
    # round to the tick with the limit prices rounded inwards, close by close
    closes = np.empty(n)
    closes[0] = round(float(np.exp(anchor_logp[0])), 2)
    raw = np.exp(anchor_logp[0] + np.cumsum(returns))
    for i in range(1, n):  # each limit depends on the previous rounded close
        prev = closes[i - 1]
        hi = np.floor(prev * (1 + limit) * 100 + 1e-9) / 100
        lo = np.ceil(prev * (1 - limit) * 100 - 1e-9) / 100
        target = raw[i] * closes[i - 1] / raw[i - 1]
        closes[i] = min(max(round(target, 2), lo), hi)
    return closes


def price_table(rng: np.random.Generator, instrument: Instrument) -> pd.DataFrame:
    """The ``prices`` rows of one instrument (columns of ``carbonfin.data.schema.TABLES``)."""
    model = MODELS[instrument]
    limit = market_rules()[instrument].price_limit.listed_frac
    days = business_days(model.start, END)
    n = len(days)
    years = np.array([d.year for d in days])
    months = np.array([d.month for d in days])
    profile = _deadline_profile(model.deadline_month) * 12.0  # mean 1 across months
    season = profile[months - 1]
    p_trade = np.clip(_by_era(model.trade_prob, years) * (0.75 + 0.25 * np.sqrt(season)), 0, 0.99)
    traded = rng.random(n) < p_trade
    traded[0] = True  # the first day is the anchored first trade
    closes = _closes(rng, days, traded, model, limit)
    m = int(traded.sum())
    prev = np.concatenate([[closes[0]], closes[:-1]])
    hi_lim = _tick_floor(prev * (1 + limit))
    lo_lim = _tick_ceil(prev * (1 - limit))
    intraday = model.vol_per_trade * 0.5
    opens = np.clip(np.round(prev * np.exp(rng.normal(0.0, intraday * 0.5, m)), 2), lo_lim, hi_lim)
    opens[0] = closes[0]
    top = np.maximum(opens, closes)
    bottom = np.minimum(opens, closes)
    highs = np.clip(_tick_ceil(top * np.exp(np.abs(rng.normal(0.0, intraday, m)))), top, hi_lim)
    lows = np.clip(_tick_floor(bottom * np.exp(-np.abs(rng.normal(0.0, intraday, m)))), lo_lim,
                   bottom)  # fmt: skip
    highs[0], lows[0] = max(highs[0], closes[0]), min(lows[0], closes[0])
    w = rng.dirichlet([2.0, 2.0, 1.0, 1.0], m)
    vwaps = np.round(w[:, 0] * opens + w[:, 1] * closes + w[:, 2] * highs + w[:, 3] * lows, 2)
    vwaps = np.clip(vwaps, lows, highs)
    t_years = years[traded]
    median = _by_era(model.volume_median_t, t_years) * season[traded]
    volume = np.maximum(1, np.round(median * np.exp(rng.normal(0.0, model.volume_sigma, m))))
    # volume rises with the size of the move (volatility-volume correlation)
    rel = np.abs(np.log(closes / prev)) / model.vol_per_trade
    volume = np.maximum(1, np.round(volume * (0.6 + 0.4 * np.minimum(rel, 4.0))))
    amount = np.round(volume * vwaps, 2)
    out = pd.DataFrame(
        {
            "date": days,
            "instrument": instrument.value,
            "open_cny_per_t": np.nan,
            "high_cny_per_t": np.nan,
            "low_cny_per_t": np.nan,
            "close_cny_per_t": np.nan,
            "vwap_cny_per_t": np.nan,
            "volume_t": 0,
            "amount_cny": 0.0,
        }
    )
    idx = np.flatnonzero(traded)
    out.loc[idx, "open_cny_per_t"] = opens
    out.loc[idx, "high_cny_per_t"] = highs
    out.loc[idx, "low_cny_per_t"] = lows
    out.loc[idx, "close_cny_per_t"] = closes
    out.loc[idx, "vwap_cny_per_t"] = vwaps
    out.loc[idx, "volume_t"] = volume.astype(np.int64)
    out.loc[idx, "amount_cny"] = amount
    return out


# --- FX -------------------------------------------------------------------------------------

#: (date, USD/CNY, EUR/USD, USD/JPY) anchors; USD/CNY from the CFETS central parity history
#: (e.g. 6.1162 -> 6.2298 on 2015-08-11), the others approximate market levels.
FX_ANCHORS: tuple[tuple[dt.date, float, float, float], ...] = (
    (D(2014, 1, 2), 6.10, 1.37, 104.0),
    (D(2015, 8, 10), 6.12, 1.10, 124.0),
    (D(2015, 8, 13), 6.40, 1.11, 124.0),
    (D(2016, 12, 30), 6.94, 1.05, 117.0),
    (D(2018, 3, 26), 6.28, 1.24, 105.0),
    (D(2019, 9, 3), 7.08, 1.10, 106.0),
    (D(2020, 5, 28), 7.12, 1.10, 107.0),
    (D(2021, 12, 31), 6.37, 1.13, 115.0),
    (D(2022, 10, 31), 7.25, 0.99, 148.0),
    (D(2023, 12, 29), 7.10, 1.10, 141.0),
    (D(2024, 12, 31), 7.19, 1.04, 157.0),
    (D(2025, 12, 31), 7.05, 1.16, 151.0),
    (D(2026, 10, 30), 7.10, 1.16, 152.0),
)
HKD_PEG = 7.80  # HKMA linked exchange rate: 7.75-7.85 HKD per USD (Convertibility Undertakings)


def _bridge(rng: np.random.Generator, days: np.ndarray, anchor_days: np.ndarray,
            anchor_values: np.ndarray, vol_daily: float) -> np.ndarray:  # fmt: skip
    """A log-random walk through the anchors (Brownian bridge between consecutive anchors)."""
    n = len(days)
    walk = np.cumsum(rng.normal(0.0, vol_daily, n))
    pos = np.searchsorted(days, anchor_days)
    pos = np.minimum(pos, n - 1)
    target = np.interp(np.arange(n), pos, np.log(anchor_values))
    walk_at = np.interp(np.arange(n), pos, walk[pos])
    return np.asarray(np.exp(target + (walk - walk_at)))


def fx_table(rng: np.random.Generator) -> pd.DataFrame:
    """The ``fx_fixings`` rows: central parities (China.IB days) and USD/CNH (Hong Kong days)."""
    start = FX_ANCHORS[0][0]
    ib_days = business_days(start, END, "China.IB")
    ib = np.array(ib_days, dtype="datetime64[D]")
    anchor_days = np.array([a[0] for a in FX_ANCHORS], dtype="datetime64[D]")
    usdcny = _bridge(rng, ib, anchor_days, np.array([a[1] for a in FX_ANCHORS]), 0.0010)
    eurusd = _bridge(rng, ib, anchor_days, np.array([a[2] for a in FX_ANCHORS]), 0.0045)
    usdjpy = _bridge(rng, ib, anchor_days, np.array([a[3] for a in FX_ANCHORS]), 0.0050)
    hkd_per_usd = np.clip(HKD_PEG + np.cumsum(rng.normal(0, 0.002, len(ib))) * 0.05, 7.75, 7.85)
    frames = [
        _fx_frame(ib_days, "USD/CNY", np.round(usdcny, 4), "central_parity"),
        _fx_frame(ib_days, "EUR/CNY", np.round(usdcny * eurusd, 4), "central_parity"),
        _fx_frame(ib_days, "HKD/CNY", np.round(usdcny / hkd_per_usd, 5), "central_parity"),
        # CFETS quotes CNY per 100 JPY to 4 decimals; stored per 1 JPY.
        _fx_frame(ib_days, "JPY/CNY", np.round(usdcny / usdjpy * 100, 4) / 100, "central_parity"),
    ]
    hk_days = business_days(start, END, "HongKong")
    hk = np.array(hk_days, dtype="datetime64[D]")
    on_or_before = np.maximum(np.searchsorted(ib, hk, side="right") - 1, 0)
    basis = np.zeros(len(hk))
    shocks = rng.normal(0.0, 0.006, len(hk))
    for i in range(1, len(hk)):  # AR(1) onshore-offshore basis in CNY
        basis[i] = 0.93 * basis[i - 1] + shocks[i]
    usdcnh = usdcny[on_or_before] * np.exp(0.0006 + basis / 7.0)
    frames.append(_fx_frame(hk_days, "USD/CNH", np.round(usdcnh, 4), "cnh_fixing"))
    return pd.concat(frames, ignore_index=True)


def _fx_frame(days: list[dt.date], pair: str, rate: np.ndarray, kind: str) -> pd.DataFrame:
    return pd.DataFrame({"date": days, "pair": pair, "rate": rate, "kind": kind})
