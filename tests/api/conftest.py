"""A seeded database per backend (SQLite and PostgreSQL), the app over it, and API keys."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text

from api.main import create_app
from api.settings import Settings
from carbonfin.store import credentials, repositories
from carbonfin.store.database import make_engine, session_scope, upgrade
from carbonfin.store.models import LoanLedgerEntry


@dataclass
class Api:
    client: TestClient
    engine: Engine
    keys: dict[str, str]
    backend: str

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def ledger_rows(self, loan_id: str) -> int:
        """How many ledger entries the database holds for ``loan_id`` (read past the API)."""
        query = select(func.count()).select_from(LoanLedgerEntry)
        with self.engine.connect() as c:
            return int(c.scalar(query.where(LoanLedgerEntry.loan_id == loan_id)) or 0)


def _keys(engine: Engine) -> dict[str, str]:
    keys = {}
    with session_scope(engine) as session:
        for who, inst, role in (
            ("bank1", "BANK-01", "bank"),
            ("bank2", "BANK-02", "bank"),
            ("regulator", "PBOC-SH", "regulator"),
            ("admin", "OPERATOR", "admin"),
        ):
            _, keys[who] = credentials.create_api_key(
                session=session, institution_id=inst, role=role, client_id=f"test-{who}"
            )
        _, keys["expired"] = credentials.create_api_key(
            session=session,
            institution_id="BANK-01",
            client_id="test-expired",
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
        )
    return keys


def _seed(engine: Engine) -> None:
    upgrade(engine)
    with session_scope(engine) as session:
        repositories.seed(session=session)


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app over the shipped sample market, one database per backend for the session."""
    admin_engine = None
    schema = None
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("api") / "api.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
    else:
        base = request.getfixturevalue("postgres_url")
        schema = f"api_{uuid.uuid4().hex[:10]}"
        admin_engine = create_engine(base)
        with admin_engine.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
        url = base
        engine = make_engine(base, schema=schema)
    _seed(engine)
    keys = _keys(engine)
    # The suite sends many bad keys from one address on purpose; the failed-authentication
    # limits are tested with an app of their own (tests/api/test_load.py).
    settings = Settings(
        database_url=url,
        mode="local",
        auth_failures_per_address=1_000_000,
        auth_failures_per_client=1_000_000,
    )
    app = create_app(settings, engine=engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, engine, keys, request.param)
    engine.dispose()
    if admin_engine is not None:
        with admin_engine.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin_engine.dispose()
