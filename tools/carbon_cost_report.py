"""The figures of docs/carbon-cost.md from the shipped sample: the distribution of cost at risk by
industry (docs/carbon-cost-by-industry.svg) and the ten most exposed borrowers of one bank.

Run: ``python tools/carbon_cost_report.py [--bank BANK-01] [--paths 10000] [--seed 1]``; prints
the tables in Markdown (pasted into docs/carbon-cost.md) and writes the SVG.
"""

from __future__ import annotations

import argparse
import datetime as dt
import warnings
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from carbonfin.data import load_table
from carbonfin.instruments import Instrument
from carbonfin.pricing import PriceHistory
from carbonfin.scoring.carbon_card import loan_coverage
from carbonfin.scoring.carbon_inputs import carbon_cost_outlook

AS_OF = dt.date(2026, 10, 30)
YEARS = (2026, 2027, 2028, 2029, 2030)
OUT = Path(__file__).resolve().parent.parent / "docs" / "carbon-cost-by-industry.svg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bank", default="BANK-01")
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    names = ("firms", "compliance", "firm_years", "registry_events", "facility_emissions",
             "facilities")  # fmt: skip
    frames = {n: load_table(n) for n in names}
    quotes = load_table("prices")
    hist = {
        i: PriceHistory.from_frame(quotes[quotes["instrument"] == i.value], i)
        for i in (Instrument.SHEA, Instrument.CEA)
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result, _ = carbon_cost_outlook(
            frames, hist, as_of=AS_OF, years=YEARS, n_scenarios=args.paths, seed=args.seed,
            data_source="shipped sample",
        )  # fmt: skip
    firms = frames["firms"].set_index("uscc")
    h = result.horizon.join(firms[["sector", "name"]], on="uscc")
    cov = h[h["status"] == "covered"].copy()
    cov["share_va_pct"] = 100 * cov["car99_share_value_added"]
    order = cov.groupby("sector")["share_va_pct"].median().sort_values().index
    data = [cov.loc[cov["sector"] == s, "share_va_pct"].dropna().to_numpy() for s in order]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=True)
    ax.set_yticks(
        range(1, len(order) + 1), [f"{s} ({len(d)})" for s, d in zip(order, data, strict=True)]
    )
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel("CaR99 a year, % of value added (5-95% whiskers)")
    ax.set_title(f"Carbon cost at risk {YEARS[0]}-{YEARS[-1]}, sample, {args.paths:,} FHS "
                 f"scenarios (seed {args.seed})", fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(OUT, format="svg", metadata={"Date": None})
    print(f"wrote {OUT}\n")
    print("| sector | firms | covered | median CaR99/VA a year | 95th pct | sum CaR99 (CNY m) |")
    print("|---|---:|---:|---:|---:|---:|")
    for s in sorted(h["sector"].unique()):
        c = cov[cov["sector"] == s]
        if c.empty:
            print(f"| {s} | {int((h['sector'] == s).sum())} | 0 | — | — | — |")
            continue
        q = np.nanpercentile(c["share_va_pct"], [50, 95])
        print(f"| {s} | {int((h['sector'] == s).sum())} | {len(c)} | {q[0]:.2f}% | {q[1]:.2f}% "
              f"| {c['car99_cny'].sum() / 1e6:,.1f} |")  # fmt: skip
    loans = load_table("loans")
    mine = loans[(loans["bank_id"] == args.bank) & (loans["status"] == "active")]
    fy = load_table("firm_years")
    debt = fy[fy["year"] < AS_OF.year].sort_values("year").groupby("uscc")["debt_cny"].last()
    cover = loan_coverage(mine, result, debt)
    worst = cover.groupby("borrower_uscc").agg(
        loans=("loan_id", "size"), min_cov=("coverage_after", "min"),
        flagged=("below_floor", lambda s: bool(s.fillna(False).any())),
    )  # fmt: skip
    top = (cov[cov["uscc"].isin(set(mine["borrower_uscc"]))]
           .nlargest(10, "car99_cny").join(worst, on="uscc"))  # fmt: skip
    print(f"\nTen most exposed borrowers of {args.bank} (CaR99 over {YEARS[0]}-{YEARS[-1]}):\n")
    print("| USCC | sector | expected (CNY m) | CaR99 (CNY m) ± s.e. | CaR99/VA a year | "
          "loans | lowest coverage after | below floor |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in top.itertuples():
        share = (
            "unknown"
            if pd.isna(r.car99_share_value_added)
            else f"{100 * r.car99_share_value_added:.1f}%"
        )
        mc = "unknown" if pd.isna(r.min_cov) else f"{r.min_cov:.1f}x"
        print(f"| {r.uscc} | {r.sector} | {r.expected_cny / 1e6:,.1f} | {r.car99_cny / 1e6:,.1f} "
              f"± {r.se_car99_cny / 1e6:,.1f} | {share} | {r.loans} | {mc} | "
              f"{'yes' if r.flagged else 'no'} |")  # fmt: skip


if __name__ == "__main__":
    main()
