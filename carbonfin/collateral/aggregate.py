"""Exposures of a valued collateral book grouped by bank, instrument, vintage or industry.

A pledge belongs to one bank, instrument, vintage and pledgor industry; a loan may be secured by
several pledges that fall in different groups. The loan's outstanding is therefore **allocated**
to its pledges before it is grouped, so that every grouping adds up to the whole book and no loan
is counted twice or under one group only.

Allocation rule
---------------
For a loan ``L`` with outstanding ``O_L`` in CNY, secured on the date by the pledges ``p ∈ L``
with collateral value ``V_p`` (CNY, eligible tonnes × mark) and pledged quantity ``Q_p`` (t):

1. **by value** — when every pledge of ``L`` is valued and ``Σ V_p > 0``:
   ``w_p = V_p / Σ_{q ∈ L} V_q``; this is the share of the loan that each pledge secures, the
   same weighting the stress test uses for a loan's uncovered exposure;
2. **by quantity** — when a pledge of ``L`` is *not valued* (no mark on the date, a stale mark,
   a refused haircut, …) or the loan's collateral is worth zero (nothing eligible):
   ``w_p = Q_p / Σ_{q ∈ L} Q_q``. A value share cannot be formed without every value, and
   splitting by registered tonnes keeps the instrument, vintage and industry of each pledge
   instead of moving the loan to an anonymous bucket. Each group reports how much of its
   outstanding came by this fallback (``outstanding_by_quantity_cny``) and how many of its pledges
   are not valued;
3. then ``allocated_p = w_p · O_L`` and ``Σ_{p ∈ L} w_p = 1`` for every loan.

A loan whose outstanding has no CNY amount (its currency has no FX fixing on the date) is
allocated nothing: unknown is not zero. It is counted in ``loans_outstanding_unknown`` of every
group that holds one of its pledges, and in the book total.

A pledge not valued adds nothing to ``collateral_value_cny`` or ``lendable_value_cny`` (its value
is unknown) and is counted in ``pledges_not_valued``.

Additivity: ``pledges``, ``pledges_not_valued``, ``collateral_value_cny``,
``lendable_value_cny``, ``loan_outstanding_cny`` and ``outstanding_by_quantity_cny`` of the groups
sum to the book total under every grouping; ``loans`` and ``loans_outstanding_unknown`` count
distinct loans and do not (a loan secured in two groups is one loan in each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError

__all__ = [
    "ADDITIVE",
    "GROUPINGS",
    "ExposureTable",
    "allocate_outstanding",
    "allocation_weights",
    "exposure_keys",
    "group_exposures",
]

Grouping = Literal["bank", "instrument", "vintage", "industry"]
#: Groupings of the regulator's exposures and the pledge column each one reads.
GROUPINGS: MappingProxyType[str, str] = MappingProxyType(
    {"bank": "bank_id", "instrument": "instrument", "vintage": "vintage", "industry": "industry"}
)
#: Columns whose group values add up to the book total under every grouping.
ADDITIVE = (
    "pledges",
    "pledges_not_valued",
    "collateral_value_cny",
    "lendable_value_cny",
    "loan_outstanding_cny",
    "outstanding_by_quantity_cny",
)
_COUNTS = ("loans", "loans_outstanding_unknown")
_BASES = np.array(["value", "quantity", "equal"], dtype=object)


def allocation_weights(
    loan_pos: np.ndarray, value_cny: np.ndarray, quantity_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each pledge's share of its loan (the module's allocation rule), vectorised over pledges.

    Parameters
    ----------
    loan_pos
        Integer position of each pledge's loan (0 … n_loans − 1).
    value_cny
        Collateral value of each pledge in CNY; NaN (or any non-finite value) = not valued.
    quantity_t
        Pledged tonnes of each pledge (>= 0).

    Returns
    -------
    weights, basis
        ``weights[i]`` in [0, 1], summing to 1 over each loan's pledges; ``basis[i]`` is
        ``"value"``, ``"quantity"`` or ``"equal"`` (the last only if a loan's pledges have
        neither value nor tonnes).

    Raises
    ------
    InvalidInputError
        Arrays of different lengths, a negative position, a negative value or quantity.
    """
    pos = np.asarray(loan_pos, dtype=np.int64)
    value = np.asarray(value_cny, dtype=float)
    qty = np.asarray(quantity_t, dtype=float)
    if not (len(pos) == len(value) == len(qty)):
        raise InvalidInputError(
            f"`loan_pos`, `value_cny`, `quantity_t` differ in length: "
            f"{len(pos)}, {len(value)}, {len(qty)}"
        )
    if len(pos) == 0:
        return np.zeros(0), np.zeros(0, dtype=object)
    if (pos < 0).any():
        raise InvalidInputError("`loan_pos` holds a negative position (a pledge without its loan)")
    valued = np.isfinite(value)
    if (value[valued] < 0).any() or not np.isfinite(qty).all() or (qty < 0).any():
        raise InvalidInputError("`value_cny` and `quantity_t` must be >= 0 (and tonnes finite)")
    n = int(pos.max()) + 1
    all_valued = np.bincount(pos, weights=~valued, minlength=n)[pos] == 0
    v = np.where(valued, value, 0.0)
    v_total = np.bincount(pos, weights=v, minlength=n)[pos]
    q_total = np.bincount(pos, weights=qty, minlength=n)[pos]
    count = np.bincount(pos, minlength=n)[pos]
    by_value = all_valued & (v_total > 0)
    by_qty = ~by_value & (q_total > 0)
    weights = np.where(
        by_value,
        v / np.where(by_value, v_total, 1.0),
        np.where(by_qty, qty / np.where(by_qty, q_total, 1.0), 1.0 / count),
    )
    basis = _BASES[np.where(by_value, 0, np.where(by_qty, 1, 2))]
    return weights, basis


