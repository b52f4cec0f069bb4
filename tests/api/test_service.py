"""The HTTP service: authentication, roles, tenancy, idempotency, pagination, problem details,
audit and metrics, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import select

from carbonfin.store.models import AuditEntry, Loan
from tests.api.conftest import Api

PROBLEM = "application/problem+json"
FIRM = "91310105GN93T2369N"


def _loan_body(**over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "borrower_uscc": FIRM,
        "currency": "CNY",
        "principal": "50000000.00",
        "origination_date": "2026-11-02",
        "maturity_date": "2028-11-02",
        "rate": 0.032,
        "purpose": "green",
    }
    body.update(over)
    return body


def _problem(resp, status: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body  # type: ignore[no-any-return]


def test_health_names_the_database_and_migration(api: Api) -> None:
    body = api.client.get("/health").json()
    assert body["status"] == "ok"
    assert body["migration"] == body["newest_migration"]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Basic abc", "Bearer cfk.nobody.AAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Bearer junk"],
    ids=["absent", "empty", "basic", "unknown-client", "malformed"],
)
def test_unauthenticated_calls_get_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    body = _problem(api.client.get("/v1/loans", headers=headers), 401)
    assert "key" in str(body["detail"]).lower()


def test_wrong_secret_and_expired_key_get_401(api: Api) -> None:
    good = api.keys["bank1"]
    bad = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    _problem(api.client.get("/v1/loans", headers={"Authorization": f"Bearer {bad}"}), 401)
    time.sleep(1.1)  # the "expired" key was created to live one second
    _problem(api.client.get("/v1/loans", headers=api.as_("expired")), 401)


def test_revoked_key_is_refused_on_its_next_call(api: Api) -> None:
    created = api.client.post(
        "/v1/admin/clients", json={"institution_id": "BANK-03"}, headers=api.as_("admin")
    )
    assert created.status_code == 201, created.text
    info = created.json()
    assert info["role"] == "bank"
    key = {"Authorization": f"Bearer {info['api_key']}"}
    assert api.client.get("/v1/loans", headers=key).status_code == 200
    revoked = api.client.delete(f"/v1/admin/clients/{info['client_id']}", headers=api.as_("admin"))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    _problem(api.client.get("/v1/loans", headers=key), 401)
    listed = api.client.get("/v1/admin/clients", headers=api.as_("admin")).json()
    assert all("api_key" not in c and "secret" not in str(c) for c in listed)


def test_roles(api: Api) -> None:
    _problem(api.client.post("/v1/loans", json=_loan_body(), headers=api.as_("regulator")), 403)
    _problem(api.client.post("/v1/loans", json=_loan_body(), headers=api.as_("admin")), 403)
    _problem(api.client.get("/v1/admin/clients", headers=api.as_("bank1")), 403)
    _problem(api.client.get("/v1/admin/clients", headers=api.as_("regulator")), 403)
    _problem(api.client.get("/v1/audit", headers=api.as_("bank1")), 403)
    assert api.client.get("/v1/audit", headers=api.as_("regulator")).status_code == 200


def test_tenant_isolation(api: Api) -> None:
    mine = api.client.post("/v1/loans", json=_loan_body(), headers=api.as_("bank1"))
    assert mine.status_code == 201, mine.text
    loan_id = mine.json()["loan_id"]
    assert mine.json()["bank_id"] == "BANK-01"
    # bank 2 cannot read it, repay it or find it in any list or filter
    _problem(api.client.get(f"/v1/loans/{loan_id}", headers=api.as_("bank2")), 404)
    absent = api.client.get("/v1/loans/LN-ZZZZZZZZZZ", headers=api.as_("bank2"))
    assert _problem(absent, 404)["detail"].startswith("no loan")  # same answer as "not yours"
    _problem(
        api.client.post(
            f"/v1/loans/{loan_id}/repayments",
            json={"amount": "1.00", "on": "2026-11-20"},
            headers=api.as_("bank2"),
        ),
        404,
    )
    # filtering on another bank is refused (it was ignored: the bank's own rows came back)
    other = api.client.get("/v1/loans", params={"bank_id": "BANK-01"}, headers=api.as_("bank2"))
    assert "bank_id" in _problem(other, 422)["detail"]
    cursor = None
    seen_banks = set()
    while True:
        params = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = api.client.get("/v1/loans", params=params, headers=api.as_("bank2")).json()
        seen_banks |= {i["bank_id"] for i in page["items"]}
        assert loan_id not in {i["loan_id"] for i in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen_banks == {"BANK-02"}
    # the regulator reads it
    assert api.client.get(f"/v1/loans/{loan_id}", headers=api.as_("regulator")).status_code == 200


def test_cursor_pagination_walks_every_row_once(api: Api) -> None:
    ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": 97} | ({"cursor": cursor} if cursor else {})
        page = api.client.get("/v1/loans", params=params, headers=api.as_("bank1")).json()
        ids += [i["loan_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids))
    with api.engine.connect() as c:
        expected = c.execute(select(Loan.loan_id).where(Loan.bank_id == "BANK-01")).all()
    assert len(ids) == len(expected)


def test_idempotent_create(api: Api) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"} | api.as_("bank1")
    first = api.client.post("/v1/loans", json=_loan_body(principal="1234567.00"), headers=key)
    again = api.client.post("/v1/loans", json=_loan_body(principal="1234567.00"), headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    with api.engine.connect() as c:
        n = c.execute(select(Loan).where(Loan.loan_id == first.json()["loan_id"])).all()
    assert len(n) == 1
    other = api.client.post("/v1/loans", json=_loan_body(principal="7654321.00"), headers=key)
    _problem(other, 409)
    # the same key from another client is that client's own key
    key2 = {"Idempotency-Key": key["Idempotency-Key"]} | api.as_("bank2")
    theirs = api.client.post("/v1/loans", json=_loan_body(principal="1234567.00"), headers=key2)
    assert theirs.status_code == 201
    assert theirs.json()["loan_id"] != first.json()["loan_id"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (_loan_body(principal="-5"), "principal"),
        (_loan_body(principal="NaN"), "principal"),
        (_loan_body(currency="XYZ"), "currency"),
        (_loan_body(borrower_uscc="123"), "borrower_uscc"),
        (_loan_body(maturity_date="2020-01-01"), "maturity_date"),
        (_loan_body(rate=3.2), "rate"),
        (_loan_body(unknown_field=1), "unknown_field"),
        (_loan_body(borrower_uscc="91350100M000100Y43"), "not a known firm"),
        (_loan_body(origination_date="2099-10-30", maturity_date="2099-12-30"), "one year"),
        (_loan_body(maturity_date="2099-12-31"), "30 years"),
    ],
    ids=[
        "negative",
        "nan",
        "currency",
        "uscc",
        "dates",
        "rate",
        "extra",
        "unknown-firm",
        "far-future",
        "endless",
    ],
)
def test_bad_input_gets_422_problem(api: Api, body: dict[str, object], fragment: str) -> None:
    resp = api.client.post("/v1/loans", json=body, headers=api.as_("bank1"))
    problem = _problem(resp, 422)
    assert fragment in str(problem)


def test_malformed_json_and_oversized_bodies(api: Api) -> None:
    resp = api.client.post(
        "/v1/loans",
        content=b"{not json",
        headers=api.as_("bank1") | {"content-type": "application/json"},
    )
    _problem(resp, 422)
    big = b'{"x": "' + b"a" * 70_000 + b'"}'
    resp = api.client.post(
        "/v1/loans", content=big, headers=api.as_("bank1") | {"content-type": "application/json"}
    )
    _problem(resp, 413)


@pytest.mark.parametrize("key", ["   ", "k" * 256, "tab\tinside"], ids=["blank", "256", "tab"])
def test_malformed_idempotency_key_is_a_422_as_documented(api: Api, key: str) -> None:
    resp = api.client.post(
        "/v1/loans", json=_loan_body(), headers=api.as_("bank1") | {"Idempotency-Key": key}
    )
    assert "Idempotency-Key" in str(_problem(resp, 422)["detail"])
    doc = api.client.get("/openapi.json").json()
    header = next(
        p for p in doc["paths"]["/v1/loans"]["post"]["parameters"] if p["name"] == "Idempotency-Key"
    )
    assert header["schema"]["anyOf"][0]["maxLength"] == 255
    assert "422" in doc["paths"]["/v1/loans"]["post"]["responses"]


def test_malformed_cursor_is_refused(api: Api) -> None:
    _problem(
        api.client.get("/v1/loans", params={"cursor": "' OR 1=1"}, headers=api.as_("bank1")), 422
    )


def test_unknown_route_and_method_are_problems(api: Api) -> None:
    _problem(api.client.get("/v1/nothing", headers=api.as_("bank1")), 404)
    _problem(api.client.put("/v1/loans", headers=api.as_("bank1")), 405)


def test_concurrent_repayments_lose_none_under_row_locks(api: Api) -> None:
    loan = api.client.post(
        "/v1/loans", json=_loan_body(principal="1000.00"), headers=api.as_("bank1")
    ).json()
    from concurrent.futures import ThreadPoolExecutor

    def pay(_: int) -> int:
        r = api.client.post(
            f"/v1/loans/{loan['loan_id']}/repayments",
            json={"amount": "10.00", "on": "2026-11-20"},
            headers=api.as_("bank1"),
        )
        return r.status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(pay, range(50)))
    assert codes == [200] * 50
    after = api.client.get(f"/v1/loans/{loan['loan_id']}", headers=api.as_("bank1")).json()
    assert after["outstanding"] == "500.00"
    _problem(
        api.client.post(
            f"/v1/loans/{loan['loan_id']}/repayments",
            json={"amount": "600.00", "on": "2026-11-20"},
            headers=api.as_("bank1"),
        ),
        409,
    )


def test_every_authenticated_call_is_audited_without_the_key(api: Api) -> None:
    body = _loan_body(principal="2222222.00")
    resp = api.client.post("/v1/loans", json=body, headers=api.as_("bank2"))
    assert resp.status_code == 201
    _problem(api.client.get("/v1/loans/LN-NOPE0000", headers=api.as_("bank2")), 404)
    with api.engine.connect() as c:
        rows = c.execute(
            select(AuditEntry).where(AuditEntry.actor == "test-bank2").order_by(AuditEntry.entry_id)
        ).all()
    assert rows
    details = [r.detail for r in rows if r.entity == "api"]  # the calls (writes log their own)
    assert any(r.action == "loan.book" and r.entity_id == resp.json()["loan_id"] for r in rows)
    # one entry per call: the booking's own (written by the workflow in its transaction), no
    # second one from the middleware (request.state.audit_written, see api.middleware)
    assert not any(d["route"] == "/v1/loans" and d["status"] == 201 for d in details)
    assert any(d["route"] == "/v1/loans/{loan_id}" and d["status"] == 404 for d in details)
    flat = str([tuple(r) for r in rows])
    assert api.keys["bank2"] not in flat
    assert api.keys["bank2"].split(".")[-1] not in flat
    audit = api.client.get(
        "/v1/audit", params={"actor": "test-bank2"}, headers=api.as_("regulator")
    )
    assert audit.status_code == 200
    assert audit.json()["items"]


def test_metrics_count_requests_by_route_template(api: Api) -> None:
    api.client.get("/v1/loans/LN-0000003", headers=api.as_("bank1"))
    text = api.client.get("/metrics").text
    assert 'route="/v1/loans/{loan_id}"' in text
    assert "carbonfin_http_request_duration_seconds_bucket" in text


def test_score_card_and_batch(api: Api) -> None:
    card = api.client.get(f"/v1/firms/{FIRM}/score", headers=api.as_("bank1"))
    assert card.status_code == 200, card.text
    c = card.json()
    assert 0 <= c["score"] <= 100
    assert c["methodology_version"]
    assert len(c["factors"]) >= 5
    batch = api.client.post(
        "/v1/firms/scores",
        json={"usccs": [FIRM, "91350100M000100Y43"]},
        headers=api.as_("regulator"),
    ).json()
    assert [s["uscc"] for s in batch["scores"]] == [FIRM]
    assert "91350100M000100Y43" in batch["errors"]
    _problem(api.client.get("/v1/firms/NOTAUSCC/score", headers=api.as_("bank1")), 422)
    # a scoring date before any year ended, or before the asked year ended
    early = {"as_of": "2013-06-30"}  # no year had ended (dates before 2013 are a 422)
    _problem(api.client.get(f"/v1/firms/{FIRM}/score", params=early, headers=api.as_("bank1")), 404)
    too_early = {"as_of": "2025-06-30", "year": 2025}
    _problem(
        api.client.get(f"/v1/firms/{FIRM}/score", params=too_early, headers=api.as_("bank1")), 422
    )


def test_market_routes(api: Api) -> None:
    h = api.client.get("/v1/prices/SHEA", params={"start": "2026-01-01"}, headers=api.as_("bank1"))
    assert h.status_code == 200, h.text
    # codes are the schema's enum, upper case; dates are YYYY-MM-DD, never a Unix time
    for path, params in (("/v1/prices/shea", {}), ("/v1/prices/SHEA", {"start": "0"})):
        _problem(api.client.get(path, params=params, headers=api.as_("bank1")), 422)
    assert h.json()["instrument"] == "SHEA"
    m = api.client.get(
        "/v1/prices/SHEA/mark", params={"as_of": "2026-10-30"}, headers=api.as_("bank1")
    )
    assert m.status_code == 200, m.text
    assert m.json()["price_cny_per_t"] > 0
    _problem(
        api.client.get(
            "/v1/prices/XYZ/mark", params={"as_of": "2026-10-30"}, headers=api.as_("bank1")
        ),
        422,
    )
    fc = api.client.get(
        "/v1/prices/SHEA/forward-curve", params={"as_of": "2026-10-30"}, headers=api.as_("bank1")
    )
    assert fc.status_code == 200, fc.text


def test_option_price_matches_black76_closed_form(api: Api) -> None:
    # Black-76 written out with scipy: c = e^{-rT} [F N(d1) - K N(d2)].
    import math

    from scipy.stats import norm

    f, k, t, v, r = 80.0, 85.0, 0.5, 0.45, 0.018
    d1 = (math.log(f / k) + 0.5 * v * v * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    expected = math.exp(-r * t) * (f * norm.cdf(d1) - k * norm.cdf(d2))
    resp = api.client.post(
        "/v1/options/black76",
        json={"forward": f, "strike": k, "expiry_years": t, "vol": v, "rate": r},
        headers=api.as_("bank1"),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["price_cny_per_t"] == pytest.approx(expected, rel=1e-9)
    _problem(
        api.client.post(
            "/v1/options/black76",
            json={"forward": f, "strike": k, "expiry_years": t, "vol": -1, "rate": r},
            headers=api.as_("bank1"),
        ),
        422,
    )


def test_fx_convert(api: Api) -> None:
    resp = api.client.get(
        "/v1/fx/convert",
        params={"amount": "1000000", "from": "USD", "to": "CNY", "on": "2026-10-01"},
        headers=api.as_("bank1"),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["to_currency"] == "CNY"
    assert body["notes"]
    _problem(
        api.client.get(
            "/v1/fx/convert",
            params={"amount": "-1", "from": "USD", "to": "CNY", "on": "2026-10-01"},
            headers=api.as_("bank1"),
        ),
        422,
    )


def test_ad_hoc_haircut_breakdown(api: Api) -> None:
    body = {
        "instrument": "SHEA",
        "quantity_t": 200000,
        "as_of": "2026-10-30",
        "loan_currency": "USD",
    }
    resp = api.client.post("/v1/haircuts", json=body, headers=api.as_("bank1"))
    assert resp.status_code == 200, resp.text
    h = resp.json()
    assert 0 < h["total"] <= 1
    names = {c["name"] for c in h["components"]}
    assert {"market", "liquidation", "currency"} <= names
    currency = next(c for c in h["components"] if c["name"] == "currency")
    assert currency["frac"] > 0  # USD loan against CNY collateral
    assert h["lendable_value_cny"] == pytest.approx(h["market_value_cny"] * (1 - h["total"]))
    bigger = api.client.post(
        "/v1/haircuts", json=body | {"quantity_t": 5_000_000}, headers=api.as_("bank1")
    ).json()
    assert bigger["total"] >= h["total"]  # a larger pledge takes longer to liquidate
    _problem(
        api.client.post("/v1/haircuts", json=body | {"quantity_t": 0}, headers=api.as_("bank1")),
        422,
    )
    _problem(
        api.client.post(
            "/v1/haircuts", json=body | {"as_of": "2013-06-30"}, headers=api.as_("bank1")
        ),
        404,
    )


def test_settings_refuse_the_default_secret_outside_local_mode() -> None:
    from pydantic import ValidationError

    from api.settings import Settings

    assert Settings(mode="local").mode == "local"
    with pytest.raises(ValidationError, match="CARBONFIN_SECRET_KEY"):
        Settings(mode="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(mode="production", secret_key="short")
    assert Settings(mode="production", secret_key="x" * 40).mode == "production"
