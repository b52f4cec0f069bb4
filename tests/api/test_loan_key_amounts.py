"""A retried loan booking and its principal (SQLite and PostgreSQL).

Checked on suspicion: the booking's idempotency fingerprint writes the principal with a fixed two
decimals, so a retry with the same key and a principal that differs beyond two decimals (CNY
"1000.004" after "1000.00", JPY "1000.4" after "1000") might have been replayed as "the same
request". It is not: the principal is checked against the currency's ISO 4217 minor units (JPY 0,
CNY 2; SIX, list one) and the ledger's two decimals (KWD's 3 refused) before the key is looked
up, so every principal that reaches the fingerprint is exact at two decimals. These tests hold
that order, and its reverse: one amount written differently is one request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from carbonfin.lending.idempotency import IdempotencyKey
from carbonfin.lending.loans import BOOK_OPERATION, LoanTerms, _terms_json
from carbonfin.store.models import Loan
from tests.api.conftest import Api
from tests.api.test_minor_units import FIRM, _loan


def _loans(api: Api) -> int:
    with api.engine.connect() as c:
        return int(c.scalar(select(func.count()).select_from(Loan)) or 0)


def _headers(api: Api, key: str) -> dict[str, str]:
    return api.as_("bank1") | {"Idempotency-Key": key}


@pytest.mark.parametrize(
    ("currency", "first", "retry", "status"),
    [
        # beyond the currency's minor units: refused as input (422), not replayed
        ("CNY", "1000.00", "1000.004", 422),
        ("CNY", "1000.00", 1000.004, 422),
        ("CNY", "1000", "1000.001", 422),
        ("JPY", "1000", "1000.4", 422),
        ("JPY", "1000", 1000.4, 422),
        ("JPY", "1000", "1000.01", 422),
        # within them: another request under a used key (409)
        ("CNY", "1000.00", "1000.01", 409),
        ("JPY", "1000", "1001", 409),
        # another currency, same digits: another request
        ("CNY", "1000.00", None, 409),
    ],
    ids=repr,
)
def test_a_retry_with_another_principal_is_never_replayed(
    api: Api, currency: str, first: str, retry: object, status: int
) -> None:
    key = f"loan-{uuid.uuid4()}"
    created = api.client.post("/v1/loans", json=_loan(currency, first), headers=_headers(api, key))
    assert created.status_code == 201, created.text
    before = _loans(api)
    body = _loan("JPY", "1000") if retry is None else _loan(currency, retry)
    again = api.client.post("/v1/loans", json=body, headers=_headers(api, key))
    assert again.status_code == status, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert "loan_id" not in again.json()
    assert _loans(api) == before
    # the key still answers its own request with the first loan
    same = api.client.post("/v1/loans", json=_loan(currency, first), headers=_headers(api, key))
    assert same.status_code == 201, same.text
    assert same.headers.get("Idempotent-Replayed") == "true"
    assert same.json()["loan_id"] == created.json()["loan_id"]


@pytest.mark.parametrize("principal", ["1000.000", "1000.004"], ids=str)
def test_a_kwd_loan_under_a_key_is_refused_and_leaves_the_key_unused(
    api: Api, principal: str
) -> None:
    key = f"loan-{uuid.uuid4()}"
    refused = api.client.post("/v1/loans", json=_loan("KWD", principal), headers=_headers(api, key))
    assert refused.status_code == 422, refused.text
    assert "loans in KWD cannot be booked" in refused.json()["detail"]
    # nothing was remembered under the key: its first booking is a new loan
    created = api.client.post("/v1/loans", json=_loan("CNY", "1000"), headers=_headers(api, key))
    assert created.status_code == 201, created.text
    assert "Idempotent-Replayed" not in created.headers


# one amount written differently; a JSON number is sent as raw text (1e3 as the client wrote it)
SAME_CNY = ['"1000"', '"1000.0"', '"1000.00"', '"1000.000"', "1000", "1000.0", "1e3", "1.0E3"]
SAME_JPY = ['"1000"', '"1000.00"', '"1000.000"', "1000", "1000.00", "1e3"]


@pytest.mark.parametrize(
    ("currency", "spellings"), [("CNY", SAME_CNY), ("JPY", SAME_JPY)], ids=["CNY", "JPY"]
)
def test_one_principal_written_differently_is_one_request(
    api: Api, currency: str, spellings: list[str]
) -> None:
    key = f"loan-{uuid.uuid4()}"
    template = _loan(currency, "PRINCIPAL")
    answers = []
    for written in spellings:
        raw = json.dumps(template).replace('"PRINCIPAL"', written).encode()
        resp = api.client.post(
            "/v1/loans",
            content=raw,
            headers=_headers(api, key) | {"Content-Type": "application/json"},
        )
        assert resp.status_code == 201, (written, resp.text)
        answers.append(resp)
    assert [r.headers.get("Idempotent-Replayed") for r in answers[1:]] == ["true"] * (
        len(spellings) - 1
    )
    assert {r.json()["loan_id"] for r in answers} == {answers[0].json()["loan_id"]}


def test_an_exponent_in_a_principal_string_is_refused(api: Api) -> None:
    resp = api.client.post("/v1/loans", json=_loan("CNY", "1e3"), headers=api.as_("bank1"))
    assert resp.status_code == 422, resp.text


@pytest.mark.parametrize(
    ("currency", "principal", "written"),
    [("CNY", "1000.5", "1000.50"), ("JPY", "1000", "1000.00")],
    ids=["CNY", "JPY"],
)
def test_the_booking_fingerprint_is_the_one_already_stored(
    currency: str, principal: str, written: str
) -> None:
    """Fingerprints stored by earlier versions must still match their retries: the canonical
    request is written out here (sorted keys, no spaces, principal with two decimals), so a
    change of the stored form (e.g. JPY "1000" instead of "1000.00") fails this test instead of
    turning a legitimate retry into a 409."""
    terms = LoanTerms(
        borrower_uscc=FIRM.lower(),
        currency=currency.lower(),
        principal=Decimal(principal),
        origination_date=dt.date(2026, 1, 5),
        maturity_date=dt.date(2028, 1, 5),
        rate=0.03,
    )
    canonical = (
        f'{{"borrower_uscc":"{FIRM}","currency":"{currency}","maturity_date":"2028-01-05",'
        f'"origination_date":"2026-01-05","principal":"{written}","purpose":"green",'
        '"rate":0.03}'
    )
    key = IdempotencyKey.of("c", "k", BOOK_OPERATION, _terms_json(terms))
    assert key.request_sha256 == hashlib.sha256(canonical.encode()).hexdigest()


# --- repayments ---------------------------------------------------------------------------
# The same order for a repayment: its amount is checked against the loan currency's minor units
# (and its value date against the origination) before the key is looked up. Found by a user
# check: "250.004" CNY after "250.00" under the same key answered 409 (another request under a
# used key), where the same amount under a fresh key or none answered 422.


def _repay(api: Api, loan_id: str, amount: object, on: str, key: str | None) -> Any:
    headers = api.as_("bank1") if key is None else _headers(api, key)
    return api.client.post(
        f"/v1/loans/{loan_id}/repayments", json={"amount": amount, "on": on}, headers=headers
    )


@pytest.mark.parametrize(
    ("currency", "first", "retry", "on", "message"),
    [
        ("CNY", "250.00", "250.004", "2026-06-30", "`amount` in CNY must have at most 2 decimals"),
        ("CNY", "250.00", 250.004, "2026-06-30", "`amount` in CNY must have at most 2 decimals"),
        ("JPY", "250", "250.4", "2026-06-30", "`amount` in JPY must be a whole number"),
        ("CNY", "250.00", "250.00", "2025-12-31", "is before loan"),
    ],
    ids=["cny-3", "cny-3-number", "jpy-sen", "before-origination"],
)
def test_an_invalid_repayment_is_422_whatever_the_key(
    api: Api, currency: str, first: str, retry: object, on: str, message: str
) -> None:
    created = api.client.post("/v1/loans", json=_loan(currency, "1000"), headers=api.as_("bank1"))
    assert created.status_code == 201, created.text
    loan_id = created.json()["loan_id"]
    key = f"repay-{uuid.uuid4()}"
    paid = _repay(api, loan_id, first, "2026-06-30", key)
    assert paid.status_code == 200, paid.text
    rows = api.ledger_rows(loan_id)
    answers = {
        "used key": _repay(api, loan_id, retry, on, key),
        "fresh key": _repay(api, loan_id, retry, on, f"repay-{uuid.uuid4()}"),
        "no key": _repay(api, loan_id, retry, on, None),
    }
    for which, resp in answers.items():
        assert resp.status_code == 422, (which, resp.text)
        assert message in resp.json()["detail"], (which, resp.text)
        assert "Idempotent-Replayed" not in resp.headers
    assert api.ledger_rows(loan_id) == rows
    # the used key still answers its own request with the first answer
    same = _repay(api, loan_id, first, "2026-06-30", key)
    assert same.status_code == 200, same.text
    assert same.headers.get("Idempotent-Replayed") == "true"
    assert same.json() == paid.json()
