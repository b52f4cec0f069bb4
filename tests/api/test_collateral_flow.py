"""The collateral flow through the API on SQLite and PostgreSQL: loan -> pledge (eligibility,
haircut breakdown) -> price drop -> margin call; over-pledging refused, also under 50 concurrent
requests; idempotent pledge retries; tenancy; the regulator's views."""

from __future__ import annotations

import datetime as dt
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import select

from carbonfin.calendars import get_calendar
from carbonfin.store.collateral import holdings
from carbonfin.store.database import session_scope
from carbonfin.store.models import Pledge, Price
from tests.api.conftest import Api
from tests.api.test_service import _problem

AS_OF = dt.date(2026, 10, 30)


def _free_holding(api: Api, minimum: int, skip: set[str] = frozenset()) -> tuple[str, int, int]:  # type: ignore[assignment]
    """(uscc, vintage, free tonnes) of a SHEA holding with at least ``minimum`` free."""
    with session_scope(api.engine) as session:
        h = holdings(session=session, as_of=AS_OF, instrument="SHEA")
    h = h[(h["free_t"] >= minimum) & h["vintage"].notna() & ~h["uscc"].isin(skip)]
    h = h.sort_values(["free_t", "uscc"], ascending=[False, True])
    assert not h.empty, "the sample has no SHEA holding that large"
    row = h.iloc[0]
    return str(row["uscc"]), int(row["vintage"]), int(row["free_t"])


def _loan(api: Api, who: str, borrower: str, principal: str) -> str:
    resp = api.client.post(
        "/v1/loans",
        json={
            "borrower_uscc": borrower,
            "currency": "CNY",
            "principal": principal,
            "origination_date": "2026-10-30",
            "maturity_date": "2028-10-30",
            "rate": 0.035,
            "purpose": "green",
        },
        headers=api.as_(who),
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["loan_id"])


def _pledge(api: Api, who: str, loan_id: str, uscc: str, vintage: int, q: int, **kw: object):  # type: ignore[no-untyped-def]
    body = {
        "loan_id": loan_id,
        "instrument": "SHEA",
        "vintage": vintage,
        "quantity_t": q,
        "pledgor_uscc": uscc,
        "registration_no": f"SHEA-ZY-T-{uuid.uuid4().hex[:10].upper()}",
        "registration_date": AS_OF.isoformat(),
    } | kw
    return api.client.post("/v1/pledges", json=body, headers=api.as_(who) | kw.pop("headers", {}))  # type: ignore[operator]


