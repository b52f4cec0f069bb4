"""The carbon-cost outlook of a population from its carbon accounts: emissions paths, coverage by
year, allocation, registry holdings, outstanding obligations, revenue and value added, then the
positions and the cost distribution (:func:`carbon_cost_outlook`).

Inputs are the sample tables (:mod:`carbonfin.data.schema`): ``firms``, ``compliance``,
``firm_years``, ``registry_events`` and optionally ``facility_emissions`` + ``facilities``.
Everything is grouped per firm with pandas; nothing loops over firms.

- **Emissions**: verified emissions (``compliance``), else the firm's facility reports (scope 1 +
  scope 2, years where every facility reported both). Projected from the firm's own trend: the
  least-squares slope of log emissions over its last ``trend_years`` years before ``as_of``,
  bounded (``carbon_cost.toml [trend]``, with the reason); fewer than ``min_points`` years: flat.
  A caller may give the path instead (``emissions_path``).
- **Coverage by year**: a firm already in the market (a compliance record in the last two years)
  stays covered in its market; any other firm is covered in year ``y`` when the coverage rules
  (:mod:`carbonfin.scoring.coverage`, clause 2) in force in ``y`` name its sector and its
  projected emissions of ``y − 1`` reach the threshold. Not covered in any year: no carbon cost,
  and the reason says why.
- **Allocation**: the last allocation, tightened by ``[allocation] decline_per_year``; a newly
  covered firm has none on record: its sector's median allocation/emissions ratio times its
  emissions (a fallback the result names).
- **Holdings**: the free (unpledged) registry balance on ``as_of`` per market (pledged allowances
  cannot be surrendered while pledged); **outstanding**: earlier obligations not surrendered by
  ``as_of`` (verified − CCER used − surrendered).
- **Revenue / value added**: the latest known year before ``as_of``, held flat; unknown stays
  unknown (the shares are NaN).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument
from carbonfin.pricing.history import PriceHistory
from carbonfin.scoring.carbon_cost import CarbonCost, CompliancePrices, carbon_cost
from carbonfin.scoring.carbon_position import CEA, MARKETS, SHEA, Positions, project_positions
from carbonfin.scoring.carbon_prices import simulate_compliance_prices
from carbonfin.scoring.carbon_rules import CarbonCostRules, carbon_cost_rules
from carbonfin.scoring.coverage import coverage_rules

__all__ = ["FirmInputs", "assumptions_of", "build_inputs", "carbon_cost_outlook"]

_CREDIT = ("allocation", "purchase")
_DEBIT = ("sale", "surrender")


@dataclass(frozen=True, slots=True, eq=False)
class FirmInputs:
    """Everything :func:`~carbonfin.scoring.carbon_position.project_positions` and
    :func:`~carbonfin.scoring.carbon_cost.carbon_cost` need, built from the tables (arrays over
    firms, ``(firms, years)`` or ``(firms, 2)`` per market)."""

    uscc: tuple[str, ...]
    sector: np.ndarray
    market: np.ndarray
    emissions: np.ndarray
    base_emissions: np.ndarray
    allocation: np.ndarray
    holdings: np.ndarray
    outstanding: np.ndarray
    revenue: np.ndarray
    value_added: np.ndarray
    status: np.ndarray
    reason: np.ndarray
    notes: tuple[str, ...]


_COMP_NUMBERS = (
    "year", "allocated_t", "verified_emissions_tco2e", "surrendered_t", "ccer_used_t",
)  # fmt: skip


def _numeric(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """A copy with ``columns`` as float64 (NaN where missing); a clear error if not numbers."""
    out = frame.copy()
    for c in columns:
        if c not in out.columns:
            raise InvalidInputError(f"the frame lacks the column `{c}`")
        try:
            out[c] = out[c].astype("float64")
        except (TypeError, ValueError):
            raise InvalidInputError(f"column `{c}` must hold numbers") from None
    return out


def _emissions_history(frames: Mapping[str, pd.DataFrame], before: int) -> pd.DataFrame:
    """``uscc, year, emissions_tco2e`` (verified, else complete facility reports)."""
    comp = _numeric(frames["compliance"], _COMP_NUMBERS)[
        ["uscc", "year", "verified_emissions_tco2e"]
    ]
    comp = comp.rename(columns={"verified_emissions_tco2e": "emissions_tco2e"})
    parts = [comp.assign(emissions_tco2e=comp["emissions_tco2e"].astype(float))]
    if "facility_emissions" in frames and "facilities" in frames:
        fe = frames["facility_emissions"].merge(
            frames["facilities"][["facility_id", "uscc"]], on="facility_id"
        )
        total = fe["scope1_tco2e"] + fe["scope2_tco2e"]
        g = fe.assign(t=total).groupby(["uscc", "year"])
        sums = g["t"].sum(min_count=1).where(g["t"].count() == g["t"].size()).dropna()
        parts.append(sums.rename("emissions_tco2e").reset_index())
    out = pd.concat(parts).drop_duplicates(["uscc", "year"], keep="first")
    out = out[(out["year"] < before) & (out["emissions_tco2e"] > 0)]
    return out.astype({"year": int, "emissions_tco2e": float})


def _trend(hist: pd.DataFrame, r: CarbonCostRules) -> pd.DataFrame:
    """Per firm: base year and emissions, bounded growth, and how many points the slope used."""
    h = hist.sort_values(["uscc", "year"]).groupby("uscc").tail(r.trend_years)
    x, y = h["year"].astype(float), np.log(h["emissions_tco2e"])
    g = h.assign(x=x, y=y, xx=x * x, xy=x * y).groupby("uscc")
    s = g[["x", "y", "xx", "xy"]].sum()
    n = g.size()
    den = n * s["xx"] - s["x"] ** 2
    slope = (n * s["xy"] - s["x"] * s["y"]) / den.where(den > 0)
    raw = np.expm1(slope)
    growth = raw.clip(r.min_growth.value, r.max_growth.value).where(n >= r.trend_min_points, 0.0)
    last = h.groupby("uscc").tail(1).set_index("uscc")
    return pd.DataFrame(
        {"base_year": last["year"], "base_emissions": last["emissions_tco2e"],
         "growth": growth.fillna(0.0), "raw_growth": raw, "points": n}
    )  # fmt: skip


def _thresholds(sectors: np.ndarray, years: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Coverage threshold (inf: no rule) and the deciding rule's name per firm-year."""
    th = np.full((len(sectors), len(years)), np.inf)
    name = np.full(th.shape, "", dtype=object)
    for rule in coverage_rules():
        hit = np.isin(sectors, [s.value for s in rule.sectors])[:, None] & (
            np.array(years)[None, :] >= rule.from_year
        )
        better = hit & (rule.threshold_tco2e < th)
        th = np.where(better, rule.threshold_tco2e, th)
        name = np.where(better, f"{rule.name} ({rule.threshold_tco2e:,.0f} tCO2e)", name)
    return th, name


