"""Market risk of one instrument on one date: everything in a haircut that does not depend on the
pledge (its size, its loan, its pledgor).

:func:`market_risk_profile` measures, from the quotes on or before ``as_of`` only:

* the **market-risk haircut** over the minimum holding period ``T_M`` (20 business days for
  secured lending) at the chosen confidence, as value at risk or expected shortfall of the
  ``T_M``-day log return, by one of the registered models
  (:mod:`carbonfin.collateral.models`: ``hs``, ``t``, ``fhs``, ``garch-t``, ``ewma``, ``hs-vw``) —

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

* **anti-procyclicality** (EMIR RTS 153/2013 art. 28(1)), one of ``"buffer"`` (art. 28(1)(a):
  25% of the computed haircut, drawn down while it rises significantly and rebuilt as it falls,
  :mod:`carbonfin.collateral.apc_buffer`),
  ``"stressed"`` (max of the current haircut and 75% current + 25% the haircut measured on the
  most volatile 250-business-day window of the last ten years), ``"floor"`` (max of the current
  haircut and the one measured over a ten-year lookback) or ``"none"``. For FHS the stressed and
  ten-year measures resample the fit's standardised residuals at the window's own constant
  volatility (the "volatility estimated over the period" of art. 28(1)(c)). The methods live in
  :mod:`carbonfin.collateral.anti_procyclicality` (a registry by name); the prepared series and
  the measure at a date that they and the profile share, in
  :mod:`carbonfin.collateral.measurement`.
* the liquidity inputs (the robust daily volume of :mod:`carbonfin.collateral.liquidity`, the
  largest day of the block lookback) and the data-quality add-on (stale mark, thin trading, few
  returns).

Suspect prints and odd-lot limit breaches (:func:`~carbonfin.collateral.liquidity.
excluded_prints`) are neither marks nor returns; the mark is
:func:`~carbonfin.collateral.liquidity.valuation_mark`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from carbonfin.collateral.anti_procyclicality import APC_METHODS, APC_REGISTRY, ApcContext
from carbonfin.collateral.liquidity import (
    DailyVolume,
    LiquidityRules,
    daily_volume,
    largest_day_volume,
    liquidity_rules,
    model_closes,
    valuation_mark,
)
from carbonfin.collateral.markets import MarketParams, SeriesRules, market_params
from carbonfin.collateral.measurement import (
    MeasureSpec,
    ReplayCache,
    day_grid,
    loss_frac,
    measure_at,
    prepare_series,
    series_business_days,
)
from carbonfin.collateral.models import (
    MODELS as MODEL_REGISTRY,
)
from carbonfin.collateral.models import (
    T_MIN_NU,
    get_model,
    hs_loss,
    t_fit,
    t_loss,
)
from carbonfin.collateral.models import (
    fhs_log_loss as _fhs_log_loss,
)
from carbonfin.collateral.policy import CollateralPolicy, collateral_policy
from carbonfin.errors import (
    InvalidInputError,
    MissingDataError,
)
from carbonfin.instruments import Currency
from carbonfin.pricing.history import Mark, PriceHistory
from carbonfin.pricing.volatility import TRADING_DAYS_PER_YEAR, VolFit

__all__ = [
    "APC_METHODS",
    "MEASURES",
    "MODELS",
    "T_MIN_NU",
    "MarketRiskProfile",
    "business_day_log_marks",
    "fhs_log_loss",
    "fit_student_t",
    "hs_log_loss",
    "log_loss_to_frac",
    "market_risk_profile",
    "t_log_loss",
]

Model = str
Measure = Literal["var", "es"]
ApcMethod = Literal["none", "buffer", "stressed", "floor"]
#: the names of the registered market-risk models (:mod:`carbonfin.collateral.models`)
MODELS = tuple(MODEL_REGISTRY)
MEASURES = ("var", "es")
#: the default model, chosen out of sample at 20 days (docs/collateral.md, "Choosing the default
#: model out of sample", ``python -m backtests.select_default``)
DEFAULT_MODEL: Model = "hs"


@dataclass(frozen=True, slots=True, eq=False)
class MarketRiskProfile:
    """The pledge-independent part of the haircut of one series on one date.

    ``base_frac`` is the market-risk haircut over ``holding_days`` with daily remargining;
    ``apc_frac`` the same after anti-procyclicality (never lower). ``adv_t`` is the robust daily
    volume over ``adv_window_days`` business days to ``as_of`` (``volume`` says which statistic,
    block days left out, no-trade days as zero; or the caller's stated figure).
    ``data_quality_frac`` is the explicit add-on for a stale mark, thin trading or few returns.
    ``market`` holds the series' market parameters and where they came from; ``inputs`` the
    model's inputs and fitted parameters; ``notes`` every fallback or warning met on the way.
    ``instrument`` is ``None`` for a series outside the engine's instruments (``series`` names
    it).
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
    block_discount_frac: float | None
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
    series: str = ""
    market: MarketParams | None = None
    model_version: str = "1"

    @property
    def year_volume_t(self) -> float:
        """One year of ADV: the market size that market concentration is measured against."""
        return self.adv_t * TRADING_DAYS_PER_YEAR


