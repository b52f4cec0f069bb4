"""Roles and key lifetimes (issue 18, point 9): admins belong to the platform operator, not to
a bank; they manage keys and read the audit log but read no bank's lending data; the last admin
cannot be revoked; every key expires and an expired key is listed as expired (API and CLI)."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update
from typer.testing import CliRunner

from carbonfin.cli import app as cli_app
from carbonfin.errors import InvalidInputError
from carbonfin.store import credentials
from carbonfin.store.database import session_scope, upgrade
from carbonfin.store.models import ApiClient, AuditEntry, Institution
from tests.api.conftest import Api


def test_admin_reads_no_lending_data(api: Api) -> None:
    for path in ("/v1/loans", "/v1/pledges", "/v1/margin-calls", "/v1/firms"):
        resp = api.client.get(path, headers=api.as_("admin"))
        assert resp.status_code == 403, (path, resp.text)
    assert (
        api.client.get("/v1/regulator/ltv?as_of=2026-10-30", headers=api.as_("admin")).status_code
        == 403
    )
    assert api.client.get("/v1/audit", headers=api.as_("admin")).status_code == 200
    assert api.client.get("/v1/admin/clients", headers=api.as_("admin")).status_code == 200


def test_admin_keys_belong_to_the_operator_not_a_bank(api: Api) -> None:
    with session_scope(api.engine) as session:
        admin = session.get(ApiClient, "test-admin")
        assert admin is not None
        assert admin.institution_id == "OPERATOR"
        operator = session.get(Institution, "OPERATOR")
        assert operator is not None
        assert operator.kind == "operator"
        with pytest.raises(InvalidInputError, match="admin"):
            credentials.create_api_key(session=session, institution_id="BANK-01", role="admin")
    resp = api.client.post(
        "/v1/admin/clients",
        json={"institution_id": "BANK-02", "role": "admin"},
        headers=api.as_("admin"),
    )
    assert resp.status_code == 422
    # admins mint keys for any institution, with the role the institution implies
    made = api.client.post(
        "/v1/admin/clients", json={"institution_id": "PBOC-SH"}, headers=api.as_("admin")
    )
    assert made.status_code == 201
    assert made.json()["role"] == "regulator"


def test_the_last_active_admin_cannot_be_revoked(api: Api) -> None:
    made = api.client.post(
        "/v1/admin/clients",
        json={"institution_id": "OPERATOR", "label": "second admin"},
        headers=api.as_("admin"),
    )
    assert made.status_code == 201, made.text
    second = made.json()
    assert second["role"] == "admin"
    second_key = {"Authorization": f"Bearer {second['api_key']}"}
    # the second admin revokes the first; then it is the last one and cannot revoke itself
    with session_scope(api.engine) as session:
        others = [
            c
            for c in session.scalars(select(ApiClient).where(ApiClient.role == "admin"))
            if credentials.key_state(c) == "active" and c.client_id != second["client_id"]
        ]
    for other in others:
        resp = api.client.delete(f"/v1/admin/clients/{other.client_id}", headers=second_key)
        assert resp.status_code == 200, resp.text
    last = api.client.delete(f"/v1/admin/clients/{second['client_id']}", headers=second_key)
    assert last.status_code == 409
    assert "last active admin" in last.json()["detail"]
    assert api.client.get("/v1/admin/clients", headers=second_key).status_code == 200
    # restore the suite's admin for the other tests
    with session_scope(api.engine) as session:
        session.execute(
            update(ApiClient)
            .where(ApiClient.client_id == "test-admin")
            .values(active=True, revoked_at=None)
        )
    # the revocations were audited in their own transactions, once each
    with session_scope(api.engine) as session:
        rows = session.scalars(
            select(AuditEntry).where(
                AuditEntry.actor == second["client_id"], AuditEntry.action == "api_client.revoke"
            )
        ).all()
    assert len(rows) == len(others)


def test_keys_without_an_expiry_expire_after_365_days(api: Api) -> None:
    resp = api.client.post(
        "/v1/admin/clients",
        json={"institution_id": "BANK-03", "expires_in_days": None},
        headers=api.as_("admin"),
    )
    assert resp.status_code == 201, resp.text
    expires = dt.datetime.fromisoformat(resp.json()["expires_at"].replace("Z", "+00:00"))
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    days = (expires - dt.datetime.now(dt.UTC)).total_seconds() / 86400
    assert 364.9 < days <= 365
    with session_scope(api.engine) as session:
        cid, _ = credentials.create_api_key(session=session, institution_id="BANK-03")
        row = session.get(ApiClient, cid)
        assert row is not None
        assert row.expires_at is not None


def test_an_expired_key_is_refused_and_listed_as_expired(api: Api) -> None:
    with session_scope(api.engine) as session:
        cid, key = credentials.create_api_key(
            session=session,
            institution_id="BANK-02",
            client_id=f"soon-{uuid.uuid4().hex[:8]}",
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
        )
    time.sleep(1.2)
    resp = api.client.get("/v1/loans", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 401
    listed = {
        c["client_id"]: c
        for c in api.client.get("/v1/admin/clients", headers=api.as_("admin")).json()
    }
    assert listed[cid]["state"] == "expired"
    assert listed["test-bank1"]["state"] == "active"


def test_apikey_list_shows_expired_keys_as_expired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    monkeypatch.setenv("CARBONFIN_DATABASE_URL", url)
    from carbonfin.store.database import make_engine

    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        session.add(
            Institution(institution_id="BANK-09", name="b", name_zh="b", kind="bank", uscc="X" * 18)
        )
        session.flush()
        credentials.create_api_key(
            session=session,
            institution_id="BANK-09",
            client_id="old-key",
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1),
        )
        credentials.create_api_key(session=session, institution_id="BANK-09", client_id="new-key")
    engine.dispose()
    time.sleep(1.2)
    result = CliRunner().invoke(cli_app, ["apikey", "list", "--json"])
    assert result.exit_code == 0, result.output
    states = {k["client_id"]: k["state"] for k in json.loads(result.output)["keys"]}
    assert states == {"old-key": "expired", "new-key": "active"}


def _upgrade_to(engine: Engine, revision: str) -> None:
    from alembic import command

    from carbonfin.store.database import _alembic_config

    command.upgrade(_alembic_config(engine), revision)


def test_migration_0007_moves_a_banks_admin_keys_to_the_operator(engine: Engine) -> None:
    _upgrade_to(engine, "0006")
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO institutions (institution_id, name, name_zh, kind, uscc) "
                "VALUES ('BANK-01', 'b', 'b', 'bank', '913100004RTH0A6393')"
            )
        )
        for cid, role in (("old-admin", "admin"), ("old-bank", "bank")):
            c.execute(
                text(
                    "INSERT INTO api_clients (client_id, institution_id, role, secret_hash, "
                    "created_at, active) VALUES (:cid, 'BANK-01', :role, 'x', :now, :t)"
                ),
                {"cid": cid, "role": role, "now": dt.datetime.now(dt.UTC), "t": True},
            )
    upgrade(engine)
    with session_scope(engine) as session:
        moved = session.get(ApiClient, "old-admin")
        kept = session.get(ApiClient, "old-bank")
        assert moved is not None
        assert kept is not None
        assert moved.institution_id == "OPERATOR"
        assert kept.institution_id == "BANK-01"
        operator = session.get(Institution, "OPERATOR")
        assert operator is not None
        assert operator.uscc is None
