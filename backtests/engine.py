"""Rolling out-of-sample forecasts of the risk models and of the haircut, with what happened.

At each test date ``t`` (every business day of the instrument's calendar in the test window) a
model sees only the quotes on or before ``t`` and forecasts the loss of the log mark over the
next ``h`` business days; the realised outcome is the change of the log mark from ``t`` to the
business day ``t + h``. Nothing financial is computed here: every forecast comes from the core
(:mod:`carbonfin.collateral.market_risk` for the haircut models, :mod:`carbonfin.pricing.
volatility` for EWMA and GARCH), which the tests check against ``market_risk_profile`` date by
date.

Thin markets
------------
Returns are trade to trade (``PriceHistory.returns(per="business_day")``: each return between two
closes divided by ``sqrt(gap)``), as in the pricing module. The mark on a business day without a
trade is the last close (no zero returns are invented for the models); a realised ``h``-day
outcome is the mark-to-mark change, so a return across a no-trade gap counts in full in every
window that contains its closing day, and test dates are all business days (a lender revalues
every business day), traded or not.

Models
------
``hs``       historical simulation of overlapping ``h``-day mark changes over the lookback
             (the haircut's ``"hs"``).
``ewma``     RiskMetrics EWMA (λ = 0.94) with normal quantiles and the square-root-of-time rule.
``garch-t``  filtered historical simulation from a GARCH(1,1)-t fit (the haircut's ``"fhs"``).
``gjr-t``    the same with GJR-GARCH-t (the haircut's default FHS model).
``t``        parametric Student-t (the haircut's ``"t"``).

Parametric models are refitted every ``refit_every`` test dates; between refits GARCH models are
filtered forward over the current window with their parameters fixed (``filter_garch``) and the
Student-t keeps its ``(ν, scale)``; GARCH refits warm-start from the previous parameters. A refit
that fails keeps the previous parameters (filtered forward), or falls back to historical
simulation when there are none; a non-stationary fit is kept and counted, and the core's FHS then
bounds its variance at the largest the sample has seen.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from carbonfin.collateral import haircut_components, market_risk_profile
from carbonfin.collateral.liquidity import excluded_prints
from carbonfin.collateral.market_risk import (
    business_day_log_marks,
    fit_student_t,
    hs_log_loss,
    t_log_loss,
)
from carbonfin.collateral.markets import market_params
from carbonfin.collateral.models import ALIASES, ModelInputs, fhs_log_losses, get_model
from carbonfin.collateral.models import MODELS as MODEL_REGISTRY
from carbonfin.collateral.policy import collateral_policy
from carbonfin.errors import CarbonfinError, CarbonfinWarning, InvalidInputError, MissingDataError
from carbonfin.pricing.history import PriceHistory
from carbonfin.pricing.volatility import VolFit, ewma, filter_garch, fit_garch

__all__ = [
    "MODELS",
    "FitLog",
    "ForecastSeries",
    "HaircutSeries",
    "JobSpec",
    "group_key",
    "job_seed",
    "run_haircut_job",
    "run_job",
    "run_var_job",
    "run_var_jobs",
]

#: the models a backtest can run: the haircut's registry (carbonfin.collateral.models) and its
#: aliases, one vocabulary for collateral and backtests
MODELS = (*MODEL_REGISTRY, *ALIASES)
HORIZONS = (1, 10, 20)
Kind = Literal["var", "haircut"]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One independent piece of a run: an instrument, a model, a horizon and a test window.

    ``kind="var"`` forecasts VaR at each of ``confidences`` and VaR/ES at ``es_level``;
    ``kind="haircut"`` replays the haircut at the policy defaults (``model`` is then the haircut
    model) for pledges of ``quantities_t`` tonnes, over their own liquidation horizons.
    ``lookback_days`` (default: the policy's 750) is the models' lookback; for a haircut job it
    only sets where the test dates begin (the haircut itself runs at the policy defaults).
    ``adv_t`` states the daily volume of a haircut job's series (a close-only file).
    ``seed`` seeds the FHS simulations (derived from the job, not the worker: :func:`job_seed`).
    """

    instrument: str
    model: str
    horizon_days: int
    start: dt.date | None = None
    end: dt.date | None = None
    kind: Kind = "var"
    confidences: tuple[float, ...] = (0.99,)
    es_level: float = 0.975
    refit_every: int = 1
    warm_start: bool = True
    lookback_days: int | None = None
    n_paths: int = 2_000
    quantities_t: tuple[float, ...] = (10_000.0, 100_000.0, 1_000_000.0)
    haircut_step_days: int = 1
    #: daily volume (t) stated by the user for a series without volume (haircut jobs; an
    #: assumption reported in the job's notes), ``None`` to measure it from the quotes
    adv_t: float | None = None
    seed: int = -1

    def __post_init__(self) -> None:
        if self.kind == "var" and self.model not in MODELS:
            raise InvalidInputError(f"`model` must be one of {list(MODELS)}; got {self.model!r}")
        if self.kind not in ("var", "haircut"):
            raise InvalidInputError(f"`kind` must be 'var' or 'haircut'; got {self.kind!r}")
        if isinstance(self.horizon_days, bool) or not (
            isinstance(self.horizon_days, int) and self.horizon_days >= 1
        ):
            raise InvalidInputError(f"`horizon_days` must be an integer >= 1; got "
                                    f"{self.horizon_days!r}")  # fmt: skip
        for name, levels in (("confidences", self.confidences), ("es_level", (self.es_level,))):
            for c in levels:
                if not (0.5 <= c < 1.0):
                    hint = f" (did you mean {c / 100:g}?)" if 1.0 <= c < 100.0 else ""
                    raise InvalidInputError(f"`{name}` must be in [0.5, 1); got {c!r}{hint}")
        if not (isinstance(self.refit_every, int) and self.refit_every >= 1):
            raise InvalidInputError(f"`refit_every` must be an integer >= 1; got "
                                    f"{self.refit_every!r}")  # fmt: skip
        if self.start and self.end and self.end < self.start:
            raise InvalidInputError(f"`end` {self.end} is before `start` {self.start}")
        if self.seed < 0:
            object.__setattr__(self, "seed", job_seed(self))

    @property
    def key(self) -> str:
        window = f"{self.start or ''}..{self.end or ''}"
        return f"{self.kind}/{self.instrument}/{self.model}/h{self.horizon_days}/{window}"


