"""The result of a GARCH-family fit: :class:`VolFit` (frozen, read-only arrays and mappings).

Forecasts follow the fitted recursion: for GARCH and GJR the variance reverts to its long-run
level at the rate of the persistence (Bollerslev 1986; Glosten, Jagannathan & Runkle 1993);
for EGARCH the log-variance does, with the closed-form normal moment generating function of
``a(|z| − √(2/π)) + g·z`` (Nelson 1991). The fit itself is :func:`carbonfin.pricing.fit_garch`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import log_ndtr

from carbonfin.errors import InvalidInputError
from carbonfin.pricing._ewma import TRADING_DAYS_PER_YEAR

__all__ = ["STATIONARITY_TOL", "VolFit"]

#: A fit whose persistence is above ``1 − STATIONARITY_TOL`` is treated as not stationary: the
#: optimiser stops on the boundary to about 1e-9, and a shock's half-life there (ln 2 / 1e-6 ≈
#: 700,000 days) has nothing to do with any risk horizon.
STATIONARITY_TOL = 1e-6
_SCALE = 100.0  # arch fits percent returns
_SQRT2_OV_PI = math.sqrt(2.0 / math.pi)


def _read_only(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=float)
    out.flags.writeable = False
    return out


def _egarch_log_mgf(a: float, g: float) -> float:
    """``ln E[exp(a(|z| − √(2/π)) + g·z)]`` for standard normal ``z`` (closed form).

    ``E[e^{a|z| + gz}] = e^{(a+g)²/2} Φ(a+g) + e^{(a−g)²/2} Φ(a−g)``.
    """
    return -a * _SQRT2_OV_PI + float(
        np.logaddexp(0.5 * (a + g) ** 2 + log_ndtr(a + g), 0.5 * (a - g) ** 2 + log_ndtr(a - g))
    )


@dataclass(frozen=True, slots=True, eq=False)
class VolFit:
    """A fitted GARCH-family model, in decimal returns; ``time_unit`` says what one step is.

    ``params`` (read-only) uses arch's names (``mu``, ``omega``, ``alpha[1]``, ``gamma[1]``,
    ``beta[1]``, ``nu``, ``lambda``) with ``mu`` and ``omega`` converted to decimal returns;
    ``std_errors`` likewise. ``conditional_vol`` and ``std_resid`` are aligned with the input
    returns (per business day for a ``"business_day"`` fit: the root of the mean daily variance
    over each return's gap); ``std_resid`` are the filtered residuals used by filtered historical
    simulation. ``gap_days`` are the business days each return spans (all 1 for a plain array);
    ``initial_variance`` how the recursion was started; ``warnings`` every warning the fit raised
    (kept here so that model selection can show them). ``fixed_params`` is true for a fit made by
    :func:`filter_garch`: its parameters were carried over from an earlier fit, not estimated on
    these returns (its ``std_errors`` are NaN).
    """

    model: str
    dist: str
    mean: str
    n_obs: int
    params: Mapping[str, float]
    std_errors: Mapping[str, float]
    loglikelihood: float
    aic: float
    bic: float
    conditional_vol: np.ndarray
    std_resid: np.ndarray
    time_unit: str = "business_day"
    gap_days: np.ndarray = field(default_factory=lambda: np.empty(0))
    initial_variance: str = "backcast"
    warnings: tuple[str, ...] = ()
    fixed_params: bool = False
    _arch_result: Any = field(default=None, repr=False)
    #: the one-step variance forecast once computed (a pure function of the fit: every FHS
    #: simulation of a backtest date starts from it, so it is computed once per fit)
    _next_variance: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", types.MappingProxyType(dict(self.params)))
        object.__setattr__(self, "std_errors", types.MappingProxyType(dict(self.std_errors)))
        for name in ("conditional_vol", "std_resid", "gap_days"):
            object.__setattr__(self, name, _read_only(getattr(self, name)))

    @property
    def mean_gap_days(self) -> float:
        """Mean number of business days a return spans (1.0 without gap information)."""
        return float(self.gap_days.mean()) if len(self.gap_days) else 1.0

    @property
    def persistence(self) -> float:
        """alpha + beta (+ gamma/2 for GJR; beta for EGARCH), per step of ``time_unit``."""
        p = self.params
        if self.model == "egarch":
            return p["beta[1]"]
        return p["alpha[1]"] + p["beta[1]"] + 0.5 * p.get("gamma[1]", 0.0)

    @property
    def is_stationary(self) -> bool:
        """Covariance-stationary with a margin: ``|persistence| < 1 − STATIONARITY_TOL``."""
        return abs(self.persistence) < 1.0 - STATIONARITY_TOL

    @property
    def half_life(self) -> float:
        """Steps (of ``time_unit``) for a variance shock to halve; ``inf`` when not stationary."""
        phi = abs(self.persistence)
        if phi >= 1.0 or phi == 0.0:
            return math.inf if phi >= 1.0 else 0.0
        return math.log(0.5) / math.log(phi)

    @property
    def long_run_note(self) -> str | None:
        """Why the long-run variance is not meaningful (None when it is)."""
        if not self.is_stationary:
            return (
                f"not meaningful: the fit is not stationary (persistence {self.persistence:.10f},"
                f" within {STATIONARITY_TOL:g} of 1 or above)"
            )
        if self.model == "egarch" and self.dist != "normal":
            return (
                f"not meaningful: EGARCH with {self.dist} innovations has infinite expected "
                "variance (E[exp(alpha|z|)] diverges for fat-tailed z)"
            )
        return None

    @property
    def unconditional_variance(self) -> float:
        """Long-run variance per step; NaN where not meaningful (see :attr:`long_run_note`).

        GARCH/GJR: ``ω / (1 − persistence)``. EGARCH with normal innovations:
        ``exp(ω/(1 − β)) · Π_k E[exp(β^k (α(|z| − √(2/π)) + γz))]`` (the product converges for
        ``|β| < 1``; each factor in closed form, Nelson 1991).
        """
        if self.long_run_note is not None:
            return math.nan
        p = self.params
        if self.model != "egarch":
            return p["omega"] / (1.0 - self.persistence)
        beta = p["beta[1]"]
        log_var = p["omega"] / (1.0 - beta)
        k_max = int(math.log(1e-17) / math.log(abs(beta))) + 1 if beta != 0.0 else 1
        for k in range(k_max):
            b = beta**k
            log_var += _egarch_log_mgf(b * p["alpha[1]"], b * p["gamma[1]"])
        return math.exp(log_var)

    @property
    def mu(self) -> float:
        return self.params.get("mu", 0.0)

    def forecast_variance(self, horizon_days: int) -> np.ndarray:
        """Variance of each of the next ``horizon_days`` returns (steps of ``time_unit``).

        The first is the model's one-step forecast after the last observation. Beyond it, in
        closed form: GARCH/GJR ``h_{j+1} = ω + φ·h_j``; EGARCH with normal innovations
        ``E[h_{j}] = exp(ω Σ_{k<j−1} β^k + β^{j−1} ln h_1) · Π_{k<j−1} E[exp(β^k ξ)]`` with
        ``ξ = α(|z| − √(2/π)) + γz``. For EGARCH with Student-t or skew-t innovations the
        expected variance beyond one step is infinite (``E[exp(α|z|)]`` diverges for
        t-distributed ``z``; Nelson 1991), so only ``horizon_days=1`` is defined there.
        """
        if not (isinstance(horizon_days, (int, np.integer)) and horizon_days >= 1):
            raise InvalidInputError(f"`horizon_days` must be an integer >= 1; got {horizon_days!r}")
        if self.model == "egarch" and self.dist != "normal" and horizon_days > 1:
            raise InvalidInputError(
                f"EGARCH with {self.dist} innovations has no finite variance forecast beyond one "
                "day (E[exp(alpha|z|)] is infinite for fat-tailed z); use GARCH or GJR for the "
                "term structure, or EGARCH with normal innovations"
            )
        if not self._next_variance:
            forecast = self._arch_result.forecast(horizon=1, reindex=False)
            self._next_variance.append(
                float(np.asarray(forecast.variance.to_numpy())[-1, 0]) / _SCALE**2
            )
        h1 = self._next_variance[0]
        out = np.empty(horizon_days)
        out[0] = h1
        p = self.params
        if self.model != "egarch":
            for j in range(1, horizon_days):
                out[j] = p["omega"] + self.persistence * out[j - 1]
            return out
        beta, ln_h, log_m = p["beta[1]"], math.log(h1), 0.0
        for j in range(1, horizon_days):
            b = beta ** (j - 1)
            log_m += _egarch_log_mgf(b * p["alpha[1]"], b * p["gamma[1]"])
            ln_h = p["omega"] + beta * ln_h
            out[j] = math.exp(ln_h + log_m)
        return out

    def horizon_variance(self, horizon_days: int) -> float:
        """Variance of the ``horizon_days``-step log return: the sum of the step forecasts."""
        return float(self.forecast_variance(horizon_days).sum())

    def next_vol(self) -> float:
        return math.sqrt(float(self.forecast_variance(1)[0]))

    @property
    def steps_per_year(self) -> float:
        """243 business days, or the trades in them for a trade-time fit (243 / mean gap)."""
        if self.time_unit == "trade":
            return TRADING_DAYS_PER_YEAR / self.mean_gap_days
        return float(TRADING_DAYS_PER_YEAR)

    def annualised_vol(self) -> float:
        """Annualised long-run vol, or the annualised next-step vol where there is no long run."""
        var = self.unconditional_variance
        if math.isnan(var):
            var = self.next_vol() ** 2
        return math.sqrt(var * self.steps_per_year)

    def summary(self, *, with_warnings: bool = True) -> str:
        """The fit in words; ``with_warnings=False`` leaves out the warning lines (a caller that
        reports them on its own channel, as the command line does on stderr)."""
        unit = "business day" if self.time_unit == "business_day" else "trade"
        long_run = self.unconditional_variance
        lines = [
            f"{self.model.upper()}(1,1) with {self.dist} innovations, {self.mean} mean: "
            f"{self.n_obs} returns, one step per {unit} (mean gap {self.mean_gap_days:.2f} "
            f"business days; initial variance: {self.initial_variance})"
            + ("; parameters FIXED from an earlier fit" if self.fixed_params else ""),
            f"  log-likelihood {self.loglikelihood:.2f}   AIC {self.aic:.2f}   BIC {self.bic:.2f}",
            f"  persistence {self.persistence:.6f} per {unit}"
            + ("" if self.is_stationary else "  NOT STATIONARY")
            + f"   half-life {self.half_life:.3g} steps",
            f"  next-{unit.replace(' ', '-')} vol {self.next_vol():.4%}",
        ]
        if self.long_run_note is None:
            lines.append(
                f"  long-run vol {math.sqrt(long_run):.4%} per {unit}, annualised "
                f"{self.annualised_vol():.2%}"
            )
        else:
            lines.append(f"  long-run variance: {self.long_run_note}")
            lines.append(
                f"  annualised next-{unit.replace(' ', '-')} vol {self.annualised_vol():.2%}"
            )
        lines.append("  parameter        estimate     std. error")
        for name, value in self.params.items():
            lines.append(f"  {name:12s} {value:14.6g} {self.std_errors.get(name, math.nan):14.4g}")
        if with_warnings:
            lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()
