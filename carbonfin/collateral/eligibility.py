"""Eligibility of pledged allowances as loan collateral, rule by rule, for one pledge or a book.

Rules are versioned, sourced data (``carbonfin/collateral/data/eligibility.toml``). Every rule is
evaluated for every pledge — evaluation never stops at the first failure — and the result says,
for each pledge, each rule's outcome, its reason and its source, and the *eligible quantity*:
the tonnes that count as collateral.

The rules, in order (:data:`RULES`):

``instrument accepted``
    the instrument is on the accepted list and its vintage is not older than the accepted one.
``vintage valid``
    an allowance has a vintage (CCER has none), issued by the valuation date and not expired.
``pledge registered``
    registration number and date present, registered on or before the date, not released.
``pledgor holds the quantity``
    the pledges locking the pledgor's holding of that instrument and vintage, in registration
    order up to and including this one, do not exceed the holding (over-pledging is refused).
``compliance need``
    allowances the pledgor must still surrender for finished compliance years are not free
    collateral: of its holding of the instrument, only what exceeds that need and the pledges
    registered before counts (later registrations bear a shortfall first).
``national-market carry-over``
    a firm that moved into the national market carries its surplus SHEA over gradually within
    three years (action plan clause 5): the part not yet carried over is not free collateral.

A pledge is *ineligible* when any of the first four rules fails or nothing of it counts,
*partially eligible* when the last two cut its quantity, and *eligible* otherwise. All rules
run vectorised over many pledges (:func:`evaluate_pledges`); :func:`evaluate_pledge` is the
one-pledge convenience.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from carbonfin.collateral.pledge_rules import (
    RULES,
    CarryoverRule,
    Decision,
    EligibilityRules,
    InstrumentRule,
    Outcome,
    _require_columns,
    carried_over_frac,
    carryover_entries,
    compliance_need,
    eligibility_rules,
    lender_reason,
    parse_eligibility_rules,
    reason,
)
from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument

__all__ = [
    "RULES",
    "CarryoverRule",
    "Decision",
    "EligibilityDecision",
    "EligibilityRules",
    "EligibilityTable",
    "InstrumentRule",
    "Outcome",
    "RuleResult",
    "carried_over_frac",
    "carryover_entries",
    "compliance_need",
    "eligibility_rules",
    "evaluate_pledge",
    "evaluate_pledges",
    "parse_eligibility_rules",
]

_HARD = RULES[:4]  # a failure of these makes the pledge worth nothing as collateral


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleResult:
    rule: str
    outcome: Outcome
    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class EligibilityDecision:
    """One pledge's eligibility with every rule's result."""

    pledge_id: str
    as_of: dt.date
    decision: Decision
    quantity_t: int
    eligible_quantity_t: int
    rules: tuple[RuleResult, ...]
    rules_version: str

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        """The rules that failed (their names say why the pledge is ineligible)."""
        return tuple(r for r in self.rules if r.outcome is Outcome.FAIL)

    @property
    def eligible(self) -> bool:
        return self.decision is not Decision.INELIGIBLE

    def outcome(self, rule: str) -> Outcome:
        for r in self.rules:
            if r.rule == rule:
                return r.outcome
        raise InvalidInputError(f"unknown rule {rule!r}; rules: {list(RULES)}")

    def summary(self) -> str:
        lines = [
            f"{self.pledge_id}: {self.decision.value} on {self.as_of} — "
            f"{self.eligible_quantity_t:,} of {self.quantity_t:,} t count as collateral "
            f"(eligibility rules {self.rules_version})"
        ]
        lines += [f"  [{r.outcome.value}] {r.rule}: {r.reason}" for r in self.rules]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _readonly(values: Any, dtype: Any = None) -> np.ndarray:
    arr = np.array(values, dtype=dtype)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, slots=True)
class EligibilityTable:
    """Eligibility of many pledges: per pledge, the eligible quantity and each rule's outcome.

    Arrays are read-only and aligned with ``pledge_id``. :meth:`decision` builds the full
    :class:`EligibilityDecision` (with reasons) of one pledge; :meth:`to_frame` gives a table.
    """

    as_of: dt.date
    rules_version: str
    pledge_id: tuple[str, ...]
    quantity_t: np.ndarray
    eligible_quantity_t: np.ndarray
    decision_codes: np.ndarray  # Decision values
    outcomes: MappingProxyType[str, np.ndarray]  # rule -> Outcome values
    _detail: MappingProxyType[str, np.ndarray]
    _rules: EligibilityRules

    def __len__(self) -> int:
        return len(self.pledge_id)

    def _index(self, pledge_id: str) -> int:
        try:
            return self.pledge_id.index(pledge_id)
        except ValueError:
            raise MissingDataError(f"pledge {pledge_id!r} was not evaluated") from None

    def decision(self, pledge_id: str, *, for_lender: bool = False) -> EligibilityDecision:
        """The decision of one pledge, every rule with its outcome, reason and source.

        ``for_lender``: word the reasons for the pledge's lender
        (:func:`carbonfin.collateral.pledge_rules.lender_reason`: no holdings, no other
        pledges' quantities); otherwise in full (:func:`~carbonfin.collateral.pledge_rules.reason`).
        """
        k = self._index(pledge_id)
        d = {name: arr[k] for name, arr in self._detail.items()}
        word = lender_reason if for_lender else reason
        results = tuple(
            RuleResult(
                rule,
                Outcome(str(self.outcomes[rule][k])),
                word(rule, Outcome(str(self.outcomes[rule][k])), d, self.as_of),
                self._rules.source(rule),
            )
            for rule in RULES
        )
        return EligibilityDecision(
            pledge_id,
            self.as_of,
            Decision(str(self.decision_codes[k])),
            int(self.quantity_t[k]),
            int(self.eligible_quantity_t[k]),
            results,
            self.rules_version,
        )

    def decisions(self) -> tuple[EligibilityDecision, ...]:
        return tuple(self.decision(p) for p in self.pledge_id)

    def to_frame(self) -> pd.DataFrame:
        """``pledge_id``, ``quantity_t``, ``eligible_quantity_t``, ``decision``, one column per
        rule (its outcome) and ``failed_rules`` (the failed rules' names, ``; ``-joined)."""
        frame = pd.DataFrame(
            {
                "pledge_id": list(self.pledge_id),
                "quantity_t": self.quantity_t.copy(),
                "eligible_quantity_t": self.eligible_quantity_t.copy(),
                "decision": self.decision_codes.astype(object),
            }
        )
        for rule in RULES:
            frame[rule] = self.outcomes[rule].astype(object)
        failed = np.stack([self.outcomes[r] == Outcome.FAIL.value for r in RULES], axis=1)
        frame["failed_rules"] = [
            "; ".join(r for r, f in zip(RULES, row, strict=True) if f) for row in failed
        ]
        return frame


# --- evaluation -------------------------------------------------------------------------------

_PLEDGE_COLUMNS = (
    "pledge_id",
    "instrument",
    "vintage",
    "quantity_t",
    "registration_no",
    "registration_date",
    "pledgor_uscc",
)


_INSTRUMENT_CODE = {inst.value: k for k, inst in enumerate(Instrument)}


def _instruments(values: pd.Series) -> np.ndarray:
    """Instrument codes (parsed once per distinct value; an unknown one raises)."""
    raw = values.astype(object).to_numpy()
    uniques, inverse = np.unique(raw.astype(str), return_inverse=True)
    parsed = np.array([Instrument.parse(str(u)).value for u in uniques], dtype=object)
    return parsed[inverse.reshape(-1)] if len(raw) else np.array([], dtype=object)


def _per_instrument(inst: np.ndarray, table: Mapping[str, Any], dtype: Any) -> np.ndarray:
    out = np.empty(len(inst), dtype=dtype)
    for code, value in table.items():
        out[inst == code] = value
    return out


def _dates(values: pd.Series) -> np.ndarray:
    """Dates as numpy datetime64[D] with NaT for missing (for vectorised comparisons)."""
    parsed = pd.to_datetime(values.astype(object).where(values.notna(), None), errors="coerce")
    return np.asarray(parsed.to_numpy(dtype="datetime64[ns]")).astype("datetime64[D]")


def _vintages(values: pd.Series) -> np.ndarray:
    """Vintages as int64 with -1 for none."""
    return pd.to_numeric(values, errors="raise").fillna(-1).to_numpy(dtype=np.int64)


def _joint_codes(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of the values of ``a`` and ``b`` in one shared coding."""
    codes, _ = pd.factorize(np.concatenate([a.astype(object), b.astype(object)]))
    return codes[: len(a)].astype(np.int64), codes[len(a) :].astype(np.int64)


def _group_cumsum(
    key: np.ndarray, rank1: np.ndarray, rank2: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Running sum of ``values`` within each ``key`` in (rank1, rank2) order, and group totals."""
    m = len(key)
    if m == 0:
        return np.zeros(0), np.zeros(0)
    order = np.lexsort((rank2, rank1, key))
    k, v = key[order], values[order]
    cs = np.cumsum(v)
    starts = np.r_[True, k[1:] != k[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(m), 0))
    running = np.empty(m)
    running[order] = cs - (cs - v)[first]
    _, inverse = np.unique(key, return_inverse=True)
    totals = np.bincount(inverse, weights=values)[inverse]
    return running, totals


def _lookup(keys: pd.MultiIndex, table: pd.Series) -> np.ndarray:
    return table.reindex(keys).fillna(0.0).to_numpy(dtype=np.float64)


def _sum_by(h_key: np.ndarray, h_values: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Sum of ``h_values`` per ``h_key``, looked up for each ``key`` (0 where absent)."""
    if len(h_key) == 0:
        return np.zeros(len(key))
    uniq, inverse = np.unique(h_key, return_inverse=True)
    sums = np.bincount(inverse, weights=h_values)
    pos = np.clip(np.searchsorted(uniq, key), 0, len(uniq) - 1)
    return np.where(uniq[pos] == key, sums[pos], 0.0)


def _need_and_carry(
    pledgor: np.ndarray,
    inst: np.ndarray,
    as_of: dt.date,
    compliance: pd.DataFrame | None,
    carryover: pd.DataFrame | None,
    rules: EligibilityRules,
) -> dict[str, np.ndarray]:
    """Per pledge: the pledgor's open surrender need of the instrument and, for SHEA of a firm
    that moved into the national market, the part of its surplus not yet carried over."""
    n = len(pledgor)
    need = np.zeros(n)
    years = np.full(n, "", dtype=object)
    deadline = np.full(n, None, dtype=object)
    carry_locked = np.zeros(n)
    carry_base = np.zeros(n)
    carry_frac = np.full(n, np.nan)
    carry_entry = np.full(n, None, dtype=object)
    carry_unknown = np.zeros(n, dtype=bool)
    if compliance is None:
        return {
            "need_t": need, "need_years": years, "next_deadline": deadline,
            "carry_locked_t": carry_locked, "carry_base_t": carry_base, "carry_frac": carry_frac,
            "carry_entry": carry_entry, "carry_unknown": carry_unknown,
        }  # fmt: skip
    needs = compliance_need(compliance, as_of).set_index(["uscc", "instrument"])
    keys_i = pd.MultiIndex.from_arrays([pledgor, inst])
    need = _lookup(keys_i, needs["need_t"])
    years = needs["years"].reindex(keys_i).fillna("").to_numpy(dtype=object)
    deadline = needs["next_deadline"].reindex(keys_i).to_numpy(dtype=object)
    entries = carryover_entries(compliance).set_index("uscc")["entry_date"]
    if carryover is not None:
        _require_columns(carryover, ("uscc", "entry_date", "base_t"), "carryover")
        c = carryover.set_index("uscc")
        entries = pd.concat([entries[~entries.index.isin(c.index)], c["entry_date"]])
        bases = c["base_t"]
    else:
        bases = pd.Series(dtype=np.float64)
    carry_rows = (inst == rules.carryover.instrument.value) & pd.Series(pledgor).isin(
        entries.index
    ).to_numpy()
    for u in pd.unique(pledgor[carry_rows]):
        rows = carry_rows & (pledgor == u)
        entry = entries[u]
        carry_entry[rows] = entry
        if u not in bases.index:
            # the surplus matters only while the schedule is running
            running = as_of >= entry and carried_over_frac(entry, as_of, rules) < 1.0
            carry_unknown[rows] = running
            if not running and as_of >= entry:
                carry_frac[rows] = carried_over_frac(entry, as_of, rules)
        elif as_of >= entry:
            frac = carried_over_frac(entry, as_of, rules)
            carry_frac[rows] = frac
            carry_base[rows] = float(bases[u])
            carry_locked[rows] = np.floor(float(bases[u]) * (1.0 - frac))
        else:
            carry_base[rows] = float(bases[u])
    return {
        "need_t": need, "need_years": years, "next_deadline": deadline,
        "carry_locked_t": carry_locked, "carry_base_t": carry_base, "carry_frac": carry_frac,
        "carry_entry": carry_entry, "carry_unknown": carry_unknown,
    }  # fmt: skip


def evaluate_pledges(
    pledges: pd.DataFrame,
    *,
    holdings: pd.DataFrame,
    as_of: dt.date,
    compliance: pd.DataFrame | None = None,
    carryover: pd.DataFrame | None = None,
    rules: EligibilityRules | None = None,
) -> EligibilityTable:
    """Evaluate every rule for every pledge at the end of ``as_of``.

    Parameters
    ----------
    pledges
        One row per pledge with ``pledge_id``, ``instrument``, ``vintage`` (empty for CCER),
        ``quantity_t``, ``registration_no``, ``registration_date``, ``pledgor_uscc`` and
        optionally ``release_date``. Include every pledge that locks the same pledgors'
        holdings (other banks' too): the holding rule needs them to see over-pledging.
    holdings
        The pledgors' registry balances at ``as_of``: ``uscc``, ``instrument``, ``vintage``,
        ``balance_t`` (:func:`carbonfin.store.collateral.holdings`).
    compliance
        The compliance records (``compliance.csv`` columns) of the pledgors, for their open
        surrender need (:func:`compliance_need`) and national-market entries
        (:func:`carryover_entries`). ``None``: no need is known, and the compliance-need rule
        says so (its outcome is *not applicable*, never a silent pass).
    carryover
        ``uscc``, ``entry_date``, ``base_t``: the SHEA surplus of each firm that moved into
        the national market, as it stood when it moved. ``None`` with ``compliance`` given:
        every moving firm found in ``compliance`` without a known surplus is refused by the
        carry-over rule for SHEA pledges (unknown surplus).
    rules
        Eligibility rules (default: the shipped version).
    """
    rules = rules or eligibility_rules()
    if not isinstance(as_of, dt.date):
        raise InvalidInputError(f"`as_of` must be a date; got {as_of!r}")
    _require_columns(pledges, _PLEDGE_COLUMNS, "pledges")
    _require_columns(holdings, ("uscc", "instrument", "vintage", "balance_t"), "holdings")
    n = len(pledges)
    ids = tuple(str(p) for p in pledges["pledge_id"])
    if len(set(ids)) != n:
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]
        raise InvalidInputError(f"pledge {dup!r} appears twice in `pledges`")
    inst = _instruments(pledges["instrument"])
    vint = _vintages(pledges["vintage"])
    qty = pledges["quantity_t"].to_numpy(dtype=np.float64)
    if n and (~np.isfinite(qty) | (qty <= 0)).any():
        bad = ids[int(np.flatnonzero(~np.isfinite(qty) | (qty <= 0))[0])]
        raise InvalidInputError(f"`quantity_t` of pledge {bad} must be > 0")
    pledgor = pledges["pledgor_uscc"].astype(object).to_numpy()
    day = np.datetime64(as_of, "D")

    # 1-2. instrument and vintage
    spec = {i.value: rules.instruments[i] for i in Instrument}
    accepted = _per_instrument(inst, {k: r.accepted for k, r in spec.items()}, bool)
    min_v = _per_instrument(inst, {k: r.min_vintage or -1 for k, r in spec.items()}, np.int64)
    vintaged = _per_instrument(inst, {i.value: i.has_vintage for i in Instrument}, bool)
    expiry = _per_instrument(inst, {k: r.expiry_years or 10_000 for k, r in spec.items()}, np.int64)
    inst_ok = accepted & (~vintaged | (vint >= min_v))
    latest = as_of.year - rules.latest_vintage_offset_years
    has_v = vint >= 0
    vint_ok = np.where(vintaged, has_v & (vint <= latest) & (as_of.year <= vint + expiry), ~has_v)

    # 3. registration
    reg_no = pledges["registration_no"].astype(object).to_numpy()
    text = pledges["registration_no"].astype("string").str.strip()
    has_no = (text.notna() & (text.str.len() > 0)).to_numpy(dtype=bool)
    reg_date = _dates(pledges["registration_date"])
    release = (
        _dates(pledges["release_date"])
        if "release_date" in pledges
        else np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    )
    registered = has_no & ~np.isnat(reg_date) & (reg_date <= day)
    released = ~np.isnat(release) & (release <= day)
    reg_ok = registered & ~released

    # 4. holding, in registration order per (pledgor, instrument, vintage); a pending pledge
    # comes after every registered one
    h_uscc = holdings["uscc"].astype(object).to_numpy()
    h_inst = _instruments(holdings["instrument"])
    h_v = _vintages(holdings["vintage"])
    h_bal = holdings["balance_t"].to_numpy(dtype=np.float64)
    firm_code, h_firm_code = _joint_codes(pledgor, h_uscc)
    inst_code = _per_instrument(inst, _INSTRUMENT_CODE, np.int64)
    h_inst_code = _per_instrument(h_inst, _INSTRUMENT_CODE, np.int64)
    vint_code, h_vint_code = _joint_codes(vint, h_v)
    n_v = int(max(vint_code.max(initial=0), h_vint_code.max(initial=0))) + 1
    key_i = firm_code * len(Instrument) + inst_code
    h_key_i = h_firm_code * len(Instrument) + h_inst_code
    key_v = key_i * n_v + vint_code
    h_key_v = h_key_i * n_v + h_vint_code
    reg_rank = np.where(np.isnat(reg_date), np.iinfo(np.int64).max, reg_date.astype(np.int64))
    id_rank = np.argsort(np.argsort(np.array(ids, dtype=object), kind="stable"), kind="stable")
    q_lock = np.where(reg_ok, qty, 0.0)
    cum_v, total_v = _group_cumsum(key_v, reg_rank, id_rank, q_lock)
    held_v = _sum_by(h_key_v, h_bal, key_v)
    upto = np.where(reg_ok, cum_v, total_v + qty)
    hold_ok = upto <= held_v + 1e-9

    # 5-6. instrument-level capacity after the compliance need and the carry-over lock
    need_known = compliance is not None
    nc = _need_and_carry(pledgor, inst, as_of, compliance, carryover, rules)
    need, carry_locked, carry_unknown = nc["need_t"], nc["carry_locked_t"], nc["carry_unknown"]
    held_i = _sum_by(h_key_i, h_bal, key_i)
    counts = reg_ok & hold_ok
    q_count = np.where(counts, qty, 0.0)
    cum_i, total_i = _group_cumsum(key_i, reg_rank, id_rank, q_count)
    before_i = np.where(counts, cum_i - q_count, total_i)
    # what the holding leaves for this pledge, then after the need, then after the carry-over
    base_kept = np.clip(held_i - before_i, 0.0, qty)
    after_need = np.clip(held_i - need - before_i, 0.0, qty)
    after_both = np.clip(held_i - need - carry_locked - before_i, 0.0, qty)
    after_both = np.where(carry_unknown, 0.0, after_both)

    hard_ok = inst_ok & vint_ok & reg_ok & hold_ok
    eligible = np.where(hard_ok, np.floor(after_both), 0.0).astype(np.int64)

    def graded(kept: np.ndarray, before: np.ndarray) -> np.ndarray:
        """PASS when the rule takes nothing away, PARTIAL when it cuts, FAIL when it takes all."""
        return np.where(
            kept >= before,
            Outcome.PASS.value,
            np.where(kept > 0, Outcome.PARTIAL.value, Outcome.FAIL.value),
        )

    out_need = graded(after_need, base_kept)
    if not need_known:
        out_need = np.full(n, Outcome.NOT_APPLICABLE.value, dtype=object)
    carry_applies = np.array([e is not None for e in nc["carry_entry"]], dtype=bool)
    out_carry = np.where(
        carry_unknown,
        Outcome.FAIL.value,
        np.where(carry_applies, graded(after_both, after_need), Outcome.NOT_APPLICABLE.value),
    )

    def ok(mask: np.ndarray) -> np.ndarray:
        return np.where(mask, Outcome.PASS.value, Outcome.FAIL.value)

    outcomes = {
        "instrument accepted": ok(inst_ok),
        "vintage valid": ok(vint_ok),
        "pledge registered": ok(reg_ok),
        "pledgor holds the quantity": ok(hold_ok),
        "compliance need": out_need,
        "national-market carry-over": out_carry,
    }
    any_fail = np.zeros(n, dtype=bool)
    for arr in outcomes.values():
        any_fail |= arr == Outcome.FAIL.value
    decision = np.where(
        any_fail | (eligible <= 0),
        Decision.INELIGIBLE.value,
        np.where(eligible < qty, Decision.PARTIALLY_ELIGIBLE.value, Decision.ELIGIBLE.value),
    )
    detail = {
        "instrument": inst,
        "vintage": vint,
        "accepted": accepted,
        "min_vintage": min_v,
        "latest_vintage": np.full(n, latest),
        "expiry_years": expiry,
        "registration_no": reg_no,
        "has_registration_no": has_no,
        "registration_date": reg_date,
        "release_date": release,
        "quantity_t": qty,
        "holding_t": held_v,
        "locked_upto_t": upto,
        "registered": registered,
        "instrument_holding_t": held_i,
        "pledged_before_t": before_i,
        "after_need_t": after_need,
        "after_carry_t": after_both,
        "pledgor": pledgor,
        **nc,
    }
    return EligibilityTable(
        as_of=as_of,
        rules_version=rules.version,
        pledge_id=ids,
        quantity_t=_readonly(qty.astype(np.int64)),
        eligible_quantity_t=_readonly(eligible),
        decision_codes=_readonly(decision, dtype=object),
        outcomes=MappingProxyType({k: _readonly(v, dtype=object) for k, v in outcomes.items()}),
        _detail=MappingProxyType({k: _readonly(v) for k, v in detail.items()}),
        _rules=rules,
    )


def evaluate_pledge(
    pledge: Mapping[str, Any],
    *,
    holdings: pd.DataFrame,
    as_of: dt.date,
    other_pledges: pd.DataFrame | None = None,
    compliance: pd.DataFrame | None = None,
    carryover: pd.DataFrame | None = None,
    rules: EligibilityRules | None = None,
    for_lender: bool = False,
) -> EligibilityDecision:
    """The decision of one pledge (a mapping with the columns of :func:`evaluate_pledges`),
    among ``other_pledges`` that lock the same pledgor's holdings; ``for_lender`` words the
    reasons for its lender (:meth:`EligibilityTable.decision`)."""
    row = pd.DataFrame([dict(pledge)])
    frame = row if other_pledges is None else pd.concat([other_pledges, row], ignore_index=True)
    table = evaluate_pledges(
        frame,
        holdings=holdings,
        as_of=as_of,
        compliance=compliance,
        carryover=carryover,
        rules=rules,
    )
    return table.decision(str(pledge["pledge_id"]), for_lender=for_lender)
