"""Start-up time of the ``carbonfin`` command, each run a fresh process (issue 11, item 6).

What a user waits for after ``make run``: a cold ``carbonfin price history SHEA`` on the seeded
SQLite database (a new process: imports, database check, validation, summary), and the first
pricing command with the numba kernels already cached (``make run`` runs ``carbonfin warmup``)
versus with an empty kernel cache (what every first pricing command cost before: the kernels
compiled in the foreground, about 20 s on two cores, with no message).

Each row is the median of ``REPEATS`` fresh processes (best in brackets); the empty-cache row
runs once per repeat against a new ``NUMBA_CACHE_DIR``. The machine is shared, so figures vary
by tens of percent between runs. Run: ``python benchmarks/bench_startup.py`` (or ``make bench``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEATS = 5
OPTION = ["price", "option", "--forward", "80", "--strike", "85", "--expiry", "0.5"]
OPTION += ["--vol", "0.45", "--rate", "0.018"]


def _run(args: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def _cli(*args: str) -> list[str]:
    return ["-m", "carbonfin.cli", *args]


def _row(label: str, times: list[float]) -> None:
    print(f"  {label:62s} {statistics.median(times):6.2f} s  (best {min(times):.2f})")


def main() -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        env["CARBONFIN_DATABASE_URL"] = f"sqlite:///{db}"
        print("preparing: db upgrade, db seed (the sample market), warmup ...", flush=True)
        for step in (("db", "upgrade"), ("db", "seed"), ("warmup",)):
            _run(_cli(*step), env)
        print(f"fresh processes, median of {REPEATS}:")
        rows = {
            "python -c 'import carbonfin'": ["-c", "import carbonfin"],
            "carbonfin --version": _cli("--version"),
            "carbonfin price history SHEA (seeded SQLite, after make run)": _cli(
                "price", "history", "SHEA"
            ),
            "carbonfin price option ... (kernels cached by warmup)": _cli(*OPTION),
        }
        for label, args in rows.items():
            _row(label, [_run(args, env) for _ in range(REPEATS)])
        cold: list[float] = []
        history_cold: list[float] = []
        for _ in range(REPEATS if "--full" in sys.argv else 1):
            with tempfile.TemporaryDirectory() as cache:
                cold_env = {**env, "NUMBA_CACHE_DIR": cache}
                history_cold.append(_run(_cli("price", "history", "SHEA"), cold_env))
                cold.append(_run(_cli(*OPTION), cold_env))
        _row("carbonfin price history SHEA (empty kernel cache)", history_cold)
        _row("carbonfin price option ... (empty kernel cache: compiles)", cold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
