"""carbonfin: green-finance risk and carbon-asset collateral engine for the Shanghai carbon market.

The core (``instruments``, ``pricing``, ``collateral``, ``scoring``, ``fx``) is pure computation on
plain values; ``store`` maps database rows to those values; ``data`` ships the sample market.

Importing the package sets the process's memory policy once: freed memory is kept for reuse
(glibc; ``CARBONFIN_MALLOC=system`` keeps glibc's defaults; :mod:`carbonfin._memory`).
"""

from carbonfin._memory import keep_freed_memory as _keep_freed_memory

__version__ = "0.1.0"

_keep_freed_memory()
