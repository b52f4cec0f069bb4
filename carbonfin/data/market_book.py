"""Synthetic loans and pledges of the sample market, on the institutions, firms and carbon accounts
of :mod:`carbonfin.data.market_firms` (re-exported here).

ID formats
----------
- institutions: ``BANK-01`` .. ``BANK-07``; the central-bank branch ``PBOC-SH``.
- firms: an 18-character unified social credit code (GB 32100-2015): ``9131`` (enterprise, Shanghai)
  + a Shanghai district code (``0101``-``0151``, e.g. ``0115`` Pudong) + ``MA1`` + a 7-character
  organisation body + the check character; public institutions start ``12310000``.
- facilities: ``FAC-000001``; loans: ``LN-0000001``; pledges: ``PL-0000001``.
- pledge registration numbers: ``<INSTRUMENT>-ZY-<YEAR>-<6 digits>`` (ZY = 质押), unique.

Loans follow the firms' size, currencies and the 1-year LPR; pledges are sized at registration
from the market's closes and volumes. Values marked ``assumed`` are the sample's plausible
choices, not published statistics.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from carbonfin._quantlib import business_days
from carbonfin.data.market_firms import (
    AS_OF,
    BANKS,
    CCER_OFFSET_CAP_FRAC,
    DISTRICTS,
    GRID_TCO2_PER_MWH,
    PILOT_THRESHOLD_TCO2E,
    SECTORS,
    YEARS,
    Accounts,
    Firms,
    SectorSpec,
    accounts,
    firms,
    institutions,
)

__all__ = [
    "AS_OF",
    "BANKS",
    "CCER_OFFSET_CAP_FRAC",
    "DISTRICTS",
    "GRID_TCO2_PER_MWH",
    "PILOT_THRESHOLD_TCO2E",
    "SECTORS",
    "YEARS",
    "Accounts",
    "Firms",
    "SectorSpec",
    "accounts",
    "allocation_date",
    "firms",
    "institutions",
    "loans_and_pledges",
]

D = dt.date

# --- loans and pledges ------------------------------------------------------------------------

CURRENCIES = (("CNY", 0.88, 1.0), ("USD", 0.07, 7.0), ("EUR", 0.03, 7.7), ("HKD", 0.02, 0.9))
LPR_1Y = {2019: 0.0415, 2020: 0.0385, 2021: 0.0380, 2022: 0.0365, 2023: 0.0345, 2024: 0.0310,
          2025: 0.0300, 2026: 0.0300}  # fmt: skip  # 1-year LPR, approx. year-end (PBOC/NIFC)


def loans_and_pledges(
    rng: np.random.Generator,
    f: Firms,
    compliance: pd.DataFrame,
    closes: dict[str, pd.Series],
    volumes: dict[str, pd.Series],
    n_loans: int = 5200,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Loans of the banks to the firms and the carbon pledges securing a part of them.

    ``closes`` maps instrument -> close price series indexed by date (no-trade days dropped),
    used to size pledges at registration (see :func:`_pledges`).
    """
    nfirms = len(f.firms)
    weight = f.size / f.size.sum()
    borrower = rng.choice(nfirms, n_loans, p=weight)
    bank = rng.integers(0, len(BANKS), n_loans)
    ccy_idx = rng.choice(len(CURRENCIES), n_loans, p=[c[1] for c in CURRENCIES])
    fx = np.array([c[2] for c in CURRENCIES])[ccy_idx]
    principal_cny = np.exp(rng.normal(np.log(3.0e7), 1.1, n_loans)) * np.sqrt(f.size[borrower])
    principal = np.maximum(np.round(principal_cny / fx, -4), 100_000.0)
    days = business_days(D(2019, 1, 2), AS_OF)
    orig = np.array(days)[rng.integers(0, len(days), n_loans)]
    tenor_y = rng.choice([1, 2, 3, 4, 5], n_loans, p=[0.3, 0.2, 0.25, 0.1, 0.15])
    maturity = np.array(
        [D(o.year + int(y), o.month, min(o.day, 28)) for o, y in zip(orig, tenor_y, strict=True)]
    )
    purpose = rng.choice(["green", "transition", "general"], n_loans, p=[0.35, 0.3, 0.35])
    base = np.array([LPR_1Y[o.year] for o in orig])
    spread = rng.normal(0.004, 0.006, n_loans) - np.where(purpose == "green", 0.003, 0.0)
    rate = np.round(np.clip(base + spread + np.where(ccy_idx > 0, 0.015, 0.0), 0.02, 0.075), 4)
    elapsed = np.array([(AS_OF - o).days for o in orig]) / (tenor_y * 365.25)
    amortising = rng.random(n_loans) < 0.5
    remaining = np.where(amortising, np.clip(1 - elapsed, 0, 1), 1.0)
    defaulted = rng.random(n_loans) < 0.012
    repaid = (maturity <= AS_OF) & ~defaulted
    status = np.where(defaulted, "defaulted", np.where(repaid, "repaid", "active"))
    outstanding = np.where(
        repaid, 0.0, np.where(defaulted, principal * rng.uniform(0.3, 1.0, n_loans),
                              principal * remaining))  # fmt: skip
    outstanding = np.round(np.minimum(outstanding, principal), 2)
    loan_ids = [f"LN-{i + 1:07d}" for i in range(n_loans)]
    usccs = f.firms["uscc"].to_numpy()
    loans = pd.DataFrame(
        {
            "loan_id": loan_ids,
            "bank_id": [BANKS[b][0] for b in bank],
            "borrower_uscc": usccs[borrower],
            "currency": [CURRENCIES[c][0] for c in ccy_idx],
            "principal": principal,
            "outstanding": outstanding,
            "origination_date": orig,
            "maturity_date": maturity,
            "rate": rate,
            "purpose": purpose,
            "status": status,
        }
    )
    pledges = _pledges(
        rng,
        f,
        compliance,
        closes,
        volumes,
        loans,
        principal * fx,
        np.asarray(orig),
        np.asarray(maturity),
    )
    return loans, pledges


