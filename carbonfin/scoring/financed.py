"""Financed emissions of a bank's loan book (PCAF standard, business loans), in CNY.

PCAF, *The Global GHG Accounting and Reporting Standard for the Financial Industry*, Part A
(2nd ed., 2022), §5.2 business loans and unlisted equity:

* attribution factor of a loan = outstanding amount / (total equity + debt) of the borrower
  (for listed borrowers PCAF uses EVIC; the account holds book equity + debt for every firm, so
  the unlisted-company formula is used throughout and said so);
* financed emissions = attribution factor × the borrower's scope 1 + scope 2 emissions;
* data-quality score 1 (best) … 5 (worst) per loan, and the portfolio score as the average
  weighted by outstanding amount.

Currencies: the borrowers' balance sheets are in CNY, so every loan is converted to CNY before
it is attributed or summed, through :mod:`carbonfin.fx` at the fixing of ``on`` (PCAF measures
outstanding amounts at the reporting date; the rate of the same date is used). Each converted
loan carries its rate, route and fixing dates. A loan that cannot be converted (no rates given,
no rate for its currency, a stale fixing) or attributed (no account data for the year, emissions
incomplete, no positive equity + debt) is listed in :attr:`FinancedEmissions.excluded` with the
reason; it is never counted as zero and never dropped silently.

Mapping of the account's data-quality tiers to PCAF scores (this methodology's reading of PCAF
table 5-3): verified emissions -> 1 (option 1a); metered or self-reported (unverified) -> 2
(option 1b); estimated -> 4 (economic-activity-based estimates).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.instruments import Currency

if TYPE_CHECKING:
    from carbonfin.fx.rates import RateStore

__all__ = ["COVERED", "PCAF_SCORE", "FinancedEmissions", "financed_emissions"]

#: PCAF data-quality score of each account tier (see the module notes).
PCAF_SCORE: Mapping[str, int] = MappingProxyType(
    {"verified": 1, "metered": 2, "self_reported": 2, "estimated": 4}
)

#: The ``status`` of a loan that is in the totals.
COVERED = "covered"

#: The ``status`` of a loan with nothing outstanding (repaid).
NOTHING_OUTSTANDING = "nothing outstanding"

#: The currency of the borrowers' balance sheets and of every total.
REPORTING = Currency.CNY


@dataclass(frozen=True, slots=True, eq=False)
class FinancedEmissions:
    """Per-loan attribution and the portfolio totals (CNY), with drill-downs.

    ``loans`` is every loan given, one row each, with ``status`` (``"covered"`` or why not),
    the CNY amount and the FX rate used; it is handed out as a copy, so the result cannot be
    changed through it. ``unconverted`` sums, by currency, the loans that had no CNY rate.
    """

    year: int
    fx_date: dt.date | None
    total_tco2e: float
    covered_outstanding: float
    uncovered_outstanding: float
    weighted_data_quality: float
    unconverted: Mapping[str, float]
    fx_rates: tuple[str, ...]
    _loans: pd.DataFrame = field(repr=False)

    @property
    def currency(self) -> str:
        return REPORTING.code

    @property
    def loans(self) -> pd.DataFrame:
        """Every loan with its status, CNY amount, FX rate, attribution and financed tCO2e."""
        return self._loans.copy(deep=True)

    @property
    def excluded(self) -> pd.DataFrame:
        """The loans not in the totals, with the reason (``status``)."""
        out = self._loans.loc[
            self._loans["status"] != COVERED,
            ["loan_id", "borrower_uscc", "currency", "outstanding", "outstanding_cny", "status"],
        ]
        return out.rename(columns={"status": "reason"}).reset_index(drop=True)

    def _covered(self) -> pd.DataFrame:
        return self._loans[self._loans["status"] == COVERED]

    def by(self, column: str) -> pd.DataFrame:
        """Totals by a loan column (``sector``, ``colour_grade`` …), largest first (CNY)."""
        if column not in self._loans.columns:
            raise InvalidInputError(
                f"no column {column!r} to aggregate by; have {list(self._loans.columns)}"
            )
        covered = self._covered()
        grouped = covered.groupby(column).agg(
            loans=("loan_id", "count"),
            outstanding=("outstanding_cny", "sum"),
            financed_tco2e=("financed_tco2e", "sum"),
        )
        dq = (covered["pcaf_score"] * covered["outstanding_cny"]).groupby(covered[column]).sum()
        grouped["weighted_data_quality"] = dq / grouped["outstanding"]
        grouped["share"] = grouped["financed_tco2e"] / self.total_tco2e
        return grouped.sort_values("financed_tco2e", ascending=False)

    def top_contributors(self, n: int = 10) -> pd.DataFrame:
        """The borrowers with the largest financed emissions."""
        grouped = (
            self._covered()
            .groupby(["borrower_uscc", "sector"])
            .agg(outstanding=("outstanding_cny", "sum"), financed_tco2e=("financed_tco2e", "sum"))
        )
        grouped["share"] = grouped["financed_tco2e"] / self.total_tco2e
        return grouped.sort_values("financed_tco2e", ascending=False).head(n)

    def exclusions(self) -> pd.DataFrame:
        """The excluded loans counted by reason and original currency, with their amounts."""
        ex = self.excluded
        return (
            ex.groupby(["reason", "currency"])
            .agg(loans=("loan_id", "count"), outstanding=("outstanding", "sum"))
            .reset_index()
        )

    def summary(self) -> str:
        covered = int((self._loans["status"] == COVERED).sum())
        fx = "" if self.fx_date is None else f", FX at the fixings of {self.fx_date.isoformat()}"
        lines = [
            f"financed emissions {self.year} (CNY{fx}): {self.total_tco2e:,.0f} tCO2e over "
            f"{covered} loans ({self.covered_outstanding:,.0f} CNY outstanding); PCAF data "
            f"quality {self.weighted_data_quality:.2f} (1 best, 5 worst)",
        ]
        lines += [f"  FX {r}" for r in self.fx_rates]
        table = self.exclusions()
        repaid = table["reason"] == NOTHING_OUTSTANDING
        if repaid.any():
            lines.append(
                f"  left out: {int(table.loc[repaid, 'loans'].sum())} loans with nothing "
                "outstanding"
            )
        for row in table[~repaid].itertuples():
            lines.append(
                f"  not included: {row.loans} loan{'s' if row.loans != 1 else ''} in "
                f"{row.currency} ({row.outstanding:,.0f} {row.currency} outstanding): {row.reason}"
            )
        if self.uncovered_outstanding:
            lines.append(
                f"  of which {self.uncovered_outstanding:,.0f} CNY converted but not attributable"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _convert(
    book: pd.DataFrame, fx: RateStore | None, on: dt.date | None, max_fx_age_days: int
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Add ``outstanding_cny``, ``fx_rate``, ``fx_route``, ``fx_fixing_date`` and ``status``."""
    n = len(book)
    amount_cny = np.full(n, np.nan)
    rate = np.full(n, np.nan)
    route = np.full(n, "", dtype=object)
    fixing = np.full(n, None, dtype=object)
    status = np.full(n, COVERED, dtype=object)
    notes = []
    for code, idx in book.groupby("currency", sort=True).indices.items():
        try:
            ccy = Currency.parse(str(code))
        except InvalidInputError as exc:
            status[idx] = f"unknown currency: {exc}"
            continue
        if ccy is REPORTING:
            amount_cny[idx], rate[idx], route[idx] = book["outstanding"].to_numpy()[idx], 1.0, ""
            continue
        if fx is None or on is None:
            status[idx] = f"in {ccy.code}: no FX rates given (pass fx= and on=)"
            continue
        try:
            quote = fx.rate(ccy, REPORTING, on, max_age_days=max_fx_age_days)
        except (MissingDataError, InvalidInputError) as exc:
            status[idx] = f"no {ccy.code}/CNY rate on {on.isoformat()}: {exc}"
            continue
        value = float(quote.rate)
        amount_cny[idx] = book["outstanding"].to_numpy()[idx] * value
        rate[idx] = value
        route[idx] = " x ".join(quote.route)
        fixing[idx] = quote.fixing_date
        notes.append(f"{ccy.code}/CNY {quote.rate:.6f} via {route[idx[0]]}: {quote.reason}")
    out = book.assign(
        outstanding_cny=amount_cny,
        fx_rate=rate,
        fx_route=route,
        fx_fixing_date=fixing,
        status=status,
    )
    return out, tuple(notes)


