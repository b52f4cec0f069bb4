"""Loans and repayments over HTTP (SQLite and PostgreSQL): a 2xx is committed before it is sent,
a retried repayment is applied once, value dates are checked, the ledger is readable, and a loan
in a currency without FX coverage is refused (issue 18 points 1, 6 and 7)."""

from __future__ import annotations

import uuid

from tests.api.conftest import Api

FIRM = "91310105GN93T2369N"
PROBLEM = "application/problem+json"


def _loan_body(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "borrower_uscc": FIRM,
        "currency": "CNY",
        "principal": "1000.00",
        "origination_date": "2026-01-05",
        "maturity_date": "2028-01-05",
        "rate": 0.03,
        "purpose": "green",
    }
    body.update(over)
    return body


def test_every_created_loan_is_readable_at_once(api: Api) -> None:
    """200 x (create, then read at once): 0 misses (the write is committed before the 201)."""
    misses = []
    for i in range(200):
        created = api.client.post(
            "/v1/loans", json=_loan_body(principal=f"{1000 + i}.00"), headers=api.as_("bank1")
        )
        assert created.status_code == 201, created.text
        loan_id = created.json()["loan_id"]
        read = api.client.get(f"/v1/loans/{loan_id}", headers=api.as_("bank1"))
        if read.status_code != 200:
            misses.append((loan_id, read.status_code))
    assert misses == []


def test_a_retried_repayment_is_applied_once_and_replays_the_first_answer(api: Api) -> None:
    loan = api.client.post("/v1/loans", json=_loan_body(), headers=api.as_("bank1")).json()
    url = f"/v1/loans/{loan['loan_id']}/repayments"
    key = api.as_("bank1") | {"Idempotency-Key": f"r-{uuid.uuid4()}"}
    body = {"amount": "250.00", "on": "2026-06-30"}
    first = api.client.post(url, json=body, headers=key)
    again = api.client.post(url, json=body, headers=key)
    assert first.status_code == again.status_code == 200, first.text
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == again.json()
    assert first.json()["outstanding"] == "750.00"
    other = api.client.post(url, json={"amount": "1.00", "on": "2026-06-30"}, headers=key)
    assert other.status_code == 409
    ledger = api.client.get(f"/v1/loans/{loan['loan_id']}/ledger", headers=api.as_("bank1"))
    assert ledger.status_code == 200
    entries = ledger.json()["entries"]
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in entries] == [
        ("opening", "1000.00", "1000.00"),
        ("repayment", "250.00", "750.00"),
    ]
    assert all(e["recorded_at"].endswith("Z") for e in entries)
    assert api.ledger_rows(loan["loan_id"]) == 2
    # the loan as it stood before the repayment's value date
    before = api.client.get(
        f"/v1/loans/{loan['loan_id']}", params={"as_of": "2026-06-29"}, headers=api.as_("bank1")
    ).json()
    assert (before["outstanding"], before["as_of"]) == ("1000.00", "2026-06-29")
    # another bank cannot see the ledger
    assert (
        api.client.get(f"/v1/loans/{loan['loan_id']}/ledger", headers=api.as_("bank2"))
    ).status_code == 404


def test_a_repayment_dated_2099_is_refused(api: Api) -> None:
    loan = api.client.post("/v1/loans", json=_loan_body(), headers=api.as_("bank1")).json()
    resp = api.client.post(
        f"/v1/loans/{loan['loan_id']}/repayments",
        json={"amount": "1.00", "on": "2099-01-01"},
        headers=api.as_("bank1"),
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert "2099-01-01 is in the future" in resp.json()["detail"]


def test_a_loan_in_a_currency_without_fx_fixings_is_refused(api: Api) -> None:
    resp = api.client.post("/v1/loans", json=_loan_body(currency="GBP"), headers=api.as_("bank1"))
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert "GBP" in detail
    assert "covered currencies: CNH, CNY, EUR, HKD, JPY, USD" in detail
