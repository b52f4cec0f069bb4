"""The dashboard without a browser (SQLite and PostgreSQL): login, the session cookie's flags,
signature and expiry, CSRF, security headers, audit, and that a bank's session sees its own
bank only on every dashboard URL while the regulator's figures equal the regulator API's."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from api.dashboard import session as cookies
from api.dashboard.session import LOGIN_CSRF_COOKIE
from api.main import create_app
from api.settings import Settings
from carbonfin.store import credentials
from carbonfin.store.database import make_engine, session_scope
from carbonfin.store.models import ApiClient, AuditEntry
from tests.api._dashboard import money, store_stress_runs
from tests.api.conftest import Api, _keys, _seed

AS_OF = dt.date(2026, 10, 30)
BANKS = tuple(f"BANK-{i:02d}" for i in range(1, 10))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def dash(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app over its own seeded database with three stored stress runs."""
    admin_engine = schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('dash') / 'dash.db'}"
        engine = make_engine(url)
    else:
        url = request.getfixturevalue("postgres_url")
        schema = f"dash_{uuid.uuid4().hex[:10]}"
        admin_engine = create_engine(url)
        with admin_engine.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
        engine = make_engine(url, schema=schema)
    _seed(engine)
    keys = _keys(engine)
    settings = Settings(
        database_url=url, auth_failures_per_address=1_000_000, auth_failures_per_client=1_000_000
    )
    app = create_app(settings, engine=engine)
    store_stress_runs(app, engine, AS_OF)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, engine, keys, request.param)
    engine.dispose()
    if admin_engine is not None:
        with admin_engine.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin_engine.dispose()


def _csrf(client: TestClient) -> str:
    form = client.get("/dashboard/login")
    assert form.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert found
    return found.group(1)


def _login(client: TestClient, key: str) -> TestClient:
    """``client`` signed in with ``key`` (its cookie jar holds the session)."""
    resp = client.post(
        "/dashboard/login",
        data={"csrf_token": _csrf(client), "api_key": key},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == "/dashboard"
    return client


def _fresh(api: Api) -> TestClient:
    """A second browser on the same app: a cookie jar of its own."""
    return TestClient(api.client.app, raise_server_exceptions=False)


def _page(client: TestClient, **params: str) -> str:
    resp = client.get("/dashboard", params={"as_of": AS_OF.isoformat(), **params})
    assert resp.status_code == 200, resp.text[:500]
    return resp.text


def _set_cookie(resp: object) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for raw in resp.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        jar.load(raw)
    return jar


# --- login, cookie ----------------------------------------------------------------------------


def test_no_session_or_garbage_redirects_to_login(dash: Api) -> None:
    c = _fresh(dash)
    for cookie in (None, "x", "v1.test-bank1.1.aaaaaaaaaaaaaaaa.bbbb"):
        if cookie is not None:
            c.cookies.set(cookies.SESSION_COOKIE, cookie, path="/dashboard")
        resp = c.get("/dashboard", follow_redirects=False)
        assert resp.status_code == 303
        assert resp.headers["location"] == "/dashboard/login"


def test_the_session_cookie_is_signed_httponly_strict_and_expires(dash: Api) -> None:
    c = _fresh(dash)
    resp = c.post(
        "/dashboard/login",
        data={"csrf_token": _csrf(c), "api_key": dash.keys["regulator"]},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    raw = next(h for h in resp.headers.get_list("set-cookie") if h.startswith("cf_dashboard="))
    flags = {p.strip().split("=")[0].lower() for p in raw.split(";")}
    assert {"httponly", "max-age", "path", "samesite"} <= flags
    assert "samesite=strict" in raw.lower()
    assert "path=/dashboard" in raw.lower()
    assert "secure" not in flags  # served over http here (auto); see the https test
    morsel = _set_cookie(resp)[cookies.SESSION_COOKIE]
    assert int(morsel["max-age"]) == 480 * 60  # the default session length, in seconds
    claims = cookies.parse_cookie(morsel.value)
    assert claims is not None
    assert claims.client_id == "test-regulator"


def test_the_session_never_outlives_the_key(dash: Api) -> None:
    with session_scope(dash.engine) as session:
        _, key = credentials.create_api_key(
            session=session,
            institution_id="BANK-01",
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10),
        )
    c = _fresh(dash)
    resp = c.post(
        "/dashboard/login", data={"csrf_token": _csrf(c), "api_key": key}, follow_redirects=False
    )
    assert resp.status_code == 303
    assert 0 < int(_set_cookie(resp)[cookies.SESSION_COOKIE]["max-age"]) <= 600


def test_secure_flag_over_https(dash: Api) -> None:
    c = TestClient(dash.client.app, base_url="https://testserver", raise_server_exceptions=False)
    resp = c.post(
        "/dashboard/login",
        data={"csrf_token": _csrf(c), "api_key": dash.keys["bank1"]},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    raw = next(h for h in resp.headers.get_list("set-cookie") if h.startswith("cf_dashboard="))
    assert "secure" in {p.strip().lower() for p in raw.split(";")}


def test_a_tampered_cookie_is_refused_and_audited(dash: Api) -> None:
    c = _login(_fresh(dash), dash.keys["bank1"])
    good = c.cookies.get(cookies.SESSION_COOKIE)
    assert good is not None
    assert c.get("/dashboard", follow_redirects=False).status_code == 200
    body, sig = good.rsplit(".", 1)
    flipped = body + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    other_bank = good.replace("test-bank1", "test-bank2")  # a bank swapping its id in
    later = body.split(".")
    later[2] = str(int(later[2]) + 86_400)  # a longer expiry, old signature
    for bad in (flipped, other_bank, ".".join(later) + "." + sig):
        t = _fresh(dash)
        t.cookies.set(cookies.SESSION_COOKIE, bad, path="/dashboard")
        resp = t.get("/dashboard", follow_redirects=False)
        assert resp.status_code == 303
        assert resp.headers["location"] == "/dashboard/login"
    with session_scope(dash.engine) as session:
        reasons = [
            e.detail["reason"]
            for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "auth_failed"))
            if e.detail and e.detail.get("route") == "/dashboard"
        ]
    assert reasons.count("bad_session") >= 3