def job_seed(spec: JobSpec) -> int:
    """A seed from the job's key (BLAKE2b), the same on every machine and worker."""
    return int.from_bytes(hashlib.blake2b(spec.key.encode(), digest_size=4).digest(), "little")


@dataclass(frozen=True, slots=True)
class FitLog:
    """How the parametric model fared over the window: refits, failures, non-stationary fits,
    and the fallback each used."""

    refits: int = 0
    failed: int = 0
    non_stationary: int = 0
    hs_fallback_days: int = 0
    fallbacks: tuple[str, ...] = ()
    warm_started: int = 0
    iterations: int = 0


@dataclass(frozen=True, slots=True, eq=False)
class ForecastSeries:
    """Forecasts (log losses, positive = loss) and realised ``h``-day log mark changes.

    ``var[c]`` is the VaR at confidence ``c``; ``var_es``/``es`` the VaR and ES at ``es_level``.
    ``tail_df`` is the degrees of freedom of the model's innovations per date where it has one
    (inf for EWMA's normal, NaN for historical simulation): used to simulate the ES test's null.
    """

    spec: JobSpec
    dates: np.ndarray
    realised: np.ndarray
    var: dict[float, np.ndarray]
    var_es: np.ndarray
    es: np.ndarray
    tail_df: np.ndarray
    fit_log: FitLog
    notes: tuple[str, ...]
    data_source: str

    def hits(self, confidence: float) -> np.ndarray:
        """Exceptions: days whose realised log change fell below −VaR."""
        return np.asarray(self.realised < -self.var[confidence])


