"""422 messages in words, and one USCC check on every route (fresh-clone user check), on SQLite
and PostgreSQL.

``GET /v1/fx/convert?amount=-1`` answered "query.amount: String should match pattern
'^(?:(?:0|[1-9][0-9]{0,14})…'"; a USCC with a wrong check character was a 404 on
``GET /v1/firms/{uscc}``, a 422 naming the expected character on ``/score`` and "not a known firm"
on ``POST /v1/loans``. docs/api.md promises the 422 everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from api.schemas.patterns import words_for
from carbonfin.scoring.ids import uscc_check_character
from carbonfin.store.database import session_scope
from carbonfin.store.models import Firm, Loan, Pledge
from tests.api.conftest import Api
from tests.api.test_service import _problem

AS_OF = "2026-10-30"
#: pydantic's own wording and the marks of a regular expression: none may reach a caller
AMOUNT = ("`amount` must be a number from 0 to 1,000,000,000,000,000 written with digits and "
          "at most 6 decimals")  # fmt: skip
RAW = re.compile(r"String should|Input should|pattern|\^\(|\[0-9|\{0,")


def _raw_free(problem: dict[str, Any]) -> None:
    texts = [problem["detail"], *(e["msg"] for e in problem.get("errors", []))]
    for text in texts:
        assert not RAW.search(text), text


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("/v1/fx/convert", {"amount": "-1"}, AMOUNT),
        ("/v1/fx/convert", {"amount": "1e5"}, AMOUNT),
        ("/v1/fx/convert", {"amount": "1.1234567"}, AMOUNT),
        ("/v1/fx/convert", {"amount": "1000000000000001"}, AMOUNT),
        ("/v1/fx/convert", {"max_age_days": "99"}, "`max_age_days` must be at most 30; got '99'"),
        ("/v1/fx/convert", {"max_age_days": "-1"}, "`max_age_days` must be at least 0; got '-1'"),
        ("/v1/fx/convert", {"from": "usd"}, "`from` must be one of 'CNY', 'CNH', 'USD'"),
        ("/v1/fx/convert", {"on": "2012-12-31"}, "`on`: a date here is from 2013-01-01"),
        ("/v1/firms", {"cursor": "abc"}, "`cursor` must be the `next_cursor` of the previous"),
        ("/v1/loans", {"cursor": "LN-1"}, "`cursor` must be a loan id: LN- then 7 to 16"),
        ("/v1/loans", {"status": "open"}, "`status` must be one of active, repaid, defaulted"),
        ("/v1/pledges", {"status": "x"}, "`status` must be one of active, partially_released"),
        ("/v1/loans", {"limit": "0"}, "`limit` must be at least 1; got '0'"),
        ("/v1/firms/91310105GN93T2369N/score", {"year": "1999"}, "`year` must be at least 2013"),
        ("/v1/firms/91310105GN93T2369N/score", {"year": "x"}, "`year` must be an integer"),
    ],
    ids=["amount-negative", "amount-exponent", "amount-decimals", "amount-huge", "max-age-high",
         "max-age-negative", "currency-case", "date-early", "firm-cursor", "loan-cursor",
         "loan-status", "pledge-status", "limit", "year-early", "year-text"],
)  # fmt: skip
def test_a_refused_query_parameter_is_named_and_explained_in_words(
    api: Api, path: str, params: dict[str, str], expected: str
) -> None:
    if path == "/v1/fx/convert":
        params = {"amount": "100", "from": "USD", "to": "CNY", "on": AS_OF} | params
    problem = _problem(api.client.get(path, params=params, headers=api.as_("bank1")), 422)
    assert problem["detail"].startswith(expected), problem
    _raw_free(problem)
    name = expected.split("`")[1]
    assert problem["errors"][0]["loc"][-1] == name


def test_the_fx_amount_names_the_value_given(api: Api) -> None:
    params = {"amount": "-1", "from": "USD", "to": "CNY", "on": AS_OF}
    problem = _problem(
        api.client.get("/v1/fx/convert", params=params, headers=api.as_("bank1")), 422
    )
    assert problem["detail"].endswith("; got '-1'"), problem
    assert problem["errors"][0]["type"] == "string_pattern_mismatch"  # for programs, unchanged


def test_body_fields_are_named_in_words_too(api: Api) -> None:
    body = {"loan_id": "LN-1", "instrument": "SHEA", "quantity_t": 0,
            "registration_no": "a b c", "registration_date": AS_OF}  # fmt: skip
    problem = _problem(api.client.post("/v1/pledges", json=body, headers=api.as_("bank1")), 422)
    _raw_free(problem)
    msgs = {e["loc"][-1]: e["msg"] for e in problem["errors"]}
    assert msgs["loan_id"].startswith("`loan_id` must be a loan id: LN- then"), msgs
    assert msgs["quantity_t"] == "`quantity_t` must be greater than 0; got 0", msgs
    assert msgs["registration_no"].startswith("`registration_no` must be letters, digits and")
    assert problem["detail"].endswith("(and 2 more in `errors`)"), problem


def _patterns(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def test_every_pattern_of_the_document_has_its_words(api: Api) -> None:
    """A pattern the server refuses a value with is answered in words (api.schemas.patterns):
    a new pattern without words would put a regular expression back in a message."""
    document = api.client.get("/openapi.json").json()
    found = set(_patterns(document["paths"])) | set(_patterns(document["components"]))
    assert len(found) >= 15
    assert sorted(p for p in found if words_for(p) is None) == []


# ---- the USCC: one check at the boundary of every route that takes one ----------------------

KNOWN = "91310105GN93T2369N"  # a firm of the sample account
BAD_CHECK = KNOWN[:17] + "0"  # the first 17 characters give 'N'
CHECK_PROBLEM = "position 18 (check character) is '0'; the first 17 characters give 'N'"


def _ids(api: Api) -> dict[str, str]:
    with session_scope(api.engine) as s:
        mine = s.scalars(select(Loan.loan_id).where(Loan.bank_id == "BANK-01").limit(1)).one()
        theirs = s.scalars(select(Loan.loan_id).where(Loan.bank_id == "BANK-02").limit(1)).one()
        pledge = s.scalars(
            select(Pledge.pledge_id)
            .join(Loan, Loan.loan_id == Pledge.loan_id)
            .where(Loan.bank_id == "BANK-01")
            .limit(1)
        ).one()
    return {"mine": mine, "theirs": theirs, "pledge": pledge}


def _uscc_requests(api: Api, uscc: str, loan_id: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Every route that takes a USCC, with ``uscc`` where it goes: (method, path, keywords)."""
    ids = _ids(api)
    pledge = {"loan_id": loan_id, "instrument": "SHEA", "vintage": 2025, "quantity_t": 10,
              "pledgor_uscc": uscc, "registration_no": "SHEA-ZY-T-1",
              "registration_date": AS_OF}  # fmt: skip
    replacement = {k: v for k, v in pledge.items() if k != "loan_id"}
    return {
        "uscc": ("GET", f"/v1/firms/{uscc}", {}),
        "uscc@score": ("GET", f"/v1/firms/{uscc}/score", {}),
        "usccs[1]": ("POST", "/v1/firms/scores", {"json": {"usccs": [KNOWN, uscc]}}),
        "borrower_uscc": ("POST", "/v1/loans", {"json": {
            "borrower_uscc": uscc, "currency": "CNY", "principal": "1000.00",
            "origination_date": AS_OF, "maturity_date": "2027-10-30", "rate": 0.03}}),
        "borrower_uscc@list": ("GET", "/v1/loans", {"params": {"borrower_uscc": uscc}}),
        "pledgor_uscc": ("POST", "/v1/pledges", {"json": pledge}),
        "replacement.pledgor_uscc": ("POST", f"/v1/pledges/{ids['pledge']}/substitutions",
                                     {"json": {"replacement": replacement}}),
        "guarantor_uscc": ("POST", f"/v1/loans/{loan_id}/guarantors", {"json": {
            "guarantor_uscc": uscc, "consent_ref": "CONSENT-1", "consent_date": AS_OF}}),
    }  # fmt: skip


