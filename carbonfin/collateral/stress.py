"""Stress tests of a valued collateral book.

A scenario (``carbonfin/rules/stress.toml``, versioned data with a source each) moves the marks
of the instruments it names; the book is re-valued at the moved marks, each pledge keeping the
haircut fraction of its valuation, and every loan's LTV and state re-checked against the same
thresholds. Kinds:

``replay``
    a historical window of :data:`carbonfin.pricing.STRESS_WINDOWS` replayed by
    :func:`~carbonfin.pricing.replay_window`: the move is the deepest point of the replayed path
    below its start (the worst mark a lender would have seen). An instrument whose history does
    not cover the window takes the move of the scenario's ``proxy`` instrument if it has one,
    else the scenario cannot run on it (a clear error, never a silent zero).
``shock``
    the same relative move for every instrument named.
``merton_jump``
    :func:`~carbonfin.pricing.merton_jump` paths with the instrument's own diffusion volatility
    (per business day, last 250 returns to the valuation date) and the scenario's jumps, not
    capped at the daily limit; the move is the scenario's quantile of the horizon return.

Both sides of a price move: given the borrowers' carbon-cost exposure (tonnes each
borrower must buy in the next compliance year and the forward price, per bank, from
:func:`carbonfin.scoring.carbon_card.borrower_exposure`), the result's ``both_sides`` shows per
bank the collateral value of the pledged allowances before and after the move and the borrowers'
carbon cost before and after it: a spike raises the first and the second together.

Results per scenario: the loss of collateral value, the number of loans in margin call or
liquidation and the top-up cash they need, and the **uncovered exposure** — loan outstanding
above the stressed collateral value, ``max(0, loan − Σ stressed value)``, what the lender loses
if it sells at the stressed marks — in total and per bank, per instrument and per industry (of
the pledgor, where given), a loan's share allocated to its pledges by stressed value (by pledged
tonnes where that is zero; :mod:`carbonfin.collateral.aggregate`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from carbonfin.collateral.aggregate import allocation_weights
from carbonfin.collateral.monitor import STATES, BookValuation
from carbonfin.errors import DataIntegrityError, InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument
from carbonfin.pricing.history import PriceHistory
from carbonfin.pricing.scenarios import STRESS_WINDOWS, merton_jump, replay_window
from carbonfin.rules import load_rules_toml

__all__ = [
    "BOTH_SIDES_COLUMNS",
    "StressResult",
    "StressScenario",
    "both_sides",
    "stress_book",
    "stress_record",
    "stress_scenarios",
]


@dataclass(frozen=True, slots=True)
class StressScenario:
    """One scenario of ``stress.toml``; ``params`` holds the kind's parameters."""

    name: str
    kind: str
    instruments: tuple[Instrument, ...]
    description: str
    source: str
    assumed: bool
    params: MappingProxyType[str, Any]


@cache
def stress_scenarios() -> MappingProxyType[str, StressScenario]:
    """The shipped scenarios by name (parsed once; immutable)."""
    raw = load_rules_toml("stress.toml")
    out: dict[str, StressScenario] = {}
    common = {"kind", "instruments", "description", "source", "assumed"}
    try:
        for name, spec in raw["scenarios"].items():
            if spec["kind"] not in KINDS:
                raise DataIntegrityError(f"stress scenario {name!r}: unknown kind {spec['kind']!r}")
            if spec["kind"] == "replay" and spec["window"] not in STRESS_WINDOWS:
                raise DataIntegrityError(f"stress scenario {name!r}: unknown window")
            out[name] = StressScenario(
                name=name,
                kind=str(spec["kind"]),
                instruments=tuple(Instrument.parse(c) for c in spec["instruments"]),
                description=str(spec["description"]),
                source=str(spec["source"]),
                assumed=bool(spec["assumed"]),
                params=MappingProxyType({k: v for k, v in spec.items() if k not in common}),
            )
    except (KeyError, TypeError) as exc:
        raise DataIntegrityError(f"stress.toml is missing or mistypes a field: {exc}") from exc
    return MappingProxyType(out)


