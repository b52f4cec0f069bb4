"""Where the compiled numba kernels are cached, whether they are, and loading them.

The Black-76 kernels (:mod:`carbonfin.pricing._kernels`) are compiled with ``cache=True``: the
first import after an install compiles them (about 20 s on two cores) and writes the machine code
to a cache; later imports load it in a fraction of a second. The cache lives in the package's
``__pycache__`` when that folder is writable (a checkout, a user install); otherwise (a read-only
site-packages, a container) in ``$CARBONFIN_CACHE_DIR``, else ``$XDG_CACHE_HOME/carbonfin/numba``
or ``~/.cache/carbonfin/numba``, else a per-user folder in the temporary directory. An explicit
``NUMBA_CACHE_DIR`` always wins. ``carbonfin warmup`` (run by ``make run``) compiles them ahead.
"""

from __future__ import annotations

import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "KERNELS",
    "cache_dir",
    "configure_cache",
    "configure_threads",
    "kernels_cached",
    "load_kernels",
]

#: The kernels compiled eagerly (one explicit signature each) when their module is imported:
#: (module file under the ``carbonfin`` package, kernel name). numba stamps each cache entry with
#: its own module's source only, so ``_lbr`` (which inlines helpers from ``_kernels``) is
#: recompiled when ``_kernels`` changes only if its own stamp changes too; ``load_kernels``
#: imports both. The collateral kernels (:mod:`carbonfin.collateral._kernels`) value a book; the
#: BLAKE2b kernel (:mod:`carbonfin.scoring._blake2b`) computes the scores' input hashes.
KERNELS = (
    ("pricing/_kernels.py", "_price_rows"),
    ("pricing/_kernels.py", "_all_rows"),
    ("pricing/_kernels.py", "black76_price"),
    ("pricing/_kernels.py", "black76_all"),
    ("pricing/_lbr.py", "implied_vol"),
    ("collateral/_kernels.py", "book_haircuts"),
    ("collateral/_kernels.py", "solve_topups"),
    ("collateral/_kernels.py", "book_topups"),
    ("collateral/_kernels.py", "book_loans"),
    ("scoring/_blake2b.py", "hash_pieces"),
)
_SOURCE = Path(__file__).with_name("_kernels.py")
_PACKAGE = Path(__file__).resolve().parent.parent


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        return False
    return True


def _subpath(py_file: Path) -> str:
    # numba's layout under NUMBA_CACHE_DIR (caching._CacheLocator.get_suitable_cache_subpath)
    import hashlib

    parent = str(py_file.resolve().parent)
    return f"{Path(parent).name}_{hashlib.sha1(parent.encode()).hexdigest()}"


def _user_cache_roots() -> list[Path]:
    roots: list[Path] = []
    if os.environ.get("CARBONFIN_CACHE_DIR", "").strip():
        roots.append(Path(os.environ["CARBONFIN_CACHE_DIR"]).expanduser() / "numba")
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    roots.append((Path(xdg) if xdg else Path.home() / ".cache") / "carbonfin" / "numba")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    roots.append(Path(tempfile.gettempdir()) / f"carbonfin-numba-{uid}")
    return roots


def configure_cache() -> None:
    """Make sure numba has a writable cache directory for the kernels (call before compiling).

    Leaves numba's default (the package's ``__pycache__``) where it is writable, and any
    ``NUMBA_CACHE_DIR`` the user set.
    """
    if os.environ.get("NUMBA_CACHE_DIR", "").strip():
        return
    if _writable(_SOURCE.parent / "__pycache__"):
        return
    for root in _user_cache_roots():
        if _writable(root):
            os.environ["NUMBA_CACHE_DIR"] = str(root)
            import sys

            if "numba" in sys.modules:  # numba read its config already: set it there too
                from numba.core import config

                config.CACHE_DIR = str(root)  # type: ignore[attr-defined]
            return


def configure_threads() -> None:
    """Let the OpenMP worker threads of the parallel kernels sleep between calls, not spin.

    Sets ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it; it takes effect if numba's OpenMP
    threading layer has not started yet (it starts at the first parallel call or
    ``numba.get_num_threads()``; the kernel modules call this at import, before). With the
    default (active for a while) policy, a worker that has finished spins at the barrier and
    after the call, and on a machine whose other cores are busy the two-thread kernels ran
    slower than one thread: 32 ms against 17 ms per 1M options for ``black76_all`` at load 2.4
    on 2 cores, 17 ms with the passive policy (``bench_options`` and ``docs/pricing.md``). A free
    core's wake-up costs microseconds, against calls of milliseconds. (scikit-learn sets its
    OpenMP defaults in the environment the same way.)
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def cache_dir(source: Path = _SOURCE) -> Path:
    """The folder holding (or about to hold) the cache files of the kernels in ``source``
    (default: the pricing kernels)."""
    configure_cache()
    explicit = os.environ.get("NUMBA_CACHE_DIR", "").strip()
    if explicit:
        return Path(explicit) / _subpath(source)
    return source.parent / "__pycache__"


def kernels_cached() -> bool:
    """Whether every kernel has a cache entry for the current source and numba version.

    Reads numba's index files (no compilation): an entry counts when it was written by this
    numba for this exact source (numba stamps it with the source's SHA-256, or with its
    modification time and size in older versions), so a command can say "compiling kernels"
    before the import that compiles them.
    """
    import hashlib
    import pickle

    try:
        version = metadata.version("numba")
    except metadata.PackageNotFoundError:
        return False
    for filename, name in KERNELS:
        source = _PACKAGE / filename
        folder = cache_dir(source)
        try:
            stat = source.stat()
            digest = hashlib.sha256(source.read_bytes()).digest()
        except OSError:
            return False
        stamps = (digest, (stat.st_mtime, stat.st_size))
        if not any(
            _fresh(index, version, stamps, pickle)
            for index in folder.glob(f"{source.stem}.{name}-*.nbi")
        ):
            return False
    return True


def _fresh(index: Path, version: str, stamps: tuple[object, ...], pickle: Any) -> bool:
    try:
        with index.open("rb") as f:
            if pickle.load(f) != version:
                return False
            stamp, overloads = pickle.loads(f.read())  # needs numba's types: imports numba
    except Exception:  # an unreadable or foreign index is simply not a cache hit
        return False
    return stamp in stamps and bool(overloads)


def load_kernels() -> None:
    """Import the kernels: compile and cache them, or load them from the cache."""
    configure_cache()
    from carbonfin.collateral import _kernels as _collateral  # noqa: F401
    from carbonfin.pricing import _kernels, _lbr  # noqa: F401
    from carbonfin.scoring import _blake2b  # noqa: F401
