"""The shipped sample market seeds completely and idempotently on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from carbonfin.data import load_table
from carbonfin.data.schema import TABLES, sample_dir
from carbonfin.store import repositories
from carbonfin.store.database import session_scope, upgrade
from carbonfin.store.models import SAMPLE_MODELS


@pytest.mark.slow
def test_shipped_sample_seeds_completely_and_idempotently(engine: Engine) -> None:
    manifest = json.loads((sample_dir() / "manifest.json").read_text(encoding="utf-8"))
    upgrade(engine)
    with session_scope(engine) as session:
        first = repositories.seed(session=session)
    with session_scope(engine) as session:
        second = repositories.seed(session=session)
    for name, model in SAMPLE_MODELS.items():
        rows = manifest["files"][TABLES[name].filename]["rows"]
        assert first.inserted[name] == rows
        assert second.inserted[name] == 0
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(model)) == rows
    with session_scope(engine) as session:
        loans = repositories.read_table(session=session, name="loans")
    expected = load_table("loans").sort_values("loan_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(loans, expected)


@pytest.mark.slow
def test_sample_holdings_from_the_database_match_the_registry_file(engine: Engine) -> None:
    import datetime as dt

    from carbonfin.store import collateral

    upgrade(engine)
    with session_scope(engine) as session:
        repositories.seed(session=session)
    as_of = dt.date(2026, 10, 30)
    with session_scope(engine) as session:
        held = collateral.holdings(session=session, as_of=as_of)
        active = collateral.active_pledges(session=session, as_of=as_of)
    events = load_table("registry_events")
    sign = events["kind"].map({"allocation": 1, "purchase": 1, "sale": -1, "surrender": -1})
    lock = events["kind"].map({"pledge_registered": 1, "pledge_released": -1})
    expected = (
        events.assign(
            balance_t=sign.fillna(0) * events["quantity_t"],
            pledged_t=lock.fillna(0) * events["quantity_t"],
            v=events["vintage"].fillna(-1),
        )
        .groupby(["uscc", "instrument", "v"])[["balance_t", "pledged_t"]]
        .sum()
    )
    expected = expected[(expected != 0).any(axis=1)]
    got = held.assign(v=held["vintage"].fillna(-1)).set_index(["uscc", "instrument", "v"])
    assert len(got) == len(expected)
    assert (got["balance_t"] == expected.loc[got.index, "balance_t"].to_numpy()).all()
    assert (got["pledged_t"] == expected.loc[got.index, "pledged_t"].to_numpy()).all()
    assert (held["free_t"] >= 0).all()
    # the locked total equals the quantity of the pledges in force
    assert held["pledged_t"].sum() == active["quantity_t"].sum()
