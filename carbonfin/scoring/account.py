"""The carbon-performance account: a firm's facilities and yearly records, kept explicit.

Two views of the same data:

* :class:`CarbonAccount` — one firm, for drill-down: its facilities, each facility's yearly
  scope 1/scope 2 report with its data-quality tier, the firm's yearly economic data, green
  certificates, allowance compliance, disclosure and targets. Missing data stays missing
  (``None``) and is listed by :meth:`CarbonAccount.gaps`.
* :func:`build_panel` — the whole population as one frame, one row per firm and year, the input
  of batch scoring. A firm-year's emissions are the sum over its facilities *only if every
  facility reported*; otherwise they are NaN and ``facilities_missing`` says how many did not.
  Nothing is imputed.

The inputs are frames with the columns of the sample market (``carbonfin.data.schema``):
``firms``, ``facilities``, ``facility_emissions``, ``firm_years``, ``compliance``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.instruments import Instrument
from carbonfin.rules import market_rules
from carbonfin.scoring._inputs import checked_frames
from carbonfin.scoring.ids import unknown_member, validate_uscc

__all__ = [
    "CarbonAccount",
    "ComplianceYear",
    "DataQuality",
    "FacilityReport",
    "FirmYearRecord",
    "build_panel",
]

FRAMES = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")


class DataQuality(enum.StrEnum):
    """Quality tier of an emissions record (Shanghai action plan, clause 11).

    ``VERIFIED`` by an accredited third party; ``METERED`` by online continuous monitoring;
    ``SELF_REPORTED`` by the firm, unverified; ``ESTIMATED`` from default factors or proxies.
    """

    VERIFIED = "verified"
    METERED = "metered"
    SELF_REPORTED = "self_reported"
    ESTIMATED = "estimated"

    @classmethod
    def _missing_(cls, value: object) -> DataQuality:
        raise unknown_member(cls, value)


@dataclass(frozen=True, slots=True)
class FacilityReport:
    """One facility's emissions for one year (``None`` = not reported, never zero)."""

    facility_id: str
    year: int
    scope1_tco2e: float | None
    scope2_tco2e: float | None
    quality: DataQuality


@dataclass(frozen=True, slots=True)
class FirmYearRecord:
    """A firm's economic and energy data for one year (``None`` = not reported)."""

    year: int
    output_qty: float | None
    output_unit: str
    value_added_cny: float | None
    revenue_cny: float | None
    equity_cny: float | None
    debt_cny: float | None
    electricity_mwh: float | None
    green_certificates: int | None
    disclosed: bool | None


@dataclass(frozen=True, slots=True)
class ComplianceYear:
    """Allowances allocated and surrendered for one compliance year (covered firms only)."""

    year: int
    instrument: Instrument
    allocated_t: int | None
    verified_emissions_tco2e: int | None
    surrendered_t: int | None
    ccer_used_t: int | None
    shortfall_t: int | None
    surrender_date: dt.date | None
    deadline: dt.date

    @property
    def on_time(self) -> bool:
        return self.surrender_date is not None and self.surrender_date <= self.deadline


def compliance_deadline(instrument: Instrument, year: int) -> dt.date:
    """Last day of the instrument's compliance-deadline month in the year after ``year``."""
    month = market_rules()[instrument].compliance_deadline_month
    first_next = dt.date(year + 1 + (month == 12), 1 if month == 12 else month + 1, 1)
    return first_next - dt.timedelta(days=1)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _opt(value: object) -> float | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return float(value)  # type: ignore[arg-type]


def _opt_int(value: object) -> int | None:
    number = _opt(value)
    return None if number is None else int(number)


def _opt_bool(value: object) -> bool | None:
    return None if value is None or value is pd.NA else bool(value)


