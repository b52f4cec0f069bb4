"""Basel's holding-period scaling of a haircut: the one copy of the formula in the engine.

Every haircut that is measured or set for one holding period and applied over another goes
through :func:`scale_haircut`: the currency-mismatch haircut (supervisory 8% at 10 days), the
market-risk haircut of an allowance (measured at the minimum holding period and extended to the
liquidation horizon) and remargining intervals longer than a day.
"""

from __future__ import annotations

from typing import overload

import numpy as np

from carbonfin.errors import InvalidInputError

__all__ = ["scale_haircut"]


def _check_days(name: str, value: float | np.ndarray) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    bad = ~(np.isfinite(arr) & (arr >= 1.0))
    if bad.any():
        first = float(arr.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
        raise InvalidInputError(f"`{name}` must be a number of business days >= 1; got {first!r}")
    return arr


@overload
def scale_haircut(
    base_haircut: float, base_days: float, holding_days: float, remargin_days: float = 1
) -> float: ...
@overload
def scale_haircut(
    base_haircut: float | np.ndarray,
    base_days: float | np.ndarray,
    holding_days: float | np.ndarray,
    remargin_days: float | np.ndarray = 1,
) -> float | np.ndarray: ...


def scale_haircut(
    base_haircut: float | np.ndarray,
    base_days: float | np.ndarray,
    holding_days: float | np.ndarray,
    remargin_days: float | np.ndarray = 1,
) -> float | np.ndarray:
    """Scale a haircut from ``base_days`` to a holding period and a remargining interval.

    Parameters
    ----------
    base_haircut
        Haircut (a fraction of market value, in [0, 1]) for a holding period of ``base_days``
        business days with daily remargining.
    base_days
        Holding period the base haircut was measured or set for (10 for Basel's supervisory
        haircuts).
    holding_days
        Holding period ``T_M`` to scale to (20 business days for secured lending, CRE22.56;
        longer when liquidation takes longer).
    remargin_days
        Business days ``N_R`` between revaluations/remargining (1 = daily).

    Returns
    -------
    float or ndarray
        ``min(1, H_B · sqrt(T_M / T_B) · sqrt((N_R + T_M − 1) / T_M))``, broadcast over the
        inputs; a float when every input is a scalar. A haircut above 100% of value has no
        meaning, so the result is capped at 1.

    Notes
    -----
    Square-root-of-time scaling to the holding period, then the remargining adjustment of
    Basel II §168 / Basel Framework CRE22.57: ``H = H_M · sqrt((N_R + T_M − 1) / T_M)``. With
    ``T_B = 10`` the two factors reduce to Basel's ``H_10 · sqrt((N_R + T_M − 1) / 10)``.
    """
    base = np.asarray(base_haircut, dtype=float)
    bad = ~(np.isfinite(base) & (base >= 0.0) & (base <= 1.0))
    if bad.any():
        first = float(base.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
        raise InvalidInputError(f"`base_haircut` must be in [0, 1]; got {first!r}")
    tb = _check_days("base_days", base_days)
    tm = _check_days("holding_days", holding_days)
    nr = _check_days("remargin_days", remargin_days)
    out: np.ndarray = np.minimum(base * np.sqrt(tm / tb) * np.sqrt((nr + tm - 1.0) / tm), 1.0)
    if out.ndim == 0:
        return float(out)
    return out
