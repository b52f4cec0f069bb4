"""Market risk of one instrument on one date: everything in a haircut that does not depend on the
pledge (its size, its loan, its pledgor).

:func:`market_risk_profile` measures, from the quotes on or before ``as_of`` only:

* the **market-risk haircut** over the minimum holding period ``T_M`` (20 business days for
  secured lending) at the chosen confidence, as value at risk or expected shortfall of the
  ``T_M``-day log return, by one of three models —

  ``"hs"``  historical simulation: the overlapping ``T_M``-business-day changes of the log mark
            over the lookback. The mark on a business day is the last close on or before it, so
            a change spans every trade-to-trade return whose later close falls inside it, in
            full: losses realised across no-trade gaps and in block trades count as they
            happened (docs/pricing.md, "Returns across no-trade days").
  ``"fhs"`` filtered historical simulation: a GARCH-family fit (``fit_garch``, zero mean: no drift
            credit) on the per-business-day returns of the lookback, simulated ``T_M`` days ahead
            with :func:`~carbonfin.pricing.filtered_historical`, daily moves capped at the
            block-trade limit (±30%), not the listed-trade limit (±10%): the listed cap would hide
            the gap and block-trade losses a lender can realise, and no cap at all lets the
            integrated fits of thin carbon markets (persistence ≈ 1, ν ≈ 3) explode (87% for
            20 days on real SHEA).
  ``"t"``   parametric Student-t: ``ν`` and the scale ``s`` fitted by maximum likelihood
            (location fixed at 0, ``ν >= 2.05``) to the per-business-day returns; the ``T_M``-day
            log return is taken as Student-t with ``ν`` and scale ``s·√T_M``:
            VaR ``= −s√T_M·t_ν⁻¹(1 − q)``. The bound keeps the variance finite, which the √T
            scaling needs: unbounded, the many unchanged closes of a thin market (16% of real
            SHEA returns are exactly zero) drive ν below 1.

  The loss quantile ``L`` of the log return becomes a haircut ``1 − exp(−L)`` (exact for VaR;
  for ES a convention, slightly below the ES of the simple loss).

* **anti-procyclicality** (EMIR RTS 153/2013 art. 28(1)), one of ``"buffer"`` (+25%),
  ``"stressed"`` (max of the current haircut and 75% current + 25% the haircut measured on the
  most volatile 250-business-day window of the last ten years), ``"floor"`` (max of the current
  haircut and the one measured over a ten-year lookback) or ``"none"``. For FHS the stressed and
  ten-year measures resample the fit's standardised residuals at the window's own constant
  volatility (the "volatility estimated over the period" of art. 28(1)(c)).
* the liquidity inputs (ADV over the instrument's window, no-trade days counting as zero) and
  the data-quality add-on (stale mark, thin trading, few returns).
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from scipy import optimize, stats

from carbonfin.calendars import get_calendar
from carbonfin.collateral.liquidity import (
    DailyVolume,
    LiquidityRules,
    daily_volume,
    excluded_prints,
    largest_day_volume,
    liquidity_rules,
    model_closes,
    valuation_mark,
)
from carbonfin.collateral.policy import CollateralPolicy, collateral_policy
from carbonfin.errors import (
    CarbonfinWarning,
    ConvergenceError,
    InvalidInputError,
    MissingDataError,
    ProvisionalCalendarWarning,
)
from carbonfin.instruments import Currency
from carbonfin.pricing.history import Mark, PriceHistory
from carbonfin.pricing.scenarios import filtered_historical
from carbonfin.pricing.volatility import TRADING_DAYS_PER_YEAR, VolFit, fit_garch
from carbonfin.rules import market_rules

__all__ = [
    "APC_METHODS",
    "MEASURES",
    "MODELS",
    "MarketRiskProfile",
    "business_day_log_marks",
    "fhs_log_loss",
    "fit_student_t",
    "hs_log_loss",
    "log_loss_to_frac",
    "market_risk_profile",
    "t_log_loss",
]

Model = Literal["hs", "fhs", "t"]
Measure = Literal["var", "es"]
ApcMethod = Literal["none", "buffer", "stressed", "floor"]
MODELS = ("hs", "fhs", "t")
MEASURES = ("var", "es")
APC_METHODS = ("none", "buffer", "stressed", "floor")
#: the default model, chosen out of sample on the real SHEA quotes (docs/collateral.md,
#: tools/haircut_model_choice.py): plain historical simulation had the exception count closest
#: to the expected one at 99%, where EWMA-normal and GARCH-t under-covered.
DEFAULT_MODEL: Model = "hs"


def _bdays(
    start: dt.date, end: dt.date, calendar: str, notes: list[str] | None = None
) -> list[dt.date]:
    """Business days in [start, end]; a provisional calendar year becomes a note (or, without a
    ``notes`` list, stays the :class:`ProvisionalCalendarWarning` it is)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        days = get_calendar(calendar).business_days(start, end)
    for w in caught:
        if notes is not None and issubclass(w.category, ProvisionalCalendarWarning):
            notes.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return days


