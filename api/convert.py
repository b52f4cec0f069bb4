"""Turning the core's frozen results into JSON-safe values for the response schemas."""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

__all__ = ["haircut_public", "json_safe"]


def json_safe(value: Any) -> Any:
    """Plain JSON values: numbers (NaN and infinities as ``None``), strings, lists, dicts."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


def haircut_public(b: Any, source: str) -> Any:
    from api.schemas.collateral import ComponentPublic, HaircutPublic
    from api.schemas.common import Provenance

    return HaircutPublic(
        instrument=b.instrument.value,
        as_of=b.as_of,
        quantity_t=b.quantity_t,
        mark_price_cny_per_t=b.mark_price_cny_per_t,
        mark_date=b.mark_date,
        model=b.model,
        measure=b.measure,
        confidence=b.confidence,
        holding_days=b.holding_days,
        remargin_days=b.remargin_days,
        liquidation_days=b.liquidation_days,
        loan_currency=b.loan_currency.code
        if hasattr(b.loan_currency, "code")
        else str(b.loan_currency),
        total=b.total,
        market_value_cny=b.market_value_cny,
        lendable_value_cny=b.lendable_value_cny,
        components=[
            ComponentPublic(
                name=c.name,
                frac=c.frac,
                method=c.method,
                inputs=json_safe(c.inputs),
                source=c.source,
            )
            for c in b.components
        ],
        rule=b.rule,
        notes=list(b.notes),
        policy_version=b.policy_version,
        provenance=Provenance(source=b.data_source, as_of=b.as_of, notes=list(b.notes)),
    )


def stress_runs_public(rows: list[Any], scenario: str | None, as_of: dt.date | None) -> Any:
    """``StressRunsPublic`` from :func:`carbonfin.store.stress.stress_results_by_bank` rows."""
    from api.schemas.collateral import StressRunBankPublic, StressRunsPublic

    def one(r: Any) -> StressRunBankPublic:
        return StressRunBankPublic(
            run_id=r.run_id, scenario=r.scenario, as_of=r.as_of, scope=r.scope, seed=r.seed,
            bank_id=r.bank_id, loans=r.loans, loans_called_before=r.called_before,
            loans_called_after=r.called_after, outstanding_cny=r.outstanding_cny,
            value_before_cny=r.value_before_cny, value_after_cny=r.value_after_cny,
            loss_cny=r.loss_cny, topup_cash_cny=r.topup_cash_cny, uncovered_cny=r.uncovered_cny,
            moves=dict(r.moves), model_versions=json_safe(dict(r.model_versions)),
            data_source=r.data_source,
        )  # fmt: skip

    return StressRunsPublic(scenario=scenario, as_of=as_of, rows=[one(r) for r in rows])
