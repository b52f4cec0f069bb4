"""API client credentials: secrets are generated here, shown once, and stored only as a salted
scrypt hash (RFC 7914; n=2**14, r=8, p=1 as recommended for interactive logins by the Python
``hashlib`` documentation and OWASP's password-storage cheat sheet). Verification is constant-time.

An API key as the client sends it (``Authorization: Bearer <key>``) is
``cfk.<client_id>.<secret>``: the client id finds the stored hash, the secret is checked against
it. Keys belong to an institution and carry the role its kind implies: ``bank`` for a bank (its
own lending data), ``regulator`` for the central-bank branch (reads everything, writes nothing),
``admin`` for the platform operator ``OPERATOR`` (manages clients, reads the audit log, reads no
bank's lending data). Every key expires (365 days unless told otherwise) and can be revoked;
the last active admin cannot be.

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

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbonfin.errors import ConflictError, InvalidInputError, MissingDataError
from carbonfin.store.models import ApiClient, Institution

__all__ = [
    "DEFAULT_KEY_LIFETIME_DAYS",
    "OPERATOR_ID",
    "ROLES",
    "AuthOutcome",
    "ClientIdentity",
    "LastAdminError",
    "VerifiedKeyCache",
    "authenticate_client",
    "create_api_client",
    "create_api_key",
    "ensure_operator",
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
    """The role of a new client of ``institution``: ``regulator`` for the central bank,
    ``admin`` for the platform operator, ``bank`` for a bank (roles: see the module notes)."""
    if role is not None and role not in ROLES:
        raise InvalidInputError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    name = institution.institution_id
    expected = {"central_bank": "regulator", "operator": "admin"}.get(institution.kind, "bank")
    if role not in (None, expected):
        raise InvalidInputError(
            f"institution {name} is {_KIND_NAMES.get(institution.kind, institution.kind)}; its "
            f"clients have role {expected!r}, not {role!r}"
            + (f" ({role!r} keys belong to {_HOME[role]})" if role in _HOME else "")
        )
    return expected


_KIND_NAMES = {
    "bank": "a bank",
    "central_bank": "the central bank",
    "operator": "the platform operator",
}
_HOME = {"admin": "the platform operator OPERATOR", "regulator": "the central bank PBOC-SH"}
#: The platform operator: the institution of every ``admin`` key (not a bank).
OPERATOR_ID = "OPERATOR"


def ensure_operator(session: Session) -> Institution:
    """The platform operator's institution row, created on first use (migration 0007 creates it
    where admin keys already existed)."""
    operator = session.get(Institution, OPERATOR_ID)
    if operator is None:
        operator = Institution(
            institution_id=OPERATOR_ID,
            name="carbonfin platform operator",
            name_zh="平台运营方",
            kind="operator",
            uscc=None,
            swift_bic=None,
        )
        session.add(operator)
        session.flush()
    return operator


#: Keys created without an expiry expire after this many days (docs/api.md, "Authentication").
DEFAULT_KEY_LIFETIME_DAYS = 365


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

    The role follows the institution: a bank's client has role ``bank``, the central bank's
    ``regulator`` (read-only), the platform operator's ``admin`` (manages clients, reads the
    audit log, reads no bank's lending data); asking for another role is refused. Without
    ``expires_at`` the key expires after :data:`DEFAULT_KEY_LIFETIME_DAYS` days.
    """
    if not _ID.match(client_id):
        raise InvalidInputError(
            f"client id {client_id!r} must be 3-64 characters of a-z, 0-9 and '-'"
        )
    institution = (
        ensure_operator(session)
        if institution_id == OPERATOR_ID
        else session.get(Institution, institution_id)
    )
    if institution is None:
        raise MissingDataError(f"unknown institution {institution_id!r}")
    resolved = _role_for(institution, role)
    now = now or dt.datetime.now(dt.UTC)
    if expires_at is None:
        expires_at = now + dt.timedelta(days=DEFAULT_KEY_LIFETIME_DAYS)
    else:
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
    """Revoke a client: its key is refused from the next call on. Revoking twice is refused, and
    so is revoking the last active (unrevoked, unexpired) admin, which would leave no one able
    to manage keys (:class:`LastAdminError`)."""
    now = now or dt.datetime.now(dt.UTC)
    client = session.get(ApiClient, client_id, with_for_update=True)
    if client is None:
        raise MissingDataError(f"unknown API client {client_id!r}")
    if client.revoked_at is not None or not client.active:
        raise InvalidInputError(f"API client {client_id!r} is already revoked")
    if client.role == "admin":
        # Lock every admin row, so two concurrent revocations cannot each see the other as the
        # remaining admin (PostgreSQL; SQLite writers are serialised anyway).
        admins = session.scalars(
            select(ApiClient).where(ApiClient.role == "admin").with_for_update()
        ).all()
        others = [a for a in admins if a.client_id != client_id and key_state(a, now) == "active"]
        if not others:
            raise LastAdminError(
                f"API client {client_id!r} is the last active admin; create another admin key "
                "(institution OPERATOR) before revoking it"
            )
    client.active = False
    client.revoked_at = now
    session.flush()
    return client


class LastAdminError(ConflictError):
    """Revoking this client would leave no active admin."""


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
