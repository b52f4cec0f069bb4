"""Valuation, loan-to-value and margin calls of a whole loan book, vectorised over pledges.

:func:`value_book` values every pledge on ``as_of``, haircuts it and checks each loan's LTV
against the policy's thresholds, in array operations: the market-risk model of each instrument is
measured once (one :class:`~carbonfin.collateral.market_risk.MarketRiskProfile` per instrument
and date) and every pledge of that instrument is haircut from it.

Per pledge
    price = the mark of :meth:`PriceHistory.mark` (last close, or the VWAP), or — with
    ``price_basis="lower_of"`` — the lower of the mark and the pledge's reference price (auction
    or acquisition price, column ``reference_price_cny_per_t``), as the Shanghai pledge-loan
    guideline allows; value = eligible quantity × price; lendable value = value × (1 − haircut).
Per loan
    outstanding converted to CNY (the collateral currency) through :mod:`carbonfin.fx` at the
    fixing of ``as_of`` (or the last before it, said in ``fx``); LTV = loan / Σ value;
    utilisation = loan / Σ lendable value = LTV / (1 − effective haircut). The state is the
    highest threshold reached (``ok``, ``warning``, ``margin_call``, ``liquidation``; policy
    ``[ltv]``). For a loan at or above the warning level: the cash (CNY, no haircut) or the
    extra tonnes of its main instrument that bring utilisation back to the target
    (:mod:`carbonfin.collateral.topup`; NaN where no quantity can: the haircut reaches 100% first).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from carbonfin.collateral.book_haircut import book_profiles, pledge_marks
from carbonfin.collateral.book_labels import (
    check_frame,
    checked_numbers,
    factorize_str,
    loan_rows,
    obj_column,
    pledgor_codes,
)
from carbonfin.collateral.loan_values import BookNumbers, book_numbers
from carbonfin.collateral.market_risk import (
    DEFAULT_MODEL,
    MarketRiskProfile,
    Model,
)
from carbonfin.collateral.policy import CollateralPolicy, LtvThresholds, collateral_policy
from carbonfin.collateral.positions import position_tonnes
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.fx.rates import RateQuote, RateStore
from carbonfin.instruments import Currency, Instrument
from carbonfin.pricing.history import PriceHistory

__all__ = ["STATES", "BookValuation", "value_book"]

STATES = ("ok", "warning", "margin_call", "liquidation")
_PLEDGE_COLUMNS = ("pledge_id", "loan_id", "instrument", "quantity_t")
_LOAN_COLUMNS = ("loan_id", "currency", "outstanding")


def _json_number(value: float) -> float | None:
    """A float for a JSON record: ``None`` for an infinite or undefined one (no collateral
    value left to divide by)."""
    v = float(value)
    return v if math.isfinite(v) else None


@dataclass(frozen=True, slots=True, eq=False)
class BookValuation:
    """A loan book valued on one date.

    ``pledges``: one row per pledge (price, value, haircut and its components, lendable value,
    the loan's LTV and state). ``loans``: one row per loan (outstanding in its currency and in
    CNY, collateral and lendable value, LTV, utilisation, state, target LTV and the top-up
    needed). ``profiles``: the market-risk measurement of each instrument; ``fx``: the rate used
    for each loan currency; ``notes``: every fallback and warning met.
    """

    as_of: dt.date
    pledge_frame: pd.DataFrame = field(repr=False)
    loan_frame: pd.DataFrame = field(repr=False)
    profiles: MappingProxyType[Instrument, MarketRiskProfile]
    fx: MappingProxyType[Currency, RateQuote]
    notes: tuple[str, ...]
    data_source: str
    policy_version: str
    thresholds: LtvThresholds

    @property
    def pledges(self) -> pd.DataFrame:
        """One row per pledge (a copy-on-write view: changing it leaves the valuation intact)."""
        return self.pledge_frame.copy(deep=False)

    @property
    def loans(self) -> pd.DataFrame:
        """One row per secured loan (a copy-on-write view)."""
        return self.loan_frame.copy(deep=False)

    def state_counts(self) -> dict[str, int]:
        counts = self.loans["state"].value_counts()
        return {s: int(counts.get(s, 0)) for s in STATES}

    def ltv_quantiles(
        self, qs: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
    ) -> dict[float, float]:
        ltv = self.loans["ltv"].to_numpy(dtype=float)
        ltv = ltv[np.isfinite(ltv)]
        return {q: float(np.quantile(ltv, q)) for q in qs} if len(ltv) else {}

    def valuation_records(self) -> pd.DataFrame:
        """One record per pledge in the store's ``collateral_valuations`` shape."""
        p = self.pledges
        comps = {c: p[c].to_numpy(dtype=float) for c in _COMPONENT_COLS}
        days = p["liquidation_days"].to_numpy(dtype=float)
        util = p["utilisation"].to_numpy(dtype=float)
        detail = [
            {"components": {c: float(v[i]) for c, v in comps.items()},
             "liquidation_days": int(days[i]), "utilisation": _json_number(util[i]),
             "policy": self.policy_version, "data_source": self.data_source}
            for i in range(len(p))
        ]  # fmt: skip
        return pd.DataFrame(
            {
                "pledge_id": p["pledge_id"],
                "loan_id": p["loan_id"],
                "instrument": p["instrument"],
                "quantity_t": p["quantity_t"],
                "eligible_quantity_t": p["eligible_quantity_t"],
                "price_cny_per_t": p["price_cny_per_t"],
                "mark_date": p["mark_date"],
                "market_value_cny": p["market_value_cny"],
                "haircut_frac": p["haircut_frac"],
                "lendable_value_cny": p["lendable_value_cny"],
                "loan_currency": p["loan_currency"],
                "loan_outstanding": p["loan_outstanding"],
                "loan_outstanding_cny": p["loan_outstanding_cny"],
                "ltv": p["ltv"],
                "state": p["state"],
                "model": p["model"],
                "detail": detail,
            }
        )

    def margin_call_records(self) -> pd.DataFrame:
        """One record per loan at or above the warning level, in the ``margin_calls`` shape."""
        loans = self.loans[self.loans["state"] != "ok"]
        return pd.DataFrame(
            {
                "loan_id": loans["loan_id"],
                "bank_id": loans["bank_id"],
                "state": loans["state"],
                "ltv": loans["ltv"],
                "target_ltv": loans["target_ltv"],
                "collateral_value_cny": loans["collateral_value_cny"],
                "loan_outstanding_cny": loans["outstanding_cny"],
                "topup_cash_cny": loans["topup_cash_cny"],
                "topup_quantity_t": loans["topup_quantity_t"],
                "instrument": loans["instrument"],
                "detail": [
                    {"utilisation": _json_number(u), "policy": self.policy_version}
                    for u in loans["utilisation"]
                ],
            }
        )

    def summary(self) -> str:
        counts = self.state_counts()
        lines = [
            f"book valued on {self.as_of}: {len(self.pledges)} pledges securing "
            f"{len(self.loans)} loans (data: {self.data_source}; policy {self.policy_version})",
            f"  collateral {self.loans['collateral_value_cny'].sum():,.0f} CNY, lendable "
            f"{self.loans['lendable_value_cny'].sum():,.0f} CNY, loans "
            f"{self.loans['outstanding_cny'].sum():,.0f} CNY",
            "  LTV quantiles: "
            + "  ".join(f"{q:.0%} {v:.1%}" for q, v in self.ltv_quantiles().items()),
            "  states: " + ", ".join(f"{s} {n}" for s, n in counts.items()),
        ]
        for inst, prof in self.profiles.items():
            lines.append(
                f"  {inst.value}: mark {prof.mark.price_cny_per_t:.2f} CNY/t of "
                f"{prof.mark.last_date}, {prof.model} haircut {prof.apc_frac:.1%} before "
                f"liquidation and add-ons, ADV {prof.adv_t:,.0f} t"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


_LIQUIDITY_COLS = ("liquidation_days", "sale_days", "variance_days", "impact")
#: the loan frame's numeric columns from ``book_numbers`` (``state`` between the 5th and 6th)
_LOAN_NUMBERS = (
    "collateral_value_cny",
    "lendable_value_cny",
    "haircut_frac",
    "ltv",
    "utilisation",
    "target_ltv",
    "topup_cash_cny",
)
_COMPONENT_COLS = (
    "market",
    "anti_procyclicality",
    "liquidation",
    "concentration",
    "currency",
    "wrong_way",
    "data_quality",
    "policy_bounds",
)


@dataclass(frozen=True, slots=True, eq=False)
class _CodedBook:
    """A book checked and coded (:func:`_coded_book`): per pledge its loan row, quantities,
    instrument, pledgor, bank, currency mismatch, covered flag and position; per loan the
    amounts and currency; the FX quotes and the notes met so far."""

    loan_pos: np.ndarray
    quantity: np.ndarray
    eligible: np.ndarray
    outstanding: np.ndarray
    outstanding_cny: np.ndarray
    instruments: list[Instrument]
    inst_code: np.ndarray
    ccy_code: np.ndarray
    ccy_names: np.ndarray
    rates: dict[Currency, RateQuote]
    pledgor_code: np.ndarray
    pledgor_names: np.ndarray
    covered: np.ndarray
    bank_code: np.ndarray
    bank_name: np.ndarray
    mismatch: np.ndarray
    pos_code: np.ndarray
    position: np.ndarray
    book_share: np.ndarray
    notes: list[str]


def value_book(
    pledges: pd.DataFrame,
    loans: pd.DataFrame,
    histories: Mapping[Instrument, PriceHistory],
    fx: RateStore,
    *,
    as_of: dt.date,
    model: Model = DEFAULT_MODEL,
    covered_usccs: Collection[str] = (),
    price_basis: Literal["market", "lower_of"] = "market",
    mark_method: Literal["close", "vwap"] = "close",
    fx_max_age_days: int = 10,
    profiles: Mapping[Instrument, MarketRiskProfile] | None = None,
    data_source: str = "unspecified",
    policy: CollateralPolicy | None = None,
    progress: Callable[[str], None] | None = None,
) -> BookValuation:
    """Value, haircut and LTV-check every pledge of a loan book on ``as_of``.

    Parameters
    ----------
    pledges
        One row per pledge in force: ``pledge_id``, ``loan_id``, ``instrument``, ``quantity_t``;
        optional ``eligible_quantity_t`` (from the eligibility decision; defaults to the
        quantity), ``pledgor_uscc`` (defaults to the loan's borrower), ``vintage`` and
        ``reference_price_cny_per_t`` (auction or acquisition price, for ``"lower_of"``). A
        book in loan-id order (as the store gives it) is joined to its loans fastest.
    loans
        One row per loan: ``loan_id``, ``currency``, ``outstanding`` (in the loan currency);
        optional ``bank_id`` and ``borrower_uscc``. Every pledge's loan must be there.
    histories
        Price history of each instrument pledged (only quotes up to ``as_of`` are used).
    fx
        FX fixings; each loan currency needs a rate to CNY on ``as_of`` (or shortly before).
    covered_usccs
        Firms that are covered emitters: their pledges carry the wrong-way add-on.
    profiles
        Market-risk profiles already measured for ``as_of`` (otherwise measured here, once per
        instrument).

    Raises
    ------
    InvalidInputError, MissingDataError
        Before anything is computed for a malformed book, an unknown instrument, a pledge of an
        unknown loan, an instrument without history, or a loan currency without FX fixings.
    """
    pol = policy or collateral_policy()
    book = _coded_book(
        pledges, loans, histories, fx, as_of=as_of, price_basis=price_basis,
        covered_usccs=covered_usccs, fx_max_age_days=fx_max_age_days,
    )  # fmt: skip
    insts = book.instruments
    prof_list = book_profiles(
        insts, profiles or {}, histories, as_of=as_of, model=model, mark_method=mark_method,
        data_source=data_source, policy=pol, progress=progress,
    )  # fmt: skip
    profs: dict[Instrument, MarketRiskProfile] = dict(profiles or {})
    profs.update(zip(insts, prof_list, strict=True))
    notes = book.notes + [f"{i.value}: {m}" for i in insts for m in profs[i].notes]
    price, mark_dates, model_names = pledge_marks(prof_list, book.inst_code, pledges, price_basis)
    # the numbers (compiled, without the GIL) in a thread while this one builds the frames' text
    # columns and the columns that need no number
    with ThreadPoolExecutor(max_workers=1) as pool:
        numbers = pool.submit(
            book_numbers, prof_list, inst_code=book.inst_code, eligible=book.eligible,
            price=price, position=book.position, book_share=book.book_share,
            pos_code=book.pos_code, mismatch=book.mismatch, covered=book.covered,
            loan_pos=book.loan_pos, outstanding_cny=book.outstanding_cny, thresholds=pol.ltv,
        )  # fmt: skip
        sec = np.flatnonzero(np.bincount(book.loan_pos, minlength=len(loans)))  # secured loans
        text = _text_columns(pledges, loans, book, sec, mark_dates[book.inst_code],
                             model_names[book.inst_code])  # fmt: skip
        nb = numbers.result()
    return BookValuation(
        as_of=as_of,
        pledge_frame=_pledge_frame(pledges, book, text, nb, price),
        loan_frame=_loan_frame(book, text, nb, sec),
        profiles=MappingProxyType(profs),
        fx=MappingProxyType(dict(book.rates)),
        notes=tuple(dict.fromkeys(notes)),
        data_source=data_source,
        policy_version=pol.version,
        thresholds=pol.ltv,
    )


def _coded_book(
    pledges: pd.DataFrame,
    loans: pd.DataFrame,
    histories: Mapping[Instrument, PriceHistory],
    fx: RateStore,
    *,
    as_of: dt.date,
    price_basis: str,
    covered_usccs: Collection[str],
    fx_max_age_days: int,
) -> _CodedBook:
    """The book checked (every refusal before any number) and coded (:mod:`.book_labels`),
    with the FX rates of its loan currencies and each pledge's position."""
    check_frame(pledges, "pledges", _PLEDGE_COLUMNS)
    check_frame(loans, "loans", _LOAN_COLUMNS)
    if not isinstance(as_of, dt.date):
        raise InvalidInputError(f"`as_of` must be a date; got {as_of!r}")
    if price_basis not in ("market", "lower_of"):
        raise InvalidInputError(
            f"`price_basis` must be 'market' or 'lower_of'; got {price_basis!r}"
        )
    if pledges.empty:
        raise MissingDataError(f"no pledges to value on {as_of.isoformat()}")
    if not pd.Index(pledges["pledge_id"]).is_unique:
        dup = pledges.loc[pledges["pledge_id"].duplicated(), "pledge_id"].iloc[0]
        raise InvalidInputError(f"pledge {dup!r} appears twice in the book")
    loan_pos = loan_rows(pledges, loans)  # loans checked unique; -1: not in `loans`
    quantity = checked_numbers(pledges, "quantity_t", "pledge", positive=True)
    eligible = (
        checked_numbers(pledges.fillna({"eligible_quantity_t": 0}), "eligible_quantity_t",
                        "pledge", positive=False)
        if "eligible_quantity_t" in pledges.columns
        else quantity
    )  # fmt: skip
    if (eligible > quantity).any():
        raise InvalidInputError("pledge `eligible_quantity_t` exceeds its `quantity_t`")
    outstanding = checked_numbers(loans, "outstanding", "loan", positive=False)
    instruments, inst_code = _instrument_codes(pledges, histories)
    if (loan_pos < 0).any():
        i = int(np.argmax(loan_pos < 0))
        raise InvalidInputError(
            f"pledge {pledges['pledge_id'].iloc[i]!r} secures loan "
            f"{pledges['loan_id'].iloc[i]!r}, which is not in `loans`"
        )
    ccy_code, ccy_raw = factorize_str(loans["currency"], "loan")
    currencies = {c: Currency.parse(c) for c in ccy_raw}
    rates = {ccy: fx.rate(ccy, Currency.CNY, as_of, max_age_days=fx_max_age_days)
             for ccy in currencies.values()}  # fmt: skip
    notes = [f"FX {q.base.code}/CNY: {q.reason}" for q in rates.values() if q.substituted]
    loan_rate = np.array([float(rates[currencies[c]].rate) for c in ccy_raw])[ccy_code]
    pledgor_code, pledgor_names, n_unknown = pledgor_codes(pledges, loans, loan_pos)
    if n_unknown:
        notes.append(
            f"{n_unknown} pledge(s) without a known pledgor: each loan taken as its own pledgor "
            "for the position"
        )
    covered_set = set(covered_usccs)
    covered_name = np.fromiter(
        (name in covered_set for name in pledgor_names.tolist()),
        dtype=bool,
        count=len(pledgor_names),
    )
    bank_code, bank_name = _bank_codes(loans, loan_pos)
    mismatch = np.array([currencies[c] != Currency.CNY for c in ccy_raw], dtype=bool)
    # positions: a pledgor's eligible tonnes of an instrument at a bank (every loan)
    pos_code, position, book_share = position_tonnes(bank_code, pledgor_code, inst_code, eligible)
    return _CodedBook(
        loan_pos=loan_pos, quantity=quantity, eligible=eligible, outstanding=outstanding,
        outstanding_cny=np.round(outstanding * loan_rate, 2), instruments=instruments,
        inst_code=inst_code, ccy_code=ccy_code, ccy_names=np.asarray(ccy_raw, dtype=object),
        rates=rates, pledgor_code=pledgor_code, pledgor_names=pledgor_names,
        covered=covered_name[pledgor_code], bank_code=bank_code, bank_name=bank_name,
        mismatch=mismatch[ccy_code][loan_pos], pos_code=pos_code, position=position,
        book_share=book_share, notes=notes,
    )  # fmt: skip


def _instrument_codes(
    pledges: pd.DataFrame, histories: Mapping[Instrument, PriceHistory]
) -> tuple[list[Instrument], np.ndarray]:
    """The instruments pledged (one each, however spelled) and each pledge's index into them;
    an unknown instrument or one without a history refused. String work only on the few
    distinct values."""
    inst_raw_code, inst_raw = factorize_str(pledges["instrument"], "pledge")
    parsed = [Instrument.parse(c) for c in inst_raw]
    instruments = list(dict.fromkeys(parsed))
    inst_code = np.array([instruments.index(p) for p in parsed], dtype=np.int64)[inst_raw_code]
    for inst in instruments:
        if inst not in histories:
            raise MissingDataError(f"no price history for {inst.value}, which the book pledges")
    return instruments, inst_code


def _bank_codes(loans: pd.DataFrame, loan_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pledge's bank code (through its loan) and the bank names; one unnamed bank when the
    loans carry no ``bank_id``."""
    if "bank_id" not in loans.columns:
        return np.zeros(len(loan_pos), dtype=np.int64), np.array([""], dtype=object)
    bank_loan, bank_names = factorize_str(loans["bank_id"], "loan")
    return bank_loan[loan_pos], np.asarray(bank_names, dtype=object)


def _text_columns(
    pledges: pd.DataFrame,
    loans: pd.DataFrame,
    book: _CodedBook,
    sec: np.ndarray,
    mark_dates: np.ndarray,
    model_names: np.ndarray,
) -> dict[str, pd.Series]:
    """The frames' text columns, pledge columns by name and loan columns prefixed ``loan:``.

    The frames take the arrays as they are (no consolidating copy of a million rows); columns
    read from the caller's frames are copied first, so the valuation shares nothing with them.
    """
    codes = np.array([i.value for i in book.instruments], dtype=object)
    ccy = book.ccy_names[book.ccy_code]
    loan_bank = (
        loans["bank_id"].to_numpy(dtype=object)[sec]
        if "bank_id" in loans.columns
        else np.full(len(sec), "", dtype=object)
    )
    return {
        "pledge_id": obj_column(pledges["pledge_id"].to_numpy(dtype=object).copy()),
        "loan_id": obj_column(pledges["loan_id"].to_numpy(dtype=object).copy()),
        "bank_id": obj_column(book.bank_name[book.bank_code]),
        "instrument": obj_column(codes[book.inst_code]),
        "mark_date": obj_column(mark_dates),
        "pledgor_uscc": obj_column(book.pledgor_names[book.pledgor_code]),
        "loan_currency": obj_column(ccy[book.loan_pos]),
        "model": obj_column(model_names),
        "loan:loan_id": obj_column(loans["loan_id"].to_numpy(dtype=object)[sec]),
        "loan:bank_id": obj_column(loan_bank),
        "loan:currency": obj_column(ccy[sec]),
    }


def _loan_frame(
    book: _CodedBook, text: dict[str, pd.Series], nb: BookNumbers, sec: np.ndarray
) -> pd.DataFrame:
    """One row per secured loan (rows ``sec`` of the loans)."""
    state = np.array(STATES, dtype=object)[nb.state]
    codes = np.array([i.value for i in book.instruments], dtype=object)
    per_loan = nb.loan
    return pd.DataFrame(
        {
            "loan_id": text["loan:loan_id"],
            "bank_id": text["loan:bank_id"],
            "currency": text["loan:currency"],
            "outstanding": book.outstanding[sec],
            "outstanding_cny": book.outstanding_cny[sec],
            **{c: per_loan[c][sec] for c in _LOAN_NUMBERS[:5]},
            "state": obj_column(state[sec]),
            **{c: per_loan[c][sec] for c in _LOAN_NUMBERS[5:]},
            "topup_quantity_t": nb.topup_t[sec],
            "instrument": obj_column(codes[book.inst_code[nb.main[sec]]]),
        },
        copy=False,
    )


def _pledge_frame(
    pledges: pd.DataFrame,
    book: _CodedBook,
    text: dict[str, pd.Series],
    nb: BookNumbers,
    price: np.ndarray,
) -> pd.DataFrame:
    """One row per pledge, in the caller's order."""
    comps, pos = nb.haircut, book.loan_pos
    return pd.DataFrame(
        {
            **{c: text[c] for c in ("pledge_id", "loan_id", "bank_id", "instrument")},
            "quantity_t": book.quantity.copy(),
            "eligible_quantity_t": book.eligible.copy(),
            "price_cny_per_t": price,
            "mark_date": text["mark_date"],
            "market_value_cny": nb.value,
            "haircut_frac": comps["total"],
            "lendable_value_cny": nb.lendable,
            **{c: comps[c] for c in (*_COMPONENT_COLS, *_LIQUIDITY_COLS)},
            "position_t": book.position,
            "book_share": book.book_share,
            "pledgor_uscc": text["pledgor_uscc"],
            "pledgor_covered": book.covered,
            "loan_currency": text["loan_currency"],
            "loan_outstanding": book.outstanding[pos],
            "loan_outstanding_cny": book.outstanding_cny[pos],
            "ltv": nb.loan["ltv"][pos],
            "utilisation": nb.loan["utilisation"][pos],
            "state": obj_column(np.array(STATES, dtype=object)[nb.state][pos]),
            "model": text["model"],
            **(
                {"industry": pledges["industry"].to_numpy(copy=True)}
                if "industry" in pledges.columns
                else {}
            ),
        },
        copy=False,
    )