def allocate_outstanding(pledges: pd.DataFrame, loans: pd.DataFrame) -> pd.DataFrame:
    """The pledges with each one's share of its loan's outstanding (the allocation rule).

    Parameters
    ----------
    pledges
        One row per pledge: ``pledge_id``, ``loan_id``, ``quantity_t``, ``market_value_cny``
        (NaN = not valued), optional ``lendable_value_cny`` and ``not_valued_reason`` (a
        non-empty reason marks the pledge not valued whatever its value column says).
    loans
        One row per loan: ``loan_id``, ``outstanding_cny`` (NaN = no CNY amount).

    Returns
    -------
    pandas.DataFrame
        A copy of ``pledges`` with ``valued`` (bool), ``allocation_frac``, ``allocation_basis``
        and ``allocated_outstanding_cny`` (NaN where the loan's CNY outstanding is unknown).

    Raises
    ------
    InvalidInputError
        A missing column, a duplicated loan, or a pledge whose loan is not in ``loans``.
    """
    for frame, name, cols in (
        (pledges, "pledges", ("pledge_id", "loan_id", "quantity_t", "market_value_cny")),
        (loans, "loans", ("loan_id", "outstanding_cny")),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InvalidInputError(f"`{name}` lacks the columns {missing}")
    if not pd.Index(loans["loan_id"]).is_unique:
        raise InvalidInputError("a loan appears twice in `loans`")
    pos = pd.Index(loans["loan_id"]).get_indexer(pledges["loan_id"])
    if (pos < 0).any():
        orphan = pledges["loan_id"].iloc[int(np.argmax(pos < 0))]
        raise InvalidInputError(f"a pledge secures loan {orphan!r}, which is not in `loans`")
    out = pledges.copy()
    value = pd.to_numeric(out["market_value_cny"], errors="coerce").to_numpy(dtype=float)
    if "lendable_value_cny" in out.columns:
        lendable = pd.to_numeric(out["lendable_value_cny"], errors="coerce").to_numpy(dtype=float)
        value = np.where(np.isfinite(lendable), value, np.nan)
    if "not_valued_reason" in out.columns:
        reason = out["not_valued_reason"]
        flagged = (reason.notna() & (reason.astype(str).str.len() > 0)).to_numpy()
        value = np.where(flagged, np.nan, value)
    qty = pd.to_numeric(out["quantity_t"], errors="coerce").to_numpy(dtype=float)
    weights, basis = allocation_weights(pos, value, qty)
    outstanding = pd.to_numeric(loans["outstanding_cny"], errors="coerce").to_numpy(dtype=float)
    out["valued"] = np.isfinite(value)
    out["allocation_frac"] = weights
    out["allocation_basis"] = basis
    out["allocated_outstanding_cny"] = weights * outstanding[pos] if len(pos) else 0.0
    return out


def exposure_keys(pledges: pd.DataFrame, by: str) -> pd.Series:
    """The group key of each pledge: bank id, instrument code, vintage year (``"none"`` when the
    pledge names none) or the pledgor's industry (``"unknown"`` when not known).

    Raises
    ------
    InvalidInputError
        An unknown grouping, or the pledges lack its column.
    """
    if by not in GROUPINGS:
        raise InvalidInputError(f"`by` must be one of {sorted(GROUPINGS)}; got {by!r}")
    col = GROUPINGS[by]
    if col not in pledges.columns:
        raise InvalidInputError(f"grouping by {by} needs the pledge column `{col}`")
    raw = pledges[col]
    if by == "vintage":
        years = pd.to_numeric(raw, errors="coerce")
        keys = ["none" if pd.isna(v) else str(int(v)) for v in years]
        return pd.Series(keys, index=pledges.index, dtype=object)
    missing = "unknown" if by == "industry" else "none"
    return raw.astype(object).where(raw.notna(), missing).astype(str)


@dataclass(frozen=True, slots=True, eq=False)
class ExposureTable:
    """Exposures grouped one way, with the book total they add up to.

    ``rows``: one row per group key (columns ``key``, :data:`ADDITIVE` and ``loans``,
    ``loans_outstanding_unknown``), largest collateral value first; ``total``: the same figures
    for the whole book.
    """

    by: str
    frame: pd.DataFrame = field(repr=False)
    total: MappingProxyType[str, float]

    @property
    def rows(self) -> pd.DataFrame:
        """The groups (a copy)."""
        return self.frame.copy()

    def summary(self) -> str:
        t = self.total
        lines = [
            f"exposures by {self.by}: {len(self.frame)} groups, {int(t['pledges'])} pledges "
            f"({int(t['pledges_not_valued'])} not valued), {int(t['loans'])} loans",
            f"  collateral {t['collateral_value_cny']:,.0f} CNY, loans "
            f"{t['loan_outstanding_cny']:,.0f} CNY ({t['outstanding_by_quantity_cny']:,.0f} "
            "allocated by quantity)",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _aggregate(frame: pd.DataFrame, keys: pd.Series | np.ndarray) -> pd.DataFrame:
    valued = frame["valued"].to_numpy(dtype=bool)
    alloc = frame["allocated_outstanding_cny"].to_numpy(dtype=float)
    known = np.isfinite(alloc)
    lendable = (
        frame["lendable_value_cny"].to_numpy(dtype=float)
        if "lendable_value_cny" in frame.columns
        else np.full(len(frame), np.nan)
    )
    parts = pd.DataFrame(
        {
            "key": np.asarray(keys, dtype=object),
            "pledges": 1,
            "pledges_not_valued": (~valued).astype(int),
            "collateral_value_cny": np.where(
                valued, frame["market_value_cny"].to_numpy(dtype=float), 0.0
            ),
            "lendable_value_cny": np.where(valued & np.isfinite(lendable), lendable, 0.0),
            "loan_outstanding_cny": np.where(known, alloc, 0.0),
            "outstanding_by_quantity_cny": np.where(
                known & (frame["allocation_basis"].to_numpy() != "value"), alloc, 0.0
            ),
            "loan_id": frame["loan_id"].to_numpy(dtype=object),
            "unknown_loan": pd.Series(frame["loan_id"].to_numpy(dtype=object)).where(~known),
        }
    )
    grouped = parts.groupby("key", sort=True)
    out = grouped[list(ADDITIVE)].sum()
    out["loans"] = grouped["loan_id"].nunique()
    out["loans_outstanding_unknown"] = grouped["unknown_loan"].nunique()  # NaN/None not counted
    return out.reset_index()


def group_exposures(allocated: pd.DataFrame, by: str) -> ExposureTable:
    """Group an allocated book (:func:`allocate_outstanding`) by ``by``.

    Parameters
    ----------
    allocated
        The output of :func:`allocate_outstanding`, with the grouping's column
        (:data:`GROUPINGS`) and optionally ``lendable_value_cny``.
    by
        ``"bank"``, ``"instrument"``, ``"vintage"`` or ``"industry"``.

    Returns
    -------
    ExposureTable
        The groups and the whole book's total; the :data:`ADDITIVE` columns of the groups sum to
        the total.

    Raises
    ------
    InvalidInputError
        An unknown grouping, or a frame that was not allocated.
    """
    needed = ("valued", "allocation_basis", "allocated_outstanding_cny", "loan_id")
    if any(c not in allocated.columns for c in needed):
        raise InvalidInputError("`allocated` must come from allocate_outstanding()")
    keys = exposure_keys(allocated, by)
    rows = _aggregate(allocated, keys)
    rows = rows.sort_values(["collateral_value_cny", "key"], ascending=[False, True])
    whole = _aggregate(allocated, np.zeros(len(allocated), dtype=object))
    total = {c: float(whole[c].iloc[0]) if len(whole) else 0.0 for c in (*ADDITIVE, *_COUNTS)}
    return ExposureTable(by=by, frame=rows.reset_index(drop=True), total=MappingProxyType(total))
