"""The document's constraints are the server's checks: a request the OpenAPI document accepts is
not refused for its form, and one it refuses is a 422 (issue 18 point 11, the rules that the
schema stated more loosely than the server: dates outside the calendars, integers written
``100.0``, money strings, the participant file, ``full`` xor ``quantity_t``, FX amounts).

The reference is the document itself, read by an independent JSON Schema validator
(``jsonschema_rs``, formats asserted); each case is sent to a route where a request of a valid
form gets past validation (a 404 for an absent object, or a 200) and an invalid one is a 422.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.schemas.common import IDEMPOTENCY_KEY_PATTERN, date_pattern
from carbonfin.cli.fx import EXAMPLE_PARTICIPANT
from carbonfin.lending.idempotency import IdempotencyKey
from tests.api.conftest import Api
from tests.api.test_service import _problem

_VALIDATORS: dict[tuple[int, str], Any] = {}


def _validator(api: Api, name: str) -> Any:
    """A validator of the document's component ``name`` (its ``$ref`` resolved in the document)."""
    if (id(api), name) not in _VALIDATORS:
        doc = api.client.get("/openapi.json").json()
        schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
        _VALIDATORS[id(api), name] = jsonschema_rs.Draft202012Validator(
            schema, validate_formats=True
        )
    return _VALIDATORS[id(api), name]


@pytest.mark.parametrize(
    "first", [dt.date(2013, 1, 1), dt.date(2013, 11, 26), dt.date(2024, 2, 29)], ids=str
)
def test_date_pattern_is_exact_on_its_bounds(first: dt.date) -> None:
    # every day from a month before the lower bound to a month after 2099-12-31
    pattern = jsonschema_rs.Draft202012Validator({"type": "string", "pattern": date_pattern(first)})
    day, end = first - dt.timedelta(days=40), dt.date(2100, 1, 31)
    while day <= end:
        assert pattern.is_valid(day.isoformat()) == (first <= day <= dt.date(2099, 12, 31)), day
        day += dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/fx/convert", {"amount": "1", "from": "USD", "to": "CNY", "on": "2012-12-31"}),
        ("/v1/loans/LN-0000003", {"as_of": "2100-01-01"}),
        ("/v1/firms/91310105GN93T2369N/score", {"as_of": "2100-01-01"}),
        ("/v1/fx/convert", {"amount": "1", "from": "USD", "to": "CNY", "on": "2021-02-29"}),
    ],
    ids=["fx-2012", "loans-2100", "score-2100", "no-such-day"],
)
def test_a_date_outside_the_calendars_is_a_422(api: Api, path: str, params: dict) -> None:  # type: ignore[type-arg]
    problem = _problem(api.client.get(path, params=params, headers=api.as_("bank1")), 422)
    assert "2013-01-01" in str(problem) or "calendar date" in str(problem), problem


def test_an_integral_json_number_is_an_integer(api: Api) -> None:
    # JSON Schema's integer is a number whose fraction is zero: 200000.0 is one; "200000" is not
    body = {"instrument": "SHEA", "quantity_t": 200_000, "as_of": "2026-10-30"}
    whole = api.client.post("/v1/haircuts", json=body, headers=api.as_("bank1"))
    assert whole.status_code == 200, whole.text
    written = api.client.post(
        "/v1/haircuts", json=body | {"quantity_t": 200_000.0}, headers=api.as_("bank1")
    )
    assert written.status_code == 200, written.text
    assert written.json()["total"] == whole.json()["total"]
    for bad in (200_000.5, "200000", True):
        resp = api.client.post(
            "/v1/haircuts", json=body | {"quantity_t": bad}, headers=api.as_("bank1")
        )
        _problem(resp, 422)


_MONEY_TEXT = st.text("0123456789.-+e ", min_size=1, max_size=18)
_MONEY = st.one_of(
    _MONEY_TEXT,
    st.decimals(min_value=0, max_value=10**14, places=2).map(str),
    st.decimals(min_value=0, max_value=10**14, places=3).map(str),
    st.integers(min_value=-5, max_value=10**14),
    st.sampled_from(
        [0.5, 12.25, 0.001, 1e13, 1e13 + 0.01, "0.00", "00.50", "1e3", "10000000000000.00"]
    ),
)


