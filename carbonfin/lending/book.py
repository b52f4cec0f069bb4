"""The loan book as it stood on a date, and its valuation with faults isolated per position.

:func:`book_as_of` reads the book that stood at the end of ``as_of``: the pledges in force that
day (:func:`carbonfin.store.collateral.pledges_in_force`, with the eligible quantities of the
eligibility rules) and the loans they secure with their balance and status **from the ledger**
(:func:`carbonfin.store.ledger.balances_as_of`), so a repayment recorded today with today's
value date never changes the book of an earlier date. Only loans ``active`` on the date (opened,
not repaid, not marked defaulted) are in it.

:func:`value_book_as_of` values that book with the core's
:func:`carbonfin.collateral.value_book`, isolating faults:

1. *pre-partition* — each loan currency's rate to CNY and each instrument's market-risk profile
   are measured once; a loan whose currency has no usable FX fixing on the date, or with a
   pledge of an instrument whose profile cannot be measured (no history, no or a stale mark, a
   model that refuses the data), is set aside as **not valued**, with that reason. A loan is set
   aside whole: valuing it on part of its collateral would overstate its LTV;
2. the rest is valued in one call; should that still fail, each bank's positions are valued on
   their own, and within a failing bank each loan alone, to find the loans that fail and value
   the others together.

A bank's valuation depends only on its own positions (the core measures a pledge's concentration
against its own bank's book), so the fallback gives the same numbers as one call, and another
bank's unvaluable position neither changes a bank's figures nor appears in its results: every
reason names only the loan's own currency, instrument and date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from carbonfin.collateral import DEFAULT_MODEL, BookValuation, value_book
from carbonfin.collateral.market_risk import MarketRiskProfile, market_risk_profile
from carbonfin.errors import CarbonfinError
from carbonfin.fx import RateStore
from carbonfin.instruments import Currency, Instrument
from carbonfin.pricing import PriceHistory
from carbonfin.store.collateral import pledges_in_force
from carbonfin.store.ledger import balances_as_of

__all__ = [
    "FX_MAX_AGE_DAYS",
    "NOT_VALUED_COLUMNS",
    "LendingBook",
    "ValuedBook",
    "book_as_of",
    "value_book_as_of",
]

FX_MAX_AGE_DAYS = 10  # as the core's value_book: a fixing older than this is stale
NOT_VALUED_COLUMNS = (
    "loan_id",
    "bank_id",
    "currency",
    "outstanding",
    "outstanding_cny",
    "pledge_id",
    "instrument",
    "quantity_t",
    "reason",
)


@dataclass(frozen=True, slots=True, eq=False)
class LendingBook:
    """The book that stood at the end of ``as_of``: pledges in force with eligible quantities,
    and the active loans they secure with the ledger's outstanding (float, loan currency)."""

    as_of: dt.date
    pledges: pd.DataFrame = field(repr=False)
    loans: pd.DataFrame = field(repr=False)
    rules_version: str


def book_as_of(session: Session, as_of: dt.date, bank_id: str | None = None) -> LendingBook:
    """The book (of one bank, or all) as it stood at the end of ``as_of``.

    Parameters
    ----------
    session
        A read session.
    as_of
        The date; pledges in force and loan balances are those of the end of that day.
    bank_id
        One bank's book, or ``None`` for every bank's.

    Returns
    -------
    LendingBook
        ``pledges``: the pledges in force securing a loan active on the date; ``loans``: those
        loans with ``outstanding`` (float, loan currency) and ``status`` from the ledger.
    """
    pledges, rules_version = pledges_in_force(session=session, as_of=as_of, bank_id=bank_id)
    ids = sorted(set(pledges["loan_id"]))
    balances = balances_as_of(session=session, as_of=as_of, loan_ids=ids)
    loans = balances[balances["status"] == "active"].copy()
    loans["outstanding"] = loans["outstanding"].astype(float)
    loans = loans[["loan_id", "bank_id", "borrower_uscc", "currency", "outstanding", "status"]]
    pledges = pledges[pledges["loan_id"].isin(loans["loan_id"])].reset_index(drop=True)
    loans = loans[loans["loan_id"].isin(pledges["loan_id"])].reset_index(drop=True)
    return LendingBook(as_of, pledges, loans, rules_version)


