"""Run every benchmark in this folder (``make bench``): each ``bench_*.py`` as its own process,
so one benchmark's JIT warm-up or memory does not distort the next. Prints their reports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

#: Loans of bench_exposure.py under ``make bench`` (its own default is 1,000,000: about ten
#: minutes of loading on the shared 2 cores); ``CARBONFIN_BENCH_EXPOSURE_LOANS`` overrides it.
EXPOSURE_LOANS = 200_000


def _args(name: str) -> list[str]:
    if name == "bench_exposure.py":
        return ["--loans", os.environ.get("CARBONFIN_BENCH_EXPOSURE_LOANS", str(EXPOSURE_LOANS))]
    return []


def main() -> int:
    here = Path(__file__).resolve().parent
    scripts = sorted(here.glob("bench_*.py"))
    if not scripts:
        print("no benchmarks found")
        return 1
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *_args(script.name)], cwd=here.parent)
        print(f"--- {script.name}: exit {code} in {time.perf_counter() - start:.1f} s", flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
