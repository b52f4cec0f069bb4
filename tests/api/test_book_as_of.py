"""The valued book over HTTP (SQLite and PostgreSQL): margin calls of a past date come from the
ledger, so a repayment made today does not restate them; one bank's unvaluable position (no FX
fixing for its loan currency) is listed as not valued in its own bank's results and changes
nothing in another bank's answers (issue 18 points 6 and 7)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete

from carbonfin.lending import china_today
from carbonfin.store.database import session_scope
from carbonfin.store.models import Loan, LoanLedgerEntry, Pledge
from carbonfin.store.transactions import bump_data_version
from tests.api.conftest import Api

AS_OF = dt.date(2026, 10, 30)
FIRM = "91310105GN93T2369N"


def _calls(api: Api, who: str, day: dt.date = AS_OF) -> dict[str, object]:
    resp = api.client.get(
        "/v1/margin-calls", params={"as_of": day.isoformat()}, headers=api.as_(who)
    )
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_margin_calls_of_a_past_date_are_not_restated_by_a_repayment_today(api: Api) -> None:
    before = _calls(api, "bank1")
    assert before["calls"], "the sample book has BANK-01 loans in call on 2026-10-30"
    target = before["calls"][0]
    loan = api.client.get(f"/v1/loans/{target['loan_id']}", headers=api.as_("bank1")).json()
    half = (Decimal(loan["outstanding"]) / 2).quantize(Decimal("0.01"))
    paid = api.client.post(
        f"/v1/loans/{target['loan_id']}/repayments",
        json={"amount": f"{half}", "on": china_today().isoformat()},
        headers=api.as_("bank1"),
    )
    assert paid.status_code == 200, paid.text
    assert Decimal(paid.json()["outstanding"]) == Decimal(loan["outstanding"]) - half
    after = _calls(api, "bank1")
    assert after == before  # the book of 2026-10-30 is the book that stood that day
    past = api.client.get(
        f"/v1/loans/{target['loan_id']}",
        params={"as_of": AS_OF.isoformat()},
        headers=api.as_("bank1"),
    ).json()
    assert past["outstanding"] == loan["outstanding"]


def _legacy_gbp_loan(api: Api) -> str:
    """A BANK-02 loan in GBP with a pledge in force, as the service accepted before currencies
    were checked at booking (the database's data version is bumped as any write does)."""
    loan_id = "LN-GBP0000001"
    with session_scope(api.engine) as s:
        s.add(
            Loan(
                loan_id=loan_id, bank_id="BANK-02", borrower_uscc=FIRM, currency="GBP",
                principal=Decimal("1000000"), outstanding=Decimal("1000000"),
                origination_date=dt.date(2026, 9, 1), maturity_date=dt.date(2027, 9, 1),
                rate=0.05, purpose="general", status="active",
            )
        )  # fmt: skip
        s.flush()
        s.add(
            LoanLedgerEntry(
                loan_id=loan_id, kind="opening", value_date=dt.date(2026, 9, 1),
                amount=Decimal("1000000.00"), recorded_at=dt.datetime.now(dt.UTC),
                client_id="test-legacy",
            )
        )  # fmt: skip
        s.add(
            Pledge(
                pledge_id="PL-GBP0000001", loan_id=loan_id, instrument="SHEA", vintage=2025,
                quantity_t=1000, registration_no="GBP-TEST-0001",
                registration_date=dt.date(2026, 9, 2), status="active", pledgor_uscc=FIRM,
            )
        )  # fmt: skip
        s.flush()
        bump_data_version(s)
    return loan_id


def _remove(api: Api, loan_id: str) -> None:
    with session_scope(api.engine) as s:
        s.execute(delete(Pledge).where(Pledge.loan_id == loan_id))
        s.execute(delete(LoanLedgerEntry).where(LoanLedgerEntry.loan_id == loan_id))
        s.execute(delete(Loan).where(Loan.loan_id == loan_id))
        bump_data_version(s)


def test_an_unvaluable_position_is_isolated_in_its_own_banks_results(api: Api) -> None:
    bank1_before = _calls(api, "bank1")
    ltv_before = api.client.get(
        "/v1/regulator/ltv", params={"as_of": AS_OF.isoformat()}, headers=api.as_("regulator")
    )
    assert ltv_before.status_code == 200
    loan_id = _legacy_gbp_loan(api)
    try:
        # BANK-01's answers are unchanged and say nothing of BANK-02's loan
        resp = api.client.get(
            "/v1/margin-calls", params={"as_of": AS_OF.isoformat()}, headers=api.as_("bank1")
        )
        assert resp.status_code == 200, resp.text
        assert resp.json() == bank1_before
        assert "GBP" not in resp.text
        assert loan_id not in resp.text
        assert "BANK-02" not in resp.text
        # BANK-02 sees its own loan as not valued, with the reason, counted in its states
        own = _calls(api, "bank2")
        listed = {r["loan_id"]: r for r in own["not_valued"]}  # type: ignore[index]
        assert loan_id in listed
        assert "GBP/CNY" in listed[loan_id]["reason"]
        assert listed[loan_id]["outstanding_cny"] is None  # unknown, not zero
        assert own["states"]["not_valued"] >= 1  # type: ignore[index]
        assert loan_id not in {c["loan_id"] for c in own["calls"]}  # type: ignore[union-attr]
        # the regulator's views still answer, over the valued loans
        ltv = api.client.get(
            "/v1/regulator/ltv", params={"as_of": AS_OF.isoformat()}, headers=api.as_("regulator")
        )
        assert ltv.status_code == 200, ltv.text
        assert ltv.json()["loans"] == ltv_before.json()["loans"]
        # and the exposures count it as not valued, its outstanding unknown (not zero)
        exp = api.client.get(
            "/v1/regulator/exposures",
            params={"as_of": AS_OF.isoformat(), "group_by": "bank"},
            headers=api.as_("regulator"),
        )
        assert exp.status_code == 200, exp.text
        total = exp.json()["total"]
        assert total["pledges_not_valued"] >= 1
        assert total["loans_outstanding_unknown"] >= 1
    finally:
        _remove(api, loan_id)


def test_a_banks_valuation_does_not_depend_on_other_banks_positions(api: Api) -> None:
    """Valuing BANK-03's book alone gives the figures of its rows in the whole book's
    valuation (the isolation fallback may value bank by bank without changing any number)."""
    import pandas as pd
    from sqlalchemy.orm import sessionmaker

    from carbonfin.lending.book import value_book_as_of

    app = api.client.app
    data = app.state.data  # type: ignore[attr-defined]
    with sessionmaker(api.engine)() as session:
        whole = app.state.book.book(session, AS_OF).for_bank("BANK-03")  # type: ignore[attr-defined]
        alone = value_book_as_of(
            session,
            AS_OF,
            history_of=lambda inst: data.history(inst.value),
            fixings=data.fixings(),
            covered_usccs=data.covered_usccs(),
            data_source=data.source,
            bank_id="BANK-03",
        )
    assert whole.valuation is not None
    assert alone.valuation is not None
    cols = ["loan_id", "outstanding_cny", "collateral_value_cny", "lendable_value_cny", "state"]
    a = whole.valuation.loans[cols].sort_values("loan_id").reset_index(drop=True)
    b = alone.valuation.loans[cols].sort_values("loan_id").reset_index(drop=True)
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)


def test_the_book_of_a_date_comes_in_loan_order_and_joins_without_hashing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store hands the valuation its book ordered by loan id (pledges by loan id, then
    pledge id; loans by loan id), so the valuation joins pledges to loans by a merge and never
    hashes the loan ids of the whole book."""
    from carbonfin.collateral import book_labels
    from carbonfin.lending.book import book_as_of

    with session_scope(api.engine) as s:
        book = book_as_of(s, AS_OF)
    pairs = list(zip(book.pledges["loan_id"], book.pledges["pledge_id"], strict=True))
    assert len(pairs) > 100
    assert pairs == sorted(pairs)
    assert list(book.loans["loan_id"]) == sorted(book.loans["loan_id"])
    monkeypatch.setattr(book_labels, "hash_rows", lambda *a: pytest.fail("hashed the loan ids"))
    rows = book_labels.loan_rows(book.pledges, book.loans)
    expected = pd.Index(book.loans["loan_id"]).get_indexer(book.pledges["loan_id"])
    np.testing.assert_array_equal(rows, expected)
