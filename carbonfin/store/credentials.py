"""API client credentials: secrets are generated here, shown once, and stored only as a salted
scrypt hash (RFC 7914; n=2**14, r=8, p=1 as recommended for interactive logins by the Python
``hashlib`` documentation and OWASP's password-storage cheat sheet). Verification is constant-time.

An API key as the client sends it (``Authorization: Bearer <key>``) is
``cfk.<client_id>.<secret>``: the client id finds the stored hash, the secret is checked against
it. Keys belong to an institution, carry a role (``bank``, ``regulator`` for the central-bank
branch, read-only; ``admin`` manages clients), may expire and can be revoked.

scrypt costs tens of milliseconds by design; an API worker checks a key with scrypt once and then
keeps, in memory only, an HMAC of the secret under a per-process random key
(:class:`VerifiedKeyCache`). Every request still reads the client's row, so a revoked or expired
key is refused on its next call.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session

from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.store.models import ApiClient, Institution

__all__ = [
    "ROLES",
    "AuthOutcome",
    "ClientIdentity",
    "VerifiedKeyCache",
    "authenticate_client",
    "create_api_client",
    "create_api_key",
    "hash_secret",
    "is_expired",
    "key_state",
    "parse_api_key",
    "revoke_api_client",
    "verify_api_client",
    "verify_api_key",
    "verify_secret",
]

_N, _R, _P = 2**14, 8, 1
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
_KEY = re.compile(r"^cfk\.([a-z0-9][a-z0-9-]{2,63})\.([A-Za-z0-9_-]{20,128})$")
ROLES = ("bank", "regulator", "admin")


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """Who an authenticated API call comes from."""

    client_id: str
    institution_id: str
    role: str

    @property
    def read_only(self) -> bool:
        return self.role == "regulator"


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` for ``secret`` (a fresh 16-byte salt unless given)."""
    if not secret:
        raise InvalidInputError("an API secret may not be empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.urlsafe_b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches the ``stored`` hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.urlsafe_b64decode(salt_b64)
        expected = base64.urlsafe_b64decode(digest_b64)
        actual = hashlib.scrypt(
            secret.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _role_for(institution: Institution, role: str | None) -> str:
    if role is not None and role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if institution.kind == "central_bank":
        if role not in (None, "regulator"):
            raise InvalidInputError(
                f"institution {institution.institution_id} is the central bank; its clients have "
                f"role 'regulator' (read-only), not {role!r}"
            )
        return "regulator"
    if role == "regulator":
        raise InvalidInputError(
            f"institution {institution.institution_id} is a bank; only the central bank's "
            "clients have role 'regulator'"
        )
    return role or "bank"


def create_api_client(
    *,
    session: Session,
    client_id: str,
    institution_id: str,
    role: str | None = None,
    expires_at: dt.datetime | None = None,
    label: str | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Register an API client for an institution and return its secret (shown once, never stored).

    The role follows the institution unless ``admin`` is asked for: a bank's client has role
    ``bank``; the central bank's client is ``regulator`` (read-only).
    """
    if not _ID.match(client_id):
        raise InvalidInputError(
            f"client id {client_id!r} must be 3-64 characters of a-z, 0-9 and '-'"
        )
    institution = session.get(Institution, institution_id)
    if institution is None:
        raise MissingDataError(f"unknown institution {institution_id!r}")
    resolved = _role_for(institution, role)
    now = now or dt.datetime.now(dt.UTC)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInputError("`expires_at` must carry a time zone")
        if expires_at <= now:
            raise InvalidInputError(f"`expires_at` {expires_at.isoformat()} is not in the future")
    if session.get(ApiClient, client_id) is not None:
        raise InvalidInputError(f"API client {client_id!r} already exists")
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiClient(
            client_id=client_id,
            institution_id=institution_id,
            role=resolved,
            secret_hash=hash_secret(secret),
            created_at=now,
            active=True,
            expires_at=expires_at,
            label=label,
        )
    )
    session.flush()
    return secret


def create_api_key(
    *,
    session: Session,
    institution_id: str,
    role: str | None = None,
    client_id: str | None = None,
    expires_at: dt.datetime | None = None,
    label: str | None = None,
) -> tuple[str, str]:
    """Create a client and return ``(client_id, api_key)``; the key is shown once, never stored.

    Without ``client_id`` one is made from the institution and a random suffix.
    """
    client_id = client_id or f"{institution_id.lower()}-{secrets.token_hex(4)}"
    secret = create_api_client(
        session=session,
        client_id=client_id,
        institution_id=institution_id,
        role=role,
        expires_at=expires_at,
        label=label,
    )
    return client_id, f"cfk.{client_id}.{secret}"


def revoke_api_client(
    *, session: Session, client_id: str, now: dt.datetime | None = None
) -> ApiClient:
    """Revoke a client: its key is refused from the next call on. Revoking twice is refused."""
    client = session.get(ApiClient, client_id, with_for_update=True)
    if client is None:
        raise MissingDataError(f"unknown API client {client_id!r}")
    if client.revoked_at is not None or not client.active:
        raise InvalidInputError(f"API client {client_id!r} is already revoked")
    client.active = False
    client.revoked_at = now or dt.datetime.now(dt.UTC)
    session.flush()
    return client


def parse_api_key(key: str) -> tuple[str, str] | None:
    """``(client_id, secret)`` of a well-formed key, else ``None``."""
    match = _KEY.match(key.strip())
    return (match.group(1), match.group(2)) if match else None


class VerifiedKeyCache:
    """Per-process memory of keys already checked with scrypt: client id -> (stored hash,
    HMAC-SHA256 of the secret under a random per-process key). Holds no secret in clear."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._pepper = secrets.token_bytes(32)
        self._entries: dict[str, tuple[str, bytes]] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def _mac(self, secret: str) -> bytes:
        return hmac.new(self._pepper, secret.encode(), hashlib.sha256).digest()

    def matches(self, client_id: str, stored_hash: str, secret: str) -> bool:
        with self._lock:
            entry = self._entries.get(client_id)
        if entry is None or entry[0] != stored_hash:
            return False
        return hmac.compare_digest(entry[1], self._mac(secret))

    def remember(self, client_id: str, stored_hash: str, secret: str) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[client_id] = (stored_hash, self._mac(secret))


_DUMMY_HASH = hash_secret("x" * 43, salt=b"\0" * 16)
# scrypt takes 16 MiB and tens of milliseconds per call: at most this many run at once per
# process, so a burst of unknown keys cannot exhaust memory (the rate limiter bounds the rest).
_SCRYPT_SLOTS = threading.BoundedSemaphore(4)


@dataclass(frozen=True, slots=True)
class AuthOutcome:
    """What checking a key found: the identity, or ``None`` and the reason (for the audit log
    only; the client is told the same thing whatever the reason)."""

    identity: ClientIdentity | None
    reason: str  # "ok", "unknown", "revoked", "expired", "wrong_secret", "rate_limited"


def _state(client: ApiClient | None, now: dt.datetime) -> str:
    if client is None:
        return "unknown"
    if not client.active or client.revoked_at is not None:
        return "revoked"
    if is_expired(client, now):
        return "expired"
    return "ok"


def is_expired(client: ApiClient, now: dt.datetime | None = None) -> bool:
    """Whether ``client`` has passed its expiry (SQLite returns naive datetimes, stored as UTC)."""
    expires = client.expires_at
    if expires is None:
        return False
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    return expires <= (now or dt.datetime.now(dt.UTC))


def key_state(client: ApiClient, now: dt.datetime | None = None) -> str:
    """``active``, ``revoked`` or ``expired`` (what ``apikey list`` and the admin list show)."""
    state = _state(client, now or dt.datetime.now(dt.UTC))
    return "active" if state == "ok" else state


def authenticate_client(
    *,
    session: Session,
    client_id: str,
    secret: str,
    cache: VerifiedKeyCache | None = None,
    now: dt.datetime | None = None,
    cache_only: bool = False,
) -> AuthOutcome:
    """Check ``secret`` for ``client_id``.

    Every refusal costs one scrypt evaluation (against the stored hash of a usable client, or a
    fixed dummy hash for an unknown, revoked or expired one), so the response time does not tell
    an unknown client id from a revoked one. Only a usable client whose secret is in the
    verified-key ``cache`` is answered without scrypt. With ``cache_only`` (the client id is
    being rate-limited) no scrypt runs: a cached valid key passes, anything else is refused as
    ``rate_limited``.
    """
    client = session.get(ApiClient, client_id)
    state = _state(client, now or dt.datetime.now(dt.UTC))
    if state == "ok":
        assert client is not None
        identity = ClientIdentity(client.client_id, client.institution_id, client.role)
        if cache is not None and cache.matches(client_id, client.secret_hash, secret):
            return AuthOutcome(identity, "ok")
    if cache_only:
        return AuthOutcome(None, "rate_limited")
    stored = client.secret_hash if state == "ok" and client is not None else _DUMMY_HASH
    with _SCRYPT_SLOTS:
        matches = verify_secret(secret, stored)
    if state != "ok":
        return AuthOutcome(None, state)
    assert client is not None
    if not matches:
        return AuthOutcome(None, "wrong_secret")
    if cache is not None:
        cache.remember(client_id, client.secret_hash, secret)
    return AuthOutcome(ClientIdentity(client.client_id, client.institution_id, client.role), "ok")


def verify_api_client(
    *,
    session: Session,
    client_id: str,
    secret: str,
    cache: VerifiedKeyCache | None = None,
    now: dt.datetime | None = None,
) -> ClientIdentity | None:
    """The client's identity if ``secret`` is right and the client active, unrevoked and
    unexpired; else ``None``."""
    return authenticate_client(
        session=session, client_id=client_id, secret=secret, cache=cache, now=now
    ).identity


def verify_api_key(
    *,
    session: Session,
    key: str,
    cache: VerifiedKeyCache | None = None,
    now: dt.datetime | None = None,
) -> ClientIdentity | None:
    """The identity behind a ``cfk.<client>.<secret>`` key, or ``None``."""
    parsed = parse_api_key(key)
    if parsed is None:
        return None
    return verify_api_client(
        session=session, client_id=parsed[0], secret=parsed[1], cache=cache, now=now
    )
