"""Bounded write transactions: committed at exit, rolled back on error, a held lock answers
BusyError within the timeout instead of waiting for ever (issue 18 points 1, 2 and 5)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from carbonfin.store.database import make_engine, upgrade
from carbonfin.store.models import DataVersion
from carbonfin.store.transactions import (
    BusyError,
    bump_data_version,
    read_data_version,
    read_transaction,
    write_transaction,
)


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker:  # type: ignore[type-arg]
    engine = make_engine(f"sqlite:///{tmp_path / 't.db'}")
    upgrade(engine)
    return sessionmaker(engine, expire_on_commit=False)


def test_write_is_committed_when_the_block_exits(sessions: sessionmaker) -> None:  # type: ignore[type-arg]
    with write_transaction(sessions) as s:
        assert bump_data_version(s) == 1
    # a fresh session (another connection) sees it at once
    with read_transaction(sessions) as s:
        assert read_data_version(s) == 1


def test_write_is_rolled_back_on_error(sessions: sessionmaker) -> None:  # type: ignore[type-arg]
    def fail() -> None:
        with write_transaction(sessions) as s:
            bump_data_version(s)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    with read_transaction(sessions) as s:
        assert s.scalar(select(DataVersion.version)) == 0


@pytest.mark.serial  # a time limit: under pytest-xdist it runs alone
def test_a_held_write_lock_gives_busy_error_within_the_timeout(sessions: sessionmaker) -> None:  # type: ignore[type-arg]
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with write_transaction(sessions) as s:
            bump_data_version(s)
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    started = time.perf_counter()
    with (
        pytest.raises(BusyError, match="retry later") as info,
        write_transaction(sessions, timeout_s=0.3),
    ):
        pass
    assert time.perf_counter() - started < 2
    assert info.value.retry_after_s >= 1
    release.set()
    t.join()
    with read_transaction(sessions) as s:
        assert read_data_version(s) == 1