# Pledge sizing at origination (assumed): a bank lends at most the lendable value of the pledge,
# market value x (1 - haircut). With a haircut of about 40% at origination (ECC takes 35% on EU
# allowances; the thin Shanghai market adds a liquidity margin) and a cover spread of 1.0-1.6 on
# top, the pledged market value is principal / (1 - 0.40) x U(1.0, 1.6).
ORIGINATION_HAIRCUT_FRAC = 0.40
COVER_SPREAD = (1.0, 1.6)
#: Share of pledges given by a third-party guarantor firm rather than the borrower (assumed).
GUARANTOR_FRAC = 0.06
#: A covered firm pledges at most about this many times its average yearly allocation, any firm
#: at most CCER_CAPACITY_T of CCER; loans needing more are not carbon-secured (assumed).
ALLOCATION_CAPACITY = 1.5
CCER_CAPACITY_T = 500_000
#: A lender takes at origination no more than it could sell within the 20-business-day holding
#: period of secured lending at 20% (CCER 10%) of the trailing 250-business-day average daily
#: volume, so that the ~40% origination haircut holds (assumed; the same participation and ADV
#: window as rules/collateral.toml).
ORIGINATION_LIQUIDATION_DAYS = 20
#: Share of the loans with a pledgeable instrument that are candidates for a carbon pledge.
SECURED_CANDIDATE_FRAC = 1.0
ADV_WINDOW_DAYS = 250
#: CEA trading opened at SEEE on 2021-07-16; CCER trading relaunched on 2024-01-22.
CEA_START = D(2021, 7, 16)
CCER_START = D(2024, 1, 22)


def allocation_date(year: int) -> dt.date:
    """Date the sample registry credits a firm's allowances of vintage ``year`` (assumed: by the
    end of March of that year, for SHEA and CEA alike; real issue dates vary by year)."""
    return D(year, 3, 31)


