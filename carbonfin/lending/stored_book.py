"""The valued book of a date as its stored valuation run holds it: what the regulator's stress
route applies a scenario to, instead of a book valued and held in the service's memory.

The run's valued loans (state other than ``not_valued``) and their pledges are read from the
database (:func:`carbonfin.store.exposure.load_run_rows`) into the frames a
:class:`~carbonfin.collateral.BookValuation` holds — per pledge: instrument, quantity, market
value, haircut, lendable value, pledgor; per loan: bank, outstanding in CNY, collateral and
lendable value, LTV, state — with the LTV thresholds of the run's haircut policy. The market-risk
profiles and FX quotes are not stored (the stress model reads neither: it moves the stored
values by the scenario's price moves); the rows carry the stored rounding (money to 4
decimals), and each haircut is the one the stored amounts imply (``1 − lendable / value``).
"""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from carbonfin.collateral import BookValuation
from carbonfin.collateral.policy import collateral_policy
from carbonfin.errors import DataIntegrityError, MissingDataError
from carbonfin.lending.valuation_runs import stored_run
from carbonfin.store import exposure as store

__all__ = ["stored_valuation"]


def _valued_rows(session: Session, run: store.RunInfo) -> tuple[pd.DataFrame, pd.DataFrame]:
    pledges, loans = store.load_run_rows(session=session, run_id=run.run_id)
    loans = loans[loans["state"] != "not_valued"].reset_index(drop=True)
    valued = (
        pledges["market_value_cny"].notna()
        & pledges["lendable_value_cny"].notna()
        & pledges["not_valued_reason"].isna()
    )
    pledges = pledges[valued & pledges["loan_id"].isin(loans["loan_id"])].reset_index(drop=True)
    # the haircut as the stored amounts imply it (1 − lendable / value): a stressed lendable
    # value is then the stored lendable value moved by the scenario, where the stored haircut
    # (rounded to 8 decimals) would be off by up to 1e-8 of the value (CNY on a book of 1e8)
    value = pledges["market_value_cny"].to_numpy(dtype=float)
    lendable = pledges["lendable_value_cny"].to_numpy(dtype=float)
    implied = 1.0 - np.divide(lendable, value, out=np.ones_like(value), where=value > 0)
    pledges["haircut_frac"] = np.where(value > 0, implied, pledges["haircut_frac"])
    return pledges, loans


def stored_valuation(session: Session, as_of: dt.date) -> tuple[BookValuation, store.RunInfo]:
    """The valued book of the stored run of ``as_of`` and the run.

    Raises
    ------
    MissingDataError
        No run of ``as_of`` is stored, or none of its loans could be valued.
    DataIntegrityError
        The run was valued under another haircut policy than the shipped one (its thresholds
        are not known here).
    """
    run = stored_run(session, as_of)
    pledges, loans = _valued_rows(session, run)
    if loans.empty:
        raise MissingDataError(
            f"no pledges in force securing an active loan could be valued on {as_of}"
        )
    policy = collateral_policy()
    if run.policy_version is not None and run.policy_version != policy.version:
        raise DataIntegrityError(
            f"the stored valuation of {as_of} used haircut policy {run.policy_version}, the "
            f"service ships {policy.version}: value the date again"
        )
    book = BookValuation(
        as_of=as_of,
        pledge_frame=pledges,
        loan_frame=loans,
        profiles=MappingProxyType({}),
        fx=MappingProxyType({}),
        notes=run.notes,
        data_source=run.data_source,
        policy_version=policy.version,
        thresholds=policy.ltv,
    )
    return book, run
