"""Where the real SHEA quotes live (../shared/data/real next to the checkout; never copied
into the repository). ``CARBONFIN_REAL_DATA`` overrides the folder."""

from __future__ import annotations

import os
from pathlib import Path

REAL = Path(
    os.environ.get("CARBONFIN_REAL_DATA")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
)
REAL_SHEA = REAL / "shea_daily_20161118_20230505.csv"