def _grid(
    end: dt.date, n_days: int, calendar: str, first: dt.date, notes: list[str] | None = None
) -> list[dt.date]:
    """The last ``n_days + 1`` business days up to ``end`` (not before ``first``)."""
    start = max(first, end - dt.timedelta(days=int(n_days * 1.6) + 30))
    days = _bdays(start, end, calendar, notes)
    return days[-(n_days + 1) :]


def _log_marks(close_dates: np.ndarray, log_close: np.ndarray, grid: list[dt.date]) -> np.ndarray:
    """ln of the last close on or before each grid day (days before the first close dropped)."""
    pos = np.searchsorted(close_dates, np.array(grid, dtype=object), side="right") - 1
    return np.asarray(log_close[pos[pos >= 0]])


def _loss(x: np.ndarray, confidence: float, measure: str) -> float:
    """VaR or ES (positive = loss) of the log returns ``x``."""
    q = float(np.quantile(x, 1.0 - confidence))
    if measure == "var":
        return -q
    return -float(x[x <= q].mean())


def _to_frac(log_loss: float) -> float:
    return 1.0 - math.exp(-max(log_loss, 0.0))


def _hs(log_marks: np.ndarray, days: int, confidence: float, measure: str) -> float:
    if len(log_marks) <= days + 20:
        raise MissingDataError(
            f"historical simulation needs more than {days + 20} business days of marks; "
            f"got {len(log_marks)}"
        )
    return _loss(log_marks[days:] - log_marks[:-days], confidence, measure)


#: lower bound of the fitted degrees of freedom: the √T scaling of the t model needs a finite
#: variance (ν > 2)
T_MIN_NU = 2.05


def _t_nll(x: np.ndarray, r: np.ndarray) -> float:
    return -float(stats.t.logpdf(r, x[0], 0.0, x[1]).sum())


