"""Marks and haircuts of every pledge of a book, from one market-risk profile per instrument.

:func:`~carbonfin.collateral.monitor.value_book` codes each pledge's instrument as an integer and
groups pledges into positions; here each instrument's profile is measured (or taken as given),
each pledge is marked, and the haircut components of every pledge come out of one compiled pass
over the book (:func:`carbonfin.collateral._kernels.book_haircuts`: the arithmetic of
:func:`~carbonfin.collateral.haircut.haircut_components` with the gradual sale, element by
element, bit for bit the same). The inputs are valid by construction (eligible tonnes finite and
>= 0, positions at least the pledge, book shares in [0, 1]), so nothing is checked again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, cast

import numpy as np
import pandas as pd

from carbonfin.collateral.formula import FormulaInputs
from carbonfin.collateral.market_risk import MarketRiskProfile, Model, market_risk_profile
from carbonfin.collateral.policy import CollateralPolicy
from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument
from carbonfin.pricing.history import PriceHistory

__all__ = ["book_profiles", "pledge_haircuts", "pledge_marks"]


def book_profiles(
    instruments: Sequence[Instrument],
    given: Mapping[Instrument, MarketRiskProfile],
    histories: Mapping[Instrument, PriceHistory],
    *,
    as_of: dt.date,
    model: Model,
    mark_method: Literal["close", "vwap"],
    data_source: str,
    policy: CollateralPolicy,
    progress: Callable[[str], None] | None = None,
) -> list[MarketRiskProfile]:
    """The profile of each instrument on ``as_of``: the one given, else measured from its history.

    Raises
    ------
    InvalidInputError
        A given profile is for another date than ``as_of``.
    """
    out = []
    for inst in instruments:
        if progress is not None:
            progress(f"measuring {inst.value} market risk")
        prof = given.get(inst)
        if prof is None:
            prof = market_risk_profile(
                histories[inst], as_of=as_of, model=model, mark_method=mark_method,
                data_source=data_source, policy=policy,
            )  # fmt: skip
        if prof.as_of != as_of:
            raise InvalidInputError(
                f"the {inst.value} profile is for {prof.as_of}, not the book date {as_of}"
            )
        out.append(prof)
    return out


def pledge_marks(
    profiles: Sequence[MarketRiskProfile],
    inst_code: np.ndarray,
    pledges: pd.DataFrame,
    price_basis: Literal["market", "lower_of"],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pledge's price (CNY/t), and each instrument's mark date and model name (index them
    with ``inst_code`` for the pledges': left to the caller, which builds its object columns
    beside the compiled passes).

    The price is the mark of the pledge's instrument, or with ``"lower_of"`` the lower of the
    mark and the pledge's positive ``reference_price_cny_per_t`` (where the column has one).
    """
    price = np.array([p.mark.price_cny_per_t for p in profiles], dtype=float)[inst_code]
    if price_basis == "lower_of" and "reference_price_cny_per_t" in pledges.columns:
        ref = pd.to_numeric(pledges["reference_price_cny_per_t"]).to_numpy(dtype=float)
        price = np.where(np.isfinite(ref) & (ref > 0), np.minimum(price, ref), price)
    dates = np.empty(len(profiles), dtype=object)
    dates[:] = [p.mark.last_date for p in profiles]
    models = np.array([f"{p.model}-{p.measure}-{p.confidence:g}" for p in profiles], dtype=object)
    return price, dates, models


def pledge_haircuts(
    profiles: Sequence[MarketRiskProfile],
    inst_code: np.ndarray,
    eligible: np.ndarray,
    position: np.ndarray,
    book_share: np.ndarray,
    mismatch: np.ndarray,
    covered: np.ndarray,
) -> dict[str, np.ndarray]:
    """The haircut components of every pledge (gradual sale, no policy floor or cap).

    Parameters
    ----------
    profiles
        One profile per instrument code.
    inst_code
        Each pledge's instrument (index into ``profiles``).
    eligible
        Eligible tonnes of each pledge (>= 0; a zero counts as 1e-9 t).
    position, book_share
        Tonnes of the pledge's position and its share of the bank's position in the
        instrument, in [0, 1].
    mismatch, covered
        Whether the loan's currency is not CNY; whether the pledgor is a covered emitter.

    Returns
    -------
    dict
        One array per name in :data:`carbonfin.collateral._kernels.OUTPUTS` (the components of
        :data:`carbonfin.collateral.haircut.COMPONENTS`, ``total``, ``liquidation_days``,
        ``sale_days``, ``variance_days`` and ``impact``): rows of one (13, n) block.
    """
    from carbonfin.collateral import _kernels

    out = np.empty((len(_kernels.OUTPUTS), len(inst_code)))
    kernel = cast(Callable[..., None], _kernels.book_haircuts)
    kernel(
        np.ascontiguousarray(inst_code, dtype=np.int64),
        *(np.ascontiguousarray(a, dtype=float) for a in (eligible, position, book_share)),
        *(np.ascontiguousarray(a, dtype=bool) for a in (mismatch, covered)),
        _kernels.formula_table([FormulaInputs.of(p) for p in profiles]), out,
    )  # fmt: skip
    return {name: out[k] for k, name in enumerate(_kernels.OUTPUTS)}
