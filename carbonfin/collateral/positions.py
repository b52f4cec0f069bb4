"""Positions: the unit a lender would have to sell.

A pledge's liquidation horizon, price impact and market concentration are those of its
**position** — everything the same pledgor has pledged in the same instrument at the same bank,
over all its loans (the engine values every vintage of an instrument on one price series, so
vintages trade as one) — and the position's book concentration is its share of the bank's whole
position in the instrument. Each pledge bears the position's haircut at the same fraction of its
value (pro rata), so splitting or merging pledges changes no haircut, value or state.

:func:`position_tonnes` groups a whole book in array operations (integer codes and
``np.bincount``; no Python loop over pledges or positions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError

__all__ = ["position_tonnes"]


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Integer codes 0..k-1 and k (integer input that already is such codes is kept)."""
    if values.dtype.kind in "iu" and len(values) and values.min() >= 0:
        k = int(values.max()) + 1
        if k <= 4 * len(values) + 16:
            return values.astype(np.int64, copy=False), k
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64), len(uniques)


def position_tonnes(
    bank: np.ndarray,
    pledgor: np.ndarray,
    instrument: np.ndarray,
    quantity_t: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group pledges into positions and share the position back to each pledge.

    Parameters
    ----------
    bank, pledgor, instrument
        One label (or integer code) per pledge: the lending bank, the pledgor (the firm whose
        allowances are pledged) and the instrument.
    quantity_t
        Tonnes of each pledge counted in its position (the eligible quantity), >= 0.

    Returns
    -------
    position_code : ndarray of int64
        The position of each pledge (equal codes = same bank, pledgor and instrument).
    position_t : ndarray
        Tonnes of the pledge's whole position.
    book_share : ndarray
        The position's share of its bank's whole position in the instrument, in [0, 1]
        (0 where the bank holds nothing eligible of it).

    Examples
    --------
    >>> import numpy as np
    >>> code, pos, share = position_tonnes(
    ...     np.array(["B1", "B1", "B1"]), np.array(["F1", "F1", "F2"]),
    ...     np.array(["SHEA", "SHEA", "SHEA"]), np.array([10.0, 30.0, 60.0]))
    >>> pos.tolist(), share.tolist()
    ([40.0, 40.0, 60.0], [0.4, 0.4, 0.6])
    """
    q = np.asarray(quantity_t, dtype=float)
    n = len(q)
    if not (len(bank) == len(pledgor) == len(instrument) == n):
        raise InvalidInputError("`bank`, `pledgor`, `instrument` and `quantity_t` differ in length")
    if not (np.isfinite(q) & (q >= 0)).all():
        raise InvalidInputError("`quantity_t` must be finite and >= 0")
    b, nb = _codes(np.asarray(bank))
    f, nf = _codes(np.asarray(pledgor))
    i, ni = _codes(np.asarray(instrument))
    bank_inst = b * ni + i
    pos_code, _ = _codes(bank_inst * nf + f)
    position = np.bincount(pos_code, weights=q)[pos_code]
    bank_total = np.bincount(bank_inst, weights=q, minlength=nb * ni)[bank_inst]
    share = np.divide(position, bank_total, out=np.zeros(n), where=bank_total > 0)
    return pos_code, position, np.minimum(share, 1.0)
