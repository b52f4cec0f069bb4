"""API client credentials: secrets are generated here, shown once, and stored only as a salted
scrypt hash (RFC 7914; n=2**14, r=8, p=1 as recommended for interactive logins by the Python
``hashlib`` documentation and OWASP's password-storage cheat sheet). Verification is constant-time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from carbonfin.errors import InvalidInputError, MissingDataError
from carbonfin.store.models import ApiClient, Institution

__all__ = [
    "ClientIdentity",
    "create_api_client",
    "hash_secret",
    "verify_api_client",
    "verify_secret",
]

_N, _R, _P = 2**14, 8, 1
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    """Who an authenticated API call comes from."""

    client_id: str
    institution_id: str
    role: str

    @property
    def read_only(self) -> bool:
        return self.role == "central_bank"


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


def create_api_client(
    *, session: Session, client_id: str, institution_id: str, role: str | None = None
) -> str:
    """Register an API client for an institution and return its secret (shown once, never stored).

    The role follows the institution: a bank's client has role ``bank``; the central bank's
    client is ``central_bank`` (read-only).
    """
    if not _ID.match(client_id):
        raise InvalidInputError(
            f"client id {client_id!r} must be 3-64 characters of a-z, 0-9 and '-'"
        )
    institution = session.get(Institution, institution_id)
    if institution is None:
        raise MissingDataError(f"unknown institution {institution_id!r}")
    expected_role = "central_bank" if institution.kind == "central_bank" else "bank"
    if role is not None and role != expected_role:
        raise InvalidInputError(
            f"institution {institution_id} is a {institution.kind}; its clients have role "
            f"{expected_role!r}, not {role!r}"
        )
    if session.get(ApiClient, client_id) is not None:
        raise InvalidInputError(f"API client {client_id!r} already exists")
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiClient(
            client_id=client_id,
            institution_id=institution_id,
            role=expected_role,
            secret_hash=hash_secret(secret),
            created_at=dt.datetime.now(dt.UTC),
            active=True,
        )
    )
    session.flush()
    return secret


def verify_api_client(*, session: Session, client_id: str, secret: str) -> ClientIdentity | None:
    """The client's identity if ``secret`` is right and the client active; else ``None``."""
    client = session.get(ApiClient, client_id)
    if client is None or not client.active:
        # Spend the same time as a real check, so response time does not reveal which ids exist.
        verify_secret(secret, hash_secret("x" * 43, salt=b"\0" * 16))
        return None
    if not verify_secret(secret, client.secret_hash):
        return None
    return ClientIdentity(client.client_id, client.institution_id, client.role)