def _holdings(events: pd.DataFrame, as_of: dt.date, index: pd.Index) -> np.ndarray:
    ev = events[(events["date"] <= as_of) & events["instrument"].isin([m.value for m in MARKETS])]
    sign = np.select(
        [ev["kind"].isin(_CREDIT), ev["kind"].isin(_DEBIT), ev["kind"] == "pledge_registered",
         ev["kind"] == "pledge_released"], [1, -1, -1, 1], 0,
    )  # fmt: skip
    free = (ev.assign(q=ev["quantity_t"].astype(float) * sign)
            .groupby(["uscc", "instrument"])["q"].sum().unstack())  # fmt: skip
    free = free.reindex(index=index, columns=[m.value for m in MARKETS]).fillna(0.0)
    return np.asarray(np.maximum(free.to_numpy(dtype=float), 0.0))


def _outstanding(comp: pd.DataFrame, as_of: dt.date, first: int, index: pd.Index) -> np.ndarray:
    done = comp["surrender_date"].map(lambda d: d is not None and not pd.isna(d) and d <= as_of)
    open_ = comp[(comp["year"] < first) & ~done.astype(bool)]
    owed = (open_["verified_emissions_tco2e"].astype(float) - open_["ccer_used_t"].astype(float)
            - open_["surrendered_t"].astype(float)).clip(lower=0.0)  # fmt: skip
    table = open_.assign(owed=owed).groupby(["uscc", "instrument"])["owed"].sum().unstack()
    table = table.reindex(index=index, columns=[m.value for m in MARKETS]).fillna(0.0)
    return table.to_numpy(dtype=float)


