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