@dataclass(frozen=True, slots=True, eq=False)
class HaircutSeries:
    """Haircuts set on each test date and the loss realised over each pledge's own liquidation
    horizon (``loss_frac = 1 − mark(t + T_L)/mark(t)``; NaN where ``t + T_L`` is past the data).
    Arrays are (dates × pledge sizes)."""

    spec: JobSpec
    dates: np.ndarray
    quantities_t: tuple[float, ...]
    haircut_frac: np.ndarray
    liquidation_days: np.ndarray
    loss_frac: np.ndarray
    skipped: dict[str, int]
    notes: tuple[str, ...]
    data_source: str


@dataclass
class _Data:
    days: np.ndarray
    marks: np.ndarray
    r: np.ndarray
    r_dates: np.ndarray
    lookback: int
    test_idx: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))
    n_excluded: int = 0


def _prepare(history: PriceHistory, spec: JobSpec, horizon: int) -> _Data:
    pol = collateral_policy()
    lookback = pol.lookback_days if spec.lookback_days is None else spec.lookback_days
    days, marks = business_day_log_marks(history)  # suspect prints are not realised losses
    rets = history.returns(per="business_day", drop=excluded_prints(history))
    data = _Data(days, marks, np.asarray(rets.values), np.asarray(rets.dates), lookback)
    data.n_excluded = rets.n_dropped
    first_close = int(np.argmax(np.isfinite(marks)))
    k = np.arange(len(days))
    ok = (k >= first_close + lookback) & (k + horizon < len(days))
    if spec.start is not None:
        ok &= days >= spec.start
    if spec.end is not None:
        ok &= days <= spec.end
    data.test_idx = k[ok]
    if len(data.test_idx) == 0:
        raise MissingDataError(
            f"{spec.instrument}: no test date with {lookback} business days of history before it "
            f"and {horizon} after it in {spec.start or days[0]}..{spec.end or days[-1]}"
        )
    return data


def _excluded_note(n: int) -> str:
    return (
        f"{n} print(s) left out of the model returns and the realised losses (suspect prints, "
        "odd-lot limit breaches: carbonfin/rules/liquidity.toml [returns])"
    )


def _window_returns(data: _Data, k: int) -> np.ndarray:
    """Per-business-day returns after the lookback's first day, up to day ``k`` (as the core)."""
    lo = np.searchsorted(data.r_dates, data.days[k - data.lookback], side="right")
    hi = np.searchsorted(data.r_dates, data.days[k], side="right")
    return data.r[lo:hi]


class _Garch:
    """Refit every ``refit_every`` dates (warm-started), filter forward with fixed parameters
    in between; failures fall back as the module notes say."""

    def __init__(self, spec: JobSpec) -> None:
        self.spec = spec
        self.vol: tuple[str, str] = get_model(spec.model).vol  # type: ignore[attr-defined]
        self.fit: VolFit | None = None
        self.log: dict[str, Any] = {"refits": 0, "failed": 0, "non_stationary": 0,
                                    "warm_started": 0, "iterations": 0}  # fmt: skip
        self.fallbacks: set[str] = set()

    def at(self, r: np.ndarray, refit: bool) -> VolFit | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CarbonfinWarning)
            if refit or self.fit is None:
                start = self.fit if (self.spec.warm_start and self.fit is not None) else None
                try:
                    fit = fit_garch(r, self.vol[0], self.vol[1], mean="zero",  # type: ignore[arg-type]
                                    starting_values=start, std_errors=False)  # fmt: skip
                except CarbonfinError as exc:
                    self.log["failed"] += 1
                    if self.fit is None:
                        self.fallbacks.add(f"no earlier fit ({exc}): historical simulation")
                        return None
                    self.fallbacks.add("failed refit: previous parameters filtered forward")
                    self.fit = filter_garch(self.fit, r)
                    return self.fit
                self.log["refits"] += 1
                self.log["warm_started"] += start is not None
                self.log["iterations"] += int(fit._arch_result.optimization_result.nit)
                if not fit.is_stationary:
                    self.log["non_stationary"] += 1
                    self.fallbacks.add(
                        "non-stationary fit kept: FHS variance bounded at the sample's largest"
                    )
                self.fit = fit
                return fit
            self.fit = filter_garch(self.fit, r)
            return self.fit