def _pledges(
    rng: np.random.Generator,
    f: Firms,
    compliance: pd.DataFrame,
    closes: dict[str, pd.Series],
    volumes: dict[str, pd.Series],
    loans: pd.DataFrame,
    principal_cny: np.ndarray,
    orig: np.ndarray,
    maturity: np.ndarray,
) -> pd.DataFrame:
    """Carbon pledges securing the loans that the pledgor's allowances and the market can carry.

    Covered firms pledge their allowances (SHEA, or CEA for power firms once CEA trades); other
    firms pledge CCER bought from 2024-01-22 on. Every loan whose borrower has such an
    instrument is a candidate (``SECURED_CANDIDATE_FRAC``); it is secured when the quantity
    needed is within what the pledgor can pledge (``ALLOCATION_CAPACITY``, ``CCER_CAPACITY_T``)
    and what the market could absorb in the holding period (``ORIGINATION_LIQUIDATION_DAYS``).
    A bank lends at most the lendable value, so a loan too large for the market's liquidity is
    not carbon-secured: thin SHEA and CCER markets carry only small loans, the liquid CEA market
    larger ones. For 6% of candidates a third-party guarantor holding the instrument with the
    capacity pledges instead of the borrower. The registry records the pledge 0-5 days before
    the drawdown; the lender releases it 0-7 days after the loan is repaid; a defaulted loan's
    pledge is being enforced and stays locked. Quantities follow ``ORIGINATION_HAIRCUT_FRAC``
    and ``COVER_SPREAD`` at the close on the registration date.
    """
    n_loans = len(loans)
    usccs = f.firms["uscc"].to_numpy()
    borrower = pd.Index(usccs).get_indexer(loans["borrower_uscc"])
    status = loans["status"].to_numpy()
    secured = rng.random(n_loans) < SECURED_CANDIDATE_FRAC
    reg_lag = rng.integers(0, 6, n_loans)
    guarantor = rng.random(n_loans) < GUARANTOR_FRAC
    guarantor_pick = rng.random(n_loans)
    spread = rng.uniform(*COVER_SPREAD, n_loans)
    vintage_back = rng.choice(3, n_loans, p=[0.5, 0.3, 0.2])
    release_lag = rng.integers(0, 8, n_loans)

    reg_date = np.array([o - dt.timedelta(days=int(k)) for o, k in zip(orig, reg_lag, strict=True)])
    covered = np.isin(usccs, compliance["uscc"].unique())
    is_power = f.firms["sector"].to_numpy() == "power"
    cea = np.array([d >= CEA_START for d in reg_date])
    ccer_open = np.array([d >= CCER_START for d in reg_date])
    instrument = np.where(
        covered[borrower],
        np.where(is_power[borrower] & cea, "CEA", "SHEA"),
        np.where(ccer_open, "CCER", ""),
    )
    secured &= instrument != ""
    # What a pledgor can pledge: about its yearly allocation (the current vintage plus banked
    # surplus, topped up by purchases), or up to CCER_CAPACITY_T of CCER (assumed).
    yearly = compliance.groupby("uscc")["allocated_t"].mean()
    capacity_t = np.where(
        covered, pd.Series(usccs).map(yearly).fillna(0.0).to_numpy() * ALLOCATION_CAPACITY, 0.0
    )
    # liquidity: what can be sold within the holding period at the instrument's participation
    # of its trailing-year average daily volume on the registration date
    adv_t = np.array(
        [_adv_on(volumes[inst], d) if inst else np.nan for inst, d in zip(instrument, reg_date,
                                                                          strict=True)]
    )  # fmt: skip
    participation = np.where(instrument == "CCER", 0.10, 0.20)
    liquid_t = ORIGINATION_LIQUIDATION_DAYS * participation * adv_t
    day_price = np.array(
        [_price_on(closes[inst], d) if inst else np.nan for inst, d in zip(instrument, reg_date,
                                                                           strict=True)]
    )  # fmt: skip
    value_cny = principal_cny / (1.0 - ORIGINATION_HAIRCUT_FRAC) * spread
    needed_t = np.maximum(np.round(value_cny / day_price, -2), 100)

    def can_pledge(firm: int, i: int) -> bool:
        cap = CCER_CAPACITY_T if instrument[i] == "CCER" else capacity_t[firm]
        return bool(needed_t[i] <= min(cap, liquid_t[i]))

    candidates = {
        "SHEA": np.flatnonzero(covered & ~is_power),
        "CEA": np.flatnonzero(covered & is_power),
        "CCER": np.arange(len(usccs)),
    }
    pledgor = borrower.copy()
    for i in np.flatnonzero(secured):
        if guarantor[i]:
            pool = [
                j
                for j in candidates[instrument[i]]
                if j != borrower[i] and can_pledge(int(j), int(i))
            ]
            if pool:
                pledgor[i] = pool[int(guarantor_pick[i] * len(pool))]
                continue
        secured[i] = can_pledge(int(borrower[i]), int(i))
    idx = np.flatnonzero(secured)
    last_vintage = int(YEARS[-1])
    first = {"SHEA": 2013, "CEA": 2021}  # the sample's power firms hold CEA from 2021
    vintage: list[int | None] = []
    for i in idx:
        if instrument[i] == "CCER":
            vintage.append(None)
            continue
        day = reg_date[i]
        latest = day.year if day >= allocation_date(day.year) else day.year - 1
        vintage.append(max(min(latest, last_vintage) - int(vintage_back[i]), first[instrument[i]]))
    quantity = needed_t[idx].astype(np.int64)
    release = [
        min(maturity[i] + dt.timedelta(days=int(release_lag[i])), AS_OF)
        if status[i] == "repaid"
        else None
        for i in idx
    ]
    return pd.DataFrame(
        {
            "pledge_id": [f"PL-{k + 1:07d}" for k in range(len(idx))],
            "loan_id": loans["loan_id"].to_numpy()[idx],
            "instrument": instrument[idx],
            "vintage": pd.array(vintage, dtype="Int64"),
            "quantity_t": quantity,
            "registration_no": [
                f"{instrument[i]}-ZY-{reg_date[i].year}-{k + 1:06d}" for k, i in enumerate(idx)
            ],
            "registration_date": reg_date[idx],
            "status": np.where(status[idx] == "active", "active",
                               np.where(status[idx] == "defaulted", "enforced", "released")),
            "pledgor_uscc": usccs[pledgor[idx]],
            "release_date": release,
        }
    )  # fmt: skip


def _adv_on(volumes: pd.Series, day: dt.date) -> float:
    """Average daily volume over the ``ADV_WINDOW_DAYS`` quote days up to ``day`` (no-trade
    days count as zero)."""
    pos = int(volumes.index.searchsorted(day, side="right"))
    window = volumes.iloc[max(pos - ADV_WINDOW_DAYS, 0) : pos]
    return float(window.mean()) if len(window) else 0.0


def _price_on(closes: pd.Series, day: dt.date) -> float:
    pos = int(closes.index.searchsorted(day, side="right")) - 1
    return float(closes.iloc[max(pos, 0)])