@dataclass(frozen=True, slots=True)
class CarbonAccount:
    """One firm's carbon account (see the module notes)."""

    uscc: str
    name: str
    sector: str
    industry_code: str
    discloses_emissions: bool | None
    target_year: int | None
    target_reduction_frac: float | None
    net_zero_year: int | None
    facilities: tuple[str, ...]
    reports: tuple[FacilityReport, ...]
    years: tuple[FirmYearRecord, ...]
    compliance: tuple[ComplianceYear, ...]

    @classmethod
    def from_frames(cls, frames: Mapping[str, pd.DataFrame], uscc: str) -> CarbonAccount:
        """The account of ``uscc`` from the account frames (type-checked as in build_panel)."""
        validate_uscc(uscc)
        _require(frames)
        frames = checked_frames(frames)
        firms = frames["firms"]
        row = firms[firms["uscc"] == uscc]
        if row.empty:
            raise MissingDataError(f"no firm with USCC {uscc} in the account data")
        firm = row.iloc[0]
        fac = frames["facilities"]
        facility_ids = tuple(sorted(fac.loc[fac["uscc"] == uscc, "facility_id"]))
        em = frames["facility_emissions"]
        em = em[em["facility_id"].isin(facility_ids)].sort_values(["year", "facility_id"])
        reports = tuple(
            FacilityReport(
                r["facility_id"],
                int(r["year"]),
                _opt(r["scope1_tco2e"]),
                _opt(r["scope2_tco2e"]),
                DataQuality(r["data_quality"]),
            )
            for r in _records(em)
        )
        fy = frames["firm_years"]
        fy = fy[fy["uscc"] == uscc].sort_values("year")
        years = tuple(
            FirmYearRecord(
                int(r["year"]),
                _opt(r["output_qty"]),
                str(r["output_unit"]),
                _opt(r["value_added_cny"]),
                _opt(r["revenue_cny"]),
                _opt(r["equity_cny"]),
                _opt(r["debt_cny"]),
                _opt(r["electricity_mwh"]),
                _opt_int(r["green_certificates"]),
                _opt_bool(r["disclosed"]),
            )
            for r in _records(fy)
        )
        cp = frames["compliance"]
        cp = cp[cp["uscc"] == uscc].sort_values("year")
        compliance = tuple(
            ComplianceYear(
                int(r["year"]),
                Instrument.parse(r["instrument"]),
                _opt_int(r["allocated_t"]),
                _opt_int(r["verified_emissions_tco2e"]),
                _opt_int(r["surrendered_t"]),
                _opt_int(r["ccer_used_t"]),
                _opt_int(r["shortfall_t"]),
                r["surrender_date"],
                compliance_deadline(Instrument.parse(r["instrument"]), int(r["year"])),
            )
            for r in _records(cp)
        )

        return cls(
            uscc=uscc,
            name=str(firm["name"]),
            sector=str(firm["sector"]),
            industry_code=str(firm["industry_code"]),
            discloses_emissions=_opt_bool(firm["discloses_emissions"]),
            target_year=_opt_int(firm["target_year"]),
            target_reduction_frac=_opt(firm["target_reduction_frac"]),
            net_zero_year=_opt_int(firm["net_zero_year"]),
            facilities=facility_ids,
            reports=reports,
            years=years,
            compliance=compliance,
        )

    def emissions(self, year: int) -> tuple[float | None, float | None]:
        """(scope 1, scope 2) of the firm in ``year``; ``None`` if any facility did not report."""
        reports = [r for r in self.reports if r.year == year]
        if len({r.facility_id for r in reports}) < len(self.facilities):
            return None, None
        s1 = [r.scope1_tco2e for r in reports]
        s2 = [r.scope2_tco2e for r in reports]
        total1 = None if any(v is None for v in s1) else float(sum(v for v in s1 if v is not None))
        total2 = None if any(v is None for v in s2) else float(sum(v for v in s2 if v is not None))
        return total1, total2

    def gaps(self) -> list[str]:
        """Every missing record, in words (what a credit officer should ask the firm for)."""
        out = []
        for year in sorted({r.year for r in self.years}):
            reported = {r.facility_id for r in self.reports if r.year == year}
            out += [
                f"{year}: no emissions report for facility {f}"
                for f in self.facilities
                if f not in reported
            ]
            out += [
                f"{year}: facility {r.facility_id} reports no {scope}"
                for r in self.reports
                if r.year == year
                for scope, v in (("scope 1", r.scope1_tco2e), ("scope 2", r.scope2_tco2e))
                if v is None
            ]
        for rec in self.years:
            for name in (
                "value_added_cny",
                "output_qty",
                "electricity_mwh",
                "revenue_cny",
                "equity_cny",
                "debt_cny",
                "green_certificates",
                "disclosed",
            ):
                if getattr(rec, name) is None:
                    out.append(f"{rec.year}: {name} not reported")
        return out


