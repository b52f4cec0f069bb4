"""Money against its currency's ISO 4217 minor units over HTTP (SQLite and PostgreSQL).

Found by an independent user check: a JPY loan of "1000.50" was booked (201), a repayment of
"0.50" then left "outstanding": "1000.00" (the ledger rounded the sen it cannot hold), and KWD's
fils could not be written at all ("at most 2 decimals"). ISO 4217 list one (SIX, 2024): JPY has
0 minor-unit digits, CNY 2, KWD 3.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

FIRM = "91310105GN93T2369N"
PROBLEM = "application/problem+json"


def _loan(currency: str, principal: object) -> dict[str, object]:
    return {
        "borrower_uscc": FIRM,
        "currency": currency,
        "principal": principal,
        "origination_date": "2026-01-05",
        "maturity_date": "2028-01-05",
        "rate": 0.03,
        "purpose": "green",
    }


def _detail(resp: object, status: int) -> str:
    assert resp.status_code == status, resp.text  # type: ignore[attr-defined]
    assert resp.headers["content-type"].startswith(PROBLEM)  # type: ignore[attr-defined]
    return str(resp.json()["detail"])  # type: ignore[attr-defined]


@pytest.mark.parametrize("principal", ["1000.50", 1000.5, "1000.1"], ids=repr)
def test_a_jpy_principal_with_sen_is_refused(api: Api, principal: object) -> None:
    resp = api.client.post("/v1/loans", json=_loan("JPY", principal), headers=api.as_("bank1"))
    detail = _detail(resp, 422)
    assert "`principal` in JPY must be a whole number of Japanese yen" in detail
    assert "JPY has 0 minor-unit digits" in detail
    assert "ISO 4217" in detail


def test_a_cny_principal_with_three_decimals_names_the_currency(api: Api) -> None:
    resp = api.client.post("/v1/loans", json=_loan("CNY", "1000.505"), headers=api.as_("bank1"))
    detail = _detail(resp, 422)
    assert "`principal` in CNY must have at most 2 decimals" in detail
    assert detail.endswith("got 1000.505")


@pytest.mark.parametrize("principal", ["1000.505", "1000.50"], ids=str)
def test_a_kwd_loan_is_refused_because_the_ledger_holds_cents(api: Api, principal: str) -> None:
    resp = api.client.post("/v1/loans", json=_loan("KWD", principal), headers=api.as_("bank1"))
    detail = _detail(resp, 422)
    assert "loans in KWD cannot be booked: KWD has 3 minor-unit digits" in detail
    assert "ledger holds amounts to 2 decimals" in detail


def test_a_jpy_loan_is_whole_yen_and_a_repayment_with_sen_is_refused(api: Api) -> None:
    created = api.client.post("/v1/loans", json=_loan("JPY", "1000"), headers=api.as_("bank1"))
    assert created.status_code == 201, created.text
    loan = created.json()
    assert (loan["principal"], loan["outstanding"]) == ("1000", "1000")  # minor units: none
    url = f"/v1/loans/{loan['loan_id']}/repayments"
    detail = _detail(
        api.client.post(url, json={"amount": "0.50", "on": "2026-06-30"}, headers=api.as_("bank1")),
        422,
    )
    assert detail.startswith("`amount` in JPY must be a whole number of Japanese yen")
    assert detail.endswith("got 0.50")
    # nothing was written: the loan still owes 1000 and its ledger holds the opening only
    read = api.client.get(f"/v1/loans/{loan['loan_id']}", headers=api.as_("bank1")).json()
    assert read["outstanding"] == "1000"
    assert api.ledger_rows(loan["loan_id"]) == 1
    # whole yen are recorded, "250.00" is 250 yen by value
    paid = api.client.post(
        url, json={"amount": "250.00", "on": "2026-06-30"}, headers=api.as_("bank1")
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["outstanding"] == "750"
    over = api.client.post(
        url, json={"amount": "751", "on": "2026-06-30"}, headers=api.as_("bank1")
    )
    assert _detail(over, 409).startswith("repayment 751 JPY exceeds the 750 JPY outstanding")
    ledger = api.client.get(f"/v1/loans/{loan['loan_id']}/ledger", headers=api.as_("bank1"))
    assert [(e["amount"], e["balance_after"]) for e in ledger.json()["entries"]] == [
        ("1000", "1000"),
        ("250", "750"),
    ]


def test_a_cny_repayment_with_three_decimals_is_refused(api: Api) -> None:
    loan = api.client.post("/v1/loans", json=_loan("CNY", "1000.00"), headers=api.as_("bank1"))
    assert loan.status_code == 201, loan.text
    url = f"/v1/loans/{loan.json()['loan_id']}/repayments"
    resp = api.client.post(
        url, json={"amount": "0.505", "on": "2026-06-30"}, headers=api.as_("bank1")
    )
    assert "`amount` in CNY must have at most 2 decimals" in _detail(resp, 422)


def _audit_details(api: Api, loan_id: str) -> dict[str, dict[str, object]]:
    """The audit entries of ``loan_id``'s writes by action, as the regulator reads them."""
    resp = api.client.get(
        "/v1/audit", params={"actor": "test-bank1", "limit": 50}, headers=api.as_("regulator")
    )
    assert resp.status_code == 200, resp.text
    return {e["action"]: e["detail"] for e in resp.json()["items"] if e["entity_id"] == loan_id}


@pytest.mark.parametrize(
    ("currency", "principal", "repaid", "shown"),
    [
        # ISO 4217 (SIX, list one): JPY has 0 minor-unit digits, so 1000 yen is "1000"; the
        # audit entry said "1000.00" (a fixed two decimals) while the API answered "1000"
        ("JPY", "1000", "250.00", ("1000", "250")),
        # CNY has 2: unchanged
        ("CNY", "1000", "250.5", ("1000.00", "250.50")),
    ],
    ids=["JPY", "CNY"],
)
def test_the_audit_entries_of_a_loan_show_its_currency_minor_units(
    api: Api, currency: str, principal: str, repaid: str, shown: tuple[str, str]
) -> None:
    created = api.client.post(
        "/v1/loans", json=_loan(currency, principal), headers=api.as_("bank1")
    )
    assert created.status_code == 201, created.text
    loan_id = created.json()["loan_id"]
    paid = api.client.post(
        f"/v1/loans/{loan_id}/repayments",
        json={"amount": repaid, "on": "2026-06-30"},
        headers=api.as_("bank1"),
    )
    assert paid.status_code == 200, paid.text
    details = _audit_details(api, loan_id)
    assert details["loan.book"]["currency"] == currency
    assert (details["loan.book"]["principal"], details["loan.repay"]["amount"]) == shown