@dataclass(frozen=True, slots=True, eq=False)
class ValuedBook:
    """A book valued on ``as_of``: ``valuation`` of the positions that could be valued
    (``None`` if none could), and ``not_valued``, one row per pledge of each loan set aside,
    with the reason (columns :data:`NOT_VALUED_COLUMNS`; ``outstanding_cny`` NaN when the FX
    rate is the missing piece)."""

    as_of: dt.date
    valuation: BookValuation | None
    not_valued: pd.DataFrame = field(repr=False)
    data_source: str
    notes: tuple[str, ...]
    book: LendingBook = field(repr=False)

    def for_bank(self, bank_id: str | None) -> ValuedBook:
        """The same book restricted to one bank (``None``: unchanged)."""
        if bank_id is None:
            return self
        v = self.valuation
        if v is not None:
            v = _subset(v, v.pledge_frame["bank_id"] == bank_id, v.loan_frame["bank_id"] == bank_id)
            # FX notes only of the bank's own loan currencies (others' books are not its business)
            mine = set(v.loan_frame["currency"].astype(str))
            v = replace(
                v,
                notes=tuple(n for n in v.notes if not n.startswith("FX ") or n[3:6] in mine),
                fx=MappingProxyType({c: q for c, q in v.fx.items() if c.code in mine}),
            )
        nv = self.not_valued[self.not_valued["bank_id"] == bank_id].reset_index(drop=True)
        b = self.book
        keep = b.loans["bank_id"] == bank_id
        book = LendingBook(
            b.as_of,
            b.pledges[b.pledges["loan_id"].isin(b.loans.loc[keep, "loan_id"])],
            b.loans[keep],
            b.rules_version,
        )
        return ValuedBook(self.as_of, v, nv, self.data_source, self.notes, book)

    def not_valued_loans(self) -> pd.DataFrame:
        """One row per loan not valued: ``loan_id``, ``bank_id``, ``currency``,
        ``outstanding``, ``outstanding_cny``, ``pledges`` (count) and ``reason``."""
        nv = self.not_valued
        cols = ["loan_id", "bank_id", "currency", "outstanding", "outstanding_cny", "reason"]
        if nv.empty:
            return pd.DataFrame(columns=[*cols, "pledges"])
        first = nv.drop_duplicates("loan_id")[cols].set_index("loan_id")
        first["pledges"] = nv.groupby("loan_id")["pledge_id"].count()
        return first.reset_index()

    def pledge_rows(self) -> pd.DataFrame:
        """The valued pledges, then one row per pledge of each loan not valued, with its value
        columns NaN (unknown, not zero), ``state`` ``not_valued`` and ``not_valued_reason``:
        the shape :func:`carbonfin.collateral.aggregate.allocate_outstanding` reads."""
        valued = self.valuation.pledges if self.valuation is not None else pd.DataFrame()
        nv = self.not_valued
        rows = pd.DataFrame(
            {
                "pledge_id": nv["pledge_id"],
                "loan_id": nv["loan_id"],
                "bank_id": nv["bank_id"],
                "instrument": nv["instrument"],
                "quantity_t": nv["quantity_t"],
                "market_value_cny": np.nan,
                "lendable_value_cny": np.nan,
                "loan_currency": nv["currency"],
                "loan_outstanding": nv["outstanding"],
                "loan_outstanding_cny": nv["outstanding_cny"],
                "state": "not_valued",
                "not_valued_reason": nv["reason"],
            }
        )
        if valued.empty:
            return rows.reset_index(drop=True)
        valued = valued.assign(not_valued_reason=None)
        return pd.concat([valued, rows], ignore_index=True) if len(rows) else valued

    def loan_rows(self) -> pd.DataFrame:
        """The valued loans, then one row per loan not valued (``state`` ``not_valued``,
        collateral NaN, ``outstanding_cny`` NaN where the FX rate is missing)."""
        valued = self.valuation.loans if self.valuation is not None else pd.DataFrame()
        nv = self.not_valued_loans()
        rows = pd.DataFrame(
            {
                "loan_id": nv["loan_id"],
                "bank_id": nv["bank_id"],
                "currency": nv["currency"],
                "outstanding": nv["outstanding"],
                "outstanding_cny": nv["outstanding_cny"],
                "collateral_value_cny": np.nan,
                "lendable_value_cny": np.nan,
                "state": "not_valued",
                "not_valued_reason": nv["reason"],
            }
        )
        if valued.empty:
            return rows.reset_index(drop=True)
        valued = valued.assign(not_valued_reason=None)
        return pd.concat([valued, rows], ignore_index=True) if len(rows) else valued

    def state_counts(self) -> dict[str, int]:
        """Loans by state, ``not_valued`` included (counted, never folded into ``ok``)."""
        counts = {} if self.valuation is None else self.valuation.state_counts()
        counts["not_valued"] = int(self.not_valued["loan_id"].nunique())
        return counts


