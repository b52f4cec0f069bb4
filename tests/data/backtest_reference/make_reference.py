"""Produce ``reference.json``: the results of a small standard suite, stored so that a faster
engine can be checked against the code that produced them (issue 21).

The suite: the shipped sample's SHEA and CEA closes, every backtest model (``backtests.engine.
MODELS``) at 1, 10 and 20 business days, confidences 0.99 and 0.975 (ES at 0.975), a test window
of one month (``WINDOW``), daily refits warm-started (the CLI's defaults) plus a second GARCH
family at ``refit_every=5`` (filtered forward between refits), 2,000 FHS paths, and the haircut
backtest over the same dates. ``reference.json`` was produced by this script on main at
ee81862 (before issue 21's changes):

    PYTHONPATH=$PWD python tests/data/backtest_reference/make_reference.py

Do not regenerate it to make a test pass: a change of results must be explained, not absorbed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from backtests.engine import MODELS, ForecastSeries, HaircutSeries, JobSpec
from backtests.runner import Dataset, run, standard_jobs
from carbonfin.data import load_table
from carbonfin.pricing.history import PriceHistory

HERE = Path(__file__).resolve().parent
WINDOW = (dt.date(2024, 9, 2), dt.date(2024, 9, 13))
HORIZONS = (1, 10, 20)
CONFIDENCES = (0.99, 0.975)


def datasets() -> list[Dataset]:
    prices = load_table("prices")
    out = []
    for name in ("SHEA", "CEA"):
        frame = prices[prices["instrument"] == name].drop(columns="instrument")
        history = PriceHistory.from_frame(frame.reset_index(drop=True), name)
        out.append(Dataset(name, history, "shipped sample (synthetic)"))
    return out


def jobs(ds: list[Dataset], optimizer: str = "arch") -> list[JobSpec]:
    """The suite; ``optimizer="arch"`` (the GARCH optimiser the stored results were made with)
    or ``"compiled"`` (the backtest's default since; compared within stated tolerances)."""
    base = standard_jobs(ds, models=MODELS, horizons=HORIZONS, start=WINDOW[0], end=WINDOW[1],
                         confidences=CONFIDENCES, es_level=0.975, optimizer=optimizer)  # fmt: skip
    every5 = standard_jobs(ds, models=("garch-t", "gjr-t"), horizons=(1, 10), start=WINDOW[0],
                           end=WINDOW[1], confidences=CONFIDENCES, refit_every=5,
                           haircut=False, optimizer=optimizer)  # fmt: skip
    return base + every5


def _num(x: Any) -> Any:
    """Floats as JSON numbers with full precision (repr round-trips); NaN/inf as strings."""
    if isinstance(x, np.ndarray):
        return [_num(v) for v in x.tolist()]
    if isinstance(x, list):
        return [_num(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    return x


def encode(result: ForecastSeries | HaircutSeries) -> dict[str, Any]:
    spec = result.spec
    out: dict[str, Any] = {"key": spec.key, "refit_every": spec.refit_every,
                           "dates": [str(d) for d in result.dates]}  # fmt: skip
    if isinstance(result, ForecastSeries):
        out |= {
            "realised": _num(result.realised),
            "var": {repr(c): _num(v) for c, v in result.var.items()},
            "var_es": _num(result.var_es),
            "es": _num(result.es),
            "tail_df": _num(result.tail_df),
            "fit_log": {k: getattr(result.fit_log, k) for k in result.fit_log.__slots__},  # type: ignore[attr-defined]
        }
        out["fit_log"]["fallbacks"] = list(out["fit_log"]["fallbacks"])
    else:
        out |= {
            "haircut_frac": _num(result.haircut_frac),
            "liquidation_days": result.liquidation_days.tolist(),
            "loss_frac": _num(result.loss_frac),
            "skipped": dict(result.skipped),
        }
    return out


def main() -> None:
    ds = datasets()
    result = run(ds, jobs(ds))
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=HERE, check=False).stdout.strip()  # fmt: skip
    payload = {
        "produced_by": "tests/data/backtest_reference/make_reference.py",
        "commit": commit,
        "window": [str(WINDOW[0]), str(WINDOW[1])],
        "errors": [list(e) for e in result.errors],
        "results": [encode(r) for r in result.results],
    }
    (HERE / "reference.json").write_text(json.dumps(payload, indent=None) + "\n")
    print(f"{len(result.results)} results, {len(result.errors)} errors, {result.elapsed_s:.1f} s")


if __name__ == "__main__":
    main()