_Levels = tuple[float, ...]
_Out = tuple[dict[float, np.ndarray], np.ndarray, np.ndarray, FitLog, list[str]]


def _empty(n: int, levels: tuple[float, ...]) -> tuple[dict[float, np.ndarray], np.ndarray]:
    return {c: np.full(n, np.nan) for c in levels}, np.full(n, np.nan)


def _hs_at(data: _Data, k: int, h: int, levels: tuple[float, ...], es_level: float,
           var: dict[float, np.ndarray], es: np.ndarray, i: int) -> None:  # fmt: skip
    window = data.marks[k - data.lookback : k + 1]
    for c in levels:
        var[c][i] = hs_log_loss(window, h, c, "var")
    es[i] = hs_log_loss(window, h, es_level, "es")


def _forecast_ewma(history: PriceHistory, data: _Data, spec: JobSpec, levels: _Levels) -> _Out:
    h, idx = spec.horizon_days, data.test_idx
    res = ewma(data.r)  # the same returns as data.r_dates (suspect prints left out)
    j = np.searchsorted(data.r_dates, data.days[idx], side="right") - 1
    var = {c: res.loss_after(h, c, "var")[j] for c in levels}
    es = res.loss_after(h, spec.es_level, "es")[j]
    notes = ["EWMA lambda 0.94 over all returns before each date; refit_every not used"]
    return var, es, np.full(len(idx), np.inf), FitLog(), notes


def _forecast_hs(history: PriceHistory, data: _Data, spec: JobSpec, levels: _Levels) -> _Out:
    var, es = _empty(len(data.test_idx), levels)
    for i, k in enumerate(data.test_idx):
        _hs_at(data, k, spec.horizon_days, levels, spec.es_level, var, es, i)
    notes = ["historical simulation has no parameters; refit_every not used"]
    return var, es, np.full(len(es), np.nan), FitLog(), notes


def _lead(datas: Sequence[_Data]) -> _Data:
    """The data with the most test dates: the others' dates are its first ones (same start and
    window, a longer horizon ends earlier), so one chain of fits serves every horizon."""
    return max(datas, key=lambda d: len(d.test_idx))


def _forecast_t(
    history: PriceHistory, datas: Sequence[_Data], specs: Sequence[JobSpec], levels: _Levels
) -> list[_Out]:
    """The Student-t at every date of each spec; one fit per date shared by all of them."""
    lead, every = _lead(datas), specs[0].refit_every
    outs = [(*_empty(len(d.test_idx), levels), np.full(len(d.test_idx), np.nan)) for d in datas]
    counts = [0, 0]  # refits, failed
    logs: list[tuple[int, int]] = [(0, 0)] * len(specs)
    params: tuple[float, float] | None = None
    for i, k in enumerate(lead.test_idx):
        if params is None or i % every == 0:
            try:
                params = fit_student_t(_window_returns(lead, k))
                counts[0] += 1
            except CarbonfinError:
                counts[1] += 1
        for j, (spec, d) in enumerate(zip(specs, datas, strict=True)):
            if i >= len(d.test_idx):
                continue
            var, es, tail_df = outs[j]
            if i == len(d.test_idx) - 1:
                logs[j] = (counts[0], counts[1])
            if params is None:
                _hs_at(d, k, spec.horizon_days, levels, spec.es_level, var, es, i)
                continue
            nu, scale = params
            for c in levels:
                var[c][i] = t_log_loss(nu, scale, spec.horizon_days, c, "var")
            es[i] = t_log_loss(nu, scale, spec.horizon_days, spec.es_level, "es")
            tail_df[i] = nu
    fallbacks = ("failed refit: previous (nu, scale) kept, else historical simulation",)
    return [
        (var, es, tail_df,
         FitLog(refits=r, failed=f, fallbacks=fallbacks if f else ()),
         [f"t: refit every {spec.refit_every} test date(s)"])
        for (var, es, tail_df), (r, f), spec in zip(outs, logs, specs, strict=True)
    ]  # fmt: skip


