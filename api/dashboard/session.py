"""Dashboard sessions: a signed cookie naming the API client, and CSRF tokens for its forms.

The cookie
----------
``v1.<client id>.<expiry, Unix seconds>.<nonce>.<signature>``, where the signature is
HMAC-SHA256 (base64url) of everything before it under a **per-client signing key**::

    signing_key = HMAC-SHA256(CARBONFIN_SECRET_KEY, "carbonfin dashboard session v1" ‖ 0x00 ‖
                              the client's stored key hash)

- Every worker of ``carbonfin serve --workers N`` and every restart derives the same key from
  the same two inputs (the service secret and the database row), so no secret is generated
  per process and nothing new is stored: no migration.
- Forging a cookie needs both the service secret and the client's salted scrypt hash (never
  shown by any route): in local mode, where the built-in development secret is public, a
  forger still lacks the hash.
- The client's row is read on every request (as for the API): a revoked or expired key ends
  its sessions at once; a key re-issued under the same client id gets a new hash, which
  invalidates the old cookies.
- The expiry is the earlier of ``now + CARBONFIN_DASHBOARD_SESSION_MINUTES`` and the key's
  own expiry; the cookie's ``Max-Age`` says the same.

CSRF
----
Logging in and logging out change state and are POST forms with a token:

- the login form's token is ``HMAC(secret, "login-csrf" ‖ nonce)`` where ``nonce`` is a random
  value set in a short-lived, HttpOnly, SameSite=Strict cookie when the form is served (a
  signed double-submit: a cross-site page can neither read the cookie nor compute the token);
- the logout form's token is ``HMAC(signing_key, "logout" ‖ session nonce)``.

Both are compared in constant time. Everything else on the dashboard is a GET that changes
nothing (the as-of date picker is a GET form).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "SessionClaims",
    "login_csrf_token",
    "logout_csrf_token",
    "new_nonce",
    "parse_cookie",
    "sign_session",
    "signing_key",
    "verify_login_csrf",
    "verify_signature",
]

SESSION_COOKIE = "cf_dashboard"
LOGIN_CSRF_COOKIE = "cf_dashboard_login"
_VERSION = "v1"
_COOKIE = re.compile(
    r"^v1\.([a-z0-9][a-z0-9-]{2,63})\.([0-9]{1,12})\.([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{43})$"
)
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What a session cookie says (before its signature is checked against the client row)."""

    client_id: str
    expires_at: dt.datetime
    nonce: str
    signed_part: str
    signature: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _mac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def new_nonce() -> str:
    """A random 128-bit value, base64url."""
    return secrets.token_urlsafe(16)


def signing_key(service_secret: str, stored_key_hash: str) -> bytes:
    """The client's session signing key (see the module's docstring)."""
    message = b"carbonfin dashboard session v1\x00" + stored_key_hash.encode()
    return hmac.new(service_secret.encode(), message, hashlib.sha256).digest()


def sign_session(key: bytes, client_id: str, expires_at: dt.datetime, nonce: str) -> str:
    """The cookie value for ``client_id`` until ``expires_at`` (aware)."""
    body = f"{_VERSION}.{client_id}.{int(expires_at.timestamp())}.{nonce}"
    return f"{body}.{_b64(_mac(key, body))}"


def parse_cookie(value: str | None) -> SessionClaims | None:
    """The claims of a well-formed cookie value, else ``None`` (nothing verified yet)."""
    if not value:
        return None
    m = _COOKIE.match(value)
    if m is None:
        return None
    client, exp, nonce, sig = m.groups()
    expires = dt.datetime.fromtimestamp(int(exp), dt.UTC)
    return SessionClaims(client, expires, nonce, value.rsplit(".", 1)[0], sig)


def verify_signature(key: bytes, claims: SessionClaims) -> bool:
    """Whether the cookie was signed with ``key`` (constant-time comparison)."""
    return hmac.compare_digest(_b64(_mac(key, claims.signed_part)), claims.signature)


def login_csrf_token(service_secret: str, nonce: str) -> str:
    """The token the login form carries for the nonce in its cookie."""
    return _b64(_mac(service_secret.encode(), f"login-csrf\x00{nonce}"))


def verify_login_csrf(service_secret: str, nonce: str | None, token: str | None) -> bool:
    """Whether ``token`` belongs to the login form served with cookie ``nonce``."""
    if not nonce or not token or not _NONCE.match(nonce):
        return False
    return hmac.compare_digest(login_csrf_token(service_secret, nonce), token)


def logout_csrf_token(key: bytes, session_nonce: str) -> str:
    """The token the logout form of a session carries."""
    return _b64(_mac(key, f"logout\x00{session_nonce}"))
