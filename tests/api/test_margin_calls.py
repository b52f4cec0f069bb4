"""``GET /v1/margin-calls`` (SQLite and PostgreSQL): it says where its answer comes from (the
book valued on request, not the stored run), its loans by state equal the stored run's, and a
bank key learns nothing of another bank's loans whatever it asks."""

from __future__ import annotations

import datetime as dt

from api.routes.pledges import MARGIN_CALLS_VALUED_ON_REQUEST
from carbonfin.lending import exposure, ltv
from carbonfin.store.database import session_scope
from tests.api.conftest import Api

AS_OF = dt.date(2026, 10, 30)


def _get(api: Api, who: str, **params: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    resp = api.client.get(
        "/v1/margin-calls", params={"as_of": AS_OF.isoformat(), **params}, headers=api.as_(who)
    )
    return resp.status_code, resp.json()


def test_margin_calls_say_they_were_valued_on_request_and_agree_with_the_stored_run(
    api: Api,
) -> None:
    status, body = _get(api, "regulator")
    assert status == 200
    assert body["provenance"]["notes"][0] == MARGIN_CALLS_VALUED_ON_REQUEST
    exposure.refresh(api.client.app.state.sessions, AS_OF, api.client.app.state.data)  # type: ignore[attr-defined]
    with session_scope(api.engine) as s:
        dist = ltv.distribution(s, AS_OF)
    stored = {**dist.states, "not_valued": dist.not_valued}
    assert {k: v for k, v in body["states"].items() if v} == {k: v for k, v in stored.items() if v}
    assert len(body["calls"]) == sum(
        stored.get(k, 0) for k in ("warning", "margin_call", "liquidation")
    )


def test_a_bank_learns_nothing_of_another_banks_margin_calls(api: Api) -> None:
    _, whole = _get(api, "regulator")
    theirs = {c["loan_id"] for c in whole["calls"] if c["bank_id"] == "BANK-02"}
    assert theirs, "the sample book has BANK-02 loans in call on 2026-10-30"
    status, mine = _get(api, "bank1")
    assert status == 200
    assert {c["bank_id"] for c in mine["calls"]} == {"BANK-01"}
    assert {r["bank_id"] for r in mine["not_valued"]} <= {"BANK-01"}
    assert not theirs & {c["loan_id"] for c in mine["calls"]}
    for asked in ("BANK-02", "bank-02", "BANK-99"):
        status, body = _get(api, "bank1", bank_id=asked)
        assert status == 422
        assert not any(loan in str(body) for loan in theirs)
