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
from carbonfin.collateral.loan_values import book_numbers
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


def _check_frame(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(f"`{name}` must be a DataFrame; got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInputError(f"`{name}` lacks the columns {missing}")


def _numbers(frame: pd.DataFrame, col: str, what: str, *, positive: bool) -> np.ndarray:
    try:
        values = pd.to_numeric(frame[col], errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} `{col}` must be numeric: {exc}") from None
    bad = ~np.isfinite(values) | ((values <= 0) if positive else (values < 0))
    if bad.any():
        i = int(np.argmax(bad))
        bound = "> 0" if positive else ">= 0"
        raise InvalidInputError(
            f"{what} `{col}` must be finite and {bound}; got {float(values[i])!r} at row {i}"
        )
    return values


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
        ``reference_price_cny_per_t`` (auction or acquisition price, for ``"lower_of"``).
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
    _check_frame(pledges, "pledges", _PLEDGE_COLUMNS)
    _check_frame(loans, "loans", _LOAN_COLUMNS)
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
    loan_pos = _loan_rows(pledges, loans)  # loans checked unique; -1: not in `loans`
    quantity = _numbers(pledges, "quantity_t", "pledge", positive=True)
    eligible = (
        _numbers(pledges.fillna({"eligible_quantity_t": 0}), "eligible_quantity_t", "pledge",
                 positive=False)
        if "eligible_quantity_t" in pledges.columns
        else quantity
    )  # fmt: skip
    if (eligible > quantity).any():
        raise InvalidInputError("pledge `eligible_quantity_t` exceeds its `quantity_t`")
    outstanding = _numbers(loans, "outstanding", "loan", positive=False)
    # instruments as integer codes (string operations only on the few distinct values)
    inst_raw_code, inst_raw = _factorize_str(pledges["instrument"], "pledge")
    parsed = [Instrument.parse(c) for c in inst_raw]
    inst_list = list(dict.fromkeys(parsed))  # one code per instrument, however it was spelled
    inst_code = np.array([inst_list.index(p) for p in parsed], dtype=np.int64)[inst_raw_code]
    for inst in inst_list:
        if inst not in histories:
            raise MissingDataError(f"no price history for {inst.value}, which the book pledges")
    if (loan_pos < 0).any():
        raise InvalidInputError(
            f"pledge {pledges['pledge_id'].iloc[int(np.argmax(loan_pos < 0))]!r} secures loan "
            f"{pledges['loan_id'].iloc[int(np.argmax(loan_pos < 0))]!r}, which is not in `loans`"
        )
    ccy_code, ccy_raw = _factorize_str(loans["currency"], "loan")
    ccy_names = np.asarray(ccy_raw, dtype=object)
    currencies = {c: Currency.parse(c) for c in ccy_raw}
    rates = {ccy: fx.rate(ccy, Currency.CNY, as_of, max_age_days=fx_max_age_days)
             for ccy in currencies.values()}  # fmt: skip
    notes = [f"FX {q.base.code}/CNY: {q.reason}" for q in rates.values() if q.substituted]
    loan_rate = np.array([float(rates[currencies[c]].rate) for c in ccy_raw])[ccy_code]
    outstanding_cny = np.round(outstanding * loan_rate, 2)

    # --- per pledge: price, haircut -------------------------------------------------------------
    pledgor_code, pledgor_names, n_unknown = _pledgor_codes(pledges, loans, loan_pos)
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
    covered = covered_name[pledgor_code]
    if "bank_id" in loans.columns:
        bank_loan, bank_names = _factorize_str(loans["bank_id"], "loan")
        bank_code = bank_loan[loan_pos]
        bank_name = np.asarray(bank_names, dtype=object)
    else:
        bank_code = np.zeros(len(pledges), dtype=np.int64)
        bank_name = np.array([""], dtype=object)
    mismatch = np.array([currencies[c] != Currency.CNY for c in ccy_raw], dtype=bool)[ccy_code][
        loan_pos
    ]
    # positions: a pledgor's eligible tonnes of an instrument at a bank (every loan)
    pos_code, position, book_share = position_tonnes(bank_code, pledgor_code, inst_code, eligible)
    prof_list = book_profiles(
        inst_list, profiles or {}, histories, as_of=as_of, model=model, mark_method=mark_method,
        data_source=data_source, policy=pol, progress=progress,
    )  # fmt: skip
    profs: dict[Instrument, MarketRiskProfile] = dict(profiles or {})
    profs.update(zip(inst_list, prof_list, strict=True))
    notes += [f"{i.value}: {m}" for i in inst_list for m in profs[i].notes]
    price, mark_dates, model_names = pledge_marks(prof_list, inst_code, pledges, price_basis)
    # the numbers (compiled, without the GIL) in a thread while this one builds the frames' text
    # columns and the columns that need no number. The frames take the arrays as they are (no
    # consolidating copy of a million rows); columns read from the caller's frames are copied
    # first, so the valuation shares nothing with them
    with ThreadPoolExecutor(max_workers=1) as pool:
        numbers = pool.submit(
            book_numbers, prof_list, inst_code=inst_code, eligible=eligible, price=price,
            position=position, book_share=book_share, pos_code=pos_code, mismatch=mismatch,
            covered=covered, loan_pos=loan_pos, outstanding_cny=outstanding_cny,
            thresholds=pol.ltv,
        )  # fmt: skip
        sec = np.flatnonzero(np.bincount(loan_pos, minlength=len(loans)))  # the secured loans
        loan_text = _loan_text(loans, sec, ccy_names[ccy_code[sec]])
        codes = np.array([i.value for i in inst_list], dtype=object)[inst_code]
        pledge_text = {
            "pledge_id": _obj(pledges["pledge_id"].to_numpy(dtype=object).copy()),
            "loan_id": _obj(pledges["loan_id"].to_numpy(dtype=object).copy()),
            "bank_id": _obj(bank_name[bank_code]),
            "instrument": _obj(codes),
            "mark_date": _obj(mark_dates[inst_code]),
            "pledgor_uscc": _obj(pledgor_names[pledgor_code]),
            "loan_currency": _obj(ccy_names[ccy_code[loan_pos]]),
            "model": _obj(model_names[inst_code]),
        }
        loan_amounts = {"outstanding": outstanding[sec], "outstanding_cny": outstanding_cny[sec]}
        pledge_amounts = {
            "quantity_t": quantity.copy(),
            "eligible_quantity_t": eligible.copy(),
            "loan_outstanding": outstanding[loan_pos],
            "loan_outstanding_cny": outstanding_cny[loan_pos],
        }
        nb = numbers.result()
    state = np.array(STATES, dtype=object)[nb.state]
    comps, per_loan = nb.haircut, nb.loan
    ltv, util = per_loan["ltv"], per_loan["utilisation"]
    loans_out = pd.DataFrame(
        {
            **loan_text,
            **loan_amounts,
            **{c: per_loan[c][sec] for c in _LOAN_NUMBERS[:5]},
            "state": _obj(state[sec]),
            **{c: per_loan[c][sec] for c in _LOAN_NUMBERS[5:]},
            "topup_quantity_t": nb.topup_t[sec],
            "instrument": _obj(codes[nb.main[sec]]),
        },
        copy=False,
    )
    pledges_out = pd.DataFrame(
        {
            **{c: pledge_text[c] for c in ("pledge_id", "loan_id", "bank_id", "instrument")},
            "quantity_t": pledge_amounts["quantity_t"],
            "eligible_quantity_t": pledge_amounts["eligible_quantity_t"],
            "price_cny_per_t": price,
            "mark_date": pledge_text["mark_date"],
            "market_value_cny": nb.value,
            "haircut_frac": comps["total"],
            "lendable_value_cny": nb.lendable,
            **{c: comps[c] for c in (*_COMPONENT_COLS, *_LIQUIDITY_COLS)},
            "position_t": position,
            "book_share": book_share,
            "pledgor_uscc": pledge_text["pledgor_uscc"],
            "pledgor_covered": covered,
            "loan_currency": pledge_text["loan_currency"],
            "loan_outstanding": pledge_amounts["loan_outstanding"],
            "loan_outstanding_cny": pledge_amounts["loan_outstanding_cny"],
            "ltv": ltv[loan_pos],
            "utilisation": util[loan_pos],
            "state": _obj(state[loan_pos]),
            "model": pledge_text["model"],
            **(
                {"industry": pledges["industry"].to_numpy(copy=True)}
                if "industry" in pledges.columns
                else {}
            ),
        },
        copy=False,
    )
    return BookValuation(
        as_of=as_of,
        pledge_frame=pledges_out,
        loan_frame=loans_out,
        profiles=MappingProxyType(profs),
        fx=MappingProxyType({ccy: rates[ccy] for ccy in rates}),
        notes=tuple(dict.fromkeys(notes)),
        data_source=data_source,
        policy_version=pol.version,
        thresholds=pol.ltv,
    )


def _loan_text(loans: pd.DataFrame, sec: np.ndarray, currency: np.ndarray) -> dict[str, pd.Series]:
    """The loan frame's text columns ``loan_id``, ``bank_id``, ``currency`` for rows ``sec``
    (the secured loans), copied from the caller's frame."""
    bank = (
        loans["bank_id"].to_numpy(dtype=object)[sec]
        if "bank_id" in loans.columns
        else np.full(len(sec), "", dtype=object)
    )
    return {
        "loan_id": _obj(loans["loan_id"].to_numpy(dtype=object)[sec]),
        "bank_id": _obj(bank),
        "currency": _obj(currency),
    }


def _loan_rows(pledges: pd.DataFrame, loans: pd.DataFrame) -> np.ndarray:
    """Each pledge's row in ``loans`` (-1 where its loan is not there); a loan id twice refused.

    A book ordered by loan id (loans strictly increasing, pledges non-decreasing: the order
    :func:`carbonfin.store.collateral.pledges_in_force` gives) is joined by a merge of the two
    sorted columns (``Index.join``: one comparison per row, in order), about a tenth of the time of
    hashing 1.8M text ids on a million pledges; any other order by one factorization of the loan
    ids of both frames (:func:`_hash_rows`). All paths give ``Index(loan ids).get_indexer(pledge
    loan ids)`` after an ``is_unique`` check.
    """
    lo = pd.Index(loans["loan_id"].to_numpy(dtype=object), dtype=object)
    pl = pd.Index(pledges["loan_id"].to_numpy(dtype=object), dtype=object)
    if _sorted_text(lo, strict=True) and _sorted_text(pl, strict=False):
        _, _, rows = pl.join(lo, how="left", return_indexers=True)
        if rows is None:  # pandas returns no indexer when the two are equal
            return np.arange(len(pl), dtype=np.int64)
        return np.asarray(rows, dtype=np.int64)
    return _hash_rows(pledges, loans)


def _sorted_text(index: pd.Index, *, strict: bool) -> bool:
    """Whether an object index holds only ``str``, in increasing order (strictly: no repeat).

    Text only: Python orders ``str`` by code point, the order a merge needs; a mixed or missing
    id (``None``, a number) takes the hashing path, which treats it exactly."""
    if not index.is_monotonic_increasing or (strict and not index.is_unique):
        return False
    return len(index) == 0 or (isinstance(index[0], str) and index.inferred_type == "string")


def _hash_rows(pledges: pd.DataFrame, loans: pd.DataFrame) -> np.ndarray:
    """:func:`_loan_rows` for a book in any order.

    One factorization of the loan ids of both frames, its table sized once, answers both
    questions: the loans are unique exactly when they take the codes 0..n-1 in order, and a
    pledge's code is its loan's row. The same answer as ``pd.Index(loan ids).get_indexer(pledge
    loan ids)`` after an ``is_unique`` check, about a quarter less CPU on a million pledges; any
    other case (a duplicate or missing loan id) takes that path.
    """
    lo = loans["loan_id"].to_numpy(dtype=object)
    n_loans = len(lo)
    both = np.concatenate([lo, pledges["loan_id"].to_numpy(dtype=object)])
    codes, _ = pd.factorize(both, size_hint=len(both))
    if not np.array_equal(codes[:n_loans], np.arange(n_loans)):
        index = pd.Index(loans["loan_id"])
        if not index.is_unique:
            dup = loans.loc[loans["loan_id"].duplicated(), "loan_id"].iloc[0]
            raise InvalidInputError(f"loan {dup!r} appears twice in the book")
        return np.asarray(index.get_indexer(pledges["loan_id"]), dtype=np.int64)
    rows = np.asarray(codes[n_loans:], dtype=np.int64).copy()
    rows[rows >= n_loans] = -1
    return rows


def _factorize_str(values: pd.Series, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and names of a label column, ``str`` applied to the distinct values only.

    Values whose ``str`` coincide (``"SHEA"`` and an enum printing as ``SHEA``) share one code.
    A missing label is refused (it would otherwise take another row's code).
    """
    code, uniques = pd.factorize(_labels(values), use_na_sentinel=True)
    if (code < 0).any():
        i = int(np.argmax(code < 0))
        raise InvalidInputError(f"{what} `{values.name}` is missing at row {i}")
    names = np.array([str(u) for u in uniques], dtype=object)
    merged, merged_names = pd.factorize(names)
    return np.asarray(merged, dtype=np.int64)[code], np.asarray(merged_names, dtype=object)


def _labels(values: pd.Series) -> pd.Series | np.ndarray:
    """A label column ready to factorize: text as an object array (pandas hashes it with its
    string table, skipping the string dtype's own factorize, about half the time), any other
    dtype (categorical, integer) as it is."""
    if isinstance(values.dtype, pd.StringDtype) or values.dtype == object:
        return values.to_numpy(dtype=object)
    return values


def _obj(values: np.ndarray) -> pd.Series:
    """An object column without pandas' string inference (a large book's frame is built fast)."""
    return pd.Series(values, dtype=object, copy=False)


def _pledgor_codes(
    pledges: pd.DataFrame, loans: pd.DataFrame, loan_pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer code of each pledge's pledgor, the names, and how many were unknown.

    The pledgor is the pledge's ``pledgor_uscc``, else its loan's ``borrower_uscc``, else (not
    known) the loan itself, so that an unknown pledgor never merges two firms' positions.
    """
    n = len(pledges)
    own = (
        pd.factorize(_labels(pledges["pledgor_uscc"]), use_na_sentinel=True)
        if "pledgor_uscc" in pledges.columns
        else (np.full(n, -1, dtype=np.int64), pd.Index([]))
    )
    code = np.asarray(own[0], dtype=np.int64)
    names = np.asarray(own[1], dtype=object)
    missing = code < 0
    if missing.any() and "borrower_uscc" in loans.columns:
        b_code, b_names = pd.factorize(loans["borrower_uscc"], use_na_sentinel=True)
        b = np.asarray(b_code, dtype=np.int64)[loan_pos]
        use = missing & (b >= 0)
        extra, extra_names = pd.factorize(np.asarray(b_names, dtype=object)[b[use]])
        remap = np.asarray(pd.Index(names).get_indexer(extra_names), dtype=np.int64)
        new = remap < 0
        remap[new] = len(names) + np.arange(int(new.sum()))
        names = np.r_[names, np.asarray(extra_names, dtype=object)[new]]
        code[use] = remap[extra]
        missing = code < 0
    n_unknown = int(missing.sum())
    if n_unknown:
        loan_names = pd.factorize(pledges["loan_id"].to_numpy()[missing])
        code[missing] = len(names) + loan_names[0]
        names = np.r_[names, np.array([f"loan:{x}" for x in loan_names[1]], dtype=object)]
    return code, names, n_unknown
