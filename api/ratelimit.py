"""Failed-authentication rate limits, per client address and per client id, in process.

A sliding window: once ``limit`` failures from one address (or against one client id) fall
within ``window_s`` seconds, further attempts are answered 429 with ``Retry-After`` (the seconds
until the oldest failure leaves the window) without reading the database or running scrypt.
A client id under attack still serves its owner's key if the worker has already verified it
(the in-memory verified-key cache needs no scrypt); only uncached keys for that id wait.

The state is per worker process (``carbonfin serve --workers N`` multiplies the allowance by at
most N); it is bounded to ``max_keys`` tracked addresses and ids, so invented ids cannot grow it
without bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["AuthGuard", "FailureLimiter"]


class FailureLimiter:
    """Counts authentication failures per key (``addr:<host>`` or ``client:<id>``)."""

    def __init__(
        self,
        *,
        limit: int,
        window_s: float,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"limit must be >= 1 and window_s > 0; got {limit}, {window_s}")
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._noted: dict[str, float] = {}

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            self._noted.pop(key, None)
            return None
        return times

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or ``None`` if it is under its limit."""
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            if times is None or len(times) < self.limit:
                return None
            return max(1, math.ceil(times[0] + self.window_s - now))

    def first_refusal(self, key: str) -> bool:
        """Whether this is the first refusal of ``key`` since its oldest counted failure (the
        audit log records that one, not every refusal of a flood)."""
        with self._lock:
            times = self._failures.get(key)
            if not times:
                return True
            if self._noted.get(key) == times[0]:
                return False
            self._noted[key] = times[0]
            return True

    def record(self, key: str) -> None:
        """Count one failure for ``key``."""
        now = self._clock()
        with self._lock:
            if key not in self._failures and len(self._failures) >= self.max_keys:
                self._prune(now)
            self._failures.setdefault(key, deque(maxlen=self.limit)).append(now)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        if len(self._failures) >= self.max_keys:  # still full: forget the stalest half
            by_age = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in by_age[: len(by_age) // 2]:
                del self._failures[key]
                self._noted.pop(key, None)


class AuthGuard:
    """The two limits of failed authentications: per ``addr:<host>`` and per ``client:<id>``."""

    def __init__(self, *, per_address: int, per_client: int, window_s: float) -> None:
        self.by_address = FailureLimiter(limit=per_address, window_s=window_s)
        self.by_client = FailureLimiter(limit=per_client, window_s=window_s)

    def _limiter(self, key: str) -> FailureLimiter:
        return self.by_address if key.startswith("addr:") else self.by_client

    def retry_after(self, key: str) -> int | None:
        return self._limiter(key).retry_after(key)

    def record(self, key: str) -> None:
        self._limiter(key).record(key)

    def first_refusal(self, key: str) -> bool:
        return self._limiter(key).first_refusal(key)
