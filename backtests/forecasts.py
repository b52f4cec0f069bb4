"""Rolling out-of-sample VaR/ES forecasts of each model at every test date (the engine runs them).

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

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backtests.jobs import FitLog, JobSpec
from carbonfin.collateral.liquidity import excluded_prints
from carbonfin.collateral.market_risk import (
    business_day_log_marks,
    fit_student_t,
    t_log_loss,
)
from carbonfin.collateral.markets import market_params
from carbonfin.collateral.models import (
    EWMA_LAMBDA,
    ModelInputs,
    VolatilityWeightedHS,
    fhs_log_losses,
    get_model,
    hs_losses,
    losses_of,
)
from carbonfin.collateral.policy import collateral_policy
from carbonfin.errors import CarbonfinError, CarbonfinWarning, MissingDataError
from carbonfin.pricing.history import PriceHistory
from carbonfin.pricing.volatility import VolFit, ewma, filter_garch, fit_garch


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
                                    starting_values=start, std_errors=False,
                                    optimizer=self.spec.optimizer)  # type: ignore[arg-type]  # fmt: skip
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
    losses = hs_losses(window, h, [*((c, "var") for c in levels), (es_level, "es")])
    for c, loss in zip(levels, losses, strict=False):
        var[c][i] = loss
    es[i] = losses[-1]


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


def _forecast_hs_vw(history: PriceHistory, data: _Data, spec: JobSpec, levels: _Levels) -> _Out:
    """``hs-vw`` at every date: :class:`VolatilityWeightedHS` with its EWMA variances computed
    once for all returns instead of once per date and level. ``ewma`` of a prefix of the
    returns is that prefix of ``ewma`` of them all (a causal recursion, ``lfilter``, run in
    order; the standardised returns are elementwise), so each date's numbers are those of
    ``measure`` on that date's inputs, bit for bit (tested against :func:`_forecast_registry`);
    the levels share one quantile call (:func:`losses_of`)."""
    r, w, h, lam = data.r, VolatilityWeightedHS.burn_in, spec.horizon_days, EWMA_LAMBDA
    if len(r) <= w or not np.isfinite(r).all():  # the core refuses these: let it say why
        return _forecast_registry(history, data, spec, levels)
    variance = ewma(r, lam, w).variance
    z_all = r[w:] / np.sqrt(variance[w:])
    want = [*((c, "var") for c in levels), (spec.es_level, "es")]
    var, es = _empty(len(data.test_idx), levels)
    for i, k in enumerate(data.test_idx):
        hs = hs_losses(data.marks[k - data.lookback : k + 1], h, want)
        hi = int(np.searchsorted(data.r_dates, data.days[k], side="right"))
        if hi <= w + h:
            raise MissingDataError(
                f"volatility-weighted HS needs more than {w + h} returns; got {hi}"
            )
        next_vol = math.sqrt(float(lam * variance[hi - 1] + (1.0 - lam) * (r[hi - 1] * r[hi - 1])))
        z, n = z_all[: hi - w], len(_window_returns(data, k))
        z = z[-n:] if n < len(z) else z
        c = np.r_[0.0, np.cumsum(z)]
        vw = [next_vol * loss for loss in losses_of(c[h:] - c[:-h], want)]
        for c_, a, b in zip(levels, hs, vw, strict=False):
            var[c_][i] = max(a, b)
        es[i] = max(hs[-1], vw[-1])
    notes = [f"{get_model(spec.model).name}: the core model each date"]  # as the registry says
    return var, es, np.full(len(es), np.nan), FitLog(), notes


#: fast paths by registered model; others use the core model on each date
_FORECASTS = {
    "ewma": _forecast_ewma,
    "hs": _forecast_hs,
    "hs-vw": _forecast_hs_vw,
}
#: models whose fits are shared by the jobs of one group (see :func:`group_key`)
_GROUP_FORECASTS = {
    "t": _forecast_t,
    "fhs": _forecast_garch,
    "garch-t": _forecast_garch,
    "garch-n": _forecast_garch,
}
