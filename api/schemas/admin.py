"""API clients and the audit log."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.schemas import patterns
from api.schemas.common import StrictModel, UtcDateTime


class ClientCreate(StrictModel):
    institution_id: str = Field(pattern=patterns.INSTITUTION_ID, examples=["BANK-01"])
    role: Literal["bank", "regulator", "admin"] | None = Field(
        default=None,
        description="follows the institution: `bank` for a bank, `regulator` for the central "
        "bank, `admin` for the platform operator (OPERATOR); another role is a 422",
    )
    expires_in_days: int | None = Field(
        default=365,
        ge=1,
        le=3650,
        description="days until the key expires; `null` means the default, 365 days "
        "(every key expires)",
    )
    label: str | None = Field(default=None, max_length=200)


class ClientPublic(BaseModel):
    client_id: str
    institution_id: str
    role: str
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    label: str | None
    state: Literal["active", "revoked", "expired"] = Field(
        description="`expired` once `expires_at` has passed; `revoked` after a revocation"
    )


class ClientCreated(ClientPublic):
    api_key: str = Field(description="shown once; only its hash is stored")


class AuditPublic(BaseModel):
    entry_id: int
    at: UtcDateTime
    actor: str
    action: str
    entity: str
    entity_id: str | None
    detail: dict[str, Any] | None
