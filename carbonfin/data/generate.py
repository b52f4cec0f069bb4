"""Generate the sample market: ``generate(directory)`` writes every table of
:mod:`carbonfin.data.schema` and ``manifest.json``; ``python -m carbonfin.data.generate [DIR]``
regenerates the shipped files in ``carbonfin/data/sample``.

Deterministic: one ``numpy.random.Generator(PCG64(seed))`` drawn in a fixed order, values rounded
before writing, no timestamps — the same seed reproduces the files byte for byte (a test checks it).
What the series are calibrated to is documented in :mod:`carbonfin.data.market_prices`, the
firms, accounts and loan book in :mod:`carbonfin.data.market_book`, the allowance registry in
:mod:`carbonfin.data.market_registry`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from carbonfin.data import market_book, market_prices, market_registry
from carbonfin.data.schema import MANIFEST, TABLES, sample_dir, write_table
from carbonfin.instruments import Instrument

__all__ = ["DEFAULT_SEED", "GENERATOR_VERSION", "generate"]

DEFAULT_SEED = 20_261_125
GENERATOR_VERSION = "2"

Progress = Callable[[str, int, int], None]


def build(seed: int = DEFAULT_SEED) -> dict[str, pd.DataFrame]:
    """Every sample table as a frame (the order of draws is part of the contract)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    prices = pd.concat(
        [market_prices.price_table(rng, instrument) for instrument in Instrument],
        ignore_index=True,
    )
    fx = market_prices.fx_table(rng)
    institutions = market_book.institutions(rng)
    firms = market_book.firms(rng)
    accounts = market_book.accounts(rng, firms)
    closes = {
        str(inst): frame.dropna(subset=["close_cny_per_t"]).set_index("date")["close_cny_per_t"]
        for inst, frame in prices.groupby("instrument")
    }
    volumes = {
        str(inst): frame.set_index("date")["volume_t"]
        for inst, frame in prices.groupby("instrument")
    }
    loans, pledges = market_book.loans_and_pledges(rng, firms, accounts.compliance, closes, volumes)
    registry = market_registry.registry_events(rng, accounts.compliance, pledges, market_book.AS_OF)
    return {
        "prices": prices,
        "fx_fixings": fx,
        "institutions": institutions,
        "firms": firms.firms,
        "facilities": accounts.facilities,
        "facility_emissions": accounts.facility_emissions,
        "firm_years": accounts.firm_years,
        "compliance": accounts.compliance,
        "loans": loans,
        "pledges": pledges,
        "registry_events": registry,
    }


def generate(
    directory: Path, *, seed: int = DEFAULT_SEED, progress: Progress | None = None
) -> dict[str, str]:
    """Write the sample market into ``directory``; return ``{filename: sha256}``."""
    directory.mkdir(parents=True, exist_ok=True)
    total = len(TABLES) + 1
    if progress is not None:
        progress("simulating", 0, total)
    frames = build(seed)
    files: dict[str, dict[str, object]] = {}
    for k, name in enumerate(TABLES, start=1):
        frame = frames[name][TABLES[name].column_names]
        data = write_table(name, frame, directory)
        files[TABLES[name].filename] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "rows": len(frame),
        }
        if progress is not None:
            progress(name, k, total)
    manifest = {"generator_version": GENERATOR_VERSION, "seed": seed, "files": files}
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    (directory / MANIFEST).write_text(text, encoding="utf-8")
    if progress is not None:
        progress("manifest", total, total)
    return {name: str(entry["sha256"]) for name, entry in files.items()}


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else sample_dir()
    for name, digest in sorted(generate(target).items()):
        print(f"{target / name}  {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