def _forecast_garch(
    history: PriceHistory, datas: Sequence[_Data], specs: Sequence[JobSpec], levels: _Levels
) -> list[_Out]:
    """FHS at every date of each spec: one chain of GARCH fits (refits warm-started, filtered
    forward in between) shared by all of them, one simulation per date and spec for all levels
    (each spec keeps its own seed and paths)."""
    lead, every = _lead(datas), specs[0].refit_every
    garch = _Garch(specs[0])
    cap = market_params(history, collateral_policy()).simulation_cap_frac
    outs = [(*_empty(len(d.test_idx), levels), np.full(len(d.test_idx), np.nan)) for d in datas]
    hs_days = [0] * len(specs)
    logs: list[FitLog] = [FitLog()] * len(specs)
    for i, k in enumerate(lead.test_idx):
        fit = garch.at(_window_returns(lead, k), refit=i % every == 0)
        for j, (spec, d) in enumerate(zip(specs, datas, strict=True)):
            if i >= len(d.test_idx):
                continue
            var, es, tail_df = outs[j]
            if fit is None:
                _hs_at(d, k, spec.horizon_days, levels, spec.es_level, var, es, i)
                hs_days[j] += 1
            else:
                want = [*((c, "var") for c in levels), (spec.es_level, "es")]
                losses, _ = fhs_log_losses(fit, spec.horizon_days, want, n_paths=spec.n_paths,
                                           seed=spec.seed, cap=cap)  # fmt: skip
                for c, loss in zip(levels, losses, strict=False):
                    var[c][i] = loss
                es[i] = losses[-1]
                tail_df[i] = fit.params.get("nu", np.inf)
            if i == len(d.test_idx) - 1:
                logs[j] = FitLog(fallbacks=tuple(sorted(garch.fallbacks)),
                                 hs_fallback_days=hs_days[j], **garch.log)  # fmt: skip
    return [
        (var, es, tail_df, log,
         [f"{spec.model}: refit every {spec.refit_every} test date(s)"
          + (", warm-started" if spec.warm_start else ", cold starts")
          + f"; FHS with {spec.n_paths} paths, seed {spec.seed}, daily moves capped at ±{cap:.0%}"])
        for (var, es, tail_df), log, spec in zip(outs, logs, specs, strict=True)
    ]  # fmt: skip


def _forecast_registry(history: PriceHistory, data: _Data, spec: JobSpec, levels: _Levels) -> _Out:
    """Any registered model without a faster path: the core model on each date's inputs."""
    model = get_model(spec.model)
    var, es = _empty(len(data.test_idx), levels)
    cap = market_params(history, collateral_policy()).simulation_cap_frac
    for i, k in enumerate(data.test_idx):
        hi = np.searchsorted(data.r_dates, data.days[k], side="right")
        for c, out, measure in [*((c, var[c], "var") for c in levels), (spec.es_level, es, "es")]:
            x = ModelInputs(
                log_marks=data.marks[k - data.lookback : k + 1], returns=_window_returns(data, k),
                gap_days=np.ones(0), all_returns=data.r[:hi], holding_days=spec.horizon_days,
                confidence=c, measure=measure, n_paths=spec.n_paths, seed=spec.seed,
                simulation_cap_frac=cap,
            )  # fmt: skip
            out[i] = model.measure(x).log_loss
    return var, es, np.full(len(es), np.nan), FitLog(), [f"{model.name}: the core model each date"]


