"""What a backtest runs and what it gives back: a job (:class:`JobSpec`: instrument, model,
horizon, window and settings), its seed, and the result series (:class:`ForecastSeries` for VaR/ES
forecasts, :class:`HaircutSeries` for the haircut) with the fit log of the parametric models."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from carbonfin.collateral.models import ALIASES
from carbonfin.collateral.models import MODELS as MODEL_REGISTRY
from carbonfin.errors import InvalidInputError

__all__ = [
    "HORIZONS",
    "MODELS",
    "OPTIMIZERS",
    "FitLog",
    "ForecastSeries",
    "HaircutSeries",
    "JobSpec",
    "job_seed",
]

#: the models a backtest can run: the haircut's registry (carbonfin.collateral.models) and its
#: aliases, one vocabulary for collateral and backtests
MODELS = (*MODEL_REGISTRY, *ALIASES)
HORIZONS = (1, 10, 20)
Kind = Literal["var", "haircut"]
#: GARCH optimisers (``carbonfin.pricing.volatility.fit_garch``): the compiled likelihood with
#: analytic gradients (the default), or arch's own (the results before issue 21's compiled fits)
OPTIMIZERS = ("compiled", "arch")


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
    ``optimizer`` fits the GARCH models (:data:`OPTIMIZERS`; not part of the key or the seed).
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
    optimizer: str = "compiled"

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
        if self.optimizer not in OPTIMIZERS:
            raise InvalidInputError(f"`optimizer` must be one of {list(OPTIMIZERS)}; got "
                                    f"{self.optimizer!r}")  # fmt: skip
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