def test_a_wrong_check_character_is_the_same_422_on_every_route(api: Api) -> None:
    """It was a 404 on /v1/firms/{uscc}, a 422 on /score and 'not a known firm' on
    POST /v1/loans; now one validator (api.schemas.common.USCC) answers before any route runs."""
    loan_id = _ids(api)["mine"]
    tails = set()
    for label, (method, path, kw) in _uscc_requests(api, BAD_CHECK, loan_id).items():
        resp = api.client.request(method, path, headers=api.as_("bank1"), **kw)
        problem = _problem(resp, 422)
        name = label.split("@")[0]
        assert [e["type"] for e in problem["errors"]] == ["uscc"], (label, problem)
        assert problem["detail"].startswith(f"`{name}` is not a valid unified social credit code")
        assert CHECK_PROBLEM in problem["detail"], (label, problem)
        tails.add(problem["detail"].split("`", 2)[2])
    assert len(tails) == 1, tails  # the same words after the parameter's name


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (KNOWN.lower(), "letters are upper case; position 9 ('g'), 10 ('n'), 13 ('t'), 18 ('n')"),
        (KNOWN[:17], "a USCC has 18 characters; this one has 17"),
        ("Z" + KNOWN[1:], "position 1 has 'Z'"),
        (KNOWN[:2] + "A" + KNOWN[3:], "positions 3-8 must be a 6-digit"),
    ],
    ids=["lower-case", "short", "alphabet", "division-code"],
)
def test_a_malformed_uscc_names_its_problem_in_a_path(api: Api, code: str, problem: str) -> None:
    body = _problem(api.client.get(f"/v1/firms/{code}", headers=api.as_("bank1")), 422)
    assert problem in body["detail"], body
    _raw_free(body)