def _latest(fy: pd.DataFrame, col: str, before: int, index: pd.Index) -> np.ndarray:
    known = fy[(fy["year"] < before) & fy[col].notna()].sort_values("year")
    return known.groupby("uscc")[col].last().reindex(index).to_numpy(dtype=float)


def _path_override(
    emissions: np.ndarray, index: pd.Index, years: tuple[int, ...], path: pd.DataFrame | None
) -> np.ndarray:
    if path is None:
        return emissions
    need = {"uscc", "year", "emissions_tco2e"}
    if not need <= set(path.columns):
        raise InvalidInputError(f"`emissions_path` needs the columns {sorted(need)}")
    v = path["emissions_tco2e"].astype(float)
    if not (np.isfinite(v) & (v >= 0)).all():
        raise InvalidInputError("`emissions_path` emissions must be finite and >= 0")
    table = path.pivot_table(index="uscc", columns="year", values="emissions_tco2e", aggfunc="last")
    grid = table.reindex(index=index, columns=list(years)).to_numpy(dtype=float)
    return np.where(np.isfinite(grid), grid, emissions)


def build_inputs(
    frames: Mapping[str, pd.DataFrame],
    *,
    as_of: dt.date,
    years: tuple[int, ...],
    uscc: tuple[str, ...] | None = None,
    emissions_path: pd.DataFrame | None = None,
    national_entry: Mapping[str, int] | None = None,
    rules: CarbonCostRules | None = None,
) -> FirmInputs:
    """Inputs of every firm of ``frames['firms']`` (or of ``uscc``) over ``years``."""
    r = rules or carbon_cost_rules()
    firms = frames["firms"][["uscc", "sector"]].drop_duplicates("uscc")
    if uscc is not None:
        unknown = sorted(set(uscc) - set(firms["uscc"]))
        if unknown:
            raise MissingDataError(f"no carbon account for firm(s) {unknown}")
        firms = firms.set_index("uscc").loc[list(uscc)].reset_index()
    idx = pd.Index(firms["uscc"], name="uscc")
    sectors = firms["sector"].to_numpy(dtype=object)
    yrs = np.array(years)
    trend = _trend(_emissions_history(frames, as_of.year), r).reindex(idx)
    base, by = trend["base_emissions"].to_numpy(float), trend["base_year"].to_numpy(float)
    proj = base[:, None] * (1.0 + trend["growth"].to_numpy(float))[:, None] ** (
        yrs[None, :] - by[:, None]
    )
    emis = _path_override(proj, idx, years, emissions_path)
    comp = _numeric(frames["compliance"], _COMP_NUMBERS)
    last = comp.sort_values("year").groupby("uscc").tail(1).set_index("uscc").reindex(idx)
    incumbent = (last["year"] >= as_of.year - 2).to_numpy(dtype=bool, na_value=False)
    inst_code = np.where(
        last["instrument"].to_numpy(dtype=object) == Instrument.CEA.value, CEA, SHEA
    )
    th, rule_name = _thresholds(sectors, years)
    prev = np.concatenate([base[:, None], emis[:, :-1]], axis=1)
    by_rule = np.nan_to_num(prev, nan=-1.0) >= th
    market = np.where(incumbent[:, None], inst_code[:, None], np.where(by_rule, SHEA, -1))
    for u, year in (national_entry or {}).items():
        if u not in idx:
            raise InvalidInputError(f"`national_entry` names {u}, which is not in the population")
        market[idx.get_loc(u), yrs >= int(year)] = CEA
    notes: list[str] = []
    alloc = _allocation(comp, idx, sectors, base, by, yrs, incumbent, last, r, notes)
    status, reason = _status(market, alloc, sectors, th, rule_name, prev, years, incumbent)
    market = np.where((status == "covered")[:, None], market, -1)
    fy = _numeric(frames["firm_years"], ("year", "revenue_cny", "value_added_cny"))
    return FirmInputs(
        uscc=tuple(idx), sector=sectors, market=market,
        emissions=np.nan_to_num(emis, nan=0.0), base_emissions=np.nan_to_num(base, nan=0.0),
        allocation=np.nan_to_num(alloc, nan=0.0),
        holdings=_holdings(frames["registry_events"], as_of, idx),
        outstanding=_outstanding(comp, as_of, years[0], idx),
        revenue=_latest(fy, "revenue_cny", as_of.year, idx),
        value_added=_latest(fy, "value_added_cny", as_of.year, idx),
        status=status, reason=reason, notes=tuple(notes),
    )  # fmt: skip


