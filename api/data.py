"""Market and account data for the routes, read from the store and cached per app.

Prices, fixings, the scoring panel and everything derived from them (score cards, risk
profiles) are cached under the database's ``market`` data version
(:func:`carbonfin.store.transactions.read_data_version`), which every writer of market data
bumps in its own transaction (``carbonfin db seed``). Each use reads that version (one indexed
row) and a cached value built under another version is rebuilt, so a seed by the CLI or another
worker is seen by the next request of every worker: no time-to-live, no stale answer. Lending
data (loans, pledges) is not cached here: it is read in the request's own transaction.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from carbonfin.store import repositories
from carbonfin.store.transactions import read_data_version

__all__ = ["MarketData"]

T = TypeVar("T")


class MarketData:
    """Cached read-only frames of one database, keyed by its market data version."""

    def __init__(self, sessions: sessionmaker[Session], source: str, max_entries: int = 4096):
        self.sessions = sessions
        self.source = source
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, Any]] = {}
        self._version_seen = -1
        self.max_entries = max_entries

    def version(self) -> int:
        """The database's market data version now (entries of other versions are dropped)."""
        with self.sessions() as session:
            version = read_data_version(session, "market")
        self._observe(version)
        return version

    def _observe(self, version: int) -> None:
        with self._lock:
            if version != self._version_seen:
                self._cache.clear()
                self._version_seen = version

    def cached_at(self, version: int, key: str) -> Any | None:
        """The entry ``key`` if it was built under ``version`` (a market version the caller has
        just read from the database, as :meth:`version` reads it), else ``None``; nothing is
        built and nothing is read here."""
        self._observe(version)
        with self._lock:
            hit = self._cache.get(key)
        return hit[1] if hit is not None and hit[0] == version else None

    def _cached(self, key: str, build: Callable[[], T]) -> T:
        version = self.version()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] == version:
                return hit[1]  # type: ignore[no-any-return]
        value = build()
        with self._lock:
            if len(self._cache) >= self.max_entries:  # bounded: forget everything, rebuild
                self._cache.clear()
            self._cache[key] = (version, value)
        return value

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """A small derived result (a score card), cached like the frames it comes from, under
        the same data version."""
        return self._cached(key, build)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def _read(self, fn: Callable[[Session], T]) -> T:
        with self.sessions() as session:
            return fn(session)

    def prices(self, instrument: str) -> pd.DataFrame:
        from carbonfin.instruments import Instrument

        inst = Instrument.parse(instrument)
        return self._cached(
            f"prices:{inst.value}",
            lambda: self._read(lambda s: repositories.prices(session=s, instrument=inst)),
        )

    def fixings(self) -> pd.DataFrame:
        return self._cached("fx", lambda: self._read(lambda s: repositories.fx_fixings(session=s)))

    def account_frames(self) -> dict[str, pd.DataFrame]:
        return self._cached(
            "account", lambda: self._read(lambda s: repositories.account_frames(session=s))
        )

    def covered_usccs(self) -> frozenset[str]:
        """Firms with compliance records: covered emitters (wrong-way risk when they pledge)."""
        return self._cached(
            "covered",
            lambda: frozenset(self.account_frames()["compliance"]["uscc"].astype(str)),
        )

    def panel(self) -> pd.DataFrame:
        from carbonfin.scoring import build_panel

        return self._cached("panel", lambda: build_panel(self.account_frames()))

    def benchmarks(self, version: str) -> pd.DataFrame:
        """Industry benchmarks of the whole panel under a methodology (as batch scoring uses)."""
        from carbonfin.scoring.methodology import load_methodology
        from carbonfin.scoring.score import industry_benchmarks

        return self._cached(
            f"benchmarks:{version}",
            lambda: industry_benchmarks(self.panel(), load_methodology(version)),
        )

    def history(self, instrument: str) -> Any:
        """The validated :class:`~carbonfin.pricing.PriceHistory` of an instrument."""
        from carbonfin.instruments import Instrument
        from carbonfin.pricing import PriceHistory

        inst = Instrument.parse(instrument)
        return self._cached(
            f"history:{inst.value}", lambda: PriceHistory.from_frame(self.prices(inst.value), inst)
        )

    def risk_profile(self, instrument: str, as_of: Any, **kwargs: Any) -> Any:
        """The pledge-independent market-risk profile of an instrument on a date (one fit per
        instrument, date and model settings; pledges then differ only by quantity)."""
        from carbonfin.collateral import market_risk_profile

        key = f"profile:{instrument}:{as_of}:{sorted(kwargs.items())}"
        return self._cached(
            key,
            lambda: market_risk_profile(
                self.history(instrument), as_of=as_of, data_source=self.source, **kwargs
            ),
        )

    def scored(self, version: str, as_of: dt.date) -> pd.DataFrame:
        """The whole population scored on ``as_of`` once (one vectorised ``score_panel``
        call); a score card is then a row lookup. Indexed by (uscc, year)."""
        from carbonfin.scoring.score import score_panel

        def build() -> pd.DataFrame:
            frame = score_panel(self.panel(), version, self.benchmarks(version), as_of=as_of)
            return frame.set_index(["uscc", "year"], drop=False).sort_index()

        return self._cached(f"scored:{version}:{as_of}", build)
