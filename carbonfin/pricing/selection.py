"""Model selection among GARCH-family fits by an information criterion, stationary fits first."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from carbonfin.errors import (
    CarbonfinWarning,
    ConvergenceError,
    InvalidInputError,
    NonStationaryWarning,
)
from carbonfin.pricing.volatility import (
    _DISTS,
    _MODELS,
    Dist,
    InitialVariance,
    TimeUnit,
    VolFit,
    VolModel,
    _check_fit_args,
    _fit,
)

__all__ = ["ModelSelection", "select_model"]


@dataclass(frozen=True, slots=True, eq=False)
class ModelSelection:
    """Candidate fits ranked by an information criterion (lowest first).

    ``best`` is the best-ranked *stationary* fit; ``note`` says when it is not the first-ranked
    (a non-stationary fit ranked above it) or when no candidate is stationary (``best`` is then
    the first-ranked and ``best_is_stationary`` is False). Each fit keeps its own warnings.
    """

    criterion: str
    fits: tuple[VolFit, ...]
    failures: tuple[tuple[str, str, str], ...]  # (model, dist, reason)
    best_rank: int = 0
    note: str = ""

    @property
    def best(self) -> VolFit:
        return self.fits[self.best_rank]

    @property
    def best_is_stationary(self) -> bool:
        return self.best.is_stationary

    def summary(self, *, with_warnings: bool = True) -> str:
        """The ranking in words; ``with_warnings=False`` leaves out each fit's warning lines (a
        caller that reports them on its own channel, as the command line does on stderr)."""
        lines = [
            f"model selection by {self.criterion.upper()} (lower is better)",
            "  rank model    dist     log-lik        AIC        BIC  persistence  stationary",
        ]
        for rank, fit in enumerate(self.fits, start=1):
            mark = "  <- best" if rank - 1 == self.best_rank else ""
            lines.append(
                f"  {rank:4d} {fit.model:8s} {fit.dist:6s} {fit.loglikelihood:9.2f} "
                f"{fit.aic:10.2f} {fit.bic:10.2f} {fit.persistence:12.6f}  "
                f"{'yes' if fit.is_stationary else 'NO':10s}{mark}"
            )
        if self.note:
            lines.append(f"  note: {self.note}")
        for fit in self.fits if with_warnings else ():
            lines += [f"  {fit.model}-{fit.dist}: warning: {w}" for w in fit.warnings]
        lines += [f"  {m}-{d}: failed ({why})" for m, d, why in self.failures]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def select_model(
    returns: Any,
    candidates: Sequence[tuple[VolModel, Dist]] | None = None,
    criterion: Literal["aic", "bic"] = "bic",
    mean: Literal["zero", "constant"] = "constant",
    *,
    gap_days: Any = None,
    time_unit: TimeUnit = "business_day",
    initial_variance: InitialVariance = "backcast",
) -> ModelSelection:
    """Fit every candidate (default: the 3 models × 3 distributions) and rank them.

    Candidates that fail to converge are listed with the reason, not silently dropped. Each
    fit's warnings are kept on it (not re-raised one by one); non-stationary fits are marked and
    never chosen as ``best`` while a stationary one exists. If none is stationary, ``best`` is
    the first-ranked and a :class:`~carbonfin.errors.NonStationaryWarning` says so.
    """
    if criterion not in ("aic", "bic"):
        raise InvalidInputError(f"`criterion` must be 'aic' or 'bic'; got {criterion!r}")
    every = [(m, d) for m in _MODELS for d in _DISTS]
    pairs = list(candidates) if candidates is not None else every
    fits: list[VolFit] = []
    failures: list[tuple[str, str, str]] = []
    for model, dist in pairs:
        values, rec_gaps, gaps = _check_fit_args(returns, model, dist, mean, gap_days, time_unit)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CarbonfinWarning)
                fits.append(
                    _fit(values, rec_gaps, gaps, model, dist, mean, time_unit, initial_variance)
                )
        except ConvergenceError as exc:
            failures.append((model, dist, str(exc)))
    if not fits:
        raise ConvergenceError(f"no candidate model converged: {failures}")
    fits.sort(key=lambda f: getattr(f, criterion))
    stationary = [i for i, f in enumerate(fits) if f.is_stationary]
    best_rank = stationary[0] if stationary else 0
    note = ""
    if not stationary:
        note = (
            f"no candidate is stationary; best is the first-ranked {fits[0].model}-"
            f"{fits[0].dist}, whose long-run variance and long-horizon forecasts are not "
            "meaningful"
        )
        warnings.warn(note, NonStationaryWarning, stacklevel=2)
    elif best_rank > 0:
        skipped = ", ".join(f"{f.model}-{f.dist}" for f in fits[:best_rank])
        note = (
            f"best is the first stationary fit {fits[best_rank].model}-{fits[best_rank].dist} "
            f"(rank {best_rank + 1}); ranked above it but not stationary: {skipped}"
        )
    return ModelSelection(criterion, tuple(fits), tuple(failures), best_rank, note)
