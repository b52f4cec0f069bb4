"""Prices, marks and option pricing."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from api.schemas.common import Provenance, StrictModel


class QuotePublic(BaseModel):
    date: dt.date
    close_cny_per_t: float | None
    vwap_cny_per_t: float | None
    volume_t: int
    flags: list[str]


class PriceHistoryPublic(BaseModel):
    instrument: str
    first: dt.date
    last: dt.date
    quotes: list[QuotePublic]
    provenance: Provenance


class MarkPublic(BaseModel):
    instrument: str
    price_cny_per_t: float = Field(gt=0, examples=[62.5])
    method: str
    as_of: dt.date
    quote_date: dt.date
    notes: list[str]
    provenance: Provenance


class OptionRequest(StrictModel):
    # Lower bounds keep every greek finite (at the money, gamma grows as 1/(F·σ·√T)).
    forward: float = Field(ge=0.01, le=1e6, examples=[80.0], description="forward price, CNY/t")
    strike: float = Field(ge=0.01, le=1e6, examples=[85.0], description="strike, CNY/t")
    expiry_years: float = Field(ge=1 / 365, le=30, examples=[0.5], description="years (≥ 1 day)")
    vol: float = Field(ge=0.001, le=5, examples=[0.45], description="volatility as a decimal")
    rate: float = Field(ge=-0.5, le=1, examples=[0.018], description="rate as a decimal")
    call: bool = True


class OptionPublic(BaseModel):
    price_cny_per_t: float
    delta: float
    gamma: float
    vega: float
    theta: float
    model: str = "Black-76"