def _check_args(
    measure: str, apc: str, confidence: float, holding_days: int, remargin_days: int
) -> None:
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


@dataclass(frozen=True, slots=True)
class _Liquidity:
    volume: DailyVolume
    max_day_t: float
    trade_days: int
    window_days: int


def _liquidity(
    history: PriceHistory,
    as_of: dt.date,
    mp: MarketParams,
    lr: LiquidityRules,
    adv_t: float | None,
    basis: str,
    notes: list[str],
) -> _Liquidity:
    """The robust daily volume (or the caller's), the largest day of the block lookback and
    the trade days of the volume window."""
    adv_grid = day_grid(history, as_of, mp.adv_window_days - 1, notes)
    days = history.days
    last = np.datetime64(as_of, "D")
    rows = slice(np.searchsorted(days, adv_grid[0]), np.searchsorted(days, last, "right"))
    volume = daily_volume(history, adv_grid, rules=lr, adv_t=adv_t)
    max_day = largest_day_volume(history, day_grid(history, as_of, lr.block_lookback_days, notes))
    prices = history.quotes["close" if basis == "close" else "vwap"].to_numpy(dtype=float)
    trade_days = int((~np.isnan(prices[rows])).sum())
    notes += list(volume.notes)
    if volume.stated:
        notes.append(f"daily volume stated by the caller: {volume.adv_t:,.0f} t (an assumption)")
    elif volume.adv_t <= 0:
        notes.append(f"no {history.name} volume in the ADV window: longest liquidation assumed")
    return _Liquidity(volume, max_day, trade_days, len(adv_grid))


