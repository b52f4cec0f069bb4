"""carbonfin: green-finance risk and carbon-asset collateral engine for the Shanghai carbon market.

The core (``instruments``, ``pricing``, ``collateral``, ``scoring``, ``fx``) is pure computation on
plain values; ``store`` maps database rows to those values; ``data`` ships the sample market.
"""

__version__ = "0.1.0"
