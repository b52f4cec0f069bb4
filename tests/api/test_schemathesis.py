"""Schemathesis over every route of the app's own OpenAPI document, as a bank, the regulator
and an admin, with every check on (server errors, status codes, content types, headers,
response schemas, positive data accepted, negative data rejected, auth ignored, …) in both
generation modes.

Asserted: **0 server errors and 0 schema violations** — no 5xx, no exception, and no failure of
the response checks (ST1xx: status code documented, content type, headers, response schema,
auth). The data-acceptance checks (ST2xx: a schema-valid request refused, an invalid one
accepted) also run; where the schema is still looser than the server (listed in
:data:`KNOWN_LOOSE`, each with the server's reason) they are reported, and any *new* one fails.

Bounded for CI: ``CARBONFIN_SCHEMATHESIS_EXAMPLES`` generated requests per operation, mode and
role (default 6: ~40 operations × 2 modes × 3 roles ≈ 1,500 requests, about two minutes on
one core); raise it for a deeper run (the issue's run used ~18k cases).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from api.main import create_app
from api.settings import Settings
from carbonfin.store import credentials, repositories
from carbonfin.store.database import make_engine, session_scope, upgrade

EXAMPLES = int(os.environ.get("CARBONFIN_SCHEMATHESIS_EXAMPLES", "6"))
ROLES = {"bank": ("BANK-01", "bank"), "regulator": ("PBOC-SH", "regulator"),
         "admin": (None, "admin")}  # fmt: skip


#: Operations whose schema is still looser than the server's checks (ST202: a request valid by
#: the schema answered 422). Each is a documented gap of issue 18 point 11, not a server error:
#: cross-field and data-dependent rules (dates against today, the market's first day or the
#: calendar's years; `full` xor `quantity_t`; a participant's required fields) and the USCC
#: check character, which no JSON-Schema pattern can state.
KNOWN_LOOSE = {
    "GET /v1/firms/{uscc}/score", "POST /v1/firms/scores", "GET /v1/prices/{instrument}/mark",
    "GET /v1/prices/{instrument}/forward-curve", "GET /v1/fx/convert",
    "POST /v1/eligibility/participants", "POST /v1/loans", "POST /v1/loans/{loan_id}/repayments",
    "POST /v1/haircuts", "POST /v1/pledges", "POST /v1/pledges/{pledge_id}/releases",
    "POST /v1/pledges/{pledge_id}/substitutions", "POST /v1/loans/{loan_id}/guarantors",
    "GET /v1/prices/{instrument}", "GET /v1/firms/{uscc}", "POST /v1/admin/clients",
    "GET /v1/regulator/stress", "POST /v1/options/black76",
}  # fmt: skip
_CODE = re.compile(r"- (ST\d{3}) ")


@pytest.fixture(scope="module")
def app_and_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "st.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    keys: dict[str, str] = {}
    with session_scope(engine) as session:
        repositories.seed(session=session)
        for who, (inst, role) in ROLES.items():
            _, keys[who] = credentials.create_api_key(
                session=session,
                institution_id=inst or credentials.OPERATOR_ID,
                role=role,
                client_id=f"st-{who}",
            )
    # Schemathesis sends thousands of unauthenticated requests from one address: the failed-
    # authentication limit (tested in its own tests) would answer them 429 instead of the 401
    # whose conformance is checked here, so it is raised out of reach for this app.
    settings_ = Settings(
        database_url=f"sqlite:///{path}",
        mode="local",
        auth_failures_per_address=10**9,
        auth_failures_per_client=10**9,
    )
    app = create_app(settings_, engine=engine)
    yield app, keys
    engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("who", sorted(ROLES))
def test_every_route_conforms(app_and_keys: tuple[Any, dict[str, str]], who: str) -> None:
    app, keys = app_and_keys
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {keys[who]}"}
    failures: list[str] = []
    loose: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,  # the same examples on every run: CI must not be flaky
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers)  # every check schemathesis has

            try:
                run()
            except Unsatisfiable:
                # no invalid request exists (an operation without parameters or body)
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises groups
                text = str(exc)
                codes = set(_CODE.findall(text))
                loose_only = codes and codes <= {"ST201", "ST202"}
                if loose_only and operation.label in KNOWN_LOOSE:
                    loose.append(f"{operation.label} [{mode.value}] {sorted(codes)}")
                else:
                    failures.append(f"{operation.label} [{mode.value}]: {text[:1500]}")
    assert operations >= 20
    if loose:
        print(f"{len(loose)} known schema-looser-than-server cases:", *loose, sep="\n  ")
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