def test_a_well_formed_unknown_uscc_is_still_a_404(api: Api) -> None:
    unknown = "91350100M000100Y4" + uscc_check_character("91350100M000100Y4")
    with session_scope(api.engine) as s:
        assert s.get(Firm, unknown) is None
    for path in (f"/v1/firms/{unknown}", f"/v1/firms/{unknown}/score"):
        resp = api.client.get(path, headers=api.as_("bank1"))
        assert resp.status_code == 404, resp.text
    assert api.client.get(f"/v1/firms/{KNOWN}", headers=api.as_("bank1")).status_code == 200


def test_a_malformed_uscc_on_another_banks_loan_reveals_nothing(api: Api) -> None:
    """The check runs before the loan is looked up: another bank's loan, one of one's own and
    one that does not exist give the same answer, so a malformed USCC probes nothing."""
    ids = _ids(api)
    answers = set()
    for loan_id in (ids["mine"], ids["theirs"], "LN-ZZZZZZZZ"):
        _, path, kw = _uscc_requests(api, BAD_CHECK, loan_id)["guarantor_uscc"]
        resp = api.client.post(path, headers=api.as_("bank1"), **kw)
        answers.add((resp.status_code, resp.json()["detail"]))
    assert len(answers) == 1, answers
    assert next(iter(answers))[0] == 422


def test_another_banks_borrower_filters_to_nothing_as_an_unknown_firm_does(api: Api) -> None:
    with session_scope(api.engine) as s:
        theirs = set(s.scalars(select(Loan.borrower_uscc).where(Loan.bank_id == "BANK-02")))
        mine = set(s.scalars(select(Loan.borrower_uscc).where(Loan.bank_id == "BANK-01")))
    only_theirs = sorted(theirs - mine)[0]
    unknown = "91350100M000100Y4" + uscc_check_character("91350100M000100Y4")
    bodies = [
        api.client.get("/v1/loans", params={"borrower_uscc": u}, headers=api.as_("bank1"))
        for u in (only_theirs, unknown)
    ]
    assert [b.status_code for b in bodies] == [200, 200]
    assert bodies[0].json() == bodies[1].json() == {"items": [], "next_cursor": None}


def test_a_decimal_bound_is_a_plain_number() -> None:
    """pydantic gives a Decimal bound as its repr, a string: a money amount above the maximum
    read "must be at most Decimal('1E+13')" (fresh-clone user check)."""
    from pydantic import TypeAdapter, ValidationError

    from api.schemas.common import Money
    from api.wording import plain_error

    with pytest.raises(ValidationError) as caught:
        TypeAdapter(Money).validate_python(10**14)
    msg = plain_error(caught.value.errors()[0])["msg"]
    assert msg == "`request` must be at most 10,000,000,000,000; got 100000000000000"


@pytest.mark.parametrize(
    ("err", "msg"),
    [
        (
            {"type": "decimal_max_places", "loc": ("body", "amount"), "input": "1.2345",
             "ctx": {"decimal_places": 3}},
            "`amount` must have at most 3 decimals; got '1.2345'",
        ),
        (
            {"type": "decimal_max_digits", "loc": ("body", "amount"), "input": "1" * 30,
             "ctx": {"max_digits": 20}},
            f"`amount` must have at most 20 digits; got '{'1' * 30}'",
        ),
        (
            {"type": "less_than_equal", "loc": ("query", "limit"), "input": "999",
             "ctx": {"le": 200}},
            "`limit` must be at most 200; got '999'",
        ),
        (
            {"type": "greater_than", "loc": ("body", "principal"), "input": "-1",
             "ctx": {"gt": "Decimal('0')"}},
            "`principal` must be greater than 0; got '-1'",
        ),
    ],
)  # fmt: skip
def test_limits_are_worded_with_their_own_verb(err: dict[str, Any], msg: str) -> None:
    """Each limit keeps its verb: a decimal-places limit 'must have at most 3 decimals', a bound
    'must be at most 200' (the bound words are shared with the CLI, carbonfin.errors)."""
    from api.wording import plain_error

    assert plain_error(err)["msg"] == msg