#: fast paths by registered model; others use the core model on each date
_FORECASTS = {
    "ewma": _forecast_ewma,
    "hs": _forecast_hs,
}
#: models whose fits are shared by the jobs of one group (see :func:`group_key`)
_GROUP_FORECASTS = {
    "t": _forecast_t,
    "fhs": _forecast_garch,
    "garch-t": _forecast_garch,
    "garch-n": _forecast_garch,
}


def group_key(spec: JobSpec) -> tuple[Any, ...] | None:
    """Jobs with the same key share their fits (:func:`run_var_jobs`): the same instrument,
    fitted model (an alias is its model), window, lookback and refit schedule; they may differ
    in horizon, confidences, paths and seed. ``None`` for jobs that have nothing to share."""
    name = get_model(spec.model).name
    if spec.kind != "var" or name not in _GROUP_FORECASTS:
        return None
    return (spec.instrument, name, spec.start, spec.end, spec.lookback_days, spec.refit_every,
            spec.warm_start)  # fmt: skip


def _series(spec: JobSpec, data: _Data, out: _Out, data_source: str) -> ForecastSeries:
    var, es, tail_df, fit_log, notes = out
    idx, h = data.test_idx, spec.horizon_days
    if data.n_excluded:
        notes = [*notes, _excluded_note(data.n_excluded)]
    return ForecastSeries(
        spec=spec,
        dates=data.days[idx],
        realised=data.marks[idx + h] - data.marks[idx],
        var={c: var[c] for c in spec.confidences},
        var_es=var[spec.es_level],
        es=es,
        tail_df=tail_df,
        fit_log=fit_log,
        notes=tuple(notes),
        data_source=data_source,
    )


def _levels(spec: JobSpec) -> _Levels:
    return tuple(dict.fromkeys((*spec.confidences, spec.es_level)))


def run_var_job(
    history: PriceHistory, spec: JobSpec, data_source: str = "unspecified"
) -> ForecastSeries:
    """Forecast VaR (and ES) of the ``h``-day log mark change at every test date of ``spec``."""
    data = _prepare(history, spec, spec.horizon_days)
    name = get_model(spec.model).name
    if name in _GROUP_FORECASTS:
        out = _GROUP_FORECASTS[name](history, [data], [spec], _levels(spec))[0]
    else:
        out = _FORECASTS.get(name, _forecast_registry)(history, data, spec, _levels(spec))
    return _series(spec, data, out, data_source)


def run_var_jobs(
    history: PriceHistory, specs: Sequence[JobSpec], data_source: str = "unspecified"
) -> list[ForecastSeries | CarbonfinError]:
    """:func:`run_var_job` for several jobs of one :func:`group_key`, each fit made once for all
    of them: every result equals the one its job gives alone (the fits of a date do not depend
    on the horizon, and a longer horizon's test dates are the first of a shorter one's). A job
    without test dates gets its error in its place; the others run."""
    keys = {group_key(s) for s in specs}
    if len(keys) != 1 or None in keys:
        raise InvalidInputError(f"`specs` must share one group key; got {sorted(map(str, keys))}")
    out: list[ForecastSeries | CarbonfinError] = []
    datas: dict[int, _Data] = {}
    for j, spec in enumerate(specs):
        try:
            datas[j] = _prepare(history, spec, spec.horizon_days)
        except CarbonfinError as exc:
            out.append(exc)
            continue
        out.append(MissingDataError("not run"))  # replaced by the result below
    if not datas:
        return out
    lead = _lead(list(datas.values()))
    if not all(np.array_equal(d.test_idx, lead.test_idx[: len(d.test_idx)])
               for d in datas.values()):  # fmt: skip
        return [_single(history, s, data_source) for s in specs]  # not one chain of dates
    forecast = _GROUP_FORECASTS[get_model(specs[0].model).name]
    levels = tuple(dict.fromkeys(c for j in datas for c in _levels(specs[j])))
    outs = forecast(history, list(datas.values()), [specs[j] for j in datas], levels)
    for (j, d), o in zip(datas.items(), outs, strict=True):
        out[j] = _series(specs[j], d, o, data_source)
    return out


