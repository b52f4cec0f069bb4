"""422 messages in words (fresh-clone user check), on SQLite and PostgreSQL.

``GET /v1/fx/convert?amount=-1`` answered "query.amount: String should match pattern
'^(?:(?:0|[1-9][0-9]{0,14})…'".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from api.schemas.patterns import words_for
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
