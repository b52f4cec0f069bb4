"""The central-bank branch's views of carbon collateral across banks: exposures by bank,
instrument, vintage and industry; concentration; LTV distribution; stress. Read-only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Query, Request

from api.convert import json_safe, stress_runs_public
from api.deps import SessionDep, SupervisorClient, bank_scope
from api.problems import problem_responses
from api.routes.exposure import history_public
from api.schemas.collateral import (
    ConcentrationPublic,
    ExposureRow,
    ExposuresPublic,
    ExposureTotal,
    LtvPublic,
    StressPublic,
    StressRunsPublic,
)
from api.schemas.common import Day, Provenance
from api.schemas.exposure import ExposureHistoryPublic
from carbonfin.errors import MissingDataError

router = APIRouter(prefix="/v1/regulator", tags=["regulator"])
_ERRORS = problem_responses(401, 403, 404, 422)


@router.get("/exposures", response_model=ExposuresPublic, responses=_ERRORS)
def exposures(
    request: Request,
    session: SessionDep,
    _who: SupervisorClient,
    as_of: Day,
    group_by: Literal["bank", "instrument", "vintage", "industry"] = "bank",
) -> ExposuresPublic:
    """Collateral value, lendable value and loans secured, grouped; a loan secured by several
    pledges has its outstanding allocated to them by collateral value (docs/api.md), so the
    groups add up to ``total``. Aggregated by the database over the stored valuation of
    ``as_of`` (valued and stored first when missing or older than the data)."""
    from carbonfin.lending import exposure

    exposure.refresh(request.app.state.sessions, as_of, request.app.state.data)
    result = exposure.summary(session, as_of, by=(group_by,))
    if result.total.pledges == result.total.pledges_not_valued:
        raise MissingDataError(
            f"no pledges in force securing an active loan could be valued on {as_of}"
        )
    return ExposuresPublic(
        as_of=as_of,
        group_by=group_by,
        rows=[ExposureRow.model_validate(r.as_dict()) for r in result.rows(group_by)],
        total=ExposureTotal.model_validate(result.total.as_dict()),
        provenance=Provenance(
            source=result.source.data_source, as_of=as_of, notes=result.source.describe()
        ),
    )


@router.get("/exposure-history", response_model=ExposureHistoryPublic, responses=_ERRORS)
def exposure_history(
    session: SessionDep,
    who: SupervisorClient,
    start: Day,
    end: Day,
    bank_id: Annotated[str | None, Query(max_length=32)] = None,
) -> ExposureHistoryPublic:
    """The exposure totals and margin-call count of every bank's book (or one bank's) on each
    stored valuation date from ``start`` to ``end``: the same series as
    ``/v1/exposure/history``, for the supervisor."""
    from carbonfin.lending import exposure

    bank = bank_scope(session, who, bank_id)
    return history_public(exposure.history(session, start, end, bank), bank)


@router.get("/concentration", response_model=ConcentrationPublic, responses=_ERRORS)
def concentration(
    request: Request, session: SessionDep, _who: SupervisorClient, as_of: Day
) -> ConcentrationPublic:
    """How concentrated the pledged collateral is among pledgors (Herfindahl–Hirschman index
    Σ s², with s each pledgor's share of collateral value; 1/n for n equal pledgors), summed per
    pledgor by the database over the stored valuation of ``as_of``."""
    from carbonfin.lending import exposure

    exposure.refresh(request.app.state.sessions, as_of, request.app.state.data)
    result = exposure.concentration(session, as_of)
    if result.pledgors == 0:
        raise MissingDataError(
            f"no pledges in force securing an active loan could be valued on {as_of}"
        )
    return ConcentrationPublic(
        as_of=as_of,
        pledgors=result.pledgors,
        top_shares=dict(result.top_shares),
        herfindahl=result.herfindahl,
        by_instrument_herfindahl=dict(result.by_instrument_herfindahl),
        provenance=Provenance(
            source=result.source.data_source, as_of=as_of, notes=result.source.describe()
        ),
    )


@router.get("/ltv", response_model=LtvPublic, responses=_ERRORS)
def ltv_distribution(
    request: Request,
    session: SessionDep,
    who: SupervisorClient,
    as_of: Day,
    bank_id: Annotated[str | None, Query(max_length=32)] = None,
) -> LtvPublic:
    """LTV quantiles, a histogram in 10-point buckets and the states of the valued loans,
    computed by the database over the stored valuation of ``as_of`` (valued and stored first
    when missing or older than the data); loans not valued are in no figure (a note says how
    many)."""
    from carbonfin.lending import exposure, ltv

    exposure.refresh(request.app.state.sessions, as_of, request.app.state.data)
    result = ltv.distribution(session, as_of, bank_scope(session, who, bank_id))
    whole = result if bank_id is None else ltv.distribution(session, as_of)
    if whole.loans == 0:
        raise MissingDataError(
            f"no pledges in force securing an active loan could be valued on {as_of}"
        )
    notes = result.source.describe()
    if result.not_valued:
        notes.append(f"{result.not_valued} loans not valued on {as_of}: in no figure here")
    return LtvPublic(
        as_of=as_of,
        loans=result.loans,
        quantiles=dict(result.quantiles),
        histogram=[{"from": lo, "to": hi, "loans": n} for lo, hi, n in result.histogram],
        states=dict(result.states),
        provenance=Provenance(source=result.source.data_source, as_of=as_of, notes=notes),
    )


@router.get("/stress", response_model=StressPublic, responses=_ERRORS)
def stress(
    request: Request,
    session: SessionDep,
    _who: SupervisorClient,
    as_of: Day,
    scenario: Annotated[str, Query(min_length=1, max_length=64, examples=["shea-2015"])],
    both_sides: Annotated[
        bool,
        Query(
            description="also the borrowers' carbon cost for compliance year as_of.year before "
            "and after the same moves, per bank beside the pledged collateral (2,000 FHS paths)"
        ),
    ] = False,
) -> StressPublic:
    """A stress scenario (shipped in ``stress.toml``) applied to the whole book as its stored
    valuation of ``as_of`` holds it (valued and stored first when missing or older than the
    data; :mod:`carbonfin.lending.stored_book`); the run is
    stored (table ``stress_runs``: scenario, as-of, inputs, model versions, results; the same
    scenario and as-of again replaces it) and committed before the answer, which gives its
    ``run_id``. Storing the result changes no lending data: the regulator stays read-only.

    ``both_sides=true``: a price move works on both sides of each bank's book — a spike raises
    the value of the allowances pledged to it while it raises what its covered borrowers must
    pay for allowances — and ``both_sides`` lists, per bank, the collateral and the borrowers'
    carbon cost before and after (cost = tonnes to buy × forward × (1 + move))."""
    from carbonfin.collateral import stress_record
    from carbonfin.collateral.models import get_model
    from carbonfin.collateral.stress import stress_book
    from carbonfin.instruments import Instrument
    from carbonfin.lending import exposure
    from carbonfin.lending.stored_book import stored_valuation
    from carbonfin.store.exposure import pledgor_industries
    from carbonfin.store.stress import record_stress_run

    data = request.app.state.data
    exposure.refresh(request.app.state.sessions, as_of, data)
    book, run = stored_valuation(session, as_of)
    histories = {
        Instrument.parse(c): data.history(c) for c in sorted(book.pledges["instrument"].unique())
    }
    borrowers = None
    if both_sides:
        from api.routes.carbon_cost import borrower_carbon_exposure

        borrowers = borrower_carbon_exposure(request, session, as_of)
    r = stress_book(
        book, scenario, histories, industries=pledgor_industries(session=session),
        carbon_exposure=borrowers,
    )  # fmt: skip
    model = get_model(run.model)
    run_id, replaced = record_stress_run(
        sessions=request.app.state.sessions,
        record=stress_record(
            r, scope="all", seed=0, model=model.name, model_version=model.version,
            policy_version=book.policy_version, data_source=book.data_source,
        ),
    )  # fmt: skip

    def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return json_safe(frame.reset_index().to_dict("records"))  # type: ignore[no-any-return]

    return StressPublic(
        scenario=r.scenario.name,
        description=r.scenario.description,
        as_of=as_of,
        moves={i.value: float(m) for i, m in r.moves.items()},
        value_before_cny=r.value_before_cny,
        value_after_cny=r.value_after_cny,
        loss_cny=r.loss_cny,
        loans_called_before=r.loans_called_before,
        loans_called_after=r.loans_called_after,
        topup_cash_cny=r.topup_cash_cny,
        uncovered_cny=r.uncovered_cny,
        states_after=dict(r.states_after),
        by_bank=rows(r.by_bank),
        by_instrument=rows(r.by_instrument),
        by_industry=rows(r.by_industry),
        both_sides=None if r.both_sides is None else rows(r.both_sides.set_index("bank_id")),
        source=r.scenario.source + (" (assumed)" if r.scenario.assumed else ""),
        notes=list(r.notes),
        run_id=run_id,
        replaced=replaced,
    )


@router.get("/stress-runs", response_model=StressRunsPublic, responses=_ERRORS)
def stress_runs(
    session: SessionDep,
    who: SupervisorClient,
    scenario: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    as_of: Day | None = None,
    bank_id: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="most stored runs read")] = 100,
) -> StressRunsPublic:
    """Stored stress results of every bank, one row per run and bank (newest as-of first):
    what ``GET /v1/regulator/stress`` and ``carbonfin stress --save`` stored."""
    from carbonfin.store.stress import stress_results_by_bank

    rows = stress_results_by_bank(
        session=session, scenario=scenario, as_of=as_of,
        bank_id=bank_scope(session, who, bank_id), limit=limit,
    )  # fmt: skip
    return stress_runs_public(rows, scenario, as_of)  # type: ignore[no-any-return]
