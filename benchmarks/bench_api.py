"""HTTP API throughput and latency of a real ``carbonfin serve --workers N``: the firm score
endpoint against a bare FastAPI endpoint, and open-loop latency at fixed arrival rates.

One command starts, on loopback:

* ``carbonfin serve --workers N`` (default 2) over a fresh SQLite database in a temporary folder
  seeded with the sample market (or, with ``--database-url postgresql+psycopg://...``, over a
  scratch schema of that PostgreSQL database, created and dropped by the run), and
* the **bare reference**: a FastAPI app with one sync endpoint returning a small JSON object
  (pydantic response model), served by uvicorn with the same worker count and log level.

The reference is a bare app rather than carbonfin's ``/health``: ``/health`` pings the database
on a limiter of its own (two threads, one connection per worker, by design, so that it answers
while the service is saturated), so its throughput measures that limiter, not the framework.
The bare app is the ceiling of the same stack (uvicorn with the HTTP protocol ``carbonfin serve``
runs, ``api.transport.NoDelayH11Protocol``, Starlette, FastAPI, pydantic, a thread of the pool
per sync request); the ratio says what carbonfin's work per call costs on top: the
middleware (request id, metrics, body limit), the API-key check (scrypt once per key, then a
per-process HMAC cache and one primary-key read), the data-version read, the score card from
the population scored once per data version and worker, and one audit insert committed per call.
``/health`` is measured as well and printed for information.

Measured, in this order, in one run:

1. the 1-minute load average before anything starts;
2. closed loop (``--concurrency`` requests in flight for ``--seconds``) on the bare endpoint,
   ``/health`` and the score endpoint: requests per second, p50/p99, errors; the score/bare
   throughput ratio (goal, issue 14: >= 40%);
3. open loop on the score endpoint at each ``--rates`` (default 100 and 200 requests/s) for
   ``--seconds``: request *i* is due at ``start + i / rate`` whatever the earlier ones did, and
   its latency runs from that due time to its answer, so a server (or a load generator) that
   falls behind shows it as latency instead of sending fewer requests (no coordinated omission).
   p50/p99/max, the answers by status and the transport errors (goal: p99 < 50 ms at 200/s);
4. the 1-minute load average after.

The load generator (asyncio and httpx, one process) shares the machine's cores with the
servers; its CPU seconds per run are printed so that a client-bound figure can be told from a
server-bound one. Run ``python benchmarks/bench_api.py`` (``make bench`` runs it with its
defaults), ``--quick`` for a two-second smoke run.
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
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
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
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Run:
    """One measured run: latencies in seconds, answers by status (or transport error name)."""

    name: str
    seconds: float
    latencies: np.ndarray
    answers: Counter[str]
    client_cpu_s: float
    wall_s: float
    max_send_lag_s: float = 0.0

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.answers.items() if not status.startswith("2"))

    @property
    def per_s(self) -> float:
        return self.answers.total() / self.seconds

    @property
    def client_cpu(self) -> float:
        """The load generator's CPU time over the run's wall time (1.0 = one core)."""
        return self.client_cpu_s / self.wall_s

    def ms(self, q: float) -> float:
        return float(np.quantile(self.latencies, q) * 1000) if self.latencies.size else np.nan


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


@contextmanager
def _running(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    try:
        yield
    finally:
        proc.terminate()  # uvicorn's supervisor stops its workers on SIGTERM
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(proc: subprocess.Popen[bytes], url: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, headers=headers, timeout=TIMEOUT_S).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"server at {url} did not answer within 180 s")


@contextmanager
def _database(url: str | None, tmp: str) -> Iterator[tuple[str, str]]:
    """(the server's database URL, a description): a fresh SQLite file, or a scratch schema of
    the given PostgreSQL database, dropped at the end."""
    if url is None:
        yield f"sqlite:///{tmp}/bench.db", "SQLite (temporary file)"
        return
    from sqlalchemy import create_engine, make_url, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False), f"PostgreSQL (schema {schema})"
    finally:
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _prepare(db: str, env: dict[str, str]) -> str:
    """Migrate, seed the sample market, create a bank key (in a child process: the benchmark
    process itself imports nothing of carbonfin's)."""
    setup = (
        "from carbonfin.store import credentials, repositories\n"
        "from carbonfin.store.database import make_engine, session_scope, upgrade\n"
        f"e = make_engine({db!r}); upgrade(e)\n"
        "with session_scope(e) as s:\n"
        "    repositories.seed(session=s)\n"
        "    print(credentials.create_api_key(session=s, institution_id='BANK-01')[1])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", setup], env=env, cwd=ROOT, check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def _client(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(timeout=TIMEOUT_S, limits=limits)


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> str:
    try:
        return str((await client.get(url, headers=headers)).status_code)
    except httpx.HTTPError as exc:
        return type(exc).__name__


async def _closed(name: str, url: str, headers: dict[str, str], conc: int, secs: float) -> Run:
    lat: list[float] = []
    answers: Counter[str] = Counter()
    async with _client(conc) as client:
        cpu0 = time.process_time()
        start = time.perf_counter()
        stop = start + secs

        async def worker() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                answers[await _get(client, url, headers)] += 1
                lat.append(time.perf_counter() - t)

        await asyncio.gather(*(worker() for _ in range(conc)))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    return Run(name, elapsed, np.asarray(lat), answers, cpu, elapsed)


async def _open(name: str, url: str, headers: dict[str, str], rate: float, secs: float) -> Run:
    """Request ``i`` is due at ``start + i / rate``; its latency runs from that due time."""
    n = max(1, round(rate * secs))
    lat = np.full(n, np.nan)
    answers: Counter[str] = Counter()
    lag = 0.0
    async with _client(1000) as client:

        async def one(i: int, due: float) -> None:
            answers[await _get(client, url, headers)] += 1
            lat[i] = time.perf_counter() - due

        cpu0 = time.process_time()
        start = time.perf_counter() + 0.05
        tasks = []
        for i in range(n):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                lag = max(lag, -delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - start
    return Run(name, n / rate, lat, answers, cpu, wall, lag)


async def _warm(url: str, headers: dict[str, str], concurrency: int) -> None:
    """Every worker computes its score population on its first call: send bursts until a burst
    answers entirely 200 twice in a row (the kernel spreads the connections over the workers)."""
    good = 0
    async with _client(concurrency) as client:
        for _ in range(60):
            got = await asyncio.gather(*(_get(client, url, headers) for _ in range(concurrency)))
            good = good + 1 if set(got) == {"200"} else 0
            if good == 2:
                return
    raise SystemExit(f"{url} did not answer 200 while warming up")


def _servers(
    args: argparse.Namespace, stack: ExitStack, tmp: str
) -> tuple[dict[str, str], str, str]:
    """Start both servers (stopped when ``stack`` closes); their URLs, the bank key, the
    database's description."""
    db, described = stack.enter_context(_database(args.database_url, tmp))
    env = dict(os.environ, CARBONFIN_DATABASE_URL=db, PYTHONPATH=f"{ROOT}:{tmp}")
    key = _prepare(db, env)
    Path(tmp, "bench_bare_app.py").write_text(BARE_APP)
    p_api, p_bare = _free_port(), _free_port()
    workers = ["--workers", str(args.workers)]
    api = _start(
        [sys.executable, "-m", "carbonfin.cli", "serve", "--port", str(p_api), *workers], env, ROOT
    )
    stack.enter_context(_running(api))
    bare = _start(
        [sys.executable, "-m", "uvicorn", "bench_bare_app:app", "--port", str(p_bare), *workers,
         "--http", "api.transport:NoDelayH11Protocol", "--log-level", "info"], env, Path(tmp),
    )  # fmt: skip
    stack.enter_context(_running(bare))
    urls = {
        "bare": f"http://127.0.0.1:{p_bare}/bare",
        "health": f"http://127.0.0.1:{p_api}/health",
        "score": f"http://127.0.0.1:{p_api}/v1/firms/{FIRM}/score",
    }
    auth = {"Authorization": f"Bearer {key}"}
    _wait(api, urls["health"], {})
    _wait(bare, urls["bare"], {})
    for name, url in urls.items():
        asyncio.run(_warm(url, auth if name == "score" else {}, args.concurrency))
    return urls, key, described


def _measure(args: argparse.Namespace, urls: dict[str, str], key: str) -> list[Run]:
    auth = {"Authorization": f"Bearer {key}"}
    runs = []
    for name, url in urls.items():
        headers = auth if name == "score" else {}
        runs.append(asyncio.run(_closed(name, url, headers, args.concurrency, args.seconds)))
    for rate in args.rates:
        runs.append(asyncio.run(_open(f"score@{rate:g}/s", urls["score"], auth, rate,
                                      args.seconds)))  # fmt: skip
    return runs


def _report(args: argparse.Namespace, runs: list[Run], db: str, loads: tuple[float, float]) -> None:
    print(
        f"carbonfin serve --workers {args.workers} on {db}; {os.cpu_count()} cores, shared "
        f"(other processes' load counts); {args.seconds:g} s per run"
    )
    print(f"load average (1 min): {loads[0]:.2f} before, {loads[1]:.2f} after")
    print(f"\nclosed loop, {args.concurrency} requests in flight")
    print(f"{'endpoint':10s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'errors':>7s} "
          f"{'client cpu':>11s}")  # fmt: skip
    closed = {r.name: r for r in runs if "@" not in r.name}
    for r in closed.values():
        print(f"{r.name:10s} {r.per_s:8.0f} {r.ms(0.5):8.1f} {r.ms(0.99):8.1f} {r.errors:7d} "
              f"{r.client_cpu:10.0%}")  # fmt: skip
    ratio = closed["score"].per_s / closed["bare"].per_s
    print(f"score / bare throughput: {ratio:.0%} (goal >= 40%); score / health: "
          f"{closed['score'].per_s / closed['health'].per_s:.0%}")  # fmt: skip
    print("\nopen loop on the score endpoint, latency from each request's due time")
    print(f"{'rate':>8s} {'sent':>6s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} "
          f"{'errors':>7s} {'answers':24s} {'send lag ms':>11s} {'client cpu':>10s}")  # fmt: skip
    for r in runs:
        if "@" not in r.name:
            continue
        answers = " ".join(f"{k}:{v}" for k, v in sorted(r.answers.items()))
        print(f"{r.name.split('@')[1]:>8s} {r.answers.total():6d} {r.ms(0.5):8.1f} "
              f"{r.ms(0.99):8.1f} {float(np.max(r.latencies)) * 1000:8.1f} {r.errors:7d} "
              f"{answers:24s} {r.max_send_lag_s * 1000:11.1f} "
              f"{r.client_cpu:10.0%}")  # fmt: skip
    top = max((r for r in runs if "@" in r.name), key=lambda r: r.per_s)
    print(f"score p99 at {top.name.split('@')[1]}: {top.ms(0.99):.1f} ms (goal < 50 ms)")


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2, help="worker processes of each server")
    ap.add_argument("--database-url", help="a PostgreSQL URL (a scratch schema is used)")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each run")
    ap.add_argument("--concurrency", type=int, default=8, help="closed loop: in flight")
    ap.add_argument(
        "--rates", type=float, nargs="+", default=[100.0, 200.0], help="open loop: req/s"
    )
    ap.add_argument("--quick", action="store_true", help="2-second runs (a smoke test)")
    args = ap.parse_args()
    if args.quick:
        args.seconds = min(args.seconds, 2.0)
    return args


def main() -> int:
    args = _parse()
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        urls, key, described = _servers(args, stack, tmp)
        runs = _measure(args, urls, key)
    after = os.getloadavg()[0]
    _report(args, runs, described, (before, after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
