"""Provenance names the database by its kind and name only, on SQLite and PostgreSQL.

Every answer's ``provenance.source`` reaches every bank and the supervisor (and is stored with
valuation runs that are served later). The fresh-clone attack found it carried the full URL
(``postgresql+psycopg://postgres@127.0.0.1:5432/test``, or the SQLite file's folder): the
server's host, port and database account told to any client. These tests fail before.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.engine import make_url

from carbonfin.store.database import public_name
from tests.api.conftest import Api

AS_OF = dt.date(2026, 10, 30)


def _sources(api: Api) -> list[str]:
    answers = [
        api.client.get("/v1/prices/SHEA", headers=api.as_("bank1")),
        api.client.get(
            "/v1/exposure/summary", params={"as_of": AS_OF.isoformat()}, headers=api.as_("bank1")
        ),
        api.client.get(
            "/v1/regulator/exposure-history",
            params={"start": AS_OF.isoformat(), "end": AS_OF.isoformat()},
            headers=api.as_("regulator"),
        ),
    ]
    for resp in answers:
        assert resp.status_code == 200, resp.text
    return [resp.json()["provenance"]["source"] for resp in answers]


def test_answers_name_the_database_without_host_port_user_or_folder(api: Api) -> None:
    url = api.engine.url
    private = [f"{url.username}@" if url.username else "", url.host or "", f":{url.port}"]
    private = [p for p in private if p and p != ":None"]
    if url.get_backend_name() == "sqlite":
        private.append(str(Path(url.database or "").parent))
    for source in _sources(api):
        assert public_name(url) in source, source
        for part in private:
            assert part not in source, (part, source)


def test_public_name_keeps_the_kind_and_the_name_only() -> None:
    pg = make_url("postgresql+psycopg://risk:s3cret@db.internal:6432/carbonfin")
    assert public_name(pg) == "postgresql://…/carbonfin"
    assert public_name(make_url("sqlite:////srv/carbonfin/data/carbonfin.db")) == (
        "sqlite://…/carbonfin.db"
    )
    assert public_name(make_url("sqlite://")) == "sqlite://…/in-memory"