def market_risk_profile(
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
    mark_method: Literal["close", "vwap"] | None = None,
    n_paths: int | None = None,
    seed: int | None = None,
    data_source: str = "unspecified",
    policy: CollateralPolicy | None = None,
    rules: SeriesRules | None = None,
    series: str | None = None,
    adv_t: float | None = None,
    liquidity: LiquidityRules | None = None,
    cache: ReplayCache | None = None,
) -> MarketRiskProfile:
    """Measure the pledge-independent part of the haircut of any validated series.

    Parameters
    ----------
    history
        Daily quotes of an engine instrument or of any series with its own name, calendar (any
        the engine knows, ``"weekdays"``, or none), currency and price limit; only quotes on or
        before ``as_of`` are used.
    as_of
        Valuation date.
    model
        A name in :data:`carbonfin.collateral.models.MODELS` (``"hs"`` default).
    measure, confidence, holding_days, remargin_days, lookback_days
        VaR or ES, and the policy's 99%, 20, 1 and 750 business days unless given.
    anti_procyclicality
        ``"buffer"`` (art. 28(1)(a) state machine, default), ``"stressed"``, ``"floor"``,
        ``"none"``.
    mark_method
        ``"close"`` or ``"vwap"`` (default: the market's, see ``series.toml``); with ``"vwap"``
        the model's prices and returns are the VWAPs too.
    rules, series
        A series rules file and the series' name in it (:mod:`carbonfin.collateral.markets`).
    adv_t
        The daily volume (t) stated by the caller instead of measured (needed for a series
        without volume; reported as an assumption).
    liquidity
        The liquidity rules (default ``carbonfin/rules/liquidity.toml``).
    cache
        For a caller measuring one history on many dates (a backtest): a
        :class:`~carbonfin.collateral.measurement.ReplayCache` of that history, reused from
        date to date; the profile is the same, bit for bit, with or without it.

    Returns
    -------
    MarketRiskProfile

    Raises
    ------
    InvalidInputError
        An unknown model, measure or method, or out-of-range settings.
    MissingDataError
        Too few quotes before ``as_of``.
    """
    pol = policy or collateral_policy()
    lr = liquidity or liquidity_rules()
    confidence = pol.confidence if confidence is None else confidence
    holding_days = pol.holding_days if holding_days is None else holding_days
    remargin_days = pol.remargin_days if remargin_days is None else remargin_days
    apc = pol.anti_procyclicality.default if anti_procyclicality is None else anti_procyclicality
    lookback = pol.lookback_days if lookback_days is None else lookback_days
    model_obj = get_model(model)
    _check_args(measure, apc, confidence, holding_days, remargin_days)
    if not isinstance(history, PriceHistory):
        raise InvalidInputError(f"`history` must be a PriceHistory; got {type(history).__name__}")
    if not isinstance(as_of, dt.date):
        raise InvalidInputError(f"`as_of` must be a date; got {as_of!r}")
    if not (isinstance(lookback, int) and lookback > holding_days + 20):
        raise InvalidInputError(
            f"`lookback_days` must be an integer > holding_days + 20; got {lookback!r}"
        )
    if as_of < history.dates[0]:
        raise MissingDataError(
            f"`as_of` {as_of.isoformat()} is before the first {history.name} quote "
            f"({history.dates[0].isoformat()})"
        )
    mp = market_params(history, pol, rules=rules, series=series)
    basis = mark_method or mp.mark_method
    if basis not in ("close", "vwap"):
        raise InvalidInputError(f"`mark_method` must be 'close' or 'vwap'; got {basis!r}")
    dq = pol.data_quality
    mark = valuation_mark(history, as_of, method=basis, max_age_days=dq.max_mark_age_days,
                          rules=lr)  # fmt: skip
    notes: list[str] = [*mp.notes, *mark.notes]
    if cache is not None:
        cache.check(history, lr)
    s = (
        cache.series(as_of, basis)
        if cache is not None
        else prepare_series(history, as_of, basis, lr)
    )
    n_all = int((history.quotes[basis].notna().to_numpy()
                 & (history.days <= np.datetime64(as_of, "D"))).sum())  # fmt: skip
    n_excluded = n_all - len(s.price_days)
    if n_excluded:
        notes.append(
            f"{n_excluded} print(s) left out of the returns and marks (flagged "
            f"{', '.join(lr.return_exclude)}, or an odd lot beyond the price limit)"
        )
    spec = MeasureSpec(model_obj.name, measure, float(confidence), holding_days, lookback,
                 pol.fhs_paths if n_paths is None else n_paths,
                 pol.fhs_seed if seed is None else seed, mp.simulation_cap_frac)  # fmt: skip
    fitted, x, grid = measure_at(s, spec, as_of, pol.min_returns, notes)
    notes += fitted.notes
    inputs: dict[str, Any] = {
        "lookback_days": lookback, "lookback_start": grid[0].item(), "n_returns": len(x.returns),
        "horizon_days": holding_days, "price_basis": basis, **fitted.inputs,
        "log_loss": fitted.log_loss, "model_version": model_obj.version,
    }  # fmt: skip
    base = loss_frac(fitted.log_loss)
    ctx = ApcContext(s, spec, as_of, base, fitted, pol, notes, cache)
    apc_frac, apc_extra = APC_REGISTRY[apc](ctx)
    apc_inputs = {"method": apc, **apc_extra}

    liq = _liquidity(history, as_of, mp, lr, adv_t, basis, notes)
    trade_days, window_days = liq.trade_days, liq.window_days
    trade_frac = trade_days / window_days
    late = max(0, mark.age_days - dq.fresh_mark_days)
    stale = min(dq.max_stale_addon, dq.stale_addon_per_day * late)
    thin = dq.thin_trading_addon if trade_frac < dq.min_trade_day_frac else 0.0
    few = dq.few_returns_addon if len(x.returns) < dq.few_returns else 0.0
    dq_inputs = {
        "mark_age_days": mark.age_days, "fresh_mark_days": dq.fresh_mark_days,
        "stale_addon": stale, "trade_days": trade_days, "window_days": window_days,
        "trade_day_frac": trade_frac, "thin_trading_addon": thin, "n_returns": len(x.returns),
        "few_returns_addon": few,
    }  # fmt: skip
    for cond, text in (
        (stale > 0, f"mark is {mark.age_days} business days old"),
        (thin > 0, f"trades on only {trade_frac:.0%} of business days"),
        (few > 0, f"only {len(x.returns)} returns in the lookback"),
    ):
        if cond:
            notes.append(f"data quality: {text}")
    return MarketRiskProfile(
        instrument=history.instrument, as_of=as_of, model=model_obj.name, measure=measure,
        confidence=float(confidence), holding_days=holding_days, remargin_days=remargin_days,
        mark=mark, collateral_currency=mp.currency, base_frac=base, apc_method=apc,
        apc_frac=apc_frac, adv_t=liq.volume.adv_t, adv_window_days=window_days,
        participation_frac=mp.participation_frac, max_liquidation_days=mp.max_liquidation_days,
        block_discount_frac=mp.block_limit_frac, trade_day_frac=trade_frac,
        n_returns=len(x.returns), data_quality_frac=stale + thin + few,
        inputs=MappingProxyType(inputs), apc_inputs=MappingProxyType(apc_inputs),
        data_quality_inputs=MappingProxyType(dq_inputs), notes=tuple(dict.fromkeys(notes)),
        data_source=data_source, policy=pol, series=history.name, market=mp,
        model_version=model_obj.version, volume=liq.volume,
        daily_vol=float(np.sqrt(np.mean(x.returns * x.returns))), max_day_volume_t=liq.max_day_t,
        n_excluded_prints=n_excluded, liquidity=lr,
    )  # fmt: skip