def test_a_cookie_signed_with_the_service_secret_alone_is_refused(dash: Api) -> None:
    """Knowing CARBONFIN_SECRET_KEY (public in local mode) does not let anyone mint a session:
    the signing key also needs the client's stored key hash."""
    secret = dash.client.app.state.settings.secret_key.get_secret_value()
    exp = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    forged = cookies.sign_session(
        cookies.signing_key(secret, "guess"), "test-regulator", exp, cookies.new_nonce()
    )
    t = _fresh(dash)
    t.cookies.set(cookies.SESSION_COOKIE, forged, path="/dashboard")
    assert t.get("/dashboard", follow_redirects=False).status_code == 303


def test_an_expired_or_revoked_session_redirects_to_login(dash: Api) -> None:
    secret = dash.client.app.state.settings.secret_key.get_secret_value()
    with session_scope(dash.engine) as session:
        row = session.get(ApiClient, "test-bank1")
        assert row is not None
        key = cookies.signing_key(secret, row.secret_hash)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    t = _fresh(dash)
    t.cookies.set(
        cookies.SESSION_COOKIE,
        cookies.sign_session(key, "test-bank1", past, cookies.new_nonce()),
        path="/dashboard",
    )
    assert t.get("/dashboard", follow_redirects=False).status_code == 303
    # a valid session whose key is then revoked ends at once
    with session_scope(dash.engine) as session:
        _, k = credentials.create_api_key(session=session, institution_id="BANK-01")
    c = _login(_fresh(dash), k)
    assert c.get("/dashboard", follow_redirects=False).status_code == 200
    with session_scope(dash.engine) as session:
        credentials.revoke_api_client(session=session, client_id=k.split(".")[1])
    assert c.get("/dashboard", follow_redirects=False).status_code == 303


def test_every_worker_and_a_restart_accept_the_session(dash: Api) -> None:
    """The signing key is derived from the settings' secret and the database, not from
    anything a process holds: a second app over the same database (another worker, or the
    service after a restart) accepts the cookie."""
    c = _login(_fresh(dash), dash.keys["regulator"])
    value = c.cookies.get(cookies.SESSION_COOKIE)
    other = create_app(dash.client.app.state.settings, engine=dash.engine)
    with TestClient(other, raise_server_exceptions=False) as t:
        t.cookies.set(cookies.SESSION_COOKIE, str(value), path="/dashboard")
        resp = t.get("/dashboard", params={"as_of": AS_OF.isoformat()}, follow_redirects=False)
    assert resp.status_code == 200