def _allocation(
    comp: pd.DataFrame, idx: pd.Index, sectors: np.ndarray, base: np.ndarray, base_year: np.ndarray,
    yrs: np.ndarray, incumbent: np.ndarray, last: pd.DataFrame, r: CarbonCostRules,
    notes: list[str],
) -> np.ndarray:  # fmt: skip
    """Total allocation per firm-year: the last one tightened, or the sector-ratio fallback."""
    d = r.allocation_decline.value
    a_last = last["allocated_t"].to_numpy(dtype=float)
    y_last = last["year"].to_numpy(dtype=float)
    own = a_last[:, None] * (1.0 - d) ** (yrs[None, :] - y_last[:, None])
    latest = comp[comp["year"] == comp["year"].max()]
    ratio = (
        (latest["allocated_t"] / latest["verified_emissions_tco2e"])
        .groupby(latest["uscc"].map(dict(zip(idx, sectors, strict=True))))
        .median()
    )
    overall = float((latest["allocated_t"] / latest["verified_emissions_tco2e"]).median())
    sec_ratio = pd.Series(sectors).map(ratio).fillna(overall).to_numpy(dtype=float)
    fallback = (sec_ratio * base)[:, None] * (1.0 - d) ** (yrs[None, :] - base_year[:, None])
    use_own = incumbent & np.isfinite(a_last)
    if (~use_own).any():
        notes.append(
            "firms without an allocation on record (newly covered): allocation = their sector's "
            "median allocation/emissions ratio in the latest compliance year x their emissions "
            f"(all sectors' median {overall:.3f} where the sector has none)"
        )
    return np.asarray(np.where(use_own[:, None], own, fallback))


