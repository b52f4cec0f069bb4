"""Schemathesis against the app's own OpenAPI document: every route, a bounded number of
generated requests each, authenticated as a bank; no 500 and no response outside its schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.main import create_app
from api.settings import Settings
from carbonfin.store import credentials, repositories
from carbonfin.store.database import make_engine, session_scope, upgrade

_KEY: dict[str, str] = {}


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with session_scope(engine) as session:
        repositories.seed(session=session)
        _, _KEY["bank"] = credentials.create_api_key(
            session=session, institution_id="BANK-01", client_id="fuzz-bank"
        )
    app = create_app(Settings(database_url=f"sqlite:///{path}"), engine=engine)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    engine.dispose()


def test_no_500_and_every_response_in_its_schema(fuzz_schema: object) -> None:
    # Schemathesis' own pytest plugin does not load under this pytest; the operations are run
    # one by one through Hypothesis instead, which is what the plugin does.
    failures: list[str] = []
    operations = 0
    for result in fuzz_schema.get_all_operations():  # type: ignore[attr-defined]
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            derandomize=True,  # the same examples on every run: CI must not be flaky
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {_KEY['bank']}"},
                checks=[not_a_server_error, response_schema_conformance],
            )

        try:
            run()
        except Exception as exc:
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    assert operations >= 15
    assert not failures, "\n\n".join(failures)