def _require(frames: Mapping[str, pd.DataFrame]) -> None:
    missing = [name for name in FRAMES if name not in frames]
    if missing:
        raise InvalidInputError(f"account data lacks the frames {missing}")


def build_panel(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per firm and year with every input of the scoring methodology (vectorised).

    Columns: ``uscc, year, sector, industry_code`` ; ``scope1_tco2e, scope2_tco2e,
    emissions_tco2e`` (NaN unless every facility reported both scopes); ``facilities,
    facilities_missing``; ``quality_verified … quality_estimated`` (emission-weighted shares of
    each tier); the firm-year data (``value_added_cny``, ``electricity_mwh``,
    ``green_certificates``, ``equity_cny``, ``debt_cny`` …, ``disclosed``); the firm's
    disclosure commitment and targets; compliance (``covered``, ``shortfall_t``,
    ``surrender_date``, ``surrender_deadline``, ``surrender_on_time``); and last year's
    ``emissions_prev_tco2e`` and ``value_added_prev_cny`` (NaN where that year is missing).
    ``facilities_complete`` counts the facilities that reported both scopes.

    Every input column is type-checked on entry (:mod:`carbonfin.scoring._inputs`): a value of
    the wrong kind raises :class:`InvalidInputError` naming frame, column and row; a missing
    value stays missing (``disclosed`` is a nullable boolean: NaN is never read as True).
    """
    _require(frames)
    frames = checked_frames(frames)
    firms = frames["firms"]
    fac = frames["facilities"][["facility_id", "uscc"]]
    em = frames["facility_emissions"].merge(fac, on="facility_id", how="left", validate="m:1")
    if em["uscc"].isna().any():
        orphan = em.loc[em["uscc"].isna(), "facility_id"].iloc[0]
        raise InvalidInputError(f"emissions reported for unknown facility {orphan}")
    tiers = {q.value for q in DataQuality}
    unknown = ~em["data_quality"].isin(tiers)
    if unknown.any():
        DataQuality(em.loc[unknown, "data_quality"].iloc[0])  # raises, listing the tiers
    em = em.assign(s1=em["scope1_tco2e"], s2=em["scope2_tco2e"])
    em["total"] = em["s1"] + em["s2"]
    keys = [em["uscc"], em["year"]]
    missing = em[["s1", "s2"]].isna().groupby(keys).sum()
    sums = em[["s1", "s2"]].groupby(keys).sum()
    agg = pd.DataFrame(
        {
            "scope1_tco2e": sums["s1"].where(missing["s1"] == 0),
            "scope2_tco2e": sums["s2"].where(missing["s2"] == 0),
            "reports": em.groupby(keys)["facility_id"].nunique(),
            "facilities_complete": em["facility_id"]
            .where(em["total"].notna())
            .groupby(keys)
            .nunique(),
        }
    )
    agg.index.names = ["uscc", "year"]
    # emission-weighted share of each quality tier (over reports with both scopes)
    weights = em.dropna(subset=["total"])
    shares = weights.pivot_table(
        index=["uscc", "year"],
        columns="data_quality",
        values="total",
        aggfunc="sum",
        fill_value=0.0,
    ).reindex(columns=[q.value for q in DataQuality], fill_value=0.0)
    shares = shares.div(shares.sum(axis=1).replace(0.0, np.nan), axis=0)
    shares.columns = [f"quality_{c}" for c in shares.columns]
    n_fac = fac.groupby("uscc").size().rename("facilities")
    fy = frames["firm_years"].copy()
    panel = fy.merge(agg.reset_index(), on=["uscc", "year"], how="left")
    panel = panel.merge(shares.reset_index(), on=["uscc", "year"], how="left")
    panel = panel.merge(n_fac.reset_index(), on="uscc", how="left")
    panel["facilities"] = panel["facilities"].fillna(0).astype(int)
    panel["facilities_missing"] = panel["facilities"] - panel["reports"].fillna(0).astype(int)
    panel["facilities_complete"] = panel["facilities_complete"].fillna(0).astype(int)
    complete = panel["facilities_missing"] == 0
    panel.loc[~complete, ["scope1_tco2e", "scope2_tco2e"]] = np.nan
    panel["emissions_tco2e"] = panel["scope1_tco2e"] + panel["scope2_tco2e"]
    firm_cols = [
        "uscc",
        "sector",
        "industry_code",
        "discloses_emissions",
        "target_year",
        "target_reduction_frac",
        "net_zero_year",
    ]
    panel = panel.merge(firms[firm_cols], on="uscc", how="left", validate="m:1")
    if panel["sector"].isna().any():
        raise InvalidInputError(
            f"firm-year data for unknown firm {panel.loc[panel['sector'].isna(), 'uscc'].iloc[0]}"
        )
    panel = _with_compliance(panel, frames["compliance"])
    panel = panel.sort_values(["uscc", "year"]).reset_index(drop=True)
    prev = panel.groupby("uscc")[["year", "emissions_tco2e", "value_added_cny"]].shift(1)
    consecutive = (prev["year"] == panel["year"] - 1).astype("boolean").fillna(False).astype(bool)
    panel["has_prev_year"] = consecutive.to_numpy()
    panel["emissions_prev_tco2e"] = prev["emissions_tco2e"].where(consecutive)
    panel["value_added_prev_cny"] = prev["value_added_cny"].where(consecutive)
    for col in (
        "value_added_cny",
        "output_qty",
        "electricity_mwh",
        "revenue_cny",
        "equity_cny",
        "debt_cny",
        "emissions_prev_tco2e",
        "value_added_prev_cny",
    ):
        panel[col] = panel[col].astype(float)
    panel["green_certificates"] = panel["green_certificates"].astype(float)
    panel["disclosed"] = panel["disclosed"].astype("boolean")
    panel["discloses_emissions"] = panel["discloses_emissions"].astype("boolean")
    panel["year"] = panel["year"].astype(int)
    return panel.drop(columns=["reports"])


def _with_compliance(panel: pd.DataFrame, compliance: pd.DataFrame) -> pd.DataFrame:
    cp = compliance.copy()
    if cp.empty:
        panel["covered"] = False
        panel["shortfall_t"] = np.nan
        panel["surrender_on_time"] = pd.array([pd.NA] * len(panel), dtype="boolean")
        panel["surrender_date"] = pd.Series([None] * len(panel), dtype=object)
        panel["surrender_deadline"] = pd.Series([None] * len(panel), dtype=object)
        return panel
    months = {i.value: market_rules()[i].compliance_deadline_month for i in Instrument}
    month = cp["instrument"].map(months)
    if month.isna().any():
        bad = cp.loc[month.isna(), "instrument"].iloc[0]
        raise InvalidInputError(f"compliance record for unknown instrument {bad!r}")
    # the last day of the deadline month in the year after the compliance year
    first = pd.to_datetime(
        pd.DataFrame({"year": cp["year"].astype(int) + 1, "month": month.astype(int), "day": 1})
    )
    deadline = (first + pd.offsets.MonthEnd(0)).dt.date
    surrendered = cp["surrender_date"]
    on_time = surrendered.notna() & (surrendered.where(surrendered.notna(), deadline) <= deadline)
    cp = cp.assign(covered=True, surrender_on_time=on_time, surrender_deadline=deadline)
    cols = [
        "uscc",
        "year",
        "covered",
        "shortfall_t",
        "surrender_on_time",
        "surrender_date",
        "surrender_deadline",
        "allocated_t",
        "surrendered_t",
        "ccer_used_t",
    ]
    panel = panel.merge(cp[cols], on=["uscc", "year"], how="left", validate="1:1")
    panel["covered"] = panel["covered"].astype("boolean").fillna(False).astype(bool)
    panel["shortfall_t"] = panel["shortfall_t"].astype(float)
    return panel