def test_loan_pledge_haircut_price_drop_margin_call(api: Api) -> None:
    uscc, vintage, free = _free_holding(api, 20_000)
    q = min(free, 50_000)
    mark = api.client.get(
        "/v1/prices/SHEA/mark", params={"as_of": AS_OF.isoformat()}, headers=api.as_("bank1")
    ).json()["price_cny_per_t"]
    # A loan at 60% of the pledge's lendable value (after its haircut): not called today.
    adhoc = api.client.post(
        "/v1/haircuts",
        json={"instrument": "SHEA", "quantity_t": q, "as_of": AS_OF.isoformat()},
        headers=api.as_("bank1"),
    ).json()
    principal = f"{0.6 * adhoc['lendable_value_cny']:.2f}"
    loan_id = _loan(api, "bank1", uscc, principal)
    resp = _pledge(api, "bank1", loan_id, uscc, vintage, q)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    assert created["eligibility"]["decision"] in ("eligible", "partially eligible")
    assert created["eligibility"]["rules"]
    h = created["haircut"]
    assert 0 < h["total"] < 1
    assert h["mark_price_cny_per_t"] == pytest.approx(mark)
    assert {c["name"] for c in h["components"]} >= {"market", "liquidation"}
    # the pledge is visible to its bank and the regulator, not to another bank
    pid = created["pledge_id"]
    assert api.client.get(f"/v1/pledges/{pid}", headers=api.as_("bank1")).status_code == 200
    assert api.client.get(f"/v1/pledges/{pid}", headers=api.as_("regulator")).status_code == 200
    _problem(api.client.get(f"/v1/pledges/{pid}", headers=api.as_("bank2")), 404)
    listed = api.client.get(
        "/v1/pledges", params={"loan_id": loan_id}, headers=api.as_("bank2")
    ).json()
    assert listed["items"] == []
    # before the drop: this loan is not called
    calls = api.client.get(
        "/v1/margin-calls", params={"as_of": AS_OF.isoformat()}, headers=api.as_("bank1")
    ).json()
    assert loan_id not in {c["loan_id"] for c in calls["calls"]}
    assert all(c["bank_id"] == "BANK-01" for c in calls["calls"])
    # the price falls by the daily limit for five business days (-41%), within the FX
    # fixings' 10-day staleness limit
    cal = get_calendar("China.SEEE")
    d, price, rows = AS_OF, Decimal(str(mark)), []
    for _ in range(5):
        d = cal.advance(d, 1)
        price = (price * Decimal("0.9")).quantize(Decimal("0.01"))
        rows.append(
            Price(
                instrument="SHEA",
                date=d,
                open_cny_per_t=price,
                high_cny_per_t=price,
                low_cny_per_t=price,
                close_cny_per_t=price,
                vwap_cny_per_t=price,
                volume_t=5000,
                amount_cny=price * 5000,
            )
        )
    with session_scope(api.engine) as session:
        session.add_all(rows)
    api.client.app.state.data.clear()  # type: ignore[attr-defined]
    api.client.app.state.book.invalidate()  # type: ignore[attr-defined]
    after = api.client.get(
        "/v1/margin-calls", params={"as_of": d.isoformat()}, headers=api.as_("bank1")
    )
    assert after.status_code == 200, after.text
    mine = {c["loan_id"]: c for c in after.json()["calls"]}
    assert loan_id in mine
    assert mine[loan_id]["state"] in ("margin_call", "liquidation")
    assert (mine[loan_id]["topup_cash_cny"] or 0) > 0
    # the regulator sees it; bank 2 does not
    reg = api.client.get(
        "/v1/margin-calls", params={"as_of": d.isoformat()}, headers=api.as_("regulator")
    ).json()
    assert loan_id in {c["loan_id"] for c in reg["calls"]}
    other = api.client.get(
        "/v1/margin-calls", params={"as_of": d.isoformat()}, headers=api.as_("bank2")
    ).json()
    assert loan_id not in {c["loan_id"] for c in other["calls"]}
    # regulator views of the same date
    for path, params in (
        ("/v1/regulator/exposures", {"group_by": "bank"}),
        ("/v1/regulator/exposures", {"group_by": "industry"}),
        ("/v1/regulator/exposures", {"group_by": "vintage"}),
        ("/v1/regulator/concentration", {}),
        ("/v1/regulator/ltv", {}),
    ):
        r = api.client.get(
            path, params={"as_of": d.isoformat()} | params, headers=api.as_("regulator")
        )
        assert r.status_code == 200, r.text
        _problem(
            api.client.get(
                path, params={"as_of": d.isoformat()} | params, headers=api.as_("bank1")
            ),
            403,
        )
    conc = api.client.get(
        "/v1/regulator/concentration", params={"as_of": d.isoformat()}, headers=api.as_("regulator")
    ).json()
    assert 0 < conc["herfindahl"] <= 1
    assert conc["top_shares"]["top_1"] <= conc["top_shares"]["top_5"] <= 1


def test_pledge_beyond_free_holding_is_refused(api: Api) -> None:
    uscc, vintage, free = _free_holding(api, 1_000)
    loan_id = _loan(api, "bank2", uscc, "1000000.00")
    resp = _pledge(api, "bank2", loan_id, uscc, vintage, free + 1)
    # no figure: the free quantity is the holding less every bank's pledges (issue 18 point 4)
    detail = _problem(resp, 409)["detail"]
    assert detail == f"the pledge of {free + 1:,} t exceeds the quantity free to pledge"
    assert f"{free:,}" not in resp.text
    assert str(free) not in resp.text


def test_pledge_idempotent_retry_and_bad_input(api: Api) -> None:
    uscc, vintage, _free = _free_holding(api, 2_000)
    loan_id = _loan(api, "bank1", uscc, "100000.00")
    key = {"Idempotency-Key": f"p-{uuid.uuid4()}"}
    body = {
        "loan_id": loan_id,
        "instrument": "SHEA",
        "vintage": vintage,
        "quantity_t": 1000,
        "pledgor_uscc": uscc,
        "registration_no": f"SHEA-ZY-I-{uuid.uuid4().hex[:8].upper()}",
        "registration_date": AS_OF.isoformat(),
    }
    first = api.client.post("/v1/pledges", json=body, headers=api.as_("bank1") | key)
    again = api.client.post("/v1/pledges", json=body, headers=api.as_("bank1") | key)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["pledge_id"] == again.json()["pledge_id"]
    with session_scope(api.engine) as session:
        n = session.scalars(
            select(Pledge).where(Pledge.registration_no == body["registration_no"])
        ).all()
    assert len(n) == 1
    _problem(
        api.client.post(
            "/v1/pledges", json=body | {"quantity_t": 999}, headers=api.as_("bank1") | key
        ),
        409,
    )
    # another bank's loan: 404; the regulator: 403; nonsense: 422
    _problem(
        api.client.post(
            "/v1/pledges", json=body | {"registration_no": "X-1234"}, headers=api.as_("bank2")
        ),
        404,
    )
    _problem(api.client.post("/v1/pledges", json=body, headers=api.as_("regulator")), 403)
    future = body | {"registration_date": "2099-01-01", "registration_no": "X-FUT1"}
    assert "future" in str(
        _problem(api.client.post("/v1/pledges", json=future, headers=api.as_("bank1")), 422)
    )
    # a vintage not issued yet is bad input (422), not a conflict with the holding (was 409)
    unissued = body | {"vintage": 2099, "registration_no": "X-VIN1"}
    assert "vintage 2099 is not issued yet" in str(
        _problem(api.client.post("/v1/pledges", json=unissued, headers=api.as_("bank1")), 422)
    )
    before = body | {"registration_date": "2016-01-04", "registration_no": "X-OLD1"}
    assert "outside loan" in str(
        _problem(api.client.post("/v1/pledges", json=before, headers=api.as_("bank1")), 422)
    )
    _problem(
        api.client.post("/v1/pledges", json=body | {"quantity_t": -5}, headers=api.as_("bank1")),
        422,
    )
    _problem(
        api.client.post(
            "/v1/pledges",
            json=body | {"instrument": "XYZ", "registration_no": "X-5678"},
            headers=api.as_("bank1"),
        ),
        422,
    )