def test_wrong_admin_and_missing_keys(dash: Api) -> None:
    c = _fresh(dash)
    for key, status in (
        ("cfk.test-bank1.wrongwrongwrongwrongwrong", 401),
        ("not a key", 401),
        ("", 401),
        (dash.keys["admin"], 403),
        (dash.keys["expired"], 401),
    ):
        resp = c.post(
            "/dashboard/login",
            data={"csrf_token": _csrf(c), "api_key": key},
            follow_redirects=False,
        )
        assert resp.status_code == status, key
        assert not c.cookies.get(cookies.SESSION_COOKIE)
    with session_scope(dash.engine) as session:
        failed = [
            e.detail["reason"]
            for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "auth_failed"))
            if e.detail and e.detail.get("route") == "/dashboard/login"
        ]
        admin_refused = session.scalars(
            select(AuditEntry).where(
                AuditEntry.actor == "test-admin", AuditEntry.action == "POST /dashboard/login"
            )
        ).all()
    assert {"wrong_secret", "malformed", "missing"} <= set(failed)
    assert any(e.detail and e.detail["status"] == 403 for e in admin_refused)


def test_login_is_rate_limited_as_the_api_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'limits.db'}"
    engine = make_engine(url)
    _seed(engine)
    settings = Settings(database_url=url, auth_failures_per_address=3)
    with TestClient(create_app(settings, engine=engine)) as c:
        statuses = []
        for _ in range(5):
            resp = c.post(
                "/dashboard/login",
                data={"csrf_token": _csrf(c), "api_key": "cfk.test-bank1.x"},
                follow_redirects=False,
            )
            statuses.append(resp.status_code)
        assert statuses[:3] == [401, 401, 401]
        assert statuses[-1] == 429
        assert int(resp.headers["retry-after"]) > 0
    engine.dispose()


# --- CSRF, headers ----------------------------------------------------------------------------