# --- the models one step at a time ---------------------------------------------------------------
# market_risk_profile measures one date end to end. A backtest replays the same models over
# thousands of dates: these are the steps, public so that it can reuse them on arrays prepared
# once (tests check that they reproduce market_risk_profile date by date).


def business_day_log_marks(
    history: PriceHistory, end: dt.date | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The series' business days from its first quote to ``end`` (default: the last quote)
    and the log mark on each: ln of the last close on or before the day (NaN before the first
    close), the prints of :func:`~carbonfin.collateral.liquidity.excluded_prints` (suspect
    prints, odd-lot limit breaches) left out, so that a bad tick is neither a model return nor
    a realised loss. Mark-to-mark changes over ``h`` of these days are the holding-period
    returns of the ``"hs"`` model and the realised outcomes a backtest compares with."""
    end = history.dates[-1] if end is None else end
    bdays: list[Any] = series_business_days(history, history.dates[0], end)
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
    return hs_loss(log_marks, holding_days, confidence, measure)


def fit_student_t(returns: np.ndarray) -> tuple[float, float]:
    """The ``"t"`` model's fit: maximum-likelihood ``(ν, scale)`` of a zero-location Student-t
    with ``ν >= T_MIN_NU`` (per-business-day returns)."""
    return t_fit(np.asarray(returns, dtype=float))


def t_log_loss(
    nu: float, scale: float, holding_days: int, confidence: float, measure: str
) -> float:
    """The ``"t"`` model's VaR/ES (positive = loss) of the ``holding_days`` log return."""
    return t_loss(nu, scale, holding_days, confidence, measure)


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
    """The FHS models' VaR/ES (positive = loss) of the ``holding_days`` log return from a
    GARCH-family fit, and the notes of the simulation."""
    return _fhs_log_loss(fit, holding_days, confidence, measure, n_paths=n_paths, seed=seed,
                         cap=cap)  # fmt: skip


def log_loss_to_frac(log_loss: float | np.ndarray) -> np.ndarray:
    """A loss of the log price as a fraction of value: ``1 − exp(−max(L, 0))``."""
    return np.asarray(1.0 - np.exp(-np.maximum(np.asarray(log_loss, dtype=float), 0.0)))
