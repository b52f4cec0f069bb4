"""Who performs a workflow, and the audit entry a write leaves in its own transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from carbonfin.store.repositories import record_audit
from carbonfin.store.transactions import bump_data_version

__all__ = ["CHINA_TZ", "Actor", "china_today", "record_write"]

#: China Standard Time (UTC+8, no daylight saving): the business date of the Chinese carbon
#: and loan markets, and so of a repayment's "today".
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")


def china_today() -> dt.date:
    """Today's date in China (UTC+8): the edges pass it to the workflows as ``today``."""
    return dt.datetime.now(CHINA_TZ).date()


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated caller of a workflow (an API client, or ``cli:<user>`` for the command
    line). ``institution_id`` is the bank whose data it may touch; ``role`` is ``bank``,
    ``regulator`` or ``admin``; ``via`` says which edge called (``api`` or ``cli``)."""

    client_id: str
    institution_id: str
    role: str
    via: str = "api"


def record_write(
    session: Session,
    actor: Actor,
    *,
    action: str,
    entity: str,
    entity_id: str | None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append the audit entry of a write and bump the lending data version, both in the
    write's own transaction (the caller's ``session``); return the new data version.

    ``detail`` must not carry secrets (the store refuses keys that look like one)."""
    record_audit(
        session=session,
        actor=actor.client_id,
        action=action,
        entity=entity,
        entity_id=entity_id,
        detail={
            "role": actor.role,
            "institution": actor.institution_id,
            "via": actor.via,
            **(dict(detail) if detail else {}),
        },
        at=dt.datetime.now(dt.UTC),
    )
    return bump_data_version(session)
