"""Schemathesis over every route of the app's own OpenAPI document, as a bank, the regulator
and an admin, with every check on (server errors, status codes, content types, headers,
response schemas, positive data accepted, negative data rejected, auth ignored, …) in both
generation modes.

Asserted: **0 server errors and 0 schema violations**, no exception: any failed check fails
the test, including ST202 (a request valid by the schema refused) and ST201 (an invalid one
accepted). The document states every rule JSON Schema can state (patterns, enums, bounds, date
bounds as patterns, ``oneOf`` for ``full`` xor ``quantity_t``). The three kinds of rule it
cannot state are written in the operations' descriptions and taught to the generator here, in
positive mode only (negative cases are sent as generated):

* the USCC check character (``format: uscc``, GB 32100-2015): :func:`_uscc` draws codes of the
  pattern's shape and computes position 18;
* dates against today (a repayment, a registration, a release, a consent are not in the future;
  a loan originates at most a year ahead): :func:`_within_rules` moves a later date to today;
* cross-field order (``start`` ≤ ``end``; a loan's maturity after its origination, at most 30
  years on): :func:`_within_rules` orders them.

Bounded for CI: ``CARBONFIN_SCHEMATHESIS_EXAMPLES`` generated requests per operation, mode and
role (default 6: ~40 operations × 2 modes × 3 roles ≈ 1,500 requests, about a minute on one
core); raise it for a deeper run (the issue's run used ~18k cases).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Iterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy import select

from api.main import create_app
from api.settings import Settings
from carbonfin.conventions import minor_unit_quantum
from carbonfin.scoring.ids import USCC_ALPHABET, uscc_check_character
from carbonfin.store import credentials, repositories
from carbonfin.store.database import make_engine, session_scope, upgrade
from carbonfin.store.models import Firm

EXAMPLES = int(os.environ.get("CARBONFIN_SCHEMATHESIS_EXAMPLES", "6"))
ROLES = {"bank": ("BANK-01", "bank"), "regulator": ("PBOC-SH", "regulator"),
         "admin": (None, "admin")}  # fmt: skip
_BODY = "ABCDEFGHJKLMNPQRTUWXY0123456789"  # the pattern's alphabet for positions 9-17


@st.composite
def _uscc(draw: st.DrawFn) -> str:
    """A USCC of the document's pattern with the right check character (GB 32100-2015)."""
    first = draw(st.sampled_from("123456789ANY"))
    second = draw(st.sampled_from(_BODY))
    division = draw(st.text("0123456789", min_size=6, max_size=6))
    organisation = draw(st.text(_BODY, min_size=9, max_size=9))
    head = first + second + division + organisation
    assert set(head) <= set(USCC_ALPHABET)
    return head + uscc_check_character(head)


schemathesis.openapi.format("uscc", _uscc())


def _today() -> dt.date:
    """The earliest 'today' of the server's rules (UTC and the machine's local date)."""
    return min(dt.date.today(), dt.datetime.now(dt.UTC).date())


def _not_after_today(holder: Any, key: str) -> None:
    if isinstance(holder, dict) and isinstance(holder.get(key), str):
        holder[key] = min(dt.date.fromisoformat(holder[key]), _today()).isoformat()


def _within_rules(
    case: schemathesis.Case, firms: list[str], bank: str | None = None
) -> schemathesis.Case:
    """Bring a positive case within the documented rules that no schema can state (dates
    against today, cross-field order, a borrower the service knows, a bank key's ``bank_id``
    naming its own institution: ``bank``); every other value is left as generated."""
    label, body, query = case.operation.label, case.body, case.query
    if bank is not None and query and query.get("bank_id"):
        query["bank_id"] = bank  # docs/api.md: another bank's id is a 422 for a bank key
    if label.startswith("GET ") and query and query.get("start") and query.get("end"):
        # every route with a start and an end documents start <= end (prices, exposure history)
        query["start"], query["end"] = sorted((query["start"], query["end"]))
    elif label == "POST /v1/loans" and isinstance(body, dict):
        start = dt.date.fromisoformat(body["origination_date"])
        start = min(start, _today() + dt.timedelta(days=366))
        end = dt.date.fromisoformat(body["maturity_date"])
        if not start < end <= start + dt.timedelta(days=30 * 366):
            end = start + dt.timedelta(days=365)
        body["origination_date"], body["maturity_date"] = start.isoformat(), end.isoformat()
        body["borrower_uscc"] = firms[sum(map(ord, body["borrower_uscc"])) % len(firms)]
        # the principal in whole minor units of its currency (ISO 4217; docs/api.md): the schema
        # admits 3 decimals for every currency, the rule is per currency
        quantum = minor_unit_quantum(body["currency"])
        whole = Decimal(str(body["principal"])).quantize(quantum, rounding=ROUND_DOWN)
        kept = max(whole, quantum)
        body["principal"] = str(kept) if isinstance(body["principal"], str) else float(kept)
    elif label == "POST /v1/loans/{loan_id}/repayments":
        _not_after_today(body, "on")
    elif label == "POST /v1/pledges":
        _not_after_today(body, "registration_date")
    elif label == "POST /v1/pledges/{pledge_id}/releases":
        _not_after_today(body, "release_date")
    elif label == "POST /v1/pledges/{pledge_id}/substitutions" and isinstance(body, dict):
        _not_after_today(body.get("replacement"), "registration_date")
    elif label == "POST /v1/loans/{loan_id}/guarantors":
        _not_after_today(body, "consent_date")
    return case


@pytest.fixture(scope="module")
def app_and_keys(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Any, dict[str, str], list[str]]]:
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
    with engine.connect() as connection:
        firms = sorted(connection.scalars(select(Firm.uscc)))
    yield app, keys, firms
    engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("who", sorted(ROLES))
def test_every_route_conforms(
    app_and_keys: tuple[Any, dict[str, str], list[str]], who: str
) -> None:
    app, keys, firms = app_and_keys
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {keys[who]}"}
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:
                bank = ROLES[who][0] if ROLES[who][1] == "bank" else None
                cases = cases.map(functools.partial(_within_rules, firms=firms, bank=bank))

            @given(case=cases)
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
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:1500]}")
    assert operations >= 20
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)
