"""Storage on SQLite and PostgreSQL: migrations, seeding, repositories, scores, credentials."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, select, text

from carbonfin.data import load_table
from carbonfin.data.schema import TABLES
from carbonfin.errors import (
    ConfigurationError,
    DataIntegrityError,
    InvalidInputError,
    MissingDataError,
)
from carbonfin.instruments import Instrument
from carbonfin.store import credentials, repositories
from carbonfin.store.database import (
    current_revision,
    head_revision,
    make_engine,
    parse_url,
    require_current,
    session_scope,
    upgrade,
)
from carbonfin.store.models import SAMPLE_MODELS, AuditEntry, Base, Price
from tests.store import tiny


@pytest.fixture
def migrated(engine: Engine) -> Engine:
    assert upgrade(engine) == head_revision()
    return engine


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    return tiny.write(tmp_path / "tiny")


@pytest.fixture
def seeded(migrated: Engine, tiny_dir: Path) -> Engine:
    with session_scope(migrated) as session:
        repositories.seed(session=session, directory=tiny_dir)
    return migrated


def _count(engine: Engine, name: str) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(SAMPLE_MODELS[name])) or 0)


# --- migrations and configuration ---------------------------------------------------------------


def test_migrations_build_exactly_the_models(migrated: Engine) -> None:
    with migrated.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_upgrade_twice_is_a_no_op(migrated: Engine) -> None:
    assert upgrade(migrated) == head_revision()
    require_current(migrated)


def test_unmigrated_database_is_refused_with_the_command_to_run(engine: Engine) -> None:
    with pytest.raises(ConfigurationError, match="carbonfin db upgrade"):
        require_current(engine)


def test_database_at_an_unknown_migration_is_refused(migrated: Engine) -> None:
    with migrated.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigurationError, match="does not ship"):
        require_current(migrated)
    with pytest.raises(ConfigurationError, match="cannot migrate"):
        upgrade(migrated)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "not supported"),
        ("postgresql+psycopg://u@h:5432", "names no database"),
    ],
)
def test_malformed_database_urls_get_clear_errors(url: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        parse_url(url)


def test_password_never_appears_in_errors() -> None:
    with pytest.raises(ConfigurationError) as info:
        current_revision(make_engine("postgresql+psycopg://u:hunter2@127.0.0.1:1/x"))
    assert "hunter2" not in str(info.value)


# --- seeding and reading ------------------------------------------------------------------------


def test_seed_loads_every_row_and_is_idempotent(migrated: Engine, tiny_dir: Path) -> None:
    with session_scope(migrated) as session:
        first = repositories.seed(session=session, directory=tiny_dir)
    assert first.inserted == {name: len(rows) for name, rows in tiny.ROWS.items()}
    with session_scope(migrated) as session:
        second = repositories.seed(session=session, directory=tiny_dir)
    assert second.total_inserted == 0
    assert second.skipped == first.inserted
    for name, rows in tiny.ROWS.items():
        assert _count(migrated, name) == len(rows)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_repository_frames_equal_the_sample_loader(
    seeded: Engine, tiny_dir: Path, name: str
) -> None:
    expected = load_table(name, tiny_dir)
    expected = expected.sort_values(list(TABLES[name].key)).reset_index(drop=True)
    with session_scope(seeded) as session:
        actual = repositories.read_table(session=session, name=name)
    pd.testing.assert_frame_equal(actual, expected)


def test_money_and_prices_are_stored_exactly(seeded: Engine) -> None:
    with seeded.connect() as connection:
        high = connection.scalar(
            select(Price.high_cny_per_t).where(
                Price.instrument == "SHEA", Price.date == dt.date(2024, 1, 4)
            )
        )
        principal = connection.scalar(
            text("SELECT outstanding FROM loans WHERE loan_id = 'LN-0000001'")
        )
    assert high == Decimal("72.345678")
    assert Decimal(principal) == Decimal("42000000")


def test_a_failed_seed_writes_nothing(migrated: Engine, tiny_dir: Path) -> None:
    # A pledge for a loan that does not exist: the foreign key fails after other tables were
    # inserted in the same transaction, which must roll back entirely.
    frames = tiny.frames()
    frames["pledges"].loc[0, "loan_id"] = "LN-9999999"
    broken = tiny_dir.parent / "broken"
    shutil.rmtree(broken, ignore_errors=True)
    broken.mkdir()
    from carbonfin.data.schema import write_table

    for name, frame in frames.items():
        write_table(name, frame, broken)
    with (
        pytest.raises(DataIntegrityError, match="nothing was written"),
        session_scope(migrated) as s,
    ):
        repositories.seed(session=s, directory=broken)
    assert all(_count(migrated, name) == 0 for name in SAMPLE_MODELS)


def test_a_corrupt_sample_file_is_refused_before_writing(migrated: Engine, tiny_dir: Path) -> None:
    path = tiny_dir / "loans.csv"
    path.write_bytes(path.read_bytes().replace(b"42000000", b"43000000"))
    with (
        pytest.raises(DataIntegrityError, match=r"loans\.csv is corrupt"),
        session_scope(migrated) as session,
    ):
        repositories.seed(session=session, directory=tiny_dir)
    assert _count(migrated, "institutions") == 0


def test_prices_by_instrument_and_range(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        shea = repositories.prices(
            session=session, instrument=Instrument.SHEA, start=dt.date(2024, 1, 3)
        )
        with pytest.raises(MissingDataError, match="no CCER prices"):
            repositories.prices(session=session, instrument=Instrument.CCER)
        with pytest.raises(InvalidInputError, match="after end"):
            repositories.prices(
                session=session,
                instrument=Instrument.SHEA,
                start=dt.date(2024, 2, 1),
                end=dt.date(2024, 1, 1),
            )
    assert list(shea["date"]) == [dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    assert pd.isna(shea.loc[0, "close_cny_per_t"])  # a no-trade day stays a gap
    assert shea.loc[0, "volume_t"] == 0


def test_a_bank_sees_only_its_own_loans_and_pledges(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        book = repositories.loans(session=session, bank_id="BANK-01")
        pledged = repositories.pledges(session=session, bank_id="BANK-01")
        assert len(repositories.loans(session=session)) == 2
        with pytest.raises(MissingDataError, match="BANK-99"):
            repositories.loans(session=session, bank_id="BANK-99")
    assert set(book["bank_id"]) == {"BANK-01"}
    assert list(pledged["loan_id"]) == ["LN-0000001"]


def test_summary_counts(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        summary = repositories.data_summary(session=session)
        insts = repositories.institutions(session=session)
    assert summary["banks"] == 2
    assert summary["counts"]["loans"] == 2
    first, last, days, traded = summary["price_ranges"]["SHEA"]
    assert (first, last, days, traded) == (dt.date(2024, 1, 2), dt.date(2024, 1, 4), 3, 2)
    assert [i.institution_id for i in insts if i.read_only] == ["PBOC-SH"]


# --- scores, audit, credentials ---------------------------------------------------------------

RECORD = {
    "uscc": tiny.FIRM_A,
    "year": 2025,
    "methodology_version": "v1",
    "score": "73.4125",
    "colour_grade": "light_green",
    "efficiency_grade": 2,
    "confidence": "0.85",
    "loan_adjustment_bp": "-23.4125",
    "input_hash": "ab" * 32,
    "detail": {"factors": {"efficiency": 30.5, "quality": 12}, "reasons": ["低碳效"]},
}


def test_scores_round_trip_exactly_and_are_not_duplicated(seeded: Engine) -> None:
    at = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
    with session_scope(seeded) as session:
        assert (
            repositories.save_score_records(session=session, records=[RECORD], computed_at=at) == 1
        )
        assert (
            repositories.save_score_records(session=session, records=[RECORD], computed_at=at) == 0
        )
    with session_scope(seeded) as session:
        [stored] = repositories.load_score_records(session=session, uscc=tiny.FIRM_A, year=2025)
    assert {k: stored[k] for k in RECORD} == RECORD
    assert stored["computed_at"].replace(tzinfo=dt.UTC) == at.replace(tzinfo=dt.UTC)


def test_score_records_are_validated(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        with pytest.raises(InvalidInputError, match="timezone"):
            repositories.save_score_records(
                session=session, records=[RECORD], computed_at=dt.datetime(2026, 1, 1)
            )
        with pytest.raises(InvalidInputError, match="lacks"):
            repositories.save_score_records(
                session=session,
                records=[{"uscc": tiny.FIRM_A}],
                computed_at=dt.datetime.now(dt.UTC),
            )


def test_api_secrets_are_hashed_and_verified(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        secret = credentials.create_api_client(
            session=session, client_id="bank-01-risk", institution_id="BANK-01"
        )
        pboc_secret = credentials.create_api_client(
            session=session, client_id="pboc-monitor", institution_id="PBOC-SH"
        )
        with pytest.raises(InvalidInputError, match="already exists"):
            credentials.create_api_client(
                session=session, client_id="bank-01-risk", institution_id="BANK-01"
            )
        with pytest.raises(InvalidInputError, match="role"):
            credentials.create_api_client(
                session=session, client_id="x-bank", institution_id="BANK-02", role="regulator"
            )
    with seeded.connect() as connection:
        stored = connection.scalar(
            text("SELECT secret_hash FROM api_clients WHERE client_id = 'bank-01-risk'")
        )
    assert secret not in stored
    assert stored.startswith("scrypt$")
    with session_scope(seeded) as session:
        me = credentials.verify_api_client(session=session, client_id="bank-01-risk", secret=secret)
        pboc = credentials.verify_api_client(
            session=session, client_id="pboc-monitor", secret=pboc_secret
        )
        assert (
            credentials.verify_api_client(
                session=session, client_id="bank-01-risk", secret=secret + "x"
            )
            is None
        )
        assert (
            credentials.verify_api_client(session=session, client_id="nobody", secret=secret)
            is None
        )
    assert me == credentials.ClientIdentity("bank-01-risk", "BANK-01", "bank")
    assert pboc is not None
    assert pboc.read_only


def test_scrypt_matches_the_rfc_7914_test_vector() -> None:
    # RFC 7914 §12: scrypt(P="password", S="NaCl", N=1024, r=8, p=16, dkLen=64) begins fdbabe1c.
    import hashlib

    digest = hashlib.scrypt(b"password", salt=b"NaCl", n=1024, r=8, p=16, dklen=64)
    assert digest.hex().startswith("fdbabe1c9d3472007856e7190d01e9fe")
    assert credentials.verify_secret("s3cret", credentials.hash_secret("s3cret"))
    assert not credentials.verify_secret("s3cret", "garbage")


def test_audit_log_refuses_secrets(seeded: Engine) -> None:
    with session_scope(seeded) as session:
        repositories.record_audit(
            session=session, actor="BANK-01", action="read", entity="loans", detail={"n": 2}
        )
        with pytest.raises(InvalidInputError, match="secret"):
            repositories.record_audit(
                session=session, actor="x", action="y", entity="z", detail={"api_secret": "s"}
            )
    with seeded.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(AuditEntry)) == 1


_PRICE = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("999999999.999999"), places=6)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(price=_PRICE, volume=st.integers(min_value=0, max_value=2**53), day=st.dates())
def test_price_rows_round_trip_exactly(
    migrated: Engine, price: Decimal, volume: int, day: dt.date
) -> None:
    with session_scope(migrated) as session:
        session.execute(delete(Price))
        session.add(
            Price(
                instrument="SHEA",
                date=day,
                close_cny_per_t=price,
                volume_t=volume,
                amount_cny=Decimal("0"),
            )
        )
    with session_scope(migrated) as session:
        stored = session.scalars(select(Price)).one()
        frame = repositories.prices(session=session, instrument=Instrument.SHEA)
    assert stored.close_cny_per_t == price
    assert stored.volume_t == volume
    assert stored.date == day
    assert frame.loc[0, "close_cny_per_t"] == float(price)


def test_0003_upgrades_api_clients_in_place(engine: Engine, tiny_dir: Path) -> None:
    # A database at 0002 with a central-bank client under the old role name.
    assert upgrade(engine, "0002") == "0002"
    with session_scope(engine) as session:
        repositories.seed(session=session, directory=tiny_dir)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_clients (client_id, institution_id, role, secret_hash, "
                "created_at, active) VALUES ('pboc-old', 'PBOC-SH', 'central_bank', "
                "'scrypt$x', '2026-01-01 00:00:00+00:00', true)"
            )
        )
    assert upgrade(engine) == head_revision()
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT role, expires_at, revoked_at FROM api_clients WHERE client_id = 'pboc-old'"
            )
        ).one()
    assert tuple(row) == ("regulator", None, None)
