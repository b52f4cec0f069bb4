"""A covered firm's allowance position by compliance year: need, free allocation under the year's
auction share, holdings, the shortfall to buy and the clause 5 carry-over (deterministic tonnes).

Vectorised over firms: arrays are shaped ``(firms, years)``; the only Python loop runs over the
(at most a handful of) compliance years, because a year's surplus is banked into the next.

Per firm ``f`` and year ``y`` (instrument ``m`` = the market the firm is in that year):

- total allocation ``A[f,y]`` (given by the caller; :mod:`carbonfin.scoring.carbon_inputs`
  projects it from the last allocation);
- auction share ``a[f,y] = share(m, y) × k[f,y]`` with ``k`` the clause 4 incentive coefficient
  when the firm's emissions fall year on year, else 1; free allocation ``F = A·(1 − a)``, and the
  auctioned ``A·a`` must be bought;
- need ``N[f,y]`` = the projected verified emissions (surrender obligation; CCER offsets are not
  counted: conservative), plus in the first year any earlier obligation not yet surrendered;
- bank ``B`` per instrument: the free (unpledged) holdings at the start, then each year
  ``avail = B[m] + F − N``; the shortfall ``max(−avail, 0)`` is bought at the year's price;
  ``max(avail, 0)`` is banked to the next year (or sold that year if banking is not allowed);
- a firm entering the national market in year ``e`` (its market switches SHEA → CEA) carries its
  SHEA bank over under clause 5: equal tranches in ``e, e+1, …, e+years−1``, each sold at that
  year's SHEA price; nothing remains after the three-year limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from carbonfin.errors import InvalidInputError
from carbonfin.instruments import Instrument
from carbonfin.scoring.carbon_rules import CarbonCostRules, carbon_cost_rules

__all__ = ["MARKETS", "Positions", "project_positions"]

#: The markets a covered firm can be in, by code (index of the price arrays).
MARKETS = (Instrument.SHEA, Instrument.CEA)
SHEA, CEA = 0, 1


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True, eq=False)
class Positions:
    """Tonnes by firm and year (arrays ``(firms, years)``, read-only), with the rules used.

    ``market`` holds codes of :data:`MARKETS` (-1 where not covered); ``purchase_t`` is bought at
    the year's price of that market, ``sale_t`` sold at it (only without banking),
    ``carry_sale_t`` sold at the year's SHEA price (clause 5 tranches). ``surplus_end_t`` is the
    bank left after the last year, per market (``(firms, 2)``), not valued in the cost.
    """

    uscc: tuple[str, ...]
    years: tuple[int, ...]
    covered: np.ndarray
    market: np.ndarray
    need_t: np.ndarray
    allocation_t: np.ndarray
    auction_share: np.ndarray
    free_t: np.ndarray
    purchase_t: np.ndarray
    sale_t: np.ndarray
    carry_sale_t: np.ndarray
    surplus_end_t: np.ndarray
    rules_version: str

    def __post_init__(self) -> None:
        for name in (
            "covered", "market", "need_t", "allocation_t", "auction_share", "free_t",
            "purchase_t", "sale_t", "carry_sale_t", "surplus_end_t",
        ):  # fmt: skip
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def n_firms(self) -> int:
        return len(self.uscc)


def _check(name: str, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.shape != shape:
        raise InvalidInputError(f"`{name}` must have shape {shape}; got {a.shape}")
    return a


def _incentive(need: np.ndarray, base: np.ndarray, coefficient: float) -> np.ndarray:
    """Clause 4 coefficient per firm-year: ``coefficient`` where emissions fall year on year."""
    prev = np.concatenate([base[:, None], need[:, :-1]], axis=1)
    with np.errstate(invalid="ignore"):
        falling = need < prev
    return np.where(falling, coefficient, 1.0)


def project_positions(
    uscc: tuple[str, ...],
    years: tuple[int, ...],
    *,
    market: np.ndarray,
    emissions_tco2e: np.ndarray,
    base_emissions_tco2e: np.ndarray,
    allocation_t: np.ndarray,
    holdings_t: np.ndarray,
    outstanding_t: np.ndarray | None = None,
    rules: CarbonCostRules | None = None,
) -> Positions:
    """Allowance positions of ``len(uscc)`` firms over compliance ``years``.

    Parameters
    ----------
    uscc, years
        Firm codes and consecutive compliance years.
    market
        ``(firms, years)`` integer codes of :data:`MARKETS` (0 SHEA, 1 CEA); -1 where the firm is
        not covered that year (no need, no allocation, no cost).
    emissions_tco2e
        ``(firms, years)`` projected verified emissions (the surrender obligation), tCO2e.
    base_emissions_tco2e
        ``(firms,)`` emissions of the year before the first (for the year-on-year incentive).
    allocation_t
        ``(firms, years)`` total allocation (free + auctioned) before the auction split, t.
    holdings_t
        ``(firms, 2)`` free (unpledged) holdings of SHEA and CEA at the start, t.
    outstanding_t
        ``(firms, 2)`` earlier obligations not yet surrendered, by market, t (default none).
    rules
        :class:`~carbonfin.scoring.carbon_rules.CarbonCostRules` (default: the shipped rules).

    Raises
    ------
    InvalidInputError
        Shapes that disagree, negative or non-finite tonnes on covered years, years that are not
        consecutive or outside the auction-share table.
    """
    r = rules or carbon_cost_rules()
    nf, ny = len(uscc), len(years)
    if ny == 0 or list(years) != list(range(years[0], years[0] + ny)):
        raise InvalidInputError(f"`years` must be consecutive compliance years; got {years!r}")
    shape = (nf, ny)
    mk = np.asarray(market)
    if mk.shape != shape or not np.isin(mk, (-1, SHEA, CEA)).all():
        raise InvalidInputError(f"`market` must be {shape} codes in {{-1, 0, 1}}")
    covered = mk >= 0
    need = np.where(covered, _check("emissions_tco2e", emissions_tco2e, shape), 0.0)
    alloc = np.where(covered, _check("allocation_t", allocation_t, shape), 0.0)
    hold = _check("holdings_t", holdings_t, (nf, 2))
    owed = (
        np.zeros((nf, 2))
        if outstanding_t is None
        else _check("outstanding_t", outstanding_t, (nf, 2))
    )
    for name, a in (("emissions_tco2e", need), ("allocation_t", alloc), ("holdings_t", hold),
                    ("outstanding_t", owed)):  # fmt: skip
        if not np.isfinite(a).all() or (a < 0).any():
            raise InvalidInputError(f"`{name}` must be finite and >= 0 where covered")
    base = np.asarray(base_emissions_tco2e, dtype=float)
    share = np.zeros(shape)
    for code, inst in enumerate(MARKETS):
        per_year = np.array([r.auction_share(inst, y).share for y in years])
        share = np.where(mk == code, per_year[None, :], share)
    share = share * _incentive(need, base, r.decline_coefficient.value)
    free = alloc * (1.0 - share)
    bank = hold - owed  # a negative bank is an obligation still to meet
    purchase, sale, carry = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    rows = np.arange(nf)
    tranche, tranches_left = np.zeros(nf), np.zeros(nf, dtype=int)
    for j in range(ny):
        m = mk[:, j]
        if j > 0:  # clause 5: SHEA → CEA switch starts the carry-over of the SHEA bank
            entering = (mk[:, j - 1] == SHEA) & (m == CEA)
            bank[:, SHEA] = np.where(entering, np.maximum(bank[:, SHEA], 0.0), bank[:, SHEA])
            tranche = np.where(entering, bank[:, SHEA] / r.carryover_years, tranche)
            tranches_left = np.where(entering, r.carryover_years, tranches_left)
        moving = (tranches_left > 0) & (m == CEA)
        # equal tranches; the last one takes what is left (no rounding residue after the limit)
        last_one = tranches_left == 1
        sold = np.where(moving, np.where(last_one, bank[:, SHEA], tranche), 0.0)
        tranches_left = np.where(moving, tranches_left - 1, tranches_left)
        carry[:, j] = sold
        bank[:, SHEA] -= sold
        mc = np.where(covered[:, j], m, 0)
        avail = bank[rows, mc] + free[:, j] - need[:, j]
        purchase[:, j] = np.where(covered[:, j], np.maximum(-avail, 0.0), 0.0)
        left = np.maximum(avail, 0.0)
        if not r.banking:
            sale[:, j] = np.where(covered[:, j], left, 0.0)
            left = np.zeros(nf)
        bank[rows, mc] = np.where(covered[:, j], left, bank[rows, mc])
    return Positions(
        uscc=tuple(uscc), years=tuple(years), covered=covered, market=mk.astype(np.int8),
        need_t=need, allocation_t=alloc, auction_share=np.where(covered, share, np.nan),
        free_t=free, purchase_t=purchase, sale_t=sale, carry_sale_t=carry,
        surplus_end_t=np.maximum(bank, 0.0), rules_version=r.version,
    )  # fmt: skip
