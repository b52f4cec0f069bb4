"""The dashboard's routes: login, logout, the page and its stylesheet (no JavaScript).

- ``GET /dashboard/login``: the form (a CSRF token bound to a short-lived cookie).
- ``POST /dashboard/login``: the API key typed in is checked by
  :func:`api.deps.authenticate_key`, as every API call's key is (rate limits, audit of
  failures); a bank or regulator key gets a session cookie (:mod:`api.dashboard.session`), an
  admin key is refused (it reads no lending data).
- ``POST /dashboard/logout``: clears the cookie (CSRF token bound to the session).
- ``GET /dashboard?as_of=YYYY-MM-DD``: the page for the session's scope (a bank: its own book;
  the regulator: every bank). No other query parameter is accepted (``?bank=`` is a 400): the
  scope comes from the session only.

Every page view is an authenticated call and is audited like an API call (the middleware reads
``request.state.identity``); a cookie with a bad signature is audited as a failed
authentication (``bad_session``) and counted against the client address.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.dashboard import session as cookies
from api.dashboard.charts import format_number
from api.dashboard.page import build_page
from api.deps import authenticate_key
from api.problems import ApiProblemError
from api.schemas.common import FIRST_DAY, LAST_DAY
from carbonfin.errors import CarbonfinError
from carbonfin.store.credentials import ClientIdentity, key_state
from carbonfin.store.models import ApiClient
from carbonfin.store.transactions import read_transaction

__all__ = ["router"]

router = APIRouter(prefix="/dashboard", include_in_schema=False)
_HERE = Path(__file__).parent
_ENV = Environment(
    loader=FileSystemLoader(_HERE / "templates"), autoescape=select_autoescape(["html"])
)
_ENV.filters["num"] = format_number
_CSS = (_HERE / "static" / "dashboard.css").read_bytes()
_ICON = (_HERE / "static" / "favicon.svg").read_bytes()
_DATA_ROLES = ("bank", "regulator")
_LOGIN_FORM_S = 1800


def _secret(request: Request) -> str:
    secret: str = request.app.state.settings.secret_key.get_secret_value()
    return secret


def _secure(request: Request) -> bool:
    mode = request.app.state.settings.dashboard_cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


def _clear_cookie(resp: Response, name: str, request: Request) -> None:
    """Delete a dashboard cookie with the attributes it was set with (Path, HttpOnly,
    SameSite=Strict, Secure as configured): Starlette's default deletion says SameSite=lax."""
    resp.delete_cookie(
        name, path="/dashboard", httponly=True, samesite="strict", secure=_secure(request)
    )


def _render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(_ENV.get_template(name).render(**context), status_code=status)


def _login_page(
    request: Request, *, message: str | None = None, status: int = 200, **headers: str
) -> HTMLResponse:
    nonce = cookies.new_nonce()
    resp = _render(
        "login.html",
        status,
        csrf_token=cookies.login_csrf_token(_secret(request), nonce),
        message=message,
    )
    resp.set_cookie(
        cookies.LOGIN_CSRF_COOKIE, nonce, max_age=_LOGIN_FORM_S, path="/dashboard",
        httponly=True, samesite="strict", secure=_secure(request),
    )  # fmt: skip
    for k, v in headers.items():
        resp.headers[k.replace("_", "-")] = v
    return resp


def _to_login() -> RedirectResponse:
    return RedirectResponse("/dashboard/login", status_code=303)


@dataclass(frozen=True, slots=True)
class _Client:
    identity: ClientIdentity
    state: str  # active, revoked, expired
    stored_hash: str
    expires_at: dt.datetime | None


def _client_row(request: Request, client_id: str) -> _Client | None:
    """The client's row, read in a short read transaction (as every API call reads it)."""
    with read_transaction(request.app.state.sessions) as session:
        row = session.get(ApiClient, client_id)
        if row is None:
            return None
        expires = row.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        identity = ClientIdentity(row.client_id, row.institution_id, row.role)
        return _Client(identity, key_state(row), row.secret_hash, expires)


async def _session(request: Request) -> tuple[ClientIdentity, bytes, str] | None:
    """The identity, signing key and nonce of the request's valid session, else ``None``."""
    claims = cookies.parse_cookie(request.cookies.get(cookies.SESSION_COOKIE))
    if claims is None:
        if request.cookies.get(cookies.SESSION_COOKIE):
            _bad_session(request, None)
        return None
    if claims.expires_at <= dt.datetime.now(dt.UTC):
        return None
    client = await anyio.to_thread.run_sync(_client_row, request, claims.client_id)
    if client is None:
        _bad_session(request, claims.client_id)
        return None
    key = cookies.signing_key(_secret(request), client.stored_hash)
    if not cookies.verify_signature(key, claims):
        _bad_session(request, claims.client_id)
        return None
    if client.state != "active" or client.identity.role not in _DATA_ROLES:
        return None
    request.state.identity = client.identity  # audited as an authenticated call
    return client.identity, key, claims.nonce