def _subset(v: BookValuation, pledge_mask: Any, loan_mask: Any) -> BookValuation:
    return BookValuation(
        as_of=v.as_of,
        pledge_frame=v.pledge_frame[np.asarray(pledge_mask, dtype=bool)].reset_index(drop=True),
        loan_frame=v.loan_frame[np.asarray(loan_mask, dtype=bool)].reset_index(drop=True),
        profiles=v.profiles,
        fx=v.fx,
        notes=v.notes,
        data_source=v.data_source,
        policy_version=v.policy_version,
        thresholds=v.thresholds,
    )


def _combine(parts: list[BookValuation]) -> BookValuation | None:
    """Valuations of disjoint parts of one book as one valuation (same date and policy)."""
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return BookValuation(
        as_of=first.as_of,
        pledge_frame=pd.concat([p.pledge_frame for p in parts], ignore_index=True),
        loan_frame=pd.concat([p.loan_frame for p in parts], ignore_index=True),
        profiles=MappingProxyType({k: v for p in parts for k, v in p.profiles.items()}),
        fx=MappingProxyType({k: v for p in parts for k, v in p.fx.items()}),
        notes=tuple(dict.fromkeys(n for p in parts for n in p.notes)),
        data_source=first.data_source,
        policy_version=first.policy_version,
        thresholds=first.thresholds,
    )


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _fx_faults(loans: pd.DataFrame, fx: RateStore, as_of: dt.date) -> dict[str, str]:
    """Loan currency -> why it has no usable rate to CNY on ``as_of``."""
    faults = {}
    for code in sorted(set(loans["currency"].astype(str))):
        try:
            fx.rate(Currency.parse(code), Currency.CNY, as_of, max_age_days=FX_MAX_AGE_DAYS)
        except CarbonfinError as exc:
            faults[code] = f"no usable {code}/CNY FX rate on {as_of}: {_reason(exc)}"
    return faults


def _profiles(
    codes: Collection[str],
    history_of: Callable[[Instrument], PriceHistory],
    as_of: dt.date,
    model: Any,
    data_source: str,
) -> tuple[dict[Instrument, MarketRiskProfile], dict[Instrument, PriceHistory], dict[str, str]]:
    """The market-risk profile of each pledged instrument, and instrument code -> why not."""
    profiles, histories, faults = {}, {}, {}
    for code in sorted(codes):
        try:
            inst = Instrument.parse(code)
            histories[inst] = history_of(inst)
            profiles[inst] = market_risk_profile(
                histories[inst], as_of=as_of, model=model, data_source=data_source
            )
        except CarbonfinError as exc:
            faults[code] = f"{code} cannot be valued on {as_of}: {_reason(exc)}"
    return profiles, histories, faults


def _set_aside(
    pledges: pd.DataFrame,
    loans: pd.DataFrame,
    reasons: Mapping[str, str],
    fx: RateStore,
    as_of: dt.date,
) -> pd.DataFrame:
    """The not-valued rows (one per pledge) of the loans in ``reasons``, with the loan's
    outstanding in CNY where its currency has a rate (NaN otherwise: unknown is not zero)."""
    out = pledges[pledges["loan_id"].isin(list(reasons))][
        ["loan_id", "pledge_id", "instrument", "quantity_t"]
    ].merge(loans[["loan_id", "bank_id", "currency", "outstanding"]], on="loan_id")
    out["reason"] = [reasons[str(x)] for x in out["loan_id"]]
    rates: dict[str, float] = {}
    for code in set(out["currency"].astype(str)):
        try:
            quote = fx.rate(Currency.parse(code), Currency.CNY, as_of, max_age_days=FX_MAX_AGE_DAYS)
            rates[code] = float(quote.rate)
        except CarbonfinError:
            rates[code] = float("nan")
    out["outstanding_cny"] = [
        round(float(a) * rates[str(c)], 2)
        for a, c in zip(out["outstanding"], out["currency"], strict=True)
    ]
    return out[list(NOT_VALUED_COLUMNS)].reset_index(drop=True)


def _failing_loans(
    pledges: pd.DataFrame,
    loans: pd.DataFrame,
    run: Callable[[pd.DataFrame, pd.DataFrame], BookValuation],
) -> dict[str, str]:
    """Loan id -> why it fails when valued alone."""
    bad = {}
    for loan_id in loans["loan_id"]:
        try:
            run(pledges[pledges["loan_id"] == loan_id], loans[loans["loan_id"] == loan_id])
        except CarbonfinError as exc:
            bad[str(loan_id)] = f"cannot be valued: {_reason(exc)}"
    return bad


