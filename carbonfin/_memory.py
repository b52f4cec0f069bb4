"""Process memory policy: freed memory is kept for reuse, not handed back to the system at once.

carbonfin's batch work (scoring a population, valuing a book, a backtest's daily refits) makes
and drops many arrays of 0.1-30 MB per call. With glibc's defaults, a block above the mmap
threshold (128 KiB, raised only as such blocks are freed) is a fresh ``mmap`` and every block
freed at the top of the heap beyond the trim threshold goes back to the kernel, so the next
call faults the same memory in again, page by page. On a virtual machine that reports free
pages to its host (``page_reporting``, Firecracker and others) each of those faults may have to
wait for the host. Measured on 100,000 firm-years of ``score_panel`` (2 vCPUs,
docs/scoring-methodology.md, "Batch throughput"): 18,400 page faults and 39 ms of system time a
call with glibc's defaults, 2,300 faults and 5 ms with this policy, and 25-30% less wall time.

:func:`keep_freed_memory` (called once when ``carbonfin`` is imported) sets two of glibc's
documented ``mallopt`` parameters: blocks up to :data:`MMAP_THRESHOLD` come from the heap, and
up to :data:`TRIM_THRESHOLD` of free memory at the heap's top is kept. The process's resident
memory therefore stays near its high-water mark (plus at most :data:`TRIM_THRESHOLD`) instead
of shrinking between calls: a server or a batch job reuses it. Nothing computed changes.

It does nothing, and says so in :func:`memory_policy`:

- with ``CARBONFIN_MALLOC=system`` (glibc's own defaults are kept);
- with any other value than ``keep`` (the default) or ``system``: a ``RuntimeWarning`` names it
  (a typo in a memory setting, which changes no number, does not stop a command or a server);
- when the process set glibc's malloc parameters itself: any of ``MALLOC_MMAP_THRESHOLD_``,
  ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``, ``MALLOC_MMAP_MAX_`` or a ``glibc.malloc``
  tunable in ``GLIBC_TUNABLES`` (a Dask nanny sets ``MALLOC_TRIM_THRESHOLD_`` on its workers to
  return memory early, and that choice is left to it);
- where the C library is not glibc (musl, macOS, Windows).
"""

from __future__ import annotations

import ctypes
import os
import platform
import warnings

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_freed_memory", "memory_policy"]

#: blocks up to this size are carved from the heap (glibc's dynamic threshold stops at 32 MiB on
#: 64-bit systems; this fixes it there from the start)
MMAP_THRESHOLD = 32 << 20
#: free memory at the heap's top kept for reuse before any is returned to the system
TRIM_THRESHOLD = 256 << 20
#: glibc ``mallopt`` parameter numbers (``<malloc.h>``)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_ENV = "CARBONFIN_MALLOC"
_CHOICES = ("keep", "system")
_GLIBC_VARIABLES = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
)

_policy = "not set yet"


def _choice() -> str:
    """``keep``, ``system``, or the unknown value as given."""
    return os.environ.get(_ENV, "").strip().lower() or "keep"


def _set_by_process() -> str | None:
    """The first of glibc's malloc settings the process's environment holds, if any."""
    for name in _GLIBC_VARIABLES:
        if name in os.environ:
            return name
    if "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES"
    return None


def keep_freed_memory() -> str:
    """Apply the policy of the module notes (once per process; later calls change nothing) and
    return :func:`memory_policy`'s words."""
    global _policy
    if _policy != "not set yet":
        return _policy
    choice = _choice()
    own = _set_by_process()
    if choice not in _CHOICES:
        _policy = f"glibc defaults ({_ENV}={choice!r} is not one of {', '.join(_CHOICES)})"
        warnings.warn(
            f"{_ENV} must be one of {', '.join(_CHOICES)}; got {choice!r}: glibc's malloc "
            "defaults are kept",
            RuntimeWarning,
            stacklevel=2,
        )
    elif choice == "system":
        _policy = f"glibc defaults ({_ENV}=system)"
    elif own is not None:
        _policy = f"left to the process's {own}"
    elif platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        _policy = "the C library's defaults (not glibc)"
    else:
        libc = ctypes.CDLL(None)
        done = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        done = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and done
        _policy = (
            f"freed memory kept (glibc mmap threshold {MMAP_THRESHOLD >> 20} MiB, "
            f"trim threshold {TRIM_THRESHOLD >> 20} MiB)"
            if done
            else "glibc defaults (mallopt refused the settings)"
        )
    return _policy


def memory_policy() -> str:
    """The process's memory policy in words (as :func:`keep_freed_memory` left it)."""
    return _policy