def test_login_without_a_valid_csrf_token_is_refused(dash: Api) -> None:
    key = dash.keys["regulator"]
    c = _fresh(dash)
    token = _csrf(c)
    cases = [
        ({"api_key": key}, {}),  # no token
        ({"api_key": key, "csrf_token": token[:-1] + "x"}, {}),  # wrong token
        ({"api_key": key, "csrf_token": token}, {"origin": "https://evil.example"}),
        ({"api_key": key, "csrf_token": token}, {"origin": "http://testserver.evil.example"}),
        ({"api_key": key, "csrf_token": token}, {"origin": "null"}),
    ]
    for data, headers in cases:
        resp = c.post("/dashboard/login", data=data, headers=headers, follow_redirects=False)
        assert resp.status_code == 403
        assert not c.cookies.get(cookies.SESSION_COOKIE)
    # the same host behind a TLS proxy (Origin https, the service sees http) is this site
    resp = c.post(
        "/dashboard/login",
        data={"api_key": key, "csrf_token": _csrf(c)},
        headers={"origin": "https://testserver"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    c.cookies.clear()
    # the token of another browser's form (no matching cookie) does not work either
    t = _fresh(dash)
    resp = t.post(
        "/dashboard/login", data={"api_key": key, "csrf_token": token}, follow_redirects=False
    )
    assert resp.status_code == 403


def test_logout_needs_its_token_and_ends_the_session(dash: Api) -> None:
    c = _login(_fresh(dash), dash.keys["bank1"])
    page = _page(c)
    resp = c.post("/dashboard/logout", data={"csrf_token": "x"}, follow_redirects=False)
    assert resp.status_code == 403
    assert c.get("/dashboard", follow_redirects=False).status_code == 200  # still signed in
    token = re.search(r'action="/dashboard/logout">\s*<input type="hidden" name="csrf_token" '
                      r'value="([^"]+)"', page)  # fmt: skip
    assert token
    resp = c.post("/dashboard/logout", data={"csrf_token": token.group(1)}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/dashboard/login"
    assert c.get("/dashboard", follow_redirects=False).status_code == 303


def _cookie_attributes(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:] if "=" not in part or
            part.strip().lower().startswith(("samesite", "path"))}  # fmt: skip


def test_cookies_are_cleared_with_the_attributes_they_were_set_with(dash: Api) -> None:
    # The login clears its CSRF cookie and the logout the session cookie: each deletion carries
    # the attributes of the cookie it replaces (SameSite=Strict, HttpOnly, Path=/dashboard). The
    # login's deletion said SameSite=lax (Starlette's default) while the cookie was Strict.
    c = _fresh(dash)
    form = c.get("/dashboard/login")
    set_csrf = next(
        h for h in form.headers.get_list("set-cookie") if h.startswith(f"{LOGIN_CSRF_COOKIE}=")
    )
    resp = c.post(
        "/dashboard/login",
        data={"csrf_token": _csrf(c), "api_key": dash.keys["bank1"]},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    headers = resp.headers.get_list("set-cookie")
    cleared = [h for h in headers if "max-age=0" in h.lower()]
    session = next(h for h in headers if "max-age=0" not in h.lower())
    assert len(cleared) == 1, headers
    assert cleared[0].split("=")[0] == set_csrf.split("=")[0], headers
    assert _cookie_attributes(cleared[0]) == _cookie_attributes(set_csrf), (cleared, set_csrf)
    page = _page(c)
    token = re.search(r'action="/dashboard/logout">\s*<input type="hidden" name="csrf_token" '
                      r'value="([^"]+)"', page)  # fmt: skip
    assert token
    out = c.post("/dashboard/logout", data={"csrf_token": token.group(1)}, follow_redirects=False)
    (gone,) = out.headers.get_list("set-cookie")
    assert "max-age=0" in gone.lower()
    assert gone.split("=")[0] == session.split("=")[0]
    assert _cookie_attributes(gone) == _cookie_attributes(session), (gone, session)
    assert "samesite=strict" in _cookie_attributes(gone)


def test_security_headers_on_every_dashboard_response(dash: Api) -> None:
    c = _login(_fresh(dash), dash.keys["regulator"])
    for resp in (
        c.get("/dashboard/login"),
        c.get("/dashboard", params={"as_of": AS_OF.isoformat()}),
        _fresh(dash).get("/dashboard", follow_redirects=False),
        c.get("/dashboard/static/dashboard.css"),
        c.get("/dashboard", params={"bank": "BANK-02"}),
    ):
        csp = resp.headers["content-security-policy"]
        directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
        assert directives["default-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]
        assert "script-src" not in directives  # no script at all (falls back to 'none')
        for sources in directives.values():  # nothing from another host
            assert all(s in ("'none'", "'self'") for s in sources), csp
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "same-origin"
    page = _page(c)
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page)  # no external reference


# --- what each session sees -------------------------------------------------------------------


def test_the_regulator_page_shows_the_apis_numbers(dash: Api) -> None:
    c = _login(_fresh(dash), dash.keys["regulator"])
    page = _page(c)
    api = dash.client.get(
        "/v1/regulator/exposures",
        params={"as_of": AS_OF.isoformat(), "group_by": "bank"},
        headers=dash.as_("regulator"),
    ).json()
    for col in ("collateral_value_cny", "lendable_value_cny", "loan_outstanding_cny"):
        shown = re.search(rf'data-total="{col}" data-value="[^"]*">([^<]+)<', page)
        assert shown, col
        assert money(shown.group(1)) == pytest.approx(round(api["total"][col], 2), abs=0.005)
    conc = dash.client.get(
        "/v1/regulator/concentration",
        params={"as_of": AS_OF.isoformat()},
        headers=dash.as_("regulator"),
    ).json()
    hhi = re.search(r'data-figure="herfindahl">([0-9.]+)<', page)
    assert hhi
    assert float(hhi.group(1)) == pytest.approx(conc["herfindahl"], abs=5e-5)
    calls = dash.client.get(
        "/v1/margin-calls", params={"as_of": AS_OF.isoformat()}, headers=dash.as_("regulator")
    ).json()
    shown_calls = re.search(r'data-figure="calls">(\d+)<', page)
    assert shown_calls
    assert int(shown_calls.group(1)) == len(calls["calls"])
    for bank in {r["key"] for r in api["rows"]}:
        assert bank in page
    # the stored stress run of shea-2015 (a historical replay: deterministic) shows the same
    # uncovered exposure as the scenario run live through the API
    live = dash.client.get(
        "/v1/regulator/stress",
        params={"as_of": AS_OF.isoformat(), "scenario": "shea-2015"},
        headers=dash.as_("regulator"),
    ).json()
    stored = re.search(r'data-stress-uncovered="shea-2015">([^<]+)<', page)
    assert stored
    assert money(stored.group(1)) == pytest.approx(round(live["uncovered_cny"], 2), abs=0.005)
    # every chart drawn: bars, bins or lines in each svg
    for svg in re.findall(r"<svg .*?</svg>", page, flags=re.S):
        assert re.search(r"<(rect|path|circle) ", svg), svg[:200]


def _others(page: str, mine: str) -> list[str]:
    return [b for b in BANKS if b != mine and b in page]


@pytest.mark.parametrize("who", ["bank1", "bank2"])
def test_a_bank_sees_its_own_bank_on_every_dashboard_url(dash: Api, who: str) -> None:
    mine = "BANK-01" if who == "bank1" else "BANK-02"
    other = "BANK-02" if who == "bank1" else "BANK-01"
    c = _login(_fresh(dash), dash.keys[who])
    page = _page(c)
    assert mine in page
    assert _others(page, mine) == []
    # its totals are its row of the regulator's exposures by bank
    reg = dash.client.get(
        "/v1/regulator/exposures",
        params={"as_of": AS_OF.isoformat(), "group_by": "bank"},
        headers=dash.as_("regulator"),
    ).json()
    row = next(r for r in reg["rows"] if r["key"] == mine)
    shown = re.search(r'data-total="collateral_value_cny" data-value="[^"]*">([^<]+)<', page)
    assert shown
    assert money(shown.group(1)) == pytest.approx(round(row["collateral_value_cny"], 2), abs=0.005)
    assert f"{round(reg['total']['collateral_value_cny'], 2):,.2f}" not in page
    # no URL or parameter reaches another bank's numbers
    for params in ({"bank": other}, {"bank_id": other}, {"as_of": AS_OF.isoformat(), "bank": other},
                   {"scope": "all"}):  # fmt: skip
        resp = c.get("/dashboard", params=params)
        assert resp.status_code == 400
        assert _others(resp.text, mine) in ([], [other])  # the refusal names the parameter only
        assert "data-total" not in resp.text
    for path in ("/dashboard/", f"/dashboard/{other}", "/dashboard/static/../", "/dashboard/login"):
        resp = c.get(path)
        assert resp.status_code in (200, 404), path
        assert _others(resp.text.replace(path, ""), mine) == [], path  # a 404 echoes its path
    for as_of in ("2026-06-30", "2025-12-31"):
        resp = c.get("/dashboard", params={"as_of": as_of})
        assert resp.status_code in (200, 404)
        assert _others(resp.text, mine) == [], as_of


def test_a_bad_date_is_a_400_page_not_a_500(dash: Api) -> None:
    c = _login(_fresh(dash), dash.keys["regulator"])
    # outside the API's bounds (2013-01-01..2099-12-31) as the API refuses them (was 200 with
    # "policy None"; found by a fresh-clone user check)
    for raw in ("2026-13-01", "yesterday", "20261030", "1970-01-01", "2100-01-01"):
        resp = c.get("/dashboard", params={"as_of": raw})
        assert resp.status_code == 400, (raw, resp.text[:300])
        assert 'role="alert"' in resp.text
        assert "as_of must be a date" in resp.text
    # before the first loan: an empty book, said so (not zeros)
    resp = c.get("/dashboard", params={"as_of": "2013-06-30"})
    assert resp.status_code == 200
    assert "policy None" not in resp.text
    assert "No loan secured by carbon allowances" in resp.text
    assert "data-total" not in resp.text
    resp = c.get("/dashboard", params={"as_of": "2099-01-01"})
    assert resp.status_code < 500, resp.text[:300]


def test_the_history_series_is_drawn_from_the_stored_valuation_function(
    dash: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page draws what ``carbonfin.lending.exposure.history`` returns for the session's
    scope and the year before the date, and draws nothing of its own where it returns none."""
    from types import SimpleNamespace

    from api.dashboard import history

    asked: list[tuple[dt.date, dt.date, str | None]] = []

    def point(day: dt.date, calls: int) -> SimpleNamespace:
        return SimpleNamespace(
            as_of=day, collateral_value_cny=3.5e9 + calls * 1e7, loan_outstanding_cny=1.5e9,
            lendable_value_cny=1.8e9, warnings=4, margin_calls=calls, loans_not_valued=0,
            stale=False,
        )  # fmt: skip

    def fake(session: object, start: dt.date, end: dt.date, bank: str | None) -> object:
        asked.append((start, end, bank))
        days = [dt.date(2026, m, 28) for m in (1, 4, 7, 10)]
        return SimpleNamespace(
            points=tuple(point(d, c) for d, c in zip(days, (3, 9, 27, 56), strict=True)),
            source="stored valuations (test)",
            notes=("quarterly snapshots",),
        )

    monkeypatch.setattr(history, "_history_function", lambda: fake)
    page = _page(_login(_fresh(dash), dash.keys["bank2"]))
    assert asked == [(AS_OF - dt.timedelta(days=365), AS_OF, "BANK-02")]
    shown = dict(re.findall(r'data-history-calls="([0-9-]+)">(\d+)<', page))
    assert shown == {"2026-01-28": "3", "2026-04-28": "9", "2026-07-28": "27", "2026-10-28": "56"}
    for chart in ("history-value", "history-calls"):
        svg = re.search(rf'<svg [^>]*id="{chart}".*?</svg>', page, flags=re.S)
        assert svg
        assert svg.group(0).count("<path ") >= 2  # the series (and the legend)
    monkeypatch.setattr(history, "_history_function", lambda: None)
    page = _page(_login(_fresh(dash), dash.keys["bank2"]))
    assert "no stored-valuation history" in page
    assert 'id="history-value"' not in page


@pytest.mark.parametrize("who", ["regulator", "bank1"])
def test_the_page_reads_its_exposures_from_the_regulators_sql(
    dash: Api, who: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's exposures are carbonfin.lending.exposure.summary's (the SQL behind
    /v1/regulator/exposures), asked for the scope the session may see; not a pandas
    allocation of the book held in memory."""
    from carbonfin.lending import exposure

    calls: list[str | None] = []
    real = exposure.summary

    def spy(session: Any, as_of: dt.date, bank: str | None = None, **kw: Any) -> Any:
        calls.append(bank)
        return real(session, as_of, bank, **kw)

    monkeypatch.setattr(exposure, "summary", spy)
    _page(_login(_fresh(dash), dash.keys[who]))
    assert calls == [None if who == "regulator" else "BANK-01"]


# --- the SQL answers against the book valued in memory (the previous computation) ------------


def _in_memory(valued: Any) -> dict[str, Any]:
    """The page's concentration and distributions as api/dashboard/numbers.py computed them from
    the book valued in memory before they were read from the stored run (pandas and numpy)."""
    import numpy as np

    v = valued.valuation
    p = v.pledges
    if "pledgor_uscc" not in p.columns:
        p = p.join(valued.book.pledges.set_index("pledge_id")["pledgor_uscc"], on="pledge_id")
    who = p["pledgor_uscc"].astype(str)
    by = p.groupby(who)["market_value_cny"].sum()
    total = float(by.sum())

    def hhi(values: Any) -> float:
        return float(((values / values.sum()) ** 2).sum())

    edges = np.append(np.array([round(0.1 * i, 1) for i in range(16)]), np.inf)

    def bins(values: Any) -> list[int]:
        counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
        counts[-1] += int(np.isinf(values).sum())
        return [int(c) for c in counts]

    ltv = v.loans["ltv"].to_numpy(dtype=float)
    return {
        "values": {str(k): float(x) for k, x in by.items()},
        "shares": {
            f"top_{n}": float(by.sort_values(ascending=False).head(n).sum() / total)
            for n in (1, 5, 10)
        },
        "herfindahl": hhi(by),
        "by_instrument": {
            str(i): hhi(g.groupby(who.loc[g.index])["market_value_cny"].sum())
            for i, g in p.groupby("instrument")
        },
        "bins": bins(v.loans["utilisation"].to_numpy(dtype=float)),
        "ltv_bins": bins(ltv),
        "quantiles": {
            f"p{round(q * 100)}": float(np.quantile(ltv[np.isfinite(ltv)], q))
            for q in (0.1, 0.25, 0.5, 0.75, 0.9, 0.99)
        },
        "states": valued.state_counts(),
        "loans": len(v.loans),
        "calls": int((v.loans["state"] != "ok").sum()),
    }


@pytest.mark.parametrize("bank", [None, "BANK-01", "BANK-02"], ids=["all", "bank1", "bank2"])
def test_the_stored_runs_figures_equal_the_book_valued_in_memory(
    dash: Api, bank: str | None
) -> None:
    """Concentration, the utilisation and LTV distributions, the loans by state and the open
    margin-call count, read from the stored run by SQL, equal what the page computed from the
    book valued in memory (BookCache) before: values to the cent, counts exactly."""
    from api.dashboard import numbers

    state = dash.client.app.state
    with session_scope(dash.engine) as s:
        stored = numbers.stored_summary(state, s, AS_OF, bank)
        conc = numbers.concentration(s, AS_OF, bank, {})
        util = numbers.utilisation(s, AS_OF, bank)
        ref = _in_memory(state.book.book(s, AS_OF).for_bank(bank))
    assert stored.source.stale is False
    assert conc is not None
    assert util is not None
    assert conc.pledgors == len(ref["values"])
    top = sorted(ref["values"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(u, round(v, 2)) for u, _, v, _ in conc.top] == [(u, round(v, 2)) for u, v in top]
    assert conc.herfindahl == pytest.approx(ref["herfindahl"], rel=1e-9)
    assert conc.top_shares == pytest.approx(ref["shares"], rel=1e-9)
    assert conc.by_instrument == pytest.approx(ref["by_instrument"], rel=1e-9)
    assert [b.count for b in util.bins] == ref["bins"]
    assert [b.count for b in util.ltv_bins] == ref["ltv_bins"]
    assert util.ltv_quantiles == pytest.approx(ref["quantiles"], abs=1e-8)  # stored to 8 places
    assert util.states == ref["states"]
    assert util.loans == ref["loans"]
    assert numbers.open_calls(stored) == ref["calls"]


@pytest.mark.parametrize("who", ["bank1", "bank2"])
def test_a_banks_page_shows_its_own_concentration_and_calls(dash: Api, who: str) -> None:
    """A bank's Herfindahl index, open margin calls and loans by state are its own book's (the
    stored run restricted to its bank in SQL), not the whole book's nor another bank's."""
    from carbonfin.lending import exposure, ltv

    mine = "BANK-01" if who == "bank1" else "BANK-02"
    other = "BANK-02" if who == "bank1" else "BANK-01"
    page = _page(_login(_fresh(dash), dash.keys[who]))
    with session_scope(dash.engine) as s:
        own, theirs, whole = (exposure.concentration(s, AS_OF, b) for b in (mine, other, None))
        dist = ltv.distribution(s, AS_OF, mine)
        summary = exposure.summary(s, AS_OF, mine)
    hhi = re.search(r'data-figure="herfindahl">([0-9.]+)<', page)
    assert hhi
    assert float(hhi.group(1)) == pytest.approx(own.herfindahl, abs=5e-5)
    assert f"{own.herfindahl:.4f}" != f"{whole.herfindahl:.4f}"
    for uscc, _ in theirs.top:
        if uscc not in {u for u, _ in own.top}:
            assert uscc[-6:] not in page  # another bank's pledgor is not named
    calls = re.search(r'data-figure="calls">(\d+)<', page)
    assert calls
    assert int(calls.group(1)) == sum(summary.states[s] for s in ("warning", "margin_call",
                                                                   "liquidation"))  # fmt: skip
    shown = dict(re.findall(r'data-state="([a-z_]+)">(\d+)<', page))
    assert {k: int(v) for k, v in shown.items() if k != "not_valued"} == {
        s: dist.states.get(s, 0) for s in ("ok", "warning", "margin_call", "liquidation")
    }
    assert numbers_note() in page.replace("&#39;", "'")


def numbers_note() -> str:
    from api.dashboard.numbers import PER_REQUEST_NOTE

    return PER_REQUEST_NOTE
