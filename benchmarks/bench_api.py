"""HTTP API throughput and latency: the score endpoint against a bare FastAPI endpoint.

Starts two uvicorn servers on loopback (one worker each): carbonfin's app over a fresh SQLite
database seeded with the sample market, and a bare FastAPI app with one sync endpoint returning a
small JSON object. A bounded asyncio/httpx load generator then measures, for each:

- closed loop (``--concurrency`` requests in flight for ``--seconds``): requests per second,
  p50 and p99 latency;
- open loop at a fixed rate (``--rate`` requests per second for ``--seconds``): p50 and p99.

The score endpoint's work per call: API-key check (scrypt once, then a per-process HMAC cache and
one primary-key read), the score card from the population scored once per data version, and one
audit-log insert. Goal (issue 14): ≥ 40% of the bare endpoint's throughput, p99 < 50 ms at
200 requests/s. Run with ``python benchmarks/bench_api.py``; the machine's load matters: quote
figures from an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

FIRM = "91310105GN93T2369N"
BARE_APP = """
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Pong(BaseModel):
    ok: bool
    service: str


@app.get("/bare", response_model=Pong)
def bare() -> Pong:
    return Pong(ok=True, service="bare")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(module: str, port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            module,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(url: str, headers: dict[str, str], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} did not answer within {timeout:.0f} s")


async def _closed(
    url: str, headers: dict[str, str], concurrency: int, seconds: float
) -> tuple[float, np.ndarray]:
    lat: list[float] = []
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:

        async def worker() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await client.get(url)
                r.raise_for_status()
                lat.append(time.perf_counter() - t)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(lat) / elapsed, np.asarray(lat)


async def _open(
    url: str, headers: dict[str, str], rate: float, seconds: float
) -> tuple[np.ndarray, int]:
    """Latencies of requests sent at a fixed rate (a request that fails or waits more than 60 s
    counts as failed and its latency as 60 s)."""
    lat: list[float] = []
    failed = 0
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=200)
    async with httpx.AsyncClient(headers=headers, timeout=60, limits=limits) as client:

        async def one() -> None:
            nonlocal failed
            t = time.perf_counter()
            try:
                r = await client.get(url)
                r.raise_for_status()
                lat.append(time.perf_counter() - t)
            except httpx.HTTPError:
                failed += 1
                lat.append(60.0)

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return np.asarray(lat), failed


def _ms(a: np.ndarray, q: float) -> float:
    return float(np.quantile(a, q) * 1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, default=200.0)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{tmp}/bench.db"
        env = dict(os.environ, CARBONFIN_DATABASE_URL=db, PYTHONPATH=f"{root}:{tmp}")
        setup = (
            "from carbonfin.store import credentials, repositories\n"
            "from carbonfin.store.database import make_engine, session_scope, upgrade\n"
            f"e = make_engine({db!r}); upgrade(e)\n"
            "with session_scope(e) as s:\n"
            "    repositories.seed(session=s)\n"
            "    print(credentials.create_api_key(session=s, institution_id='BANK-01')[1])\n"
        )
        key = (
            subprocess.run(
                [sys.executable, "-c", setup],
                env=env,
                cwd=root,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        Path(tmp, "bench_bare_app.py").write_text(BARE_APP)
        p_api, p_bare = _free_port(), _free_port()
        servers = [
            _serve("api.main:app", p_api, env, root),
            _serve("bench_bare_app:app", p_bare, env, root),
        ]
        try:
            auth = {"Authorization": f"Bearer {key}"}
            score_url = f"http://127.0.0.1:{p_api}/v1/firms/{FIRM}/score"
            bare_url = f"http://127.0.0.1:{p_bare}/bare"
            _wait(score_url, auth)  # the first call scores the population once
            _wait(bare_url, {})
            rows = []
            for name, url, headers in (("bare", bare_url, {}), ("score", score_url, auth)):
                rps, lat = asyncio.run(_closed(url, headers, args.concurrency, args.seconds))
                open_lat, failed = asyncio.run(_open(url, headers, args.rate, args.seconds))
                rows.append(
                    (
                        name,
                        rps,
                        _ms(lat, 0.5),
                        _ms(lat, 0.99),
                        _ms(open_lat, 0.5),
                        _ms(open_lat, 0.99),
                        failed,
                    )
                )
        finally:
            for s in servers:
                s.terminate()
                try:
                    s.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    s.kill()
    print(
        f"load average {os.getloadavg()[0]:.1f}; cpu cores: {os.cpu_count()}, "
        f"{args.seconds:.0f} s per run, closed loop with {args.concurrency} in flight, "
        f"open loop at {args.rate:.0f} req/s"
    )
    print(
        f"{'endpoint':10s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} "
        f"{'@rate p50':>10s} {'@rate p99':>10s} {'failed':>7s}"
    )
    for name, rps, p50, p99, o50, o99, failed in rows:
        print(f"{name:10s} {rps:9.0f} {p50:8.1f} {p99:8.1f} {o50:10.1f} {o99:10.1f} {failed:7d}")
    ratio = rows[1][1] / rows[0][1]
    print(
        f"score / bare throughput: {ratio:.0%} (goal >= 40%); score p99 at {args.rate:.0f} "
        f"req/s: {rows[1][5]:.1f} ms (goal < 50 ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
