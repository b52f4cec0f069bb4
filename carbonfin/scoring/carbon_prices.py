"""Seeded allowance price scenarios at each compliance year's surrender deadline, on the
instrument's forward curve, for the carbon-cost outlook.

For market ``i`` (SHEA, CEA) and compliance year ``y`` with deadline ``T_y`` (SHEA 30 June, CEA
31 December of the next year: :func:`carbonfin.scoring.account.compliance_deadline`)::

    P[i, s, y] = F_i(T_y) · S_s(d_y) / S_0

``F_i`` is the cost-of-carry forward (:class:`carbonfin.pricing.ForwardCurve`: the last close on
or before ``as_of``, a flat discount curve at ``rate`` and ``net_carry``), ``S_s(d)/S_0`` the
relative move of scenario path ``s`` after ``d_y`` business days (China.SEEE calendar; years
without a published holiday notice are projected and say so). The forward sets the level (the
carry), the scenario model the dispersion (FHS prices are kept on the deadline days only,
:func:`carbonfin.pricing.fhs_marks.filtered_historical_at`): ``fhs`` (filtered historical
simulation on a GJR-t fit), ``t`` (Student-t calibrated from that fit) or ``merton``
(jump-diffusion calibrated from the returns), all from :mod:`carbonfin.pricing.scenarios` with
daily moves capped at the instrument's price limit. Each market draws from its own stream
(``seed`` for SHEA, ``seed + 1`` for CEA): the two markets are independent, an assumption stated
in the notes.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping

import numpy as np

from carbonfin.calendars import get_calendar, is_provisional
from carbonfin.errors import CarbonfinWarning, InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument
from carbonfin.pricing.fhs_marks import ScenarioMarks, filtered_historical_at
from carbonfin.pricing.forward import ForwardCurve, flat_curve
from carbonfin.pricing.history import PriceHistory
from carbonfin.pricing.scenarios import ScenarioPaths, calibrate_merton, calibrate_student_t
from carbonfin.pricing.volatility import fit_garch
from carbonfin.scoring.account import compliance_deadline
from carbonfin.scoring.carbon_cost import CompliancePrices
from carbonfin.scoring.carbon_position import MARKETS

__all__ = ["DEFAULT_RATE", "METHODS", "simulate_compliance_prices"]

METHODS = ("fhs", "t", "merton")
#: closes needed before the as-of date to fit or calibrate a scenario model (one trading year)
MIN_CLOSES = 250
#: the flat discount rate used when none is given (the API's forward-curve default)
DEFAULT_RATE = 0.018


def _paths(
    history: PriceHistory,
    method: str,
    start: float,
    days: np.ndarray,
    n: int,
    seed: int,
    inst: Instrument,
) -> tuple[ScenarioMarks, list[str]]:
    """Scenario prices after ``days`` business days (FHS: only on those days, the paths'
    other days never stored; ``t`` and ``merton``: drawn whole, then read on those days)."""
    notes: list[str] = []
    returns = history.returns()
    horizon = int(days.max())
    sim: ScenarioPaths | ScenarioMarks
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CarbonfinWarning)
        if method == "merton":
            sim = calibrate_merton(returns).simulate(start, horizon, n, seed=seed, instrument=inst)
        else:
            fit = fit_garch(returns, "gjr", "t")
            notes += [f"{inst.value} fit: {w}" for w in fit.warnings]
            if method == "fhs":
                sim = filtered_historical_at(fit, start, days, n, seed=seed, instrument=inst)
            else:
                sim = calibrate_student_t(fit).simulate(
                    start, horizon, n, seed=seed, instrument=inst
                )
    notes += [f"{inst.value}: {w.message}" for w in caught if issubclass(w.category, Warning)]
    notes += [f"{inst.value}: {n_}" for n_ in sim.notes]
    if isinstance(sim, ScenarioPaths):
        sim = ScenarioMarks(sim.method, sim.start_price, tuple(int(d) for d in days),
                            np.ascontiguousarray(sim.prices[:, days - 1]), sim.seed,
                            sim.limit_frac, sim.limit_source, sim.notes)  # fmt: skip
    return sim, sorted(set(notes), key=notes.index)


def simulate_compliance_prices(
    histories: Mapping[Instrument, PriceHistory],
    *,
    as_of: dt.date,
    years: tuple[int, ...],
    method: str = "fhs",
    n_scenarios: int = 10_000,
    seed: int = 0,
    rate: float = DEFAULT_RATE,
    net_carry: float = 0.0,
) -> CompliancePrices:
    """Price scenarios of SHEA and CEA at the compliance deadlines of ``years``.

    Parameters
    ----------
    histories
        Price histories by instrument (a market without one gets NaN prices: a firm in it then
        raises :class:`MissingDataError` in :func:`~carbonfin.scoring.carbon_cost.carbon_cost`).
    as_of
        Valuation date: the spot is the last close on or before it; returns up to it.
    years
        Consecutive compliance years; every deadline must be after ``as_of``.
    method
        ``fhs``, ``t`` or ``merton``.
    n_scenarios, seed
        Number of scenarios and the seed (same seed, same numbers bit for bit).
    rate, net_carry
        Flat continuously compounded discount rate and the net carry ``c − y`` (decimals a year).

    Raises
    ------
    InvalidInputError
        An unknown method, a deadline on or before ``as_of``, a bad count.
    MissingDataError
        No history at all, or no close before ``as_of``.
    """
    if method not in METHODS:
        raise InvalidInputError(f"`method` must be one of {METHODS}; got {method!r}")
    if not (isinstance(n_scenarios, int) and n_scenarios >= 1):
        raise InvalidInputError(f"`n_scenarios` must be an integer >= 1; got {n_scenarios!r}")
    if not histories:
        raise MissingDataError("no price history to simulate compliance prices from")
    cal = get_calendar("China.SEEE")
    ny = len(years)
    prices = np.full((len(MARKETS), n_scenarios, ny), np.nan)
    forwards = np.full((len(MARKETS), ny), np.nan)
    notes: list[str] = ["SHEA and CEA scenarios are drawn independently (seeds seed, seed+1)"]
    sources = []
    for code, inst in enumerate(MARKETS):
        if inst not in histories:
            notes.append(f"no {inst.value} history: no {inst.value} scenarios")
            continue
        hist = histories[inst].between(end=as_of)
        closes = hist.closes()
        if len(closes) < MIN_CLOSES:
            raise MissingDataError(
                f"{len(closes)} {inst.value} closes on or before {as_of}; the scenario models "
                f"need at least {MIN_CLOSES} (one year of trading)"
            )
        spot = float(closes.iloc[-1])
        deadlines = [compliance_deadline(inst, y) for y in years]
        if deadlines[0] <= as_of:
            raise InvalidInputError(
                f"the {inst.value} {years[0]} deadline {deadlines[0]} is not after {as_of}"
            )
        with warnings.catch_warnings():  # said once in the notes below
            warnings.simplefilter("ignore", CarbonfinWarning)
            days = np.array([cal.business_days_between(as_of, d) for d in deadlines])
        if any(is_provisional(d) for d in deadlines):
            notes.append(
                f"{inst.value}: business days to deadlines in years without a published "
                "holiday notice are a provisional projection (China.SEEE)"
            )
        sim, got = _paths(hist, method, spot, days, n_scenarios, seed + code, inst)
        notes += got
        curve = ForwardCurve(spot, flat_curve(as_of, rate), net_carry)
        fwd = curve.forward(np.array([(d - as_of).days / 365.0 for d in deadlines]))
        forwards[code] = fwd
        prices[code] = fwd[None, :] * sim.prices / sim.start_price
        sources.append(
            f"{inst.value}: {sim.method}, spot {spot:.2f} CNY/t on {closes.index[-1]}, "
            f"history {hist.dates[0]}..{hist.dates[-1]}"
        )
    return CompliancePrices(
        years=tuple(years),
        prices=prices,
        forward_cny_per_t=forwards,
        method=method,
        seed=seed,
        as_of=as_of,
        source=f"{'; '.join(sources)}; forward: flat {rate:.2%}, net carry {net_carry:+.2%}",
        notes=tuple(notes),
    )
