"""Carbon cost at risk: a bank's own borrowers, and the regulator's aggregate.

A bank sees only the borrowers of its own active loans (nothing in an answer or an error names
another bank's borrower); the regulator sees sums by bank and by sector. The price scenarios are
cached per (as-of, years, scenarios, paths, seed) under the market data version; positions are
computed from the registry as stored at the request.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from api.deps import ReaderClient, SessionDep, SupervisorClient
from api.problems import ApiProblemError, problem_responses
from api.schemas.carbon_cost import (
    BankCarbonCostPublic,
    BorrowerCarbonCost,
    CarbonCostGroup,
    CarbonCostInputs,
    CarbonCostYear,
    LoanCoverage,
    RegulatorCarbonCostPublic,
)
from api.schemas.common import Day, Provenance
from carbonfin.store.models import Loan

router = APIRouter(prefix="/v1/carbon-cost", tags=["carbon cost"])
regulator_router = APIRouter(prefix="/v1/regulator", tags=["regulator"])
_ERRORS = problem_responses(401, 403, 404, 422)

Scenarios = Annotated[
    Literal["fhs", "t", "merton"],
    Query(description="price scenarios: filtered historical (fhs), Student-t or Merton jumps"),
]
Years = Annotated[
    int,
    Query(
        ge=1,
        le=5,
        description="compliance years from the as-of year (5: e.g. 2026-2030), cut at the last "
        "year of the auction-share rules; an as-of after them is a 404",
    ),
]
Paths = Annotated[int, Query(ge=100, le=5_000, description="number of price scenarios")]
Seed = Annotated[int, Query(ge=0, le=2**31 - 1)]


def _opt(x: Any) -> float | None:
    return (
        None
        if x is None or (isinstance(x, float) and not math.isfinite(x)) or pd.isna(x)
        else float(x)
    )


def _run(request: Request, session: Any, as_of: dt.date, years: int, method: str, paths: int,
         seed: int) -> tuple[Any, pd.DataFrame]:  # fmt: skip
    """The population's carbon cost (prices cached) and the active loans."""
    from carbonfin.errors import MissingDataError
    from carbonfin.instruments import Instrument
    from carbonfin.scoring.carbon_inputs import carbon_cost_outlook
    from carbonfin.scoring.carbon_prices import simulate_compliance_prices
    from carbonfin.scoring.carbon_rules import carbon_cost_rules
    from carbonfin.store.collateral import registry_events

    data = request.app.state.data
    ruled = set(carbon_cost_rules().years(Instrument.SHEA))
    span = tuple(y for y in range(as_of.year, as_of.year + years) if y in ruled)
    if not span:
        raise MissingDataError(
            f"no auction-share rules for the compliance years from {as_of.year} "
            f"(carbon_cost.toml covers {min(ruled)}-{max(ruled)})"
        )

    def prices() -> Any:
        histories = {i: data.history(i.value) for i in (Instrument.SHEA, Instrument.CEA)}
        return simulate_compliance_prices(
            histories, as_of=as_of, years=span, method=method, n_scenarios=paths, seed=seed
        )

    key = f"carbon-cost-prices:{as_of}:{years}:{method}:{paths}:{seed}"
    frames = {**data.account_frames(), "registry_events": registry_events(session=session)}
    result, _ = carbon_cost_outlook(
        frames, as_of=as_of, years=span, prices=data.memo(key, prices), data_source=data.source
    )
    loans = pd.DataFrame(
        [
            {"loan_id": r.loan_id, "bank_id": r.bank_id, "borrower_uscc": r.borrower_uscc,
             "rate": r.rate, "maturity_date": r.maturity_date, "status": r.status}
            for r in session.scalars(select(Loan).where(Loan.status == "active"))
        ],
        columns=["loan_id", "bank_id", "borrower_uscc", "rate", "maturity_date", "status"],
    )  # fmt: skip
    return result, loans


def borrower_carbon_exposure(
    request: Request, session: Any, as_of: dt.date, *, paths: int = 2_000, seed: int = 0
) -> pd.DataFrame:
    """Per bank and borrower with an active loan: the tonnes it must buy for compliance year
    ``as_of.year``, its market and the forward (FHS prices, ``paths`` scenarios): the
    borrowers' side of the stress book's both-sides view (as ``carbonfin stress --both-sides``).
    """
    from carbonfin.scoring.carbon_card import borrower_exposure

    result, loans = _run(request, session, as_of, 1, "fhs", paths, seed)
    return borrower_exposure(loans, result, as_of.year)


def _debt(request: Request, as_of: dt.date) -> pd.Series:
    fy = request.app.state.data.account_frames()["firm_years"]
    known = fy[(fy["year"] < as_of.year) & fy["debt_cny"].notna()].sort_values("year")
    debt: pd.Series = known.groupby("uscc")["debt_cny"].last().astype(float)
    return debt


def _inputs(result: Any, as_of: dt.date) -> CarbonCostInputs:
    i = result.inputs
    first, last = (int(y) for y in str(i["years"]).split("-"))
    return CarbonCostInputs(
        as_of=as_of, years=list(range(first, last + 1)), scenarios=str(i["scenarios"]),
        n_scenarios=int(i["n_scenarios"]), seed=int(i["seed"]),
        rules_version=str(i["rules_version"]), price_source=str(i["price_source"]),
    )  # fmt: skip