def _single(
    history: PriceHistory, spec: JobSpec, data_source: str
) -> ForecastSeries | CarbonfinError:
    try:
        return run_var_job(history, spec, data_source)
    except CarbonfinError as exc:
        return exc


def run_haircut_job(
    history: PriceHistory, spec: JobSpec, data_source: str = "unspecified", part: int = 0,
    parts: int = 1,
) -> HaircutSeries:  # fmt: skip
    """The haircut set on each test date at the policy defaults (``spec.model`` as the market-risk
    model) for each pledge size, against the loss a gradual sale would have realised: the mean
    loss of equal slices sold at the marks of the business days ``T_M … T_M + T_L − 1`` after
    the test date (a one-day sale: the loss over ``T_M``). Price impact is not in the marks, so
    the realised losses leave it out. Each date is independent of the others: ``part`` of
    ``parts`` computes one of that many consecutive blocks of the dates (the runner's units)."""
    data = _prepare(history, spec, collateral_policy().holding_days)
    idx = np.array_split(data.test_idx[:: spec.haircut_step_days], parts)[part]
    q = np.asarray(spec.quantities_t, dtype=float)
    hc = np.full((len(idx), len(q)), np.nan)
    days_l = np.zeros((len(idx), len(q)), dtype=int)
    loss = np.full((len(idx), len(q)), np.nan)
    skipped: dict[str, int] = {}
    notes: set[str] = {_excluded_note(data.n_excluded)} if data.n_excluded else set()
    last = len(data.days) - 1
    hold = collateral_policy().holding_days
    level = np.r_[0.0, np.cumsum(np.exp(np.nan_to_num(data.marks, nan=-np.inf)))]
    for i, k in enumerate(idx):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CarbonfinWarning)
                profile = market_risk_profile(history, as_of=data.days[k], model=spec.model,
                                              seed=spec.seed, data_source=data_source,
                                              adv_t=spec.adv_t)  # fmt: skip
        except (MissingDataError, InvalidInputError) as exc:
            reason = str(exc).split(":")[0] if "last traded" not in str(exc) else "stale mark"
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        notes.update(
            n
            for n in profile.notes
            if not n.startswith("data quality: mark") and "print(s) left out" not in n
        )
        arrays = haircut_components(profile, q)
        hc[i] = arrays.total
        days_l[i] = arrays.liquidation_days.astype(int)
        # the realised loss of the gradual sale: equal slices sold at the marks of business
        # days T_M .. T_M + T_L - 1 after the test date, i.e. the mean slice loss
        first, end = k + hold, k + days_l[i]
        ok = end <= last
        mean_price = (level[end[ok] + 1] - level[first]) / (end[ok] - first + 1)
        loss[i, ok] = 1.0 - mean_price / np.exp(data.marks[k])
    return HaircutSeries(
        spec=spec,
        dates=data.days[idx],
        quantities_t=tuple(float(x) for x in q),
        haircut_frac=hc,
        liquidation_days=days_l,
        loss_frac=loss,
        skipped=skipped,
        notes=tuple(sorted(notes))[:20],
        data_source=data_source,
    )


def run_job(
    history: PriceHistory, spec: JobSpec, data_source: str = "unspecified"
) -> ForecastSeries | HaircutSeries:
    """Run one job (see :class:`JobSpec`)."""
    if spec.kind == "haircut":
        return run_haircut_job(history, spec, data_source)
    return run_var_job(history, spec, data_source)
