"""The central-bank branch's views of carbon collateral across banks: exposures by bank,
instrument, vintage and industry; concentration; LTV distribution; stress. Read-only."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Query, Request

from api.convert import json_safe, stress_runs_public
from api.deps import SessionDep, SupervisorClient
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


def _provenance(book: Any, as_of: dt.date) -> Provenance:
    return Provenance(
        source=book.data_source, as_of=as_of, notes=[*book.notes, f"policy {book.policy_version}"]
    )


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
    _who: SupervisorClient,
    start: Day,
    end: Day,
    bank_id: Annotated[str | None, Query(max_length=32)] = None,
) -> ExposureHistoryPublic:
    """The exposure totals and margin-call count of every bank's book (or one bank's) on each
    stored valuation date from ``start`` to ``end``: the same series as
    ``/v1/exposure/history``, for the supervisor."""
    from carbonfin.lending import exposure

    bank = bank_id.upper() if bank_id else None
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
    _who: SupervisorClient,
    as_of: Day,
    bank_id: Annotated[str | None, Query(max_length=32)] = None,
) -> LtvPublic:
    """LTV quantiles, a histogram in 10-point buckets and the states of the loans."""
    book = request.app.state.book.valuation(session, as_of)
    loans = book.loans
    if bank_id:
        loans = loans[loans["bank_id"] == bank_id.upper()]
    ltv = loans["ltv"].to_numpy(dtype=float)
    ltv = ltv[np.isfinite(ltv)]
    edges = np.append(np.arange(0.0, 1.51, 0.1), np.inf)
    counts, _ = np.histogram(ltv, bins=edges)
    histogram = [
        {"from": float(lo), "to": None if np.isinf(hi) else float(hi), "loans": int(n)}
        for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
    qs = (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
    quantiles = {f"p{int(q * 100)}": float(np.quantile(ltv, q)) for q in qs} if len(ltv) else {}
    states = loans["state"].value_counts()
    return LtvPublic(
        as_of=as_of,
        loans=len(loans),
        quantiles=quantiles,
        histogram=histogram,
        states={str(k): int(v) for k, v in states.items()},
        provenance=_provenance(book, as_of),
    )


@router.get("/stress", response_model=StressPublic, responses=_ERRORS)
def stress(
    request: Request,
    session: SessionDep,
    _who: SupervisorClient,
    as_of: Day,
    scenario: Annotated[str, Query(min_length=1, max_length=64, examples=["shea-2015"])],
) -> StressPublic:
    """A stress scenario (shipped in ``stress.toml``) applied to the whole book; the run is
    stored (table ``stress_runs``: scenario, as-of, inputs, model versions, results; the same
    scenario and as-of again replaces it) and committed before the answer, which gives its
    ``run_id``. Storing the result changes no lending data: the regulator stays read-only."""
    from carbonfin.collateral import stress_record
    from carbonfin.collateral.models import get_model
    from carbonfin.collateral.stress import stress_book
    from carbonfin.instruments import Instrument
    from carbonfin.store.stress import record_stress_run

    book = request.app.state.book.valuation(session, as_of)
    data = request.app.state.data
    histories = {
        Instrument.parse(c): data.history(c) for c in sorted(book.pledges["instrument"].unique())
    }
    r = stress_book(
        book, scenario, histories, industries=request.app.state.book.industries(session)
    )
    model = get_model(next(iter(book.profiles.values())).model)
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
        source=r.scenario.source + (" (assumed)" if r.scenario.assumed else ""),
        notes=list(r.notes),
        run_id=run_id,
        replaced=replaced,
    )


@router.get("/stress-runs", response_model=StressRunsPublic, responses=_ERRORS)
def stress_runs(
    session: SessionDep,
    _who: SupervisorClient,
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
        bank_id=None if bank_id is None else bank_id.upper(), limit=limit,
    )  # fmt: skip
    return stress_runs_public(rows, scenario, as_of)  # type: ignore[no-any-return]
