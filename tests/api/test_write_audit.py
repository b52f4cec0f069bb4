"""One audit row per pledge write through the API: the workflow's, written in the write's own
transaction; the middleware adds none (the soak test found two rows for every pledge)."""

from __future__ import annotations

from sqlalchemy import select

from carbonfin.store.database import session_scope
from carbonfin.store.models import AuditEntry
from tests.api.conftest import Api
from tests.api.test_pledgor_rights import RELEASE_DAY, _fresh_holding, _pledge
from tests.api.test_regulator import _post


def _rows(api: Api, entity_id: str) -> list[str]:
    with session_scope(api.engine) as session:
        return list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.entity_id == entity_id))
        )


def test_a_pledge_registration_and_release_leave_one_audit_row_each(api: Api) -> None:
    firm, vintage, _free = _fresh_holding(api, 2_000)
    loan = _post(
        api,
        "/v1/loans",
        {"borrower_uscc": firm, "currency": "CNY", "principal": "100000.00",
         "origination_date": "2026-10-30", "maturity_date": "2028-10-30", "rate": 0.03},
    )  # fmt: skip
    resp = _pledge(api, "bank1", loan["loan_id"], firm, vintage, 1_000)
    assert resp.status_code == 201, resp.text
    pid = resp.json()["pledge_id"]
    assert _rows(api, pid) == ["pledge.register"]
    rel = api.client.post(
        f"/v1/pledges/{pid}/releases",
        json={"full": True, "release_date": str(RELEASE_DAY), "reason": "repayment"},
        headers=api.as_("bank1"),
    )
    assert rel.status_code == 201, rel.text
    assert sorted(_rows(api, pid)) == ["pledge.register", "pledge.release"]
