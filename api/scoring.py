"""The calls from the API into the scoring core (kept here so routes stay thin).

The population is scored once per data version by the core's vectorised ``score_panel`` (with
the whole population's benchmarks, as batch scoring does) and cached with the panel; a card is a
row of that frame turned into the core's :class:`~carbonfin.scoring.score.Score`.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

import pandas as pd

from api.data import MarketData
from carbonfin.errors import MissingDataError
from carbonfin.scoring.ids import validate_uscc
from carbonfin.scoring.methodology import DEFAULT_VERSION
from carbonfin.scoring.score import Score, scorable_year

__all__ = ["score_many", "score_one"]


def score_one(data: MarketData, uscc: str, year: int | None, as_of: dt.date | None) -> Score:
    """Score ``uscc`` in ``year`` (default: its latest) with the default methodology, on the
    scoring date ``as_of`` (default: today; compliance not yet due by then is not late)."""
    validate_uscc(uscc)
    when = as_of or dt.date.today()
    return data.memo(  # a card is immutable: built once per firm, year and scoring date
        f"card:{DEFAULT_VERSION}:{when}:{uscc}:{year}",
        lambda: _card(data, uscc, year, when),
    )


def _card(data: MarketData, uscc: str, year: int | None, when: dt.date) -> Score:
    scored = data.scored(DEFAULT_VERSION, when)
    if uscc not in scored.index.get_level_values(0):
        raise MissingDataError(f"no account data for firm {uscc}")
    rows = scored.loc[uscc]
    year = scorable_year(uscc, [int(y) for y in rows["year"]], year, when)
    row = cast(pd.Series, scored.loc[(uscc, year)])
    return Score.from_row({str(k): v for k, v in row.items()})


def score_many(
    data: MarketData, usccs: list[str], year: int | None, as_of: dt.date | None
) -> tuple[list[Score], dict[str, str]]:
    """Score several firms; firms without data are returned with the reason."""
    cards: list[Score] = []
    errors: dict[str, str] = {}
    for uscc in usccs:  # row lookups in the population scored once, not a model loop
        try:
            cards.append(score_one(data, uscc, year, as_of))
        except MissingDataError as exc:
            errors[uscc] = str(exc)
    return cards, errors
