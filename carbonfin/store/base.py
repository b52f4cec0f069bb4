"""The declarative base and the column types shared by :mod:`carbonfin.store.models` and
:mod:`carbonfin.store.valuation_models` (one metadata, one naming convention)."""

from __future__ import annotations

from sqlalchemy import BigInteger, MetaData, Numeric
from sqlalchemy.orm import DeclarativeBase

__all__ = [
    "EMISSIONS",
    "FRACTION",
    "LEDGER_DECIMALS",
    "LEDGER_MONEY",
    "MONEY",
    "NAMING",
    "PRICE",
    "QUANTITY",
    "RATE",
    "RATIO",
    "TONNES",
    "Base",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PRICE = Numeric(18, 6)  # CNY per tonne
MONEY = Numeric(20, 4)  # an amount in its currency (4 decimals covers every ISO minor unit used)
TONNES = BigInteger  # whole tonnes CO2e (allowances trade in lots of 1 t)
EMISSIONS = Numeric(20, 3)  # tCO2e as reported (may have decimals)
QUANTITY = Numeric(24, 4)
RATE = Numeric(20, 10)  # FX rate, units of quote per 1 base
FRACTION = Numeric(12, 8)  # a fraction in [0, 1], e.g. a haircut
RATIO = Numeric(18, 8)  # an unbounded ratio, e.g. an LTV (null where undefined)
#: Decimals a loan-ledger amount holds: the cent, so a currency with 3 minor-unit digits (KWD)
#: cannot be lent (carbonfin.lending.loans refuses it rather than round its fils away).
LEDGER_DECIMALS = 2
LEDGER_MONEY = Numeric(20, LEDGER_DECIMALS)  # a ledger amount in the loan's currency


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