def test_concurrent_pledges_never_over_pledge_a_holding(api: Api) -> None:
    with session_scope(api.engine) as session:
        taken = {
            str(u)
            for u in session.scalars(
                select(Pledge.pledgor_uscc).where(Pledge.registration_no.like("SHEA-ZY-T-%"))
            )
        }
    uscc, vintage, free = _free_holding(api, 10_000, skip=taken)
    loan_id = _loan(api, "bank1", uscc, "1000000.00")
    q = free // 10 + 1  # at most 9 of 50 fit

    def go(i: int) -> int:
        return int(_pledge(api, "bank1", loan_id, uscc, vintage, q).status_code)

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(go, range(50)))
    assert set(codes) <= {201, 409}, codes
    assert codes.count(201) == 9
    with session_scope(api.engine) as session:
        h = holdings(session=session, as_of=AS_OF, uscc=uscc, instrument="SHEA")
    row = h[h["vintage"] == vintage].iloc[0]
    assert row["free_t"] >= 0


def test_regulator_stress(api: Api) -> None:
    resp = api.client.get(
        "/v1/regulator/stress",
        params={"as_of": AS_OF.isoformat(), "scenario": "shea-2015"},
        headers=api.as_("regulator"),
    )
    assert resp.status_code == 200, resp.text
    s = resp.json()
    assert s["value_after_cny"] <= s["value_before_cny"]
    assert s["loss_cny"] == pytest.approx(s["value_before_cny"] - s["value_after_cny"])
    assert s["loans_called_after"] >= s["loans_called_before"]
    assert {r.get("bank_id") for r in s["by_bank"]} - {None}
    _problem(
        api.client.get(
            "/v1/regulator/stress",
            params={"as_of": AS_OF.isoformat(), "scenario": "no-such"},
            headers=api.as_("regulator"),
        ),
        422,
    )


def test_the_readme_tour_loan_and_pledge_work_as_printed(api: Api) -> None:
    # The README's curl tour creates this loan and pledge; keep it working as printed.
    import json
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    bodies = re.findall(r"-d '(\{.*?\})'", readme, flags=re.S)
    loan = json.loads(next(b for b in bodies if "borrower_uscc" in b).replace("\n", " "))
    pledge_text = next(b for b in bodies if "registration_no" in b).replace("\n", " ")
    created = api.client.post("/v1/loans", json=loan, headers=api.as_("bank1"))
    assert created.status_code == 201, created.text
    loan_id = created.json()["loan_id"]
    pledge = json.loads(pledge_text.replace("'$LOAN'", loan_id))
    pledge["registration_no"] += "-T" + api.backend[:2].upper()  # unique per backend run
    resp = api.client.post("/v1/pledges", json=pledge, headers=api.as_("bank1"))
    assert resp.status_code == 201, resp.text
    assert resp.json()["haircut"]["total"] < 1
    # the README says what state the tour's loan is in on the day (it said nothing while the
    # loan, 4,000,000 CNY on a 76% haircut, landed in liquidation): check it says the truth
    calls = api.client.get(
        "/v1/margin-calls", params={"as_of": "2026-10-30"}, headers=api.as_("bank1")
    )
    assert calls.status_code == 200, calls.text
    state = next((c["state"] for c in calls.json()["calls"] if c["loan_id"] == loan_id), "ok")
    assert f"the loan's state on 2026-10-30 is `{state}`" in readme.replace("\n", " ")
