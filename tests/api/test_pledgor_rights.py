"""Pledgor rights, pledge releases and substitutions, and refusals that leak nothing about other
banks (issue 18 points 3 and 4), through the API on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from carbonfin.scoring.ids import uscc_check_character
from carbonfin.store.collateral import active_pledges, holdings
from carbonfin.store.database import session_scope
from carbonfin.store.models import AuditEntry, Pledge, PledgeRelease
from tests.api.conftest import Api
from tests.api.test_collateral_flow import AS_OF, _loan
from tests.api.test_service import _problem

RELEASE_DAY = dt.date(2026, 11, 20)  # after AS_OF (the registrations), before today


def _fresh_holding(api: Api, minimum: int) -> tuple[str, int, int]:
    """(uscc, vintage, free t) of a SHEA holding no test pledged yet (free on AS_OF and today)."""
    with session_scope(api.engine) as session:
        # pledgors of pledges made by tests (sample pledge ids are PL- and 7 digits)
        used = set(
            session.scalars(select(Pledge.pledgor_uscc).where(func.length(Pledge.pledge_id) > 10))
        )
        h = holdings(session=session, as_of=dt.date.today(), instrument="SHEA")
        h0 = holdings(session=session, as_of=AS_OF, instrument="SHEA")
    h = h.merge(h0, on=["uscc", "instrument", "vintage"], suffixes=("", "_0"))
    h = h.assign(free=h[["free_t", "free_t_0"]].min(axis=1))
    h = h[(h["free"] >= minimum) & h["vintage"].notna() & ~h["uscc"].isin(used)]
    h = h.sort_values(["free", "uscc"], ascending=[False, True])
    assert not h.empty
    row = h.iloc[0]
    return str(row["uscc"]), int(row["vintage"]), int(row["free"])


def _other_borrower(api: Api, not_: str) -> str:
    with session_scope(api.engine) as session:
        held = holdings(session=session, as_of=AS_OF, instrument="SHEA")
    return str(sorted(set(held["uscc"]) - {not_})[0])


def _pledge(api: Api, who: str, loan_id: str, pledgor: str, vintage: int, q: int, **kw: object):  # type: ignore[no-untyped-def]
    body = {
        "loan_id": loan_id,
        "instrument": "SHEA",
        "vintage": vintage,
        "quantity_t": q,
        "pledgor_uscc": pledgor,
        "registration_no": f"SHEA-ZY-T-{uuid.uuid4().hex[:10].upper()}",
        "registration_date": AS_OF.isoformat(),
    } | kw
    return api.client.post("/v1/pledges", json=body, headers=api.as_(who))


def _guarantor(api: Api, who: str, loan_id: str, uscc: str, day: dt.date = AS_OF):  # type: ignore[no-untyped-def]
    return api.client.post(
        f"/v1/loans/{loan_id}/guarantors",
        json={"guarantor_uscc": uscc, "consent_ref": "DOC-CONSENT-0001", "consent_date": str(day)},
        headers=api.as_(who),
    )


def _release(api: Api, who: str, pid: str, **body: object):  # type: ignore[no-untyped-def]
    body = {"release_date": RELEASE_DAY.isoformat(), "reason": "repayment"} | body
    return api.client.post(f"/v1/pledges/{pid}/releases", json=body, headers=api.as_(who))


def _numbers(text: str) -> set[int]:
    return {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", text)}


def test_a_bank_cannot_pledge_another_banks_borrowers_holding(api: Api) -> None:
    firm, vintage, free = _fresh_holding(api, 10_000)
    own_borrower = _other_borrower(api, firm)
    loan_b2 = _loan(api, "bank2", firm, "1000000.00")  # the firm borrows from BANK-02
    loan_b1 = _loan(api, "bank1", own_borrower, "1000000.00")

    resp = _pledge(api, "bank1", loan_b1, firm, vintage, free)
    detail = _problem(resp, 422)["detail"]
    assert detail.startswith(
        f"pledgor {firm} is neither the borrower of loan {loan_b1} nor a guarantor recorded for it"
    )
    assert _numbers(resp.text) & {free} == set()
    # an unknown firm gets the very same answer (no oracle on firms or on other banks' clients)
    ghost_id = "91310000MA1K0000X" + uscc_check_character("91310000MA1K0000X")
    ghost = _problem(_pledge(api, "bank1", loan_b1, ghost_id, vintage, 1), 422)
    assert ghost["detail"].replace(ghost_id, firm) == detail
    # a malformed code is refused at the boundary, whatever the data hold (its check character
    # is wrong: 'X' where the first 17 give another)
    assert ghost_id != "91310000MA1K0000XX"
    malformed = _problem(_pledge(api, "bank1", loan_b1, "91310000MA1K0000XX", vintage, 1), 422)
    assert malformed["errors"][0]["type"] == "uscc", malformed
    # BANK-02's own borrower pledges the whole free holding
    assert _pledge(api, "bank2", loan_b2, firm, vintage, free).status_code == 201


def test_a_recorded_guarantor_may_pledge_and_a_release_frees_the_quantity(api: Api) -> None:
    firm, vintage, free = _fresh_holding(api, 10_000)
    loan_b1 = _loan(api, "bank1", _other_borrower(api, firm), "1000000.00")
    loan_b2 = _loan(api, "bank2", firm, "1000000.00")
    # another bank cannot record a guarantor on BANK-01's loan; consent in the future: 422
    _problem(_guarantor(api, "bank2", loan_b1, firm), 404)
    _problem(_guarantor(api, "bank1", loan_b1, firm, dt.date.today() + dt.timedelta(days=3)), 422)
    g = _guarantor(api, "bank1", loan_b1, firm)
    assert g.status_code == 201, g.text
    assert g.json()["consent_ref"] == "DOC-CONSENT-0001"
    _problem(_guarantor(api, "bank1", loan_b1, firm), 409)
    listed = api.client.get(f"/v1/loans/{loan_b1}/guarantors", headers=api.as_("bank1"))
    assert [x["guarantor_uscc"] for x in listed.json()] == [firm]
    _problem(api.client.get(f"/v1/loans/{loan_b1}/guarantors", headers=api.as_("bank2")), 404)

    first = _pledge(api, "bank1", loan_b1, firm, vintage, free)
    assert first.status_code == 201, first.text
    pid = first.json()["pledge_id"]
    # the holding is taken: BANK-02's pledge for its own borrower is refused, without figures
    refused = _pledge(api, "bank2", loan_b2, firm, vintage, free)
    assert _problem(refused, 409)["detail"] == (
        f"the pledge of {free:,} t exceeds the quantity free to pledge"
    )
    assert pid not in refused.text
    assert first.json()["registration_no"] not in refused.text

    # BANK-02 cannot release BANK-01's pledge; a full release by BANK-01 frees it
    _problem(_release(api, "bank2", pid, full=True), 404)
    rel = _release(api, "bank1", pid, full=True)
    assert rel.status_code == 201, rel.text
    assert rel.json()["pledge"]["status"] == "released"
    assert rel.json()["pledge"]["quantity_in_force_t"] == 0
    _problem(_release(api, "bank1", pid, full=True), 409)  # nothing left
    again = _pledge(api, "bank2", loan_b2, firm, vintage, free, registration_date=str(RELEASE_DAY))
    assert again.status_code == 201, again.text

    # history: on AS_OF the book still holds BANK-01's pledge, after the release it does not
    before = api.client.get(
        f"/v1/pledges/{pid}", params={"as_of": str(AS_OF)}, headers=api.as_("bank1")
    )
    assert (before.json()["status"], before.json()["quantity_in_force_t"]) == ("active", free)
    after = api.client.get(f"/v1/pledges/{pid}", headers=api.as_("bank1")).json()
    assert (after["status"], after["quantity_in_force_t"], after["released_t"]) == (
        "released",
        0,
        free,
    )
    assert after["release_dates"] == [str(RELEASE_DAY)]
    with session_scope(api.engine) as session:
        on_as_of = active_pledges(session=session, as_of=AS_OF, bank_id="BANK-01")
        later = active_pledges(session=session, as_of=RELEASE_DAY, bank_id="BANK-01")
        audit = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "pledge.release", AuditEntry.entity_id == pid)
        )
    assert pid in set(on_as_of["pledge_id"])
    assert pid not in set(later["pledge_id"])
    assert audit == 1


def test_partial_release(api: Api) -> None:
    firm, vintage, free = _fresh_holding(api, 10_000)
    loan = _loan(api, "bank1", firm, "1000000.00")
    q = free // 2
    pid = _pledge(api, "bank1", loan, firm, vintage, q).json()["pledge_id"]
    resp = _release(api, "bank1", pid, quantity_t=q // 4, reason="other")
    assert resp.status_code == 201, resp.text
    state = resp.json()["pledge"]
    assert (state["status"], state["quantity_in_force_t"], state["released_t"]) == (
        "partially_released",
        q - q // 4,
        q // 4,
    )
    _problem(_release(api, "bank1", pid, quantity_t=q), 409)  # more than is left
    _problem(_release(api, "bank1", pid, quantity_t=1, release_date="2099-01-01"), 422)
    _problem(_release(api, "bank1", pid, quantity_t=1, full=True), 422)  # both
    _problem(_release(api, "bank1", pid, quantity_t=1, reason="gift"), 422)
    with session_scope(api.engine) as session:
        h = holdings(session=session, as_of=RELEASE_DAY, uscc=firm, instrument="SHEA")
        h0 = holdings(session=session, as_of=AS_OF, uscc=firm, instrument="SHEA")
        in_force = active_pledges(session=session, as_of=RELEASE_DAY, pledgor_uscc=firm)
    row = h[h["vintage"] == vintage].iloc[0]
    row0 = h0[h0["vintage"] == vintage].iloc[0]
    assert row["free_t"] - row0["free_t"] == q // 4 + (row["balance_t"] - row0["balance_t"])
    assert in_force.set_index("pledge_id").loc[pid, "quantity_t"] == q - q // 4


def test_registration_numbers_of_other_banks_are_not_revealed(api: Api) -> None:
    """Registration numbers are unique per bank: a number another bank recorded is answered as
    a fresh one (it used to be a 409, telling the bank that the number existed elsewhere)."""
    firm1, vintage1, free1 = _fresh_holding(api, 10_000)
    loan1 = _loan(api, "bank1", firm1, "1000000.00")
    firm2 = _other_borrower(api, firm1)
    loan2 = _loan(api, "bank2", firm2, "1000000.00")
    own_no, other_no, fresh_no = (
        f"SHEA-ZY-T-{kind}{api.backend[:2].upper()}-{uuid.uuid4().hex[:6]}"
        for kind in ("OWN", "OTH", "NEW")
    )
    with session_scope(api.engine) as session:
        h = holdings(session=session, as_of=AS_OF, uscc=firm2, instrument="SHEA")
    v2 = int(h[h["free_t"] > 10].iloc[0]["vintage"])
    assert _pledge(api, "bank2", loan2, firm2, v2, 5, registration_no=other_no).status_code == 201
    assert (
        _pledge(api, "bank1", loan1, firm1, vintage1, 5, registration_no=own_no).status_code == 201
    )
    # BANK-02's number and a number nobody recorded answer alike
    theirs = _pledge(api, "bank1", loan1, firm1, vintage1, 5, registration_no=other_no)
    fresh = _pledge(api, "bank1", loan1, firm1, vintage1, 5, registration_no=fresh_no)
    assert theirs.status_code == fresh.status_code == 201, theirs.text
    assert theirs.json().keys() == fresh.json().keys()
    assert "BANK-02" not in theirs.text
    assert firm2 not in theirs.text
    # the bank's own number, recorded before, is refused
    mine = _pledge(api, "bank1", loan1, firm1, vintage1, 5, registration_no=own_no)
    assert _problem(mine, 409)["detail"] == f"registration number {own_no} cannot be recorded"
    # a pledge refused for another reason says nothing of the number
    big = _pledge(api, "bank1", loan1, firm1, vintage1, free1 * 10, registration_no=own_no)
    assert _problem(big, 409)["detail"].endswith("exceeds the quantity free to pledge")
    assert own_no not in big.text


def test_concurrent_pledges_by_two_banks_never_exceed_the_holding(api: Api) -> None:
    firm, vintage, free = _fresh_holding(api, 10_000)
    loan2 = _loan(api, "bank2", firm, "1000000.00")
    loan1 = _loan(api, "bank1", _other_borrower(api, firm), "1000000.00")
    assert _guarantor(api, "bank1", loan1, firm).status_code == 201
    q = free // 7 + 1  # at most 6 fit

    def go(i: int) -> int:
        who, loan = ("bank1", loan1) if i % 2 else ("bank2", loan2)
        return int(_pledge(api, who, loan, firm, vintage, q).status_code)

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(go, range(20)))
    assert set(codes) <= {201, 409, 503}, codes
    assert codes.count(201) <= 6
    with session_scope(api.engine) as session:
        h = holdings(session=session, as_of=dt.date.today(), uscc=firm, instrument="SHEA")
        n = session.scalar(
            select(func.count()).select_from(Pledge).where(Pledge.loan_id.in_([loan1, loan2]))
        )
        released = session.scalar(select(func.count()).select_from(PledgeRelease))
    assert n == codes.count(201)
    assert released is not None
    row = h[h["vintage"] == vintage].iloc[0]
    assert row["free_t"] >= 0
    if 503 not in codes:
        assert codes.count(201) == 6


def test_substitution_releases_and_registers_in_one_transaction(api: Api) -> None:
    firm, vintage, free = _fresh_holding(api, 10_000)
    loan = _loan(api, "bank1", firm, "1000000.00")
    pid = _pledge(api, "bank1", loan, firm, vintage, free).json()["pledge_id"]
    body = {
        "replacement": {
            "instrument": "SHEA",
            "vintage": vintage,
            "quantity_t": free // 2,
            "registration_no": f"SHEA-ZY-T-{uuid.uuid4().hex[:10].upper()}",
            "registration_date": str(RELEASE_DAY),
        }
    }
    url = f"/v1/pledges/{pid}/substitutions"
    # a replacement beyond the freed quantity: refused, and the old pledge stays whole
    too_big = body | {"replacement": body["replacement"] | {"quantity_t": free + 1}}
    _problem(api.client.post(url, json=too_big, headers=api.as_("bank1")), 409)
    state = api.client.get(f"/v1/pledges/{pid}", headers=api.as_("bank1")).json()
    assert (state["status"], state["quantity_in_force_t"]) == ("active", free)
    key = {"Idempotency-Key": f"s-{uuid.uuid4()}"}
    resp = api.client.post(url, json=body, headers=api.as_("bank1") | key)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert out["release"]["reason"] == "substitution"
    assert out["release"]["substitute_pledge_id"] == out["pledge"]["pledge_id"]
    assert out["release"]["pledge"]["status"] == "released"
    assert out["pledge"]["quantity_in_force_t"] == free // 2
    retry = api.client.post(url, json=body, headers=api.as_("bank1") | key)
    assert retry.status_code == 201
    assert retry.json()["pledge"]["pledge_id"] == out["pledge"]["pledge_id"]
    assert retry.headers.get("Idempotent-Replayed") == "true"


def test_a_guarantor_consent_dated_after_the_registration_does_not_count(api: Api) -> None:
    firm, vintage, _free = _fresh_holding(api, 1_000)
    loan = _loan(api, "bank1", _other_borrower(api, firm), "1000000.00")
    assert _guarantor(api, "bank1", loan, firm, RELEASE_DAY).status_code == 201
    early = _pledge(api, "bank1", loan, firm, vintage, 10)  # registered on AS_OF < consent
    assert "nor a guarantor recorded for it" in _problem(early, 422)["detail"]
    late = _pledge(api, "bank1", loan, firm, vintage, 10, registration_date=str(RELEASE_DAY))
    assert late.status_code == 201, late.text
    assert late.json()["pledgor_uscc"] == firm