def _value_isolated(
    pledges: pd.DataFrame,
    loans: pd.DataFrame,
    run: Callable[[pd.DataFrame, pd.DataFrame], BookValuation],
) -> tuple[list[BookValuation], dict[str, str]]:
    """Value the book in one call; if that fails, bank by bank; within a failing bank, find the
    loans that fail alone and value the bank's other loans together."""
    try:
        return [run(pledges, loans)], {}
    except CarbonfinError:
        pass
    parts: list[BookValuation] = []
    failed: dict[str, str] = {}
    for _bank, bank_loans in loans.groupby("bank_id", sort=True):
        bank_pledges = pledges[pledges["loan_id"].isin(bank_loans["loan_id"])]
        try:
            parts.append(run(bank_pledges, bank_loans))
            continue
        except CarbonfinError:
            pass
        bad = _failing_loans(bank_pledges, bank_loans, run)
        keep = bank_loans[~bank_loans["loan_id"].isin(list(bad))]
        if not keep.empty:
            try:
                parts.append(run(bank_pledges[bank_pledges["loan_id"].isin(keep["loan_id"])], keep))
            except CarbonfinError as exc:  # the loans fail only together: none is valued
                bad |= {str(x): f"cannot be valued: {_reason(exc)}" for x in keep["loan_id"]}
        failed |= bad
    return parts, failed


def value_book_as_of(
    session: Session,
    as_of: dt.date,
    *,
    history_of: Callable[[Instrument], PriceHistory],
    fixings: pd.DataFrame,
    covered_usccs: Collection[str] = (),
    data_source: str = "database",
    bank_id: str | None = None,
    model: Any = DEFAULT_MODEL,
    progress: Callable[[str], None] | None = None,
) -> ValuedBook:
    """Value the book that stood on ``as_of`` (:func:`book_as_of`) with faults isolated per
    loan (see the module notes).

    Parameters
    ----------
    session
        A read session.
    as_of
        Valuation date: marks, FX fixings, pledges in force and balances of that day.
    history_of
        The price history of an instrument (may raise a :class:`~carbonfin.errors.CarbonfinError`
        for one it does not have: that instrument's loans are then not valued).
    fixings
        FX fixings (``date``, ``pair``, ``rate``), as the ``fx_fixings`` table.
    covered_usccs
        Covered emitters (their pledges carry the wrong-way add-on).
    data_source
        Where the data came from, carried into the result.
    bank_id
        One bank's book, or ``None`` for every bank's.

    Returns
    -------
    ValuedBook
        The valuation of what could be valued and the loans set aside with their reasons.
    """
    book = book_as_of(session, as_of, bank_id)
    source = f"{data_source}; eligible quantities from the registry (rules {book.rules_version})"
    fx = RateStore(fixings)
    empty = pd.DataFrame(columns=list(NOT_VALUED_COLUMNS))
    if book.pledges.empty:
        return ValuedBook(as_of, None, empty, source, (f"no pledges in force on {as_of}",), book)
    pledges, loans = book.pledges, book.loans
    fx_faults = _fx_faults(loans, fx, as_of)
    profiles, histories, inst_faults = _profiles(
        set(pledges["instrument"].astype(str)), history_of, as_of, model, source
    )
    reasons: dict[str, str] = {}
    for loan_id, ccy in zip(loans["loan_id"], loans["currency"].astype(str), strict=True):
        if ccy in fx_faults:
            reasons[str(loan_id)] = fx_faults[ccy]
    for loan_id, code in zip(pledges["loan_id"], pledges["instrument"].astype(str), strict=True):
        if code in inst_faults and str(loan_id) not in reasons:
            reasons[str(loan_id)] = inst_faults[code]
    ok_loans = loans[~loans["loan_id"].isin(list(reasons))]
    ok_pledges = pledges[pledges["loan_id"].isin(ok_loans["loan_id"])]

    def run(p: pd.DataFrame, ln: pd.DataFrame) -> BookValuation:
        return value_book(
            p, ln, histories, fx, as_of=as_of, model=model, covered_usccs=covered_usccs,
            profiles=profiles, data_source=source, fx_max_age_days=FX_MAX_AGE_DAYS,
            progress=progress,
        )  # fmt: skip

    parts: list[BookValuation] = []
    if not ok_pledges.empty:
        parts, failed = _value_isolated(ok_pledges, ok_loans, run)
        reasons |= failed
    not_valued = _set_aside(pledges, loans, reasons, fx, as_of) if reasons else empty
    return ValuedBook(as_of, _combine(parts), not_valued, source, (), book)