def _status(
    market: np.ndarray, alloc: np.ndarray, sectors: np.ndarray, th: np.ndarray,
    rule_name: np.ndarray, prev: np.ndarray, years: tuple[int, ...], incumbent: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``covered``/``not covered``/``unknown`` per firm and the reason in words (string
    columns built with pandas, no loop over firms)."""
    covered = market >= 0
    any_cov = covered.any(axis=1)
    span = f"{years[0]}-{years[-1]}"
    first = np.argmax(covered, axis=1)
    no_rule = ~np.isfinite(th).any(axis=1)
    n = len(sectors)
    from_rule = (
        "covered from " + pd.Series(np.array(years)[first]).astype(str) + " by "
        + pd.Series(rule_name[np.arange(n), first])
    )  # fmt: skip
    no_rule_text = "no coverage rule for sector " + pd.Series(sectors).astype(str) + f" in {span}"
    with np.errstate(invalid="ignore"):
        peak = pd.Series(np.nanmax(np.where(np.isfinite(prev), prev, np.nan), axis=1))
    below = (
        "projected emissions " + peak.map("{:,.0f}".format) + " tCO2e stay below the threshold "
        + pd.Series(np.min(th, axis=1)).map("{:,.0f}".format) + f" in {span}"
    )  # fmt: skip
    reason = np.where(
        incumbent,
        "a covered entity of the market already (compliance record)",
        np.where(any_cov, from_rule, np.where(no_rule, no_rule_text, below)),
    ).astype(object)
    status = np.where(any_cov, "covered", "not covered").astype(object)
    unknown = ~np.isfinite(prev).all(axis=1) & (incumbent | ~no_rule)
    status = np.where(unknown, "unknown", status)
    reason = np.where(unknown, "no emissions on record to project (unknown, not zero)", reason)
    bad_alloc = (status == "covered") & ~np.isfinite(alloc).all(axis=1)
    status = np.where(bad_alloc, "unknown", status)
    reason = np.where(bad_alloc, "allocation unknown (no record and no sector ratio)", reason)
    return status, reason


def assumptions_of(
    r: CarbonCostRules, years: tuple[int, ...], markets: set[int]
) -> tuple[str, ...]:
    """Every assumed or policy value the run used, with its source."""
    out = [
        f"auction share {a.instrument.value} {a.year}: {a.share:.1%} ({a.status}; {a.source})"
        for (inst, y), a in sorted(r.auction.items(), key=lambda kv: (kv[0][0].value, kv[0][1]))
        if y in years and MARKETS.index(inst) in markets and a.status != "published"
    ]
    out += [
        f"clause 4 incentive coefficient {r.decline_coefficient.value:g} when emissions fall "
        f"({r.decline_coefficient.source})",
        f"emissions trend bounded to [{r.min_growth.value:+.0%}, {r.max_growth.value:+.0%}] a "
        f"year ({r.min_growth.source})",
        f"allocation tightens {r.allocation_decline.value:.0%} a year "
        f"({r.allocation_decline.source})",
        f"banking of surplus between years {'allowed' if r.banking else 'not allowed'} "
        f"({r.banking_source})",
        f"clause 5 carry-over in {r.carryover_years} equal yearly tranches ({r.carryover_source})",
        "allowances are bought (at auction or in the market) at the scenario price of the "
        "compliance deadline; CCER offsets are not counted (conservative)",
        "revenue and value added held at their latest known level over the horizon",
        "pledged allowances are not available for surrender while pledged",
    ]
    return tuple(out)


def carbon_cost_outlook(
    frames: Mapping[str, pd.DataFrame],
    histories: Mapping[Instrument, PriceHistory] | None = None,
    *,
    as_of: dt.date,
    years: tuple[int, ...],
    method: str = "fhs",
    n_scenarios: int = 10_000,
    seed: int = 0,
    uscc: tuple[str, ...] | None = None,
    emissions_path: pd.DataFrame | None = None,
    national_entry: Mapping[str, int] | None = None,
    prices: CompliancePrices | None = None,
    data_source: str = "caller's frames",
    rules: CarbonCostRules | None = None,
) -> tuple[CarbonCost, Positions]:
    """The carbon cost at risk of a population (or of ``uscc``) over ``years``.

    Scenario prices are simulated from ``histories`` (:func:`simulate_compliance_prices`) unless
    ``prices`` is given. Returns the result and the positions behind it.
    """
    r = rules or carbon_cost_rules()
    x = build_inputs(
        frames, as_of=as_of, years=years, uscc=uscc, emissions_path=emissions_path,
        national_entry=national_entry, rules=r,
    )  # fmt: skip
    pos = project_positions(
        x.uscc, years, market=x.market, emissions_tco2e=x.emissions,
        base_emissions_tco2e=x.base_emissions, allocation_t=x.allocation, holdings_t=x.holdings,
        outstanding_t=x.outstanding, rules=r,
    )  # fmt: skip
    if prices is None:
        if histories is None:
            raise InvalidInputError("give price `histories` or ready `prices`")
        prices = simulate_compliance_prices(
            histories, as_of=as_of, years=years, method=method, n_scenarios=n_scenarios, seed=seed
        )
    markets = {int(m) for m in np.unique(x.market) if m >= 0}
    result = carbon_cost(
        pos, prices, revenue_cny=x.revenue, value_added_cny=x.value_added, status=x.status,
        reason=x.reason, inputs={"data_source": data_source, "as_of": as_of.isoformat()},
        assumptions=assumptions_of(r, years, markets), notes=x.notes,
    )  # fmt: skip
    return result, pos