def _bad_session(request: Request, client_id: str | None) -> None:
    address = request.client.host if request.client else "unknown"
    request.app.state.auth_guard.record(f"addr:{address}")
    request.state.auth_failure = {
        "client_id": client_id, "address": address, "reason": "bad_session",
    }  # fmt: skip


async def _form(request: Request) -> dict[str, str] | None:
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return None
    try:
        raw = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return {k: v[0] for k, v in parse_qs(raw, max_num_fields=10).items()}


def _cross_site(request: Request) -> bool:
    """A POST whose ``Origin`` names another host than the one it was sent to (browsers send
    ``Origin`` on every POST). The host is compared, not the scheme: behind a TLS proxy the
    service sees ``http`` while the browser says ``https``."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc.lower() != request.url.netloc.lower()


def _day(raw: str) -> dt.date:
    """A ``YYYY-MM-DD`` date (the API's form; ``20261030`` is refused as it is there)."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        raise ValueError(raw)
    day = dt.date.fromisoformat(raw)
    if not FIRST_DAY <= day <= LAST_DAY:  # the API's bounds (the calendars' coverage)
        raise ValueError(raw)
    return day


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    if form is None:
        return _login_page(request, message="send the login form", status=415)
    nonce = request.cookies.get(cookies.LOGIN_CSRF_COOKIE)
    if _cross_site(request) or not cookies.verify_login_csrf(
        _secret(request), nonce, form.get("csrf_token")
    ):
        return _login_page(
            request, message="the form expired or did not come from this site: try again",
            status=403,
        )  # fmt: skip
    try:
        identity = await authenticate_key(request, form.get("api_key", "").strip())
    except ApiProblemError as exc:
        retry = (exc.headers or {}).get("Retry-After")
        extra = {"Retry_After": retry} if exc.status == 429 and retry else {}
        message = exc.detail if exc.status == 429 else "the API key is unknown, revoked or expired"
        return _login_page(request, message=message, status=exc.status, **extra)
    if identity.role not in _DATA_ROLES:
        return _login_page(
            request, status=403,
            message="administrator keys manage API clients and see no lending data: "
            "use a bank or regulator key",
        )  # fmt: skip
    client = await anyio.to_thread.run_sync(_client_row, request, identity.client_id)
    if client is None:  # deleted between the two reads
        return _login_page(
            request, message="the API key is unknown, revoked or expired", status=401
        )
    stored_hash, key_expiry = client.stored_hash, client.expires_at
    now = dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(minutes=request.app.state.settings.dashboard_session_minutes)
    if key_expiry is not None:
        expires = min(expires, key_expiry)
    value = cookies.sign_session(
        cookies.signing_key(_secret(request), stored_hash),
        identity.client_id,
        expires,
        cookies.new_nonce(),
    )
    resp = RedirectResponse("/dashboard", status_code=303)
    resp.set_cookie(
        cookies.SESSION_COOKIE, value, max_age=max(0, int((expires - now).total_seconds())),
        path="/dashboard", httponly=True, samesite="strict", secure=_secure(request),
    )  # fmt: skip
    _clear_cookie(resp, cookies.LOGIN_CSRF_COOKIE, request)
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    found = await _session(request)
    if found is None:
        return _to_login()
    _, key, nonce = found
    form = await _form(request)
    token = form.get("csrf_token") if form else None
    if _cross_site(request) or token is None or token != cookies.logout_csrf_token(key, nonce):
        return HTMLResponse("logout refused: the form did not come from this page", 403)
    resp = _to_login()
    _clear_cookie(resp, cookies.SESSION_COOKIE, request)
    return resp


@router.get("/static/dashboard.css")
async def stylesheet() -> Response:
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/static/favicon.svg")
async def icon() -> Response:
    return Response(_ICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=3600"})


@router.get("")
async def dashboard(request: Request) -> Response:
    found = await _session(request)
    if found is None:
        return _to_login()
    identity, key, nonce = found
    bank = identity.institution_id if identity.role == "bank" else None
    context: dict[str, Any] = {
        "identity": identity,
        "scope_label": bank or "all banks",
        "logout_token": cookies.logout_csrf_token(key, nonce),
    }
    extra = sorted(set(request.query_params) - {"as_of"})
    raw = request.query_params.get("as_of", "")
    from api.dashboard.numbers import default_as_of

    state = request.app.state
    try:
        as_of = _day(raw) if raw else default_as_of(state)
    except ValueError:
        as_of = None
    if extra or as_of is None:
        problem = (
            f"unknown query parameter {extra[0]!r}: the page takes only as_of (the scope is "
            "the session's)"
            if extra
            else f"as_of must be a date YYYY-MM-DD from {FIRST_DAY} to {LAST_DAY}; got {raw!r}"
        )
        return _render("page.html", 400, problem=problem, as_of=None, **context)

    def build() -> dict[str, Any]:
        with read_transaction(state.sessions) as session:
            return build_page(state, session, as_of, bank)

    try:
        page = await anyio.to_thread.run_sync(build)
    except CarbonfinError as exc:
        return _render("page.html", 404, problem=str(exc), as_of=as_of, **context)
    return _render("page.html", **context, **page)