def _book(loans: pd.DataFrame) -> pd.DataFrame:
    need = {"loan_id", "borrower_uscc", "outstanding", "currency"}
    if not need <= set(loans.columns):
        raise InvalidInputError(f"loans lack columns {sorted(need - set(loans.columns))}")
    outstanding = pd.to_numeric(loans["outstanding"], errors="coerce").astype(float)
    bad = outstanding.isna() | (outstanding < 0)
    if bad.any():
        raise InvalidInputError(
            f"loan {loans.loc[bad, 'loan_id'].iloc[0]}: outstanding must be a number >= 0; "
            f"got {loans.loc[bad, 'outstanding'].iloc[0]!r}"
        )
    book = loans.assign(outstanding=outstanding).reset_index(drop=True)
    book["currency"] = book["currency"].astype(object).where(book["currency"].notna(), "(none)")
    if not (book["outstanding"] > 0).any():
        raise MissingDataError("no loan with an outstanding amount")
    return book


def financed_emissions(
    loans: pd.DataFrame,
    panel: pd.DataFrame,
    year: int,
    scores: pd.DataFrame | None = None,
    *,
    fx: RateStore | None = None,
    on: dt.date | None = None,
    max_fx_age_days: int = 10,
) -> FinancedEmissions:
    """PCAF financed emissions of ``loans`` against the borrowers' ``year`` data, in CNY.

    ``loans`` needs ``loan_id, borrower_uscc, outstanding, currency``; ``panel`` is
    :func:`build_panel`'s frame; ``scores`` (from :func:`score_panel`) adds each borrower's
    colour grade for ``by``. Loans in other currencies are converted to CNY with ``fx`` (a
    :class:`carbonfin.fx.RateStore`) at the fixings of ``on`` (the reporting date; a fixing up
    to ``max_fx_age_days`` older is used and said so). See the module notes.
    """
    if on is not None and (not isinstance(on, dt.date) or isinstance(on, dt.datetime)):
        raise InvalidInputError(f"`on` must be a date; got {on!r}")
    book = _book(loans)
    firm = panel[panel["year"] == year]
    if firm.empty:
        raise MissingDataError(f"no account data for {year}")
    book, notes = _convert(book, fx, on, max_fx_age_days)
    status = book["status"].to_numpy(dtype=object)
    status[(book["outstanding"] <= 0).to_numpy()] = NOTHING_OUTSTANDING
    pcaf = pd.Series(0.0, index=firm.index)
    for tier, score in PCAF_SCORE.items():
        pcaf = pcaf + firm[f"quality_{tier}"].fillna(0.0) * score
    firm = firm.assign(pcaf_score=pcaf.where(firm["emissions_tco2e"].notna()))
    cols = ["uscc", "sector", "emissions_tco2e", "equity_cny", "debt_cny", "pcaf_score"]
    df = book.merge(firm[cols], left_on="borrower_uscc", right_on="uscc", how="left")
    capital = (df["equity_cny"] + df["debt_cny"]).to_numpy(dtype=float)
    open_ = status == COVERED
    status[open_ & df["uscc"].isna().to_numpy()] = f"no account data for the borrower in {year}"
    open_ = status == COVERED
    status[open_ & df["emissions_tco2e"].isna().to_numpy()] = (
        f"the borrower's {year} emissions are incomplete"
    )
    open_ = status == COVERED
    status[open_ & ~(capital > 0)] = f"the borrower's {year} equity + debt is not positive"
    covered = status == COVERED
    df["status"] = status
    with np.errstate(divide="ignore", invalid="ignore"):
        df["attribution"] = np.where(covered, df["outstanding_cny"] / capital, np.nan)
    df["financed_tco2e"] = df["attribution"] * df["emissions_tco2e"]
    if scores is not None:
        grades = scores.loc[scores["year"] == year, ["uscc", "colour_grade", "score"]]
        df = df.merge(grades, on="uscc", how="left")
    cov = df[covered]
    cov_out = float(cov["outstanding_cny"].sum())
    dq = (
        float((cov["pcaf_score"] * cov["outstanding_cny"]).sum() / cov_out)
        if cov_out > 0
        else float("nan")
    )
    converted = df["outstanding_cny"].notna().to_numpy()
    unconverted = df[~converted & (df["outstanding"] > 0)].groupby("currency")["outstanding"].sum()
    return FinancedEmissions(
        year=year,
        fx_date=on,
        total_tco2e=float(cov["financed_tco2e"].sum()),
        covered_outstanding=cov_out,
        uncovered_outstanding=float(df.loc[~covered & converted, "outstanding_cny"].sum()),
        weighted_data_quality=dq,
        unconverted=MappingProxyType({str(k): float(v) for k, v in unconverted.items()}),
        fx_rates=notes,
        _loans=df.drop(columns=["uscc"]),
    )