def _t_fit(r: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood ν and scale of a zero-location Student-t, with ν >= ``T_MIN_NU``."""
    sd = float(np.std(r))
    if sd == 0:
        raise InvalidInputError("`returns` are all equal: there is no volatility to model")
    res = optimize.minimize(
        _t_nll, np.array([4.0, sd * 0.7]), args=(r,), method="L-BFGS-B",
        bounds=[(T_MIN_NU, 500.0), (sd * 1e-4, sd * 10.0)],
    )  # fmt: skip
    if not res.success:
        raise ConvergenceError(f"Student-t fit did not converge: {res.message}")
    return float(res.x[0]), float(res.x[1])


def _t_loss(nu: float, scale: float, days: int, confidence: float, measure: str) -> float:
    s = scale * math.sqrt(days)
    z = float(stats.t.ppf(confidence, nu))
    if measure == "var":
        return s * z
    if nu <= 1.0:
        raise InvalidInputError(f"expected shortfall needs a t fit with nu > 1; got nu={nu:.3f}")
    # ES of a Student-t: s·(ν + z²)/(ν − 1)·f_ν(z)/(1 − q) (McNeil, Frey, Embrechts 2015, 2.2.3)
    return s * (nu + z * z) / (nu - 1.0) * float(stats.t.pdf(z, nu)) / (1.0 - confidence)


def _bootstrap(
    z: np.ndarray, sigma: float, days: int, confidence: float, measure: str, n: int, seed: int
) -> float:
    """i.i.d. resampling of standardised residuals at a constant daily volatility."""
    rng = np.random.default_rng(seed)
    sums = (sigma * z[rng.integers(0, len(z), (n, days))]).sum(axis=1)
    return _loss(sums, confidence, measure)


def _fhs(
    r: np.ndarray,
    days: int,
    confidence: float,
    measure: str,
    n: int,
    seed: int,
    vol: tuple[str, str],
    cap: float,
    gaps: np.ndarray,
) -> tuple[float, VolFit, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CarbonfinWarning)
        # gap-aware business-day recursion (docs/pricing.md): the gaps go with the returns
        fit = fit_garch(r, vol[0], vol[1], mean="zero", gap_days=gaps)  # type: ignore[arg-type]
    notes = [f"{vol[0]}-{vol[1]} fit: {w.message}" for w in caught]
    loss, sim_notes = fhs_log_loss(fit, days, confidence, measure, n_paths=n, seed=seed, cap=cap)
    return loss, fit, notes + sim_notes


@dataclass(frozen=True, slots=True, eq=False)
class MarketRiskProfile:
    """The pledge-independent part of the haircut of one instrument on one date.

    ``base_frac`` is the market-risk haircut over ``holding_days`` with daily remargining;
    ``apc_frac`` the same after anti-procyclicality (never lower). ``adv_t`` is the robust daily
    volume over ``adv_window_days`` business days to ``as_of`` (``volume`` says which statistic,
    block days left out, no-trade days as zero; or the caller's stated figure).
    ``data_quality_frac`` is the explicit add-on for a stale mark, thin trading or few returns.
    ``inputs`` holds the model's inputs and fitted parameters; ``notes`` every fallback or
    warning met on the way.
    """

    instrument: Any
    as_of: dt.date
    model: str
    measure: str
    confidence: float
    holding_days: int
    remargin_days: int
    mark: Mark
    collateral_currency: Currency
    base_frac: float
    apc_method: str
    apc_frac: float
    adv_t: float
    adv_window_days: int
    participation_frac: float
    max_liquidation_days: int
    block_discount_frac: float
    trade_day_frac: float
    n_returns: int
    data_quality_frac: float
    inputs: MappingProxyType[str, Any]
    apc_inputs: MappingProxyType[str, Any]
    data_quality_inputs: MappingProxyType[str, Any]
    notes: tuple[str, ...]
    data_source: str
    policy: CollateralPolicy
    #: the daily volume behind ``adv_t`` (statistic, window, block and unknown days)
    volume: DailyVolume | None = None
    #: volatility of the per-business-day returns of the lookback (zero mean), for price impact
    daily_vol: float = math.nan
    #: the largest one-day volume of the block lookback: a block sale of more is not offered
    max_day_volume_t: float = 0.0
    #: prices left out of the returns and marks (suspect prints) on or before ``as_of``
    n_excluded_prints: int = 0
    liquidity: LiquidityRules | None = None

    @property
    def year_volume_t(self) -> float:
        """One year of ADV: the market size that market concentration is measured against."""
        return self.adv_t * TRADING_DAYS_PER_YEAR


def _check_args(
    model: str, measure: str, apc: str, confidence: float, holding_days: int, remargin_days: int
) -> None:
    if model not in MODELS:
        raise InvalidInputError(f"`model` must be one of {list(MODELS)}; got {model!r}")
    if measure not in MEASURES:
        raise InvalidInputError(f"`measure` must be one of {list(MEASURES)}; got {measure!r}")
    if apc not in APC_METHODS:
        raise InvalidInputError(
            f"`anti_procyclicality` must be one of {list(APC_METHODS)}; got {apc!r}"
        )
    if not (isinstance(confidence, float | int) and 0.5 <= confidence < 1.0):
        raise InvalidInputError(f"`confidence` must be in [0.5, 1); got {confidence!r}")
    for name, value in (("holding_days", holding_days), ("remargin_days", remargin_days)):
        if isinstance(value, bool) or not (isinstance(value, int) and value >= 1):
            raise InvalidInputError(f"`{name}` must be an integer >= 1; got {value!r}")


def _stressed_window(
    r: np.ndarray, pos: np.ndarray, window: int, minimum: int
) -> tuple[int, int] | None:
    """(first, last+1) indices of the returns of the most volatile ``window``-business-day span."""
    csum = np.r_[0.0, np.cumsum(r * r)]
    starts = np.searchsorted(pos, pos - window, side="right")
    counts = np.arange(1, len(r) + 1) - starts
    ok = counts >= minimum
    if not ok.any():
        return None
    var = np.where(ok, (csum[1:] - csum[starts]) / np.maximum(counts, 1), -1.0)
    end = int(np.argmax(var))
    return int(starts[end]), end + 1


def market_risk_profile(  # noqa: C901 - one linear recipe; splitting it hides the order of steps
    history: PriceHistory,
    *,
    as_of: dt.date,
    model: Model = DEFAULT_MODEL,
    measure: Measure = "var",
    confidence: float | None = None,
    holding_days: int | None = None,
    remargin_days: int | None = None,
    anti_procyclicality: ApcMethod | None = None,
    lookback_days: int | None = None,
    mark_method: Literal["close", "vwap"] = "close",
    vol_model: tuple[str, str] = ("gjr", "t"),
    n_paths: int | None = None,
    seed: int | None = None,
    data_source: str = "unspecified",
    policy: CollateralPolicy | None = None,
    adv_t: float | None = None,
    liquidity: LiquidityRules | None = None,
) -> MarketRiskProfile:
    """Measure the pledge-independent part of the haircut (see the module notes).

    Only quotes on or before ``as_of`` are used. Parameters left at ``None`` take the policy's
    value (``carbonfin/rules/collateral.toml``). ``adv_t`` states the daily volume (t) instead of
    measuring it (needed for a series without volume; reported as an assumption);
    ``liquidity`` the liquidity rules (default ``carbonfin/rules/liquidity.toml``).
    """
    pol = policy or collateral_policy()
    lr = liquidity or liquidity_rules()
    confidence = pol.confidence if confidence is None else confidence
    holding_days = pol.holding_days if holding_days is None else holding_days
    remargin_days = pol.remargin_days if remargin_days is None else remargin_days
    apc = pol.anti_procyclicality.default if anti_procyclicality is None else anti_procyclicality
    lookback = pol.lookback_days if lookback_days is None else lookback_days
    n_paths = pol.fhs_paths if n_paths is None else n_paths
    seed = pol.fhs_seed if seed is None else seed
    _check_args(model, measure, apc, confidence, holding_days, remargin_days)
    if not isinstance(history, PriceHistory):
        raise InvalidInputError(f"`history` must be a PriceHistory; got {type(history).__name__}")
    if not isinstance(as_of, dt.date):
        raise InvalidInputError(f"`as_of` must be a date; got {as_of!r}")
    if not (isinstance(lookback, int) and lookback > holding_days + 20):
        raise InvalidInputError(
            f"`lookback_days` must be an integer > holding_days + 20; got {lookback!r}"
        )
    inst = history.instrument
    if inst is None or history.calendar is None:
        raise InvalidInputError(
            f"a collateral haircut needs a history of one of the engine's instruments (SHEA, CEA, "
            f"CCER) on its calendar; got the series {history.name!r}"
        )
    calendar: str = history.calendar
    if as_of < history.dates[0]:
        raise MissingDataError(
            f"`as_of` {as_of.isoformat()} is before the first {inst.value} quote "
            f"({history.dates[0].isoformat()})"
        )
    dq = pol.data_quality
    mark = valuation_mark(
        history, as_of, method=mark_method, max_age_days=dq.max_mark_age_days, rules=lr
    )
    notes: list[str] = list(mark.notes)
    all_closes = history.closes()
    all_closes = all_closes[np.array(list(all_closes.index), dtype=object) <= as_of]
    closes = model_closes(history, lr)
    closes = closes[np.array(list(closes.index), dtype=object) <= as_of]
    n_excluded = len(all_closes) - len(closes)
    if n_excluded:
        notes.append(
            f"{n_excluded} print(s) left out of the returns and marks (flagged "
            f"{', '.join(lr.return_exclude)}, or an odd lot beyond the price limit)"
        )
    close_dates = np.array(list(closes.index), dtype=object)
    log_close = np.log(closes.to_numpy())
    rets = history.returns(per="business_day", drop=excluded_prints(history, lr))
    keep = rets.dates <= as_of
    r_all, r_dates, g_all = rets.values[keep], rets.dates[keep], rets.gap_days[keep]

    # --- the model over the lookback -----------------------------------------------------------
    # The lookback ends at the last close the model uses: the flat marks after it are no
    # information, and the time since is the stale-mark add-on's (so a haircut never falls
    # as the mark ages).
    if not len(close_dates):
        raise MissingDataError(f"{inst.value}: no close on or before {as_of.isoformat()}")
    grid = _grid(close_dates[-1], lookback, calendar, history.dates[0], notes)
    in_lookback = r_dates > grid[0]
    r = r_all[in_lookback]
    if len(r) < pol.min_returns:
        raise MissingDataError(
            f"{inst.value}: only {len(r)} returns in the {lookback} business days to "
            f"{as_of.isoformat()}; a haircut needs at least {pol.min_returns}"
        )
    inputs: dict[str, Any] = {
        "lookback_days": lookback,
        "lookback_start": grid[0],
        "n_returns": len(r),
        "horizon_days": holding_days,
    }
    fit: VolFit | None = None
    if model == "hs":
        marks = _log_marks(close_dates, log_close, grid)
        loss = _hs(marks, holding_days, confidence, measure)
        inputs["n_horizon_returns"] = len(marks) - holding_days
    elif model == "t":
        nu, scale = _t_fit(r)
        loss = _t_loss(nu, scale, holding_days, confidence, measure)
        inputs |= {"nu": nu, "scale_daily": scale}
        if nu <= T_MIN_NU + 1e-6:
            notes.append(f"Student-t fit at its lower bound nu = {T_MIN_NU} (tails heavier still)")
    else:
        cap = market_rules()[inst].price_limit.block_frac
        loss, fit, fit_notes = _fhs(
            r,
            holding_days,
            confidence,
            measure,
            n_paths,
            seed,
            vol_model,
            cap,
            g_all[in_lookback],
        )
        notes += fit_notes
        inputs |= {
            "vol_model": f"{fit.model}-{fit.dist}",
            "persistence": fit.persistence,
            "next_day_vol": fit.next_vol(),
            "n_paths": n_paths,
            "daily_move_cap": cap,
            "seed": seed,
            **{f"param.{k}": v for k, v in fit.params.items()},
        }
    inputs["log_loss"] = loss
    base = _to_frac(loss)

    # --- anti-procyclicality (EMIR RTS 153/2013 art. 28(1)) -----------------------------------
    apc_pol = pol.anti_procyclicality

    def measured_on(window_r: np.ndarray, window_grid: list[dt.date]) -> float:
        if model == "hs":
            return _hs(_log_marks(close_dates, log_close, window_grid), holding_days, confidence,
                       measure)  # fmt: skip
        if model == "t":
            return _t_loss(*_t_fit(window_r), holding_days, confidence, measure)
        assert fit is not None
        z = fit.std_resid[np.isfinite(fit.std_resid)]
        sigma = float(np.sqrt(np.mean(window_r * window_r)))
        return _bootstrap(z, sigma, holding_days, confidence, measure, n_paths, seed)

    apc_inputs: dict[str, Any] = {"method": apc}
    apc_frac = base
    if apc == "buffer":
        apc_frac = min(1.0, base * (1.0 + apc_pol.buffer_frac))
        apc_inputs["buffer_frac"] = apc_pol.buffer_frac
    elif apc in ("stressed", "floor"):
        years = apc_pol.floor_lookback_years
        start = dt.date(as_of.year - years, as_of.month, min(as_of.day, 28))
        if start < history.dates[0]:
            notes.append(
                f"anti-procyclicality: only {(as_of - history.dates[0]).days / 365.25:.1f} of "
                f"{years} years of history before {as_of.isoformat()}"
            )
        long_grid = _bdays(max(start, history.dates[0]), as_of, calendar, notes)
        in_long = r_dates > long_grid[0]
        if apc == "floor":
            floor = _to_frac(measured_on(r_all[in_long], long_grid))
            apc_frac = max(base, floor)
            apc_inputs |= {"lookback_start": long_grid[0], "floor_frac": floor}
        else:
            pos = np.searchsorted(np.array(long_grid, dtype=object), r_dates[in_long])
            win = _stressed_window(r_all[in_long], pos, apc_pol.stressed_window_days,
                                   pol.min_returns // 2)  # fmt: skip
            if win is None:
                notes.append("anti-procyclicality: no stressed window with enough returns")
            else:
                wr = r_all[in_long][win[0] : win[1]]
                wd = r_dates[in_long][win[0] : win[1]]
                w_grid = [d for d in long_grid if wd[0] <= d <= wd[-1]]
                stressed = _to_frac(measured_on(wr, w_grid))
                weight = apc_pol.stressed_weight
                apc_frac = max(base, (1.0 - weight) * base + weight * stressed)
                apc_inputs |= {
                    "stressed_start": wd[0],
                    "stressed_end": wd[-1],
                    "stressed_frac": stressed,
                    "stressed_weight": weight,
                }

    # --- liquidity and data quality --------------------------------------------------------------
    liq = pol.liquidation[inst]
    adv_grid = _grid(as_of, liq.adv_window_days - 1, calendar, history.dates[0], notes)
    window = history.quotes[
        (np.array(history.dates, dtype=object) >= adv_grid[0])
        & (np.array(history.dates, dtype=object) <= as_of)
    ]
    volume = daily_volume(history, adv_grid, rules=lr, adv_t=adv_t)
    adv = volume.adv_t
    block_grid = _grid(as_of, lr.block_lookback_days, calendar, history.dates[0], notes)
    max_day = largest_day_volume(history, block_grid)
    trade_days = int(window["close"].notna().sum())
    trade_frac = trade_days / len(adv_grid)
    if volume.stated:
        notes.append(f"daily volume stated by the caller: {adv:,.0f} t (an assumption)")
    elif adv <= 0:
        notes.append(f"no {inst.value} volume in the ADV window: longest liquidation assumed")
    late = max(0, mark.age_days - dq.fresh_mark_days)
    stale = min(dq.max_stale_addon, dq.stale_addon_per_day * late)
    thin = dq.thin_trading_addon if trade_frac < dq.min_trade_day_frac else 0.0
    few = dq.few_returns_addon if len(r) < dq.few_returns else 0.0
    dq_inputs = {
        "mark_age_days": mark.age_days,
        "fresh_mark_days": dq.fresh_mark_days,
        "stale_addon": stale,
        "trade_days": trade_days,
        "window_days": len(adv_grid),
        "trade_day_frac": trade_frac,
        "thin_trading_addon": thin,
        "n_returns": len(r),
        "few_returns_addon": few,
    }
    for cond, text in (
        (stale > 0, f"mark is {mark.age_days} business days old"),
        (thin > 0, f"trades on only {trade_frac:.0%} of business days"),
        (few > 0, f"only {len(r)} returns in the lookback"),
    ):
        if cond:
            notes.append(f"data quality: {text}")
    rules = market_rules()[inst]
    return MarketRiskProfile(
        instrument=inst,
        as_of=as_of,
        model=model,
        measure=measure,
        confidence=float(confidence),
        holding_days=holding_days,
        remargin_days=remargin_days,
        mark=mark,
        collateral_currency=rules.currency,
        base_frac=base,
        apc_method=apc,
        apc_frac=apc_frac,
        adv_t=adv,
        adv_window_days=len(adv_grid),
        participation_frac=liq.participation_frac,
        max_liquidation_days=liq.max_days,
        block_discount_frac=rules.price_limit.block_frac,
        trade_day_frac=trade_frac,
        n_returns=len(r),
        data_quality_frac=stale + thin + few,
        inputs=MappingProxyType(inputs),
        apc_inputs=MappingProxyType(apc_inputs),
        data_quality_inputs=MappingProxyType(dq_inputs),
        notes=tuple(dict.fromkeys(notes)),
        data_source=data_source,
        policy=pol,
        volume=volume,
        daily_vol=float(np.sqrt(np.mean(r * r))),
        max_day_volume_t=max_day,
        n_excluded_prints=n_excluded,
        liquidity=lr,
    )


# --- the models one step at a time ---------------------------------------------------------------
# market_risk_profile measures one date end to end. A backtest replays the same models over
# thousands of dates, refitting every k days: these are the steps of the recipe above, public so
# that it can reuse them on arrays prepared once (tests check that they reproduce
# market_risk_profile date by date).


def business_day_log_marks(
    history: PriceHistory, end: dt.date | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The instrument's business days from its first quote to ``end`` (default: the last quote)
    and the log mark on each: ln of the last close on or before the day (NaN before the first
    close), the prints of :func:`~carbonfin.collateral.liquidity.excluded_prints` (suspect
    prints, odd-lot limit breaches) left out, so that a bad tick is neither a model return nor
    a realised loss. Mark-to-mark changes over ``h`` of these days are the holding-period
    returns of the ``"hs"`` model and the realised outcomes a backtest compares with."""
    end = history.dates[-1] if end is None else end
    if history.calendar is None:
        raise InvalidInputError(
            f"business-day marks need a calendar; the series {history.name!r} has none"
        )
    bdays: list[Any] = _bdays(history.dates[0], end, history.calendar)
    days = np.empty(len(bdays), dtype=object)
    days[:] = bdays
    closes = model_closes(history)  # suspect prints are not marks, nor realised losses
    close_dates = np.array(list(closes.index), dtype=object)
    pos = np.searchsorted(close_dates, days, side="right") - 1
    marks = np.where(pos >= 0, np.log(closes.to_numpy())[np.maximum(pos, 0)], np.nan)
    return days, marks


def hs_log_loss(log_marks: np.ndarray, holding_days: int, confidence: float, measure: str) -> float:
    """Historical-simulation VaR/ES (positive = loss) of the ``holding_days`` log return, from
    the log marks of consecutive business days (NaN marks before the first close are dropped)."""
    marks = np.asarray(log_marks, dtype=float)
    return _hs(marks[np.isfinite(marks)], holding_days, confidence, measure)


def fit_student_t(returns: np.ndarray) -> tuple[float, float]:
    """The ``"t"`` model's fit: maximum-likelihood ``(ν, scale)`` of a zero-location Student-t
    with ``ν >= T_MIN_NU`` (per-business-day returns)."""
    return _t_fit(np.asarray(returns, dtype=float))


def t_log_loss(
    nu: float, scale: float, holding_days: int, confidence: float, measure: str
) -> float:
    """The ``"t"`` model's VaR/ES (positive = loss) of the ``holding_days`` log return."""
    return _t_loss(nu, scale, holding_days, confidence, measure)


def fhs_log_loss(
    fit: VolFit,
    holding_days: int,
    confidence: float,
    measure: str,
    *,
    n_paths: int,
    seed: int,
    cap: float,
) -> tuple[float, list[str]]:
    """The ``"fhs"`` model's VaR/ES (positive = loss) of the ``holding_days`` log return from a
    GARCH-family fit (estimated, or filtered forward with fixed parameters), and the notes of the
    simulation (variance bounds hit by non-stationary fits)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CarbonfinWarning)
        paths = filtered_historical(fit, 1.0, holding_days, n_paths, seed=seed, limit_frac=cap)
    notes = [f"{fit.model}-{fit.dist} simulation: {w.message}" for w in caught]
    return _loss(np.log(paths.prices[:, -1]), confidence, measure), notes


def log_loss_to_frac(log_loss: float | np.ndarray) -> np.ndarray:
    """A loss of the log price as a fraction of value: ``1 − exp(−max(L, 0))``."""
    return np.asarray(1.0 - np.exp(-np.maximum(np.asarray(log_loss, dtype=float), 0.0)))
