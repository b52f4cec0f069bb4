"""The OpenAPI document is the API: strict JSON types, dates that are dates, UTC timestamps with
``Z``, the statuses the app can answer documented on every route, a bearer security scheme, a
complete ``Allow`` on 405, and schema constraints equal to the server's checks."""

from __future__ import annotations

import json
import re
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.schemas.common import LOAN_CURRENCIES, USCC_PATTERN, Currency
from carbonfin.conventions import Currency as CoreCurrency
from carbonfin.scoring.ids import USCC_ALPHABET, uscc_check_character, uscc_problems
from tests.api.conftest import Api
from tests.api.test_service import _problem

STRICT_BODIES = [
    # a boolean, an integer and a number must be JSON booleans and numbers
    ("/v1/haircuts", {"instrument": "SHEA", "quantity_t": 1000, "as_of": "2026-10-30",
                      "book_share": False}, "book_share"),
    ("/v1/haircuts", {"instrument": "SHEA", "quantity_t": "1000", "as_of": "2026-10-30"},
     "quantity_t"),
    ("/v1/haircuts", {"instrument": "SHEA", "quantity_t": 1000, "as_of": "2026-10-30",
                      "pledgor_covered": 0}, "pledgor_covered"),
    ("/v1/options/black76", {"forward": 80, "strike": 85, "expiry_years": 0.5, "vol": 0.4,
                             "rate": 0.02, "call": 0}, "call"),
    ("/v1/options/black76", {"forward": "80", "strike": 85, "expiry_years": 0.5, "vol": 0.4,
                             "rate": 0.02}, "forward"),
    ("/v1/pledges", {"loan_id": "LN-0000003", "instrument": "SHEA", "vintage": 2024,
                     "quantity_t": "100", "registration_no": "SHEA-ZY-1",
                     "registration_date": "2026-10-30"}, "quantity_t"),
    # a date is YYYY-MM-DD, not a number of seconds since 1970
    ("/v1/haircuts", {"instrument": "SHEA", "quantity_t": 1000, "as_of": 0}, "as_of"),
    ("/v1/loans/LN-0000003/repayments", {"amount": "10.00", "on": 1700000000}, "on"),
    ("/v1/loans/LN-0000003/repayments", {"amount": True, "on": "2026-10-30"}, "amount"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "field"), STRICT_BODIES, ids=lambda v: str(v)[:24])
def test_wrong_json_types_are_refused(api: Api, path: str, body: dict, field: str) -> None:  # type: ignore[type-arg]
    resp = api.client.post(path, json=body, headers=api.as_("bank1"))
    problem = _problem(resp, 422)
    assert any(field in e["loc"] for e in problem["errors"]), problem


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/prices/SHEA", {"start": "0"}),
        ("/v1/prices/SHEA/mark", {"as_of": "1700000000"}),
        ("/v1/regulator/ltv", {"as_of": "0"}),
        ("/v1/audit", {"since": "0"}),
        ("/v1/audit", {"since": "2026-10-30T08:00:00"}),  # an instant needs its zone
    ],
)
def test_dates_are_not_unix_times(api: Api, path: str, params: dict[str, str]) -> None:
    who = "regulator" if "regulator" in path or "audit" in path else "bank1"
    _problem(api.client.get(path, params=params, headers=api.as_(who)), 422)


def test_timestamps_are_utc_with_z(api: Api) -> None:
    clients = api.client.get("/v1/admin/clients", headers=api.as_("admin"))
    assert clients.status_code == 200, clients.text
    stamps = [c[k] for c in clients.json() for k in ("created_at", "expires_at", "revoked_at")]
    stamps = [s for s in stamps if s is not None]
    assert stamps
    assert all(s.endswith("Z") for s in stamps), stamps
    audit = api.client.get("/v1/audit", params={"limit": 5}, headers=api.as_("regulator"))
    assert audit.status_code == 200, audit.text
    ats = [e["at"] for e in audit.json()["items"]]
    assert ats
    assert all(s.endswith("Z") for s in ats), ats
    since = api.client.get(
        "/v1/audit", params={"since": "2020-01-01T00:00:00Z"}, headers=api.as_("regulator")
    )
    assert since.status_code == 200, since.text


def test_405_lists_every_method_of_the_path(api: Api) -> None:
    resp = api.client.delete("/v1/loans", headers=api.as_("bank1"))
    assert resp.status_code == 405
    assert sorted(m.strip() for m in resp.headers["allow"].split(",")) == ["GET", "POST"]
    assert resp.headers["content-type"].startswith("application/problem+json")