@settings(max_examples=40, deadline=None)
@given(amount=_MONEY)
def test_money_refused_exactly_where_the_document_refuses_it(api: Api, amount: Any) -> None:
    """A repayment on an absent loan: a 404 once the body's form is valid, a 422 before."""
    body = {"amount": amount, "on": "2026-10-30"}
    accepted = _validator(api, "RepaymentCreate").is_valid(body)
    resp = api.client.post("/v1/loans/LN-0000000/repayments", json=body, headers=api.as_("bank1"))
    assert resp.status_code == (404 if accepted else 422), (amount, resp.text)


@pytest.mark.parametrize(
    "body",
    [
        {"full": True}, {"quantity_t": 5}, {"quantity_t": 5, "full": False},
        {"quantity_t": None, "full": True}, {"quantity_t": 5, "full": True}, {},
        {"full": False}, {"quantity_t": None}, {"quantity_t": 5.0},
    ],
    ids=str,
)  # fmt: skip
def test_full_xor_quantity_is_in_the_document(api: Api, body: dict) -> None:  # type: ignore[type-arg]
    body = body | {"release_date": "2026-10-30", "reason": "repayment"}
    accepted = _validator(api, "ReleaseCreate").is_valid(body)
    resp = api.client.post("/v1/pledges/PL-0000000/releases", json=body, headers=api.as_("bank1"))
    assert resp.status_code == (404 if accepted else 422), (body, resp.text)


@pytest.mark.parametrize(
    "change",
    [
        {}, {"jurisdiction": "sg"}, {"jurisdiction": "XX"}, {"settlement_currency": "cny"},
        {"funding_currency": "0"}, {"kyc_expiry": ""}, {"kyc_expiry": None}, {"name": ""},
        {"cips_participant_bic": 7},
    ],
    ids=str,
)  # fmt: skip
def test_the_participant_file_is_in_the_document(api: Api, change: dict) -> None:  # type: ignore[type-arg]
    body = {"participant": EXAMPLE_PARTICIPANT | change, "on": "2026-10-30"}
    accepted = _validator(api, "EligibilityRequest").is_valid(body)
    resp = api.client.post("/v1/eligibility/participants", json=body, headers=api.as_("bank1"))
    assert resp.status_code == (200 if accepted else 422), (change, resp.text)
    assert accepted == (change in ({}, {"kyc_expiry": None}))


@pytest.mark.parametrize(
    ("amount", "status"),
    [("1000000.00", 200), ("0", 200), ("1e3", 422), ("-5", 422), ("1.1234567", 422),
     ("1000000000000001", 422)],
)  # fmt: skip
def test_an_fx_amount_is_a_decimal_string(api: Api, amount: str, status: int) -> None:
    params = {"amount": amount, "from": "USD", "to": "CNY", "on": "2026-10-30"}
    resp = api.client.get("/v1/fx/convert", params=params, headers=api.as_("bank1"))
    assert resp.status_code == status, resp.text


def test_an_unknown_query_parameter_is_a_422(api: Api) -> None:
    # a misspelt `as_of` used to be ignored: the answer was the loan as of today
    resp = api.client.get(
        "/v1/loans/LN-0000003", params={"asof": "2020-01-01"}, headers=api.as_("bank1")
    )
    problem = _problem(resp, 422)
    assert problem["errors"][0]["loc"] == ["query", "asof"], problem
    assert api.client.get("/health", params={"x": "1"}).status_code == 422


def test_a_decision_date_before_the_oldest_fatf_list_is_a_422_the_document_states(
    api: Api,
) -> None:
    from api.schemas.fx import FATF_FIRST

    on = _validator(api, "EligibilityRequest")
    before = (FATF_FIRST - dt.timedelta(days=1)).isoformat()
    body = {"participant": EXAMPLE_PARTICIPANT, "on": before}
    assert not on.is_valid(body)
    resp = api.client.post("/v1/eligibility/participants", json=body, headers=api.as_("bank1"))
    _problem(resp, 422)
    assert on.is_valid(body | {"on": FATF_FIRST.isoformat()})


@settings(max_examples=200, deadline=None)
@given(key=st.from_regex(IDEMPOTENCY_KEY_PATTERN, fullmatch=True).filter(lambda k: len(k) <= 255))
def test_every_key_the_header_admits_is_a_key_of_the_workflows(key: str) -> None:
    # the header's pattern is the only key check of the API: the core's check never refuses
    # what the header admits (so the routes need no check of their own)
    assert IdempotencyKey.of("client", key, "POST /v1/loans", {}).key == key
