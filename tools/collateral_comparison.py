"""The comparison table of docs/collateral.md: carbonfin's haircut for SHEA on the real quotes
(read from ../shared/data/real, never copied) and for SHEA, CEA and CCER of the shipped sample,
at the defaults and for several pledge sizes, CNY and USD loans.

    PYTHONPATH=. python tools/collateral_comparison.py
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from carbonfin.collateral import haircut_components, market_risk_profile
from carbonfin.data import load_table
from carbonfin.errors import CarbonfinWarning
from carbonfin.instruments import Instrument
from carbonfin.pricing import PriceHistory
from tests.realdata import REAL_SHEA

SIZES = (1_000, 10_000, 50_000, 200_000, 1_000_000)


def rows(name: str, history: PriceHistory) -> None:
    as_of = history.dates[-1]
    for model in ("hs", "fhs", "t"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CarbonfinWarning)
            prof = market_risk_profile(history, as_of=as_of, model=model)  # type: ignore[arg-type]
        cny = haircut_components(prof, list(SIZES))
        usd = haircut_components(prof, list(SIZES), loan_currency_mismatch=True)
        cells = " | ".join(
            f"{c:.0%} / {u:.0%} ({int(d)} d)"
            for c, u, d in zip(cny.total, usd.total, cny.liquidation_days, strict=True)
        )
        print(
            f"| {name} {as_of} | {model}{' (default)' if model == 'hs' else ''} | "
            f"{prof.base_frac:.1%} | {prof.adv_t:,.0f} | {cells} |"
        )


def main() -> int:
    print(
        "| series, as of | model | 20-day 99% market haircut (no buffer) | ADV t/day | "
        + " | ".join(f"{s:,} t: CNY / USD loan (liquidation days)" for s in SIZES)
        + " |"
    )
    print("|---|---|---:|---:|" + "---:|" * len(SIZES))
    if REAL_SHEA.exists():
        rows("real SHEA", PriceHistory.from_csv(REAL_SHEA, "SHEA", strict=False))
    else:
        print(f"(real SHEA quotes not found at {REAL_SHEA})")
    prices = load_table("prices")
    for inst in Instrument:
        frame = prices[prices["instrument"] == inst.value].reset_index(drop=True)
        rows(f"sample {inst.value}", PriceHistory.from_frame(frame, inst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
