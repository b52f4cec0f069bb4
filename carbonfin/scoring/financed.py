"""Financed emissions of a bank's loan book (PCAF standard, business loans).

PCAF, *The Global GHG Accounting and Reporting Standard for the Financial Industry*, Part A
(2nd ed., 2022), §5.2 business loans and unlisted equity:

* attribution factor of a loan = outstanding amount / (total equity + debt) of the borrower
  (for listed borrowers PCAF uses EVIC; the account holds book equity + debt for every firm, so
  the unlisted-company formula is used throughout and said so);
* financed emissions = attribution factor × the borrower's scope 1 + scope 2 emissions;
* data-quality score 1 (best) … 5 (worst) per loan, and the portfolio score as the average
  weighted by outstanding amount.

Mapping of the account's data-quality tiers to PCAF scores (this methodology's reading of PCAF
table 5-3): verified emissions -> 1 (option 1a); metered or self-reported (unverified) -> 2
(option 1b); estimated -> 4 (economic-activity-based estimates). A firm-year whose emissions are
incomplete has no financed emissions: its loans are listed as not covered, never counted as zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError, MissingDataError

__all__ = ["PCAF_SCORE", "FinancedEmissions", "financed_emissions"]

#: PCAF data-quality score of each account tier (see the module notes).
PCAF_SCORE = {"verified": 1, "metered": 2, "self_reported": 2, "estimated": 4}


@dataclass(frozen=True, slots=True, eq=False)
class FinancedEmissions:
    """Per-loan attribution and the portfolio totals, with drill-downs."""

    year: int
    loans: pd.DataFrame
    total_tco2e: float
    covered_outstanding: float
    uncovered_outstanding: float
    weighted_data_quality: float

    def by(self, column: str) -> pd.DataFrame:
        """Totals by a loan column (``sector``, ``colour_grade`` …), largest first."""
        if column not in self.loans.columns:
            raise InvalidInputError(
                f"no column {column!r} to aggregate by; have {list(self.loans.columns)}"
            )
        covered = self.loans[self.loans["financed_tco2e"].notna()]
        grouped = covered.groupby(column).agg(
            loans=("loan_id", "count"),
            outstanding=("outstanding", "sum"),
            financed_tco2e=("financed_tco2e", "sum"),
        )
        dq = (covered["pcaf_score"] * covered["outstanding"]).groupby(covered[column]).sum()
        grouped["weighted_data_quality"] = dq / grouped["outstanding"]
        grouped["share"] = grouped["financed_tco2e"] / self.total_tco2e
        return grouped.sort_values("financed_tco2e", ascending=False)

    def top_contributors(self, n: int = 10) -> pd.DataFrame:
        """The borrowers with the largest financed emissions."""
        covered = self.loans[self.loans["financed_tco2e"].notna()]
        grouped = covered.groupby(["borrower_uscc", "sector"]).agg(
            outstanding=("outstanding", "sum"), financed_tco2e=("financed_tco2e", "sum")
        )
        grouped["share"] = grouped["financed_tco2e"] / self.total_tco2e
        return grouped.sort_values("financed_tco2e", ascending=False).head(n)

    def summary(self) -> str:
        return (
            f"financed emissions {self.year}: {self.total_tco2e:,.0f} tCO2e over "
            f"{int(self.loans['financed_tco2e'].notna().sum())} loans "
            f"({self.covered_outstanding:,.0f} outstanding); PCAF data quality "
            f"{self.weighted_data_quality:.2f} (1 best, 5 worst); not covered: "
            f"{int(self.loans['financed_tco2e'].isna().sum())} loans, "
            f"{self.uncovered_outstanding:,.0f} outstanding"
        )


def financed_emissions(
    loans: pd.DataFrame,
    panel: pd.DataFrame,
    year: int,
    scores: pd.DataFrame | None = None,
) -> FinancedEmissions:
    """PCAF financed emissions of ``loans`` (one currency) against the firms' ``year`` data.

    ``loans`` needs ``loan_id, borrower_uscc, outstanding`` (and ``currency``: one currency
    only, since outstanding amounts are summed); ``panel`` is :func:`build_panel`'s frame;
    ``scores`` (from :func:`score_panel`) adds each borrower's colour grade for ``by``.
    """
    need = {"loan_id", "borrower_uscc", "outstanding"}
    if not need <= set(loans.columns):
        raise InvalidInputError(f"loans lack columns {sorted(need - set(loans.columns))}")
    if "currency" in loans.columns and loans["currency"].nunique() > 1:
        raise InvalidInputError(
            f"loans are in several currencies {sorted(loans['currency'].unique())}; convert "
            "them to one before summing (carbonfin.fx)"
        )
    outstanding = pd.to_numeric(loans["outstanding"], errors="coerce").astype(float)
    if outstanding.isna().any() or (outstanding < 0).any():
        bad = loans.loc[outstanding.isna() | (outstanding < 0), "loan_id"].iloc[0]
        raise InvalidInputError(f"loan {bad}: outstanding must be a number >= 0")
    book = loans.assign(outstanding=outstanding)
    book = book[book["outstanding"] > 0]
    if book.empty:
        raise MissingDataError("no loan with an outstanding amount")
    firm = panel[panel["year"] == year]
    if firm.empty:
        raise MissingDataError(f"no account data for {year}")
    quality_cols = [f"quality_{q}" for q in PCAF_SCORE]
    pcaf = pd.Series(0.0, index=firm.index)
    for c in quality_cols:
        pcaf = pcaf + firm[c].fillna(0.0) * PCAF_SCORE[c.removeprefix("quality_")]
    firm = firm.assign(pcaf_score=pcaf.where(firm["emissions_tco2e"].notna()))
    cols = ["uscc", "sector", "emissions_tco2e", "equity_cny", "debt_cny", "pcaf_score"]
    df = book.merge(firm[cols], left_on="borrower_uscc", right_on="uscc", how="left")
    capital = df["equity_cny"] + df["debt_cny"]
    df["attribution"] = np.where(capital > 0, df["outstanding"] / capital, np.nan)
    df["financed_tco2e"] = df["attribution"] * df["emissions_tco2e"]
    if scores is not None:
        grades = scores.loc[scores["year"] == year, ["uscc", "colour_grade", "score"]]
        df = df.merge(grades, on="uscc", how="left")
    covered = df["financed_tco2e"].notna()
    total = float(df.loc[covered, "financed_tco2e"].sum())
    cov_out = float(df.loc[covered, "outstanding"].sum())
    dq = (
        float((df.loc[covered, "pcaf_score"] * df.loc[covered, "outstanding"]).sum() / cov_out)
        if cov_out > 0
        else float("nan")
    )
    return FinancedEmissions(
        year,
        df.drop(columns=["uscc"]),
        total,
        cov_out,
        float(df.loc[~covered, "outstanding"].sum()),
        dq,
    )
