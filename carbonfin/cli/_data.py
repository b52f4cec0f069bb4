"""Where CLI commands get their market and account data.

Commands read the database named by ``CARBONFIN_DATABASE_URL`` (default ``sqlite:///carbonfin.db``)
once it has been migrated and seeded; before that, they read the shipped sample files.
"""

from __future__ import annotations

import pandas as pd

from carbonfin.data import load_table
from carbonfin.instruments import Instrument


def load_prices(instrument: Instrument) -> pd.DataFrame:
    """Daily quotes of ``instrument`` with the columns of the ``prices`` sample table."""
    frame = load_table("prices")
    return frame[frame["instrument"] == instrument.value].reset_index(drop=True)


def load_fx_fixings() -> pd.DataFrame:
    """FX fixings with the columns of the ``fx_fixings`` sample table."""
    return load_table("fx_fixings")


def load_account_frames() -> dict[str, pd.DataFrame]:
    """The carbon-account tables: firms, facilities, facility_emissions, firm_years, compliance."""
    names = ("firms", "facilities", "facility_emissions", "firm_years", "compliance")
    return {name: load_table(name) for name in names}
