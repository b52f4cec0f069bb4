"""Output blocks for the option kernels, reused once no result holds them.

Why
---
A million options' price and five greeks are a 48 MB float64 block. ``np.empty`` of that size
is a fresh ``mmap`` every call (glibc serves blocks over 32 MB from ``mmap`` and unmaps them when
freed), so every call pays the kernel's page faults: the pages are zeroed before the kernels
write them, and on a virtual machine whose host reclaims freed guest memory (free page
reporting, as on the CI and development machines) each fault may also fault on the host.
Measured on those machines (2 cores, per 1M options): the kernels take 11 ms into memory they
have written before and 14–32 ms into a fresh block, the difference varying with how long the
memory has been free (``bench_options`` prints both).

What
----
:func:`take` hands out a block from a small, bounded cache of blocks owned by this module, and
gets it back only when every array made from it has been garbage-collected. Nothing is shared
while alive: a result the caller keeps (or any view of it, or any array made from it) keeps its
block out of the cache, and the next call gets another block. The values are computed in full
every call; only the memory is recycled, as ``malloc`` recycles smaller arrays.

How a block comes back: the caller gets ``np.asarray(lease)``, where ``lease`` exposes the
block's memory through ``__array_interface__``. numpy makes the lease the base of that array, and
every view of it (numpy collapses a chain of views to its first non-array base) references the
array; when the last of them is gone the lease is collected and its finalizer marks the block
free. A result held in a reference cycle comes back at the next garbage collection.

Bounds
------
Blocks under :data:`MIN_BYTES` are not cached (``malloc`` already reuses such memory). The
cache holds at most ``CARBONFIN_OUTPUT_CACHE_MB`` megabytes (environment variable read at import,
default 256; ``0`` turns the cache off), counting blocks in use; a request beyond the limit
first drops free blocks of other sizes (least recently used first) and, if that is not enough,
gets a plain uncached ``np.empty``. :func:`clear` drops every free block; :func:`stats` says
what the cache holds and how often it served a request.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from carbonfin.errors import ConfigurationError

__all__ = ["MIN_BYTES", "CacheStats", "clear", "limit_bytes", "stats", "take"]

#: smallest block cached: below it ``np.empty`` is served by malloc's own free lists
MIN_BYTES = 4 * 1024 * 1024
_ENV = "CARBONFIN_OUTPUT_CACHE_MB"
_DEFAULT_MB = 256


def _limit_from_env() -> int:
    raw = os.environ.get(_ENV, "").strip()
    if not raw:
        return _DEFAULT_MB * 1024 * 1024
    try:
        mb = float(raw)
    except ValueError:
        raise ConfigurationError(
            f"{_ENV} must be a number of megabytes (0 turns the cache off); got {raw!r}"
        ) from None
    if not (mb >= 0 and np.isfinite(mb)):
        raise ConfigurationError(f"{_ENV} must be a finite number >= 0; got {raw!r}")
    return int(mb * 1024 * 1024)


@dataclass(frozen=True)
class CacheStats:
    """What the cache holds and how it has served requests since import (or :func:`clear`)."""

    limit_bytes: int
    held_bytes: int  # every cached block, in use or free
    in_use_bytes: int
    hits: int  # requests served by a free cached block
    misses: int  # requests that allocated (a new cached block, or uncached over the limit)


class _Lease:
    """Exposes a cached block's memory to numpy; its finalizer hands the block back.

    It holds no reference to the block: the finalizer's arguments keep the block alive for as
    long as the lease lives, and nothing reachable from a result leads to the block itself
    (holding it would let the next result share memory with a live array).
    """

    __slots__ = ("__array_interface__", "__weakref__")

    def __init__(self, block: npt.NDArray[np.float64]) -> None:
        self.__array_interface__: dict[str, Any] = block.__array_interface__


class _Cache:
    """The cache. Blocks come back through ``returned``, a deque the finalizers append to
    without taking the lock: a finalizer may run inside a locked section (a garbage collection
    started by an allocation there), and with a lock it would wait for itself."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lock = threading.Lock()
        self.free: dict[int, list[npt.NDArray[np.float64]]] = {}  # by size, most recent last
        self.returned: deque[tuple[npt.NDArray[np.float64], int]] = deque()
        self.held = 0
        self.in_use = 0
        self.hits = 0
        self.misses = 0
        self.generation = 0  # raised by clear(): blocks out at that time are dropped on return

    def take(self, size: int) -> npt.NDArray[np.float64]:
        nbytes = size * 8
        if nbytes < MIN_BYTES or nbytes > self.limit:
            return np.empty(size)
        with self.lock:
            self._take_back()
            blocks = self.free.get(size)
            if blocks:
                block = blocks.pop()
                if not blocks:  # no size is kept with an empty list (_make_room relies on it)
                    del self.free[size]
                self.hits += 1
            else:
                self.misses += 1
                if not self._make_room(nbytes):
                    return np.empty(size)
                block = np.empty(size)
                self.held += nbytes
            self.in_use += nbytes
            generation = self.generation
        lease = _Lease(block)
        weakref.finalize(lease, self.returned.append, (block, generation))
        out: npt.NDArray[np.float64] = np.asarray(lease)
        return out

    def _take_back(self) -> None:
        """File the blocks whose results are gone as free (under the lock)."""
        while self.returned:
            block, generation = self.returned.popleft()
            self.in_use -= block.nbytes
            if generation != self.generation:  # taken before a clear(): not cached again
                self.held -= block.nbytes
                continue
            blocks = self.free.pop(block.size, [])  # re-insert: the size is now the newest
            blocks.append(block)
            self.free[block.size] = blocks

    def _make_room(self, nbytes: int) -> bool:
        """Drop free blocks, least recently returned size first, until ``nbytes`` fit (under
        the lock; the requested size has no free block, or it would have been a hit)."""
        while self.held + nbytes > self.limit:
            if not self.free:
                return False
            size = next(iter(self.free))  # dicts keep insertion order: the oldest size
            blocks = self.free[size]
            blocks.pop(0)
            self.held -= size * 8
            if not blocks:
                del self.free[size]
        return True

    def clear(self) -> None:
        with self.lock:
            self._take_back()
            self.free.clear()
            self.generation += 1
            self.held = self.in_use  # in use are still counted until they come back
            self.hits = self.misses = 0

    def stats(self) -> CacheStats:
        with self.lock:
            self._take_back()
            return CacheStats(self.limit, self.held, self.in_use, self.hits, self.misses)


_CACHE = _Cache(_limit_from_env())


def take(size: int) -> npt.NDArray[np.float64]:
    """A writable, C-contiguous float64 array of ``size`` elements that nothing else holds.

    Its contents are undefined (as ``np.empty``'s). Large requests are served from the cache
    when a block of that size is free; see the module docstring.
    """
    return _CACHE.take(size)


def clear() -> None:
    """Drop every free cached block (blocks in use are dropped when they come back)."""
    _CACHE.clear()


def stats() -> CacheStats:
    """What the cache holds and its hit and miss counts since import or :func:`clear`."""
    return _CACHE.stats()


def limit_bytes() -> int:
    """The cache's size limit in bytes (``CARBONFIN_OUTPUT_CACHE_MB``; 0 means off)."""
    return _CACHE.limit
