"""The carbon cost at risk on a firm's score card, in the v1.2 loan-rate premium and in its loans'
debt service.

- :class:`CarbonCostCard`: one firm's outlook (horizon and per-year figures, status and reason,
  inputs, assumptions, source, as-of), built from a
  :class:`~carbonfin.scoring.carbon_cost.CarbonCost`.
- :func:`carbon_premium_bp`: the v1.2 premium (``[carbon_cost]`` of the methodology file); v1.1
  has none and says so.
- :func:`loan_coverage`: per loan, value-added interest coverage before and after the 99% carbon
  cost of the worst outlook year within the loan's life, flagged below the floor of
  ``carbon_cost.toml [coverage_floor]``. Earnings proxy: **value added** (``firm_years`` has no
  EBIT or EBITDA); interest = the borrower's debt (``debt_cny``) at the loan's rate. Unknown value
  added or debt leaves the coverage unknown (no flag, and the reason says so).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError
from carbonfin.scoring.carbon_cost import CarbonCost
from carbonfin.scoring.carbon_rules import CarbonCostRules, carbon_cost_rules
from carbonfin.scoring.methodology import Methodology
from carbonfin.scoring.score import Score

__all__ = [
    "CarbonCostCard",
    "CarbonPricing",
    "borrower_exposure",
    "carbon_premium_bp",
    "card_from_result",
    "loan_coverage",
    "with_carbon_cost",
]


def _opt(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


@dataclass(frozen=True, slots=True)
class CarbonCostCard:
    """One firm's carbon cost at risk (CNY; shares as decimals; ``None`` = unknown or n/a)."""

    uscc: str
    status: str
    reason: str
    years: tuple[int, ...]
    expected_cny: float | None
    se_expected_cny: float | None
    car95_cny: float | None
    car99_cny: float | None
    se_car99_cny: float | None
    es99_cny: float | None
    car99_share_revenue: float | None
    car99_share_value_added: float | None
    car99_by_year_cny: tuple[float | None, ...]
    purchase_by_year_t: tuple[float, ...]
    as_of: dt.date | None
    inputs: Mapping[str, Any]
    assumptions: tuple[str, ...]

    @property
    def covered(self) -> bool:
        return self.status == "covered"

    def worst_year_car99_cny(self, until: int | None = None) -> float | None:
        """The largest 99% cost of a year up to ``until`` (None: no covered year)."""
        vals = [
            v
            for y, v in zip(self.years, self.car99_by_year_cny, strict=True)
            if v is not None and (until is None or y <= until)
        ]
        return max(vals) if vals else None

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form (dates ISO, unknowns ``None``)."""
        return {
            "uscc": self.uscc, "status": self.status, "reason": self.reason,
            "years": list(self.years), "expected_cny": self.expected_cny,
            "se_expected_cny": self.se_expected_cny, "car95_cny": self.car95_cny,
            "car99_cny": self.car99_cny, "se_car99_cny": self.se_car99_cny,
            "es99_cny": self.es99_cny, "car99_share_revenue": self.car99_share_revenue,
            "car99_share_value_added": self.car99_share_value_added,
            "car99_by_year_cny": list(self.car99_by_year_cny),
            "purchase_by_year_t": list(self.purchase_by_year_t),
            "as_of": None if self.as_of is None else self.as_of.isoformat(),
            "inputs": dict(self.inputs.items()),
            "assumptions": list(self.assumptions),
        }  # fmt: skip

    def summary(self) -> str:
        span = f"{self.years[0]}-{self.years[-1]}"
        if not self.covered:
            return f"  carbon cost {span}: none — {self.status}: {self.reason}"

        def money(x: float | None) -> str:
            return "unknown" if x is None else f"{x:,.0f} CNY"

        def share(x: float | None) -> str:
            return "unknown" if x is None else f"{x:.2%}"

        return "\n".join(
            [
                f"  carbon cost {span} ({self.inputs.get('scenarios')}, "
                f"{self.inputs.get('n_scenarios')} scenarios, seed {self.inputs.get('seed')}, "
                f"as of {self.as_of}): expected {money(self.expected_cny)} "
                f"(s.e. {money(self.se_expected_cny)}), CaR95 {money(self.car95_cny)}, "
                f"CaR99 {money(self.car99_cny)} (s.e. {money(self.se_car99_cny)}), "
                f"ES99 {money(self.es99_cny)}",
                f"    CaR99 a year: {share(self.car99_share_value_added)} of value added, "
                f"{share(self.car99_share_revenue)} of revenue; {self.reason}",
                f"    source: {self.inputs.get('data_source')}; rules "
                f"{self.inputs.get('rules_version')}; {len(self.assumptions)} assumptions "
                "(carbonfin/rules/carbon_cost.toml)",
            ]
        )


def card_from_result(result: CarbonCost, uscc: str) -> CarbonCostCard:
    """The card of ``uscc`` from a population run; :class:`MissingDataError` if absent."""
    h, ys = result.firm(uscc)
    return CarbonCostCard(
        uscc=uscc,
        status=str(h["status"]),
        reason=str(h["reason"]),
        years=tuple(int(y) for y in ys["year"]),
        expected_cny=_opt(h["expected_cny"]),
        se_expected_cny=_opt(h["se_expected_cny"]),
        car95_cny=_opt(h["car95_cny"]),
        car99_cny=_opt(h["car99_cny"]),
        se_car99_cny=_opt(h["se_car99_cny"]),
        es99_cny=_opt(h["es99_cny"]),
        car99_share_revenue=_opt(h["car99_share_revenue"]),
        car99_share_value_added=_opt(h["car99_share_value_added"]),
        car99_by_year_cny=tuple(_opt(v) for v in ys["car99_cny"]),
        purchase_by_year_t=tuple(float(v) for v in ys["purchase_t"]),
        as_of=result.as_of,
        inputs=MappingProxyType(dict(result.inputs)),
        assumptions=result.assumptions,
    )


def with_carbon_cost(score: Score, card: CarbonCostCard) -> Score:
    """The score card with the carbon cost at risk attached (the score itself unchanged)."""
    if card.uscc != score.uscc:
        raise InvalidInputError(
            f"the carbon-cost card is for {card.uscc}, the score for {score.uscc}"
        )
    return replace(score, carbon_cost=card)


@dataclass(frozen=True, slots=True)
class CarbonPricing:
    """The v1.2 loan-rate premium for carbon cost at risk and why."""

    methodology_version: str
    premium_bp: float
    share_value_added: float | None
    coverage_flag: bool | None
    reason: str


def carbon_premium_bp(
    card: CarbonCostCard, methodology: Methodology, *, coverage_flag: bool | None = None
) -> CarbonPricing:
    """The premium (bp, >= 0) the methodology adds for the carbon cost at risk.

    ``min(max, bp_per_pct_point × 100 × max(0, share − free_below_share))`` on the 99% carbon cost
    as a share of value added, plus ``coverage_flag_bp`` when ``coverage_flag``. A methodology
    without ``[carbon_cost]`` (v1, v1.1) adds nothing; a firm not covered adds nothing; an unknown
    share adds nothing and says so (the credit officer decides; it is not taken as zero risk).
    """
    spec = methodology.carbon_cost
    v = methodology.version
    if spec is None:
        return CarbonPricing(
            v, 0.0, None, coverage_flag, f"methodology {v} does not price carbon cost"
        )
    if not card.covered:
        return CarbonPricing(v, 0.0, None, coverage_flag, f"no carbon cost: {card.reason}")
    share = card.car99_share_value_added
    flag_bp = spec.coverage_flag_bp if coverage_flag else 0.0
    if share is None or not math.isfinite(share):
        return CarbonPricing(
            v, flag_bp, None, coverage_flag,
            "value added unknown: the carbon share is not priced (unknown, not zero)",
        )  # fmt: skip
    excess = max(0.0, share - spec.free_below_share)
    premium = min(spec.max_premium_bp, spec.bp_per_pct_point * 100.0 * excess)
    why = (
        f"CaR99 {share:.2%} of value added a year: {premium:.1f} bp "
        f"({spec.bp_per_pct_point:g} bp per point above {spec.free_below_share:.0%}, cap "
        f"{spec.max_premium_bp:g})"
        + (f"; coverage below the floor: +{flag_bp:g} bp" if coverage_flag else "")
    )
    return CarbonPricing(v, round(premium + flag_bp, 4), share, coverage_flag, why)


def loan_coverage(
    loans: pd.DataFrame,
    result: CarbonCost,
    debt_cny: Mapping[str, float] | pd.Series,
    *,
    rules: CarbonCostRules | None = None,
) -> pd.DataFrame:
    """Interest coverage of each loan's borrower before and after its 99% carbon cost.

    Parameters
    ----------
    loans
        ``loan_id, bank_id, borrower_uscc, rate, maturity_date`` (rate a decimal a year).
    result
        The carbon-cost run that holds the borrowers.
    debt_cny
        The borrower's debt (latest ``firm_years.debt_cny``) by USCC; missing = unknown.

    Returns
    -------
    DataFrame
        Per loan: ``interest_cny`` (debt × rate), ``coverage_before`` (value added / interest),
        ``car99_worst_year_cny`` (the largest yearly 99% cost up to the loan's maturity year),
        ``coverage_after``, ``below_floor`` (boolean, NA when unknown), ``floor`` and ``reason``.
    """
    r = rules or carbon_cost_rules()
    need = {"loan_id", "bank_id", "borrower_uscc", "rate", "maturity_date"}
    if not need <= set(loans.columns):
        raise InvalidInputError(f"`loans` lacks the columns {sorted(need - set(loans.columns))}")
    ys = result.years
    years = np.array(sorted(ys["year"].unique()))
    grid = ys.pivot_table(index="uscc", columns="year", values="car99_cny", aggfunc="first")
    grid = grid.reindex(columns=years)
    h = result.horizon.set_index("uscc")
    u = loans["borrower_uscc"].astype(str)
    mat_year = pd.to_datetime(loans["maturity_date"]).dt.year.to_numpy()
    car = grid.reindex(u).to_numpy(dtype=float)
    within = years[None, :] <= np.maximum(mat_year, years[0])[:, None]
    with np.errstate(invalid="ignore"):
        worst = np.nanmax(np.where(within & np.isfinite(car), car, -np.inf), axis=1)
    worst = np.where(np.isfinite(worst), worst, np.nan)
    status = h["status"].reindex(u).to_numpy(dtype=object)
    worst = np.where(status == "covered", np.nan_to_num(worst, nan=0.0), np.nan)
    # a firm outside the market has no compliance cost to deduct (said in the reason); an
    # unknown one leaves the coverage after it unknown
    deduct = np.where(status == "not covered", 0.0, worst)
    va = h["value_added_cny"].reindex(u).to_numpy(dtype=float)
    debt = pd.Series(debt_cny, dtype=float).reindex(u).to_numpy(dtype=float)
    interest = debt * loans["rate"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        before = np.where(interest > 0, va / interest, np.nan)
        after = np.where(interest > 0, (va - deduct) / interest, np.nan)
    floor = r.min_interest_coverage.value
    known = np.isfinite(after)
    flag = pd.array(np.where(known, after < floor, False), dtype="boolean")
    flag[~known] = pd.NA
    reason = np.select(
        [status == "unknown", ~np.isfinite(va), ~(interest > 0), status == "not covered",
         after < floor],
        ["carbon cost unknown: coverage after it unknown",
         "value added unknown: coverage unknown", "debt or rate unknown: coverage unknown",
         "not a covered entity: no carbon cost to deduct",
         f"below the floor {floor:g}x after the 99% carbon cost"],
        f"at or above the floor {floor:g}x after the 99% carbon cost",
    )  # fmt: skip
    return pd.DataFrame(
        {"loan_id": loans["loan_id"].to_numpy(), "bank_id": loans["bank_id"].to_numpy(),
         "borrower_uscc": u.to_numpy(), "interest_cny": interest, "coverage_before": before,
         "car99_worst_year_cny": worst, "coverage_after": after, "below_floor": flag,
         "floor": floor, "reason": reason}
    )  # fmt: skip


def borrower_exposure(loans: pd.DataFrame, result: CarbonCost, year: int) -> pd.DataFrame:
    """Per bank and borrower with an active loan: the tonnes it must buy in compliance ``year``
    (net of sales; carry-over tranches left out), its market and the forward price — the input
    of the stress book's both-sides view (:func:`carbonfin.collateral.stress.both_sides`).

    Borrowers not covered that year are left out (no carbon cost)."""
    need = {"bank_id", "borrower_uscc", "status"}
    if not need <= set(loans.columns):
        raise InvalidInputError(f"`loans` lacks the columns {sorted(need - set(loans.columns))}")
    ys = result.years
    if year not in set(ys["year"]):
        raise InvalidInputError(
            f"`year` {year} is not in the run's years {sorted(set(ys['year']))}"
        )
    row = ys[(ys["year"] == year) & ys["covered"]]
    pairs = loans.loc[loans["status"] == "active", ["bank_id", "borrower_uscc"]].drop_duplicates()
    out = pairs.merge(row, left_on="borrower_uscc", right_on="uscc", how="inner")
    return pd.DataFrame(
        {"bank_id": out["bank_id"], "borrower_uscc": out["borrower_uscc"],
         "instrument": out["market"], "purchase_t": out["purchase_t"] - out["sale_t"],
         "forward_cny_per_t": out["forward_cny_per_t"]}
    ).reset_index(drop=True)  # fmt: skip