@router.get("/borrowers", response_model=BankCarbonCostPublic, responses=_ERRORS)
def bank_borrowers(
    request: Request,
    session: SessionDep,
    who: ReaderClient,
    as_of: Day,
    years: Years = 5,
    scenarios: Scenarios = "fhs",
    paths: Paths = 1_000,
    seed: Seed = 0,
) -> BankCarbonCostPublic:
    """The carbon cost at risk of the borrowers of the bank's own active loans: expected cost,
    CaR95/99 with standard errors, ES99, shares of revenue and value added, each loan's interest
    coverage after the 99% cost, and methodology v1.2's premium. Banks only."""
    from carbonfin.scoring.carbon_card import carbon_premium_bp, card_from_result, loan_coverage
    from carbonfin.scoring.methodology import load_methodology

    if who.role != "bank":
        raise ApiProblemError(403, "a bank's borrowers are for that bank; the regulator reads "
                              "/v1/regulator/carbon-cost")  # fmt: skip
    result, loans = _run(request, session, as_of, years, scenarios, paths, seed)
    mine = loans[loans["bank_id"] == who.institution_id]
    cover = loan_coverage(mine, result, _debt(request, as_of))
    v12 = load_methodology("v1.2")
    out = []
    for uscc in sorted(set(mine["borrower_uscc"])):
        card = card_from_result(result, uscc)
        cov = cover[cover["borrower_uscc"] == uscc]
        flag = bool(cov["below_floor"].fillna(False).any())
        premium = carbon_premium_bp(card, v12, coverage_flag=flag)
        _, ys = result.firm(uscc)
        out.append(BorrowerCarbonCost(
            uscc=uscc, status=card.status, reason=card.reason, expected_cny=card.expected_cny,
            se_expected_cny=card.se_expected_cny, car95_cny=card.car95_cny,
            car99_cny=card.car99_cny, se_car99_cny=card.se_car99_cny, es99_cny=card.es99_cny,
            car99_share_revenue=card.car99_share_revenue,
            car99_share_value_added=card.car99_share_value_added,
            v12_premium_bp=premium.premium_bp, v12_premium_reason=premium.reason,
            years=[CarbonCostYear(
                year=int(r["year"]), covered=bool(r["covered"]),
                market=r["market"] if isinstance(r["market"], str) else None,
                need_t=float(r["need_t"]), auction_share=_opt(r["auction_share"]),
                free_t=float(r["free_t"]), purchase_t=float(r["purchase_t"]),
                carry_sale_t=float(r["carry_sale_t"]),
                forward_cny_per_t=_opt(r["forward_cny_per_t"]),
                expected_cny=_opt(r["expected_cny"]), car99_cny=_opt(r["car99_cny"]),
                es99_cny=_opt(r["es99_cny"]),
            ) for r in ys.to_dict("records")],
            loans=[LoanCoverage(
                loan_id=str(r["loan_id"]), interest_cny=_opt(r["interest_cny"]),
                coverage_before=_opt(r["coverage_before"]),
                coverage_after=_opt(r["coverage_after"]),
                below_floor=None if pd.isna(r["below_floor"]) else bool(r["below_floor"]),
                floor=float(r["floor"]), reason=str(r["reason"]),
            ) for r in cov.to_dict("records")],
        ))  # fmt: skip
    return BankCarbonCostPublic(
        bank_id=str(who.institution_id), inputs=_inputs(result, as_of), borrowers=out,
        assumptions=list(result.assumptions),
        provenance=Provenance(source=request.app.state.data.source, as_of=as_of,
                              notes=list(result.notes)),
    )  # fmt: skip


def _groups(frame: pd.DataFrame, key: str) -> list[CarbonCostGroup]:
    out = []
    for k, g in frame.groupby(key, sort=True):
        firms = g.drop_duplicates("uscc")
        cov = firms[firms["status"] == "covered"]
        out.append(CarbonCostGroup(
            key=str(k), borrowers=len(firms), covered=len(cov),
            expected_cny=float(np.nansum(cov["expected_cny"])),
            car99_cny=float(np.nansum(cov["car99_cny"])),
            loans_below_floor=int(g["below_floor"].fillna(False).astype(bool).sum()),
            loans_coverage_unknown=int(g["below_floor"].isna().sum()),
        ))  # fmt: skip
    return out


@regulator_router.get("/carbon-cost", response_model=RegulatorCarbonCostPublic, responses=_ERRORS)
def regulator_carbon_cost(
    request: Request,
    session: SessionDep,
    _who: SupervisorClient,
    as_of: Day,
    years: Years = 5,
    scenarios: Scenarios = "fhs",
    paths: Paths = 1_000,
    seed: Seed = 0,
) -> RegulatorCarbonCostPublic:
    """Borrowers' carbon cost at risk across banks, by bank and by sector (sums of the borrowers'
    expected cost and CaR99, loans below the coverage floor). The regulator only."""
    from carbonfin.scoring.carbon_card import loan_coverage

    result, loans = _run(request, session, as_of, years, scenarios, paths, seed)
    cover = loan_coverage(loans, result, _debt(request, as_of))
    sector = request.app.state.data.account_frames()["firms"].set_index("uscc")["sector"]
    frame = cover.merge(result.horizon, left_on="borrower_uscc", right_on="uscc", how="left")
    frame["sector"] = frame["uscc"].map(sector).fillna("unknown")
    return RegulatorCarbonCostPublic(
        inputs=_inputs(result, as_of), by_bank=_groups(frame, "bank_id"),
        by_sector=_groups(frame, "sector"), assumptions=list(result.assumptions),
        provenance=Provenance(source=request.app.state.data.source, as_of=as_of,
                              notes=list(result.notes)),
    )  # fmt: skip