@dataclass(frozen=True, slots=True, eq=False)
class StressResult:
    """A book under one scenario. Money in CNY; frames are read-only copies."""

    scenario: StressScenario
    as_of: dt.date
    moves: MappingProxyType[Instrument, float]
    value_before_cny: float
    value_after_cny: float
    loans_called_before: int
    loans_called_after: int
    topup_cash_cny: float
    uncovered_cny: float
    states_after: MappingProxyType[str, int]
    by_bank: pd.DataFrame
    by_instrument: pd.DataFrame
    by_industry: pd.DataFrame
    notes: tuple[str, ...]
    #: per bank, collateral value and borrowers' carbon cost before and after the move;
    #: None when no borrower exposure was given
    both_sides: pd.DataFrame | None = None

    @property
    def loss_cny(self) -> float:
        return self.value_before_cny - self.value_after_cny

    def summary(self) -> str:
        moves = ", ".join(f"{i.value} {m:+.1%}" for i, m in self.moves.items())
        lines = [
            f"stress {self.scenario.name} on the book of {self.as_of}: {moves}",
            f"  {self.scenario.description}",
            f"  collateral {self.value_before_cny:,.0f} -> {self.value_after_cny:,.0f} CNY "
            f"(loss {self.loss_cny:,.0f})",
            f"  loans in margin call or liquidation: {self.loans_called_before} -> "
            f"{self.loans_called_after}; top-up cash needed {self.topup_cash_cny:,.0f} CNY",
            f"  uncovered exposure {self.uncovered_cny:,.0f} CNY",
            "  states after: " + ", ".join(f"{s} {n}" for s, n in self.states_after.items()),
            f"  source: {self.scenario.source}" + (" (assumed)" if self.scenario.assumed else ""),
        ]
        if self.both_sides is not None and not self.both_sides.empty:
            b = self.both_sides.sum(numeric_only=True)
            lines.append(
                f"  both sides: pledged collateral {b['collateral_change_cny']:+,.0f} CNY, "
                f"borrowers' next-year carbon cost {b['carbon_cost_change_cny']:+,.0f} CNY"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _replay_move(history: PriceHistory, window: str) -> float:
    path = replay_window(history, window, 1.0)
    return float(min(path.prices.min() - 1.0, 0.0))


def _jump_move(history: PriceHistory, as_of: dt.date, p: Mapping[str, Any], seed: int) -> float:
    rets = history.returns(per="business_day")
    r = rets.values[rets.dates <= as_of][-250:]
    if len(r) < 20:
        raise MissingDataError(
            f"{history.instrument}: only {len(r)} returns before {as_of} for the diffusion "
            "volatility of the policy-jump scenario"
        )
    paths = merton_jump(
        float(np.std(r)), float(p["jump_intensity_daily"]), float(p["jump_mean"]),
        float(p["jump_sd"]), 1.0, int(p["horizon_days"]), int(p["n_paths"]), seed=seed,
        limit_frac=None,
    )  # fmt: skip
    return float(min(np.quantile(paths.horizon_returns(), float(p["quantile"])), 0.0))


@dataclass(frozen=True, slots=True)
class _MoveContext:
    scenario: StressScenario
    histories: Mapping[Instrument, PriceHistory]
    as_of: dt.date
    seed: int
    notes: list[str]

    def history(self, inst: Instrument) -> PriceHistory:
        if inst not in self.histories:
            raise MissingDataError(f"no price history for {inst.value} to stress")
        return self.histories[inst]


def _shock(c: _MoveContext, inst: Instrument) -> float:
    return float(c.scenario.params["move_frac"])


def _jump(c: _MoveContext, inst: Instrument) -> float:
    return _jump_move(c.history(inst), c.as_of, c.scenario.params, c.seed)


def _replay(c: _MoveContext, inst: Instrument) -> float:
    p = c.scenario.params
    try:
        return _replay_move(c.history(inst), str(p["window"]))
    except MissingDataError:
        proxy = p.get("proxy")
        if proxy is None or Instrument.parse(proxy) == inst:
            raise
        px = Instrument.parse(proxy)
        if px not in c.histories:
            raise MissingDataError(f"no price history for the proxy {px.value}") from None
        c.notes.append(f"{inst.value} has no quotes in the window: moved like {px.value}")
        return _replay_move(c.histories[px], str(p["window"]))


#: the scenario kinds by name: each turns a scenario into one instrument's relative move
KINDS: Mapping[str, Callable[[_MoveContext, Instrument], float]] = MappingProxyType(
    {"replay": _replay, "shock": _shock, "merton_jump": _jump}
)


def _moves(
    scenario: StressScenario,
    instruments: set[Instrument],
    histories: Mapping[Instrument, PriceHistory],
    as_of: dt.date,
    seed: int,
    notes: list[str],
) -> dict[Instrument, float]:
    ctx = _MoveContext(scenario, histories, as_of, seed, notes)
    move = KINDS[scenario.kind]
    return {i: move(ctx, i) for i in scenario.instruments if i in instruments}


BOTH_SIDES_COLUMNS = (
    "bank_id", "collateral_before_cny", "collateral_after_cny", "collateral_change_cny",
    "borrowers_exposed", "carbon_cost_before_cny", "carbon_cost_after_cny",
    "carbon_cost_change_cny",
)  # fmt: skip


def both_sides(
    pledges: pd.DataFrame,
    loans: pd.DataFrame,
    value_before: np.ndarray,
    value_after: np.ndarray,
    exposure: pd.DataFrame,
    moves: Mapping[Instrument, float],
) -> pd.DataFrame:
    """Per bank: pledged collateral value before/after and the borrowers' carbon cost
    before/after the same moves (cost = tonnes to buy x forward x (1 + move of its instrument)).

    ``exposure``: ``bank_id, borrower_uscc, instrument, purchase_t, forward_cny_per_t``.
    """
    need = {"bank_id", "borrower_uscc", "instrument", "purchase_t", "forward_cny_per_t"}
    if not need <= set(exposure.columns):
        raise InvalidInputError(f"`exposure` lacks {sorted(need - set(exposure.columns))}")
    bank_of = dict(zip(loans["loan_id"], loans["bank_id"], strict=True))
    coll = pd.DataFrame(
        {"bank_id": pledges["loan_id"].map(bank_of), "collateral_before_cny": value_before,
         "collateral_after_cny": value_after}
    ).groupby("bank_id").sum()  # fmt: skip
    move = exposure["instrument"].map({i.value: m for i, m in moves.items()}).fillna(0.0)
    cost = exposure["purchase_t"].astype(float) * exposure["forward_cny_per_t"].astype(float)
    exp = pd.DataFrame(
        {"bank_id": exposure["bank_id"], "borrowers_exposed": (cost > 0).astype(int),
         "carbon_cost_before_cny": cost, "carbon_cost_after_cny": cost * (1.0 + move)}
    ).groupby("bank_id").sum()  # fmt: skip
    out = coll.join(exp, how="outer").fillna(0.0)
    out["collateral_change_cny"] = out["collateral_after_cny"] - out["collateral_before_cny"]
    out["carbon_cost_change_cny"] = out["carbon_cost_after_cny"] - out["carbon_cost_before_cny"]
    out = out.reset_index().rename(columns={"index": "bank_id"})
    out["borrowers_exposed"] = out["borrowers_exposed"].astype(int)
    return out[list(BOTH_SIDES_COLUMNS)].sort_values("bank_id").reset_index(drop=True)


def stress_book(
    valuation: BookValuation,
    scenario: StressScenario | str,
    histories: Mapping[Instrument, PriceHistory],
    *,
    industries: Mapping[str, str] | None = None,
    seed: int = 0,
    carbon_exposure: pd.DataFrame | None = None,
) -> StressResult:
    """Apply ``scenario`` (a :class:`StressScenario` or a name in ``stress.toml``) to a valued
    book. ``industries`` maps a pledgor or borrower USCC to its industry for the breakdown;
    ``carbon_exposure`` (see :func:`both_sides`) adds the borrowers' carbon cost per bank."""
    if isinstance(scenario, str):
        known = stress_scenarios()
        if scenario not in known:
            raise InvalidInputError(f"unknown stress scenario {scenario!r}; known: {sorted(known)}")
        scenario = known[scenario]
    pl, lo = valuation.pledges, valuation.loans
    notes: list[str] = []
    present = {Instrument.parse(c) for c in pl["instrument"].unique()}
    moves = _moves(scenario, present, histories, valuation.as_of, seed, notes)
    if not moves:
        notes.append("the scenario moves no instrument of this book")
    inst_codes = pl["instrument"].to_numpy(dtype=object)
    move = np.zeros(len(pl))
    for inst, m in moves.items():
        move[inst_codes == inst.value] = m
    value = pl["market_value_cny"].to_numpy(dtype=float)
    stressed = value * (1.0 + move)
    lendable = stressed * (1.0 - pl["haircut_frac"].to_numpy(dtype=float))
    loan_pos = pd.Index(lo["loan_id"]).get_indexer(pl["loan_id"])
    n = len(lo)
    coll = np.bincount(loan_pos, weights=stressed, minlength=n)
    lend = np.bincount(loan_pos, weights=lendable, minlength=n)
    out = lo["outstanding_cny"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(lend > 0, out / lend, np.where(out > 0, np.inf, 0.0))
    th = valuation.thresholds
    state_idx = (
        (util >= th.warning_utilisation).astype(int)
        + (util >= th.margin_call_utilisation)
        + (util >= th.liquidation_utilisation)
    )
    called_after = state_idx >= 2
    called_before = lo["state"].isin(("margin_call", "liquidation")).to_numpy()
    topup = np.where(state_idx > 0, np.maximum(out / th.target_utilisation - lend, 0.0), 0.0)
    uncovered = np.maximum(out - coll, 0.0)
    # each loan's uncovered exposure allocated to its pledges by the allocation rule
    # (carbonfin.collateral.aggregate): by stressed value, by tonnes where that is zero
    share, _basis = allocation_weights(loan_pos, stressed, pl["quantity_t"].to_numpy(dtype=float))
    pledge_uncovered = uncovered[loan_pos] * share
    by_bank = (
        pd.DataFrame(
            {"bank_id": lo["bank_id"], "uncovered_cny": uncovered, "called": called_after,
             "called_before": called_before, "topup_cash_cny": topup, "outstanding_cny": out,
             "value_before_cny": np.bincount(loan_pos, weights=value, minlength=n),
             "value_after_cny": coll}
        )
        .groupby("bank_id", sort=True)
        .agg(loans=("called", "size"), called_before=("called_before", "sum"),
             called=("called", "sum"), outstanding_cny=("outstanding_cny", "sum"),
             value_before_cny=("value_before_cny", "sum"),
             value_after_cny=("value_after_cny", "sum"),
             topup_cash_cny=("topup_cash_cny", "sum"), uncovered_cny=("uncovered_cny", "sum"))
        .reset_index()
    )  # fmt: skip
    frame = pd.DataFrame(
        {"instrument": inst_codes, "value_before_cny": value, "value_after_cny": stressed,
         "uncovered_cny": pledge_uncovered}
    )  # fmt: skip
    by_instrument = frame.groupby("instrument", sort=True).sum().reset_index()
    if industries is not None:
        who = (
            pl["pledgor_uscc"] if "pledgor_uscc" in pl.columns else pd.Series([None] * len(pl))
        ).to_numpy(dtype=object)
        frame["industry"] = [industries.get(str(u), "unknown") for u in who]
        by_industry = (
            frame.drop(columns="instrument").groupby("industry", sort=True).sum().reset_index()
        )
    else:
        by_industry = pd.DataFrame(columns=["industry", "value_before_cny", "value_after_cny",
                                            "uncovered_cny"])  # fmt: skip
        notes.append("no industries given: no per-industry breakdown")
    counts = np.bincount(state_idx, minlength=len(STATES))
    return StressResult(
        scenario=scenario,
        as_of=valuation.as_of,
        moves=MappingProxyType(moves),
        value_before_cny=float(value.sum()),
        value_after_cny=float(stressed.sum()),
        loans_called_before=int(called_before.sum()),
        loans_called_after=int(called_after.sum()),
        topup_cash_cny=float(topup.sum()),
        uncovered_cny=float(uncovered.sum()),
        states_after=MappingProxyType({s: int(c) for s, c in zip(STATES, counts, strict=True)}),
        by_bank=by_bank,
        by_instrument=by_instrument,
        by_industry=by_industry,
        notes=tuple(notes),
        both_sides=None
        if carbon_exposure is None
        else both_sides(pl, lo, value, stressed, carbon_exposure, moves),
    )


def _plain(value: Any) -> Any:
    """JSON-safe copy: dates as ISO text, numpy scalars as Python numbers, NaN as None."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def stress_record(
    result: StressResult,
    *,
    scope: str,
    seed: int,
    model: str,
    model_version: str,
    policy_version: str,
    data_source: str,
) -> dict[str, Any]:
    """A stress result as a plain record to store: scenario, as-of, scope (``"all"`` or a bank
    id), seed, the inputs (moves, scenario kind and parameters, data source), the model
    versions (haircut model and its version, collateral policy, scenario source) and the
    results (totals, states and the three breakdowns). Money in CNY, as floats.

    Raises
    ------
    InvalidInputError
        An empty ``scope``.
    """
    if not scope:
        raise InvalidInputError("`scope` must name the book stressed ('all' or a bank id)")
    sc = result.scenario
    return {
        "scenario": sc.name,
        "as_of": result.as_of,
        "scope": scope,
        "seed": int(seed),
        "inputs": _plain(
            {
                "moves": {i.value: m for i, m in result.moves.items()},
                "kind": sc.kind,
                "params": dict(sc.params),
                "instruments": [i.value for i in sc.instruments],
                "data_source": data_source,
            }
        ),
        "model_versions": _plain(
            {
                "haircut_model": model,
                "haircut_model_version": model_version,
                "collateral_policy": policy_version,
                "scenario_source": sc.source,
                "scenario_assumed": sc.assumed,
            }
        ),
        "results": _plain(
            {
                "value_before_cny": result.value_before_cny,
                "value_after_cny": result.value_after_cny,
                "loss_cny": result.loss_cny,
                "loans_called_before": result.loans_called_before,
                "loans_called_after": result.loans_called_after,
                "topup_cash_cny": result.topup_cash_cny,
                "uncovered_cny": result.uncovered_cny,
                "states_after": dict(result.states_after),
                "by_bank": result.by_bank.to_dict("records"),
                "by_instrument": result.by_instrument.to_dict("records"),
                "by_industry": result.by_industry.to_dict("records"),
                **(
                    {}
                    if result.both_sides is None
                    else {"both_sides": result.both_sides.to_dict("records")}
                ),
                "notes": list(result.notes),
            }
        ),
    }