def test_document_has_bearer_scheme_and_complete_statuses(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    paths = doc["paths"]
    assert paths["/v1/loans"]["get"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/health"]["get"]
    for path in ("/v1/margin-calls", "/v1/regulator/exposures", "/v1/regulator/ltv",
                 "/v1/regulator/concentration", "/v1/regulator/stress"):  # fmt: skip
        assert {"401", "403", "404", "409", "422", "429", "503"} <= set(
            paths[path]["get"]["responses"]
        )
    for path, ops in paths.items():
        for method, op in ops.items():
            codes = set(op["responses"])
            if "requestBody" in op:
                assert {"400", "413", "415", "422"} <= codes, (method, path)
            if "security" in op:
                assert {"401", "403", "429"} <= codes, (method, path)
                assert "Retry-After" in op["responses"]["429"]["headers"]
            for code, resp in op["responses"].items():
                if int(code) >= 400:
                    assert list(resp["content"]) == ["application/problem+json"], (path, code)
    # constraints equal to the server's checks
    schemas = doc["components"]["schemas"]
    assert schemas["PledgeCreate"]["properties"]["instrument"]["enum"] == ["SHEA", "CEA", "CCER"]
    assert set(schemas["LoanCreate"]["properties"]["currency"]["enum"]) == set(LOAN_CURRENCIES)
    idem = next(
        p for p in paths["/v1/loans"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    )
    assert idem["schema"]["anyOf"][0]["maxLength"] == 255


def test_currency_vocabularies_match_the_core() -> None:
    assert set(typing.get_args(Currency)) == {c.name for c in CoreCurrency}
    assert set(LOAN_CURRENCIES) <= set(typing.get_args(Currency))


def test_a_loan_currency_outside_the_enum_is_refused(api: Api) -> None:
    body = {"borrower_uscc": "91310105GN93T2369N", "currency": "GBP", "principal": "1000.00",
            "origination_date": "2026-10-30", "maturity_date": "2027-10-30",
            "rate": 0.03}  # fmt: skip
    problem = _problem(api.client.post("/v1/loans", json=body, headers=api.as_("bank1")), 422)
    assert "GBP" in problem["detail"]
    body["currency"] = "usd"  # the schema's codes are upper case
    _problem(api.client.post("/v1/loans", json=body, headers=api.as_("bank1")), 422)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=USCC_ALPHABET + "IOSVZ", min_size=18, max_size=18))
def test_uscc_pattern_is_the_server_check_but_the_check_character(code: str) -> None:
    """The schema's pattern accepts exactly the codes whose only possible problem is the check
    character (which no pattern can express: the server checks it)."""
    fixed = code[:17] + (
        uscc_check_character(code[:17]) if not set(code[:17]) - set(USCC_ALPHABET) else code[17]
    )
    matches = re.fullmatch(USCC_PATTERN, fixed) is not None
    assert matches == (not uscc_problems(fixed)), (fixed, uscc_problems(fixed))


def test_loan_currency_enum_is_the_shipped_fx_coverage() -> None:
    """The schema's loan currencies are those the shipped FX fixings join to CNY (the server
    re-checks against the stored fixings and names the covered ones in its 422)."""
    import csv

    from carbonfin.data import sample_dir
    from carbonfin.lending.loans import covered_currencies

    with (sample_dir() / "fx_fixings.csv").open(encoding="utf-8") as f:
        pairs = {row["pair"] for row in csv.DictReader(f)}
    assert set(LOAN_CURRENCIES) == set(covered_currencies(pairs))


def test_money_constraints_are_in_the_schema_and_an_oversized_cursor_is_a_422(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    principal = doc["components"]["schemas"]["LoanCreate"]["properties"]["principal"]
    number = next(b for b in principal["anyOf"] if b.get("type") == "number")
    assert number["exclusiveMinimum"] == 0
    # schemathesis found it: a cursor beyond 64 bits was a 500 on SQLite
    resp = api.client.get("/v1/audit", params={"cursor": 2**70}, headers=api.as_("regulator"))
    _problem(resp, 422)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["book_share", "quantity_t"])
def test_a_non_finite_number_is_named_as_such_not_as_a_bound(
    api: Api, token: str, field: str
) -> None:
    """``"book_share": NaN`` answered "Input should be less than or equal to 1" (NaN fails every
    bound); the caller's mistake is the number (fresh-clone user check)."""
    body = {"instrument": "SHEA", "quantity_t": 1000, "as_of": "2026-10-30", "book_share": 0.1}
    text = json.dumps(body).replace(f'"{field}": {body[field]}', f'"{field}": {token}')
    resp = api.client.post(
        "/v1/haircuts",
        content=text,
        headers={**api.as_("bank1"), "content-type": "application/json"},
    )
    problem = _problem(resp, 422)
    assert "must be a finite number" in problem["detail"], problem
    assert field in problem["detail"]
