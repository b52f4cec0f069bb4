"""Run backtest jobs: VaR/ES forecasts (alone, or several jobs sharing one chain of fits) and the
haircut replay, each date against what happened.

The jobs and result types live in :mod:`backtests.jobs`, the per-model forecasts in
:mod:`backtests.forecasts` (whose notes describe the models, thin markets and refits); this module
groups jobs, runs them and assembles the results.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from backtests.forecasts import (
    _FORECASTS,
    _GROUP_FORECASTS,
    _Data,
    _excluded_note,
    _forecast_registry,
    _lead,
    _Levels,
    _Out,
    _prepare,
)
from backtests.jobs import (
    HORIZONS,
    MODELS,
    OPTIMIZERS,
    FitLog,
    ForecastSeries,
    HaircutSeries,
    JobSpec,
    job_seed,
)
from carbonfin.collateral import haircut_components, market_risk_profile
from carbonfin.collateral.measurement import ReplayCache
from carbonfin.collateral.models import get_model
from carbonfin.collateral.policy import collateral_policy
from carbonfin.errors import CarbonfinError, CarbonfinWarning, InvalidInputError, MissingDataError
from carbonfin.pricing.history import PriceHistory

__all__ = [
    "HORIZONS",
    "MODELS",
    "OPTIMIZERS",
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


def group_key(spec: JobSpec) -> tuple[Any, ...] | None:
    """Jobs with the same key share their fits (:func:`run_var_jobs`): the same instrument,
    fitted model (an alias is its model), window, lookback and refit schedule; they may differ
    in horizon, confidences, paths and seed. ``None`` for jobs that have nothing to share."""
    name = get_model(spec.model).name
    if spec.kind != "var" or name not in _GROUP_FORECASTS:
        return None
    return (spec.instrument, name, spec.start, spec.end, spec.lookback_days, spec.refit_every,
            spec.warm_start, spec.optimizer)  # fmt: skip


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
    cache = ReplayCache(history)  # the same profiles, prepared arrays and past measures reused
    for i, k in enumerate(idx):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CarbonfinWarning)
                profile = market_risk_profile(history, as_of=data.days[k], model=spec.model,
                                              seed=spec.seed, data_source=data_source,
                                              adv_t=spec.adv_t, cache=cache)  # fmt: skip
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
