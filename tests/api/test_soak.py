"""Soak test: a real ``uvicorn`` process on PostgreSQL under mixed concurrent traffic — reads,
writes (loans, repayments, pledges), bad keys and no keys — then ``kill -9`` mid-burst and a
restart. Checked over HTTP (the API contract) and in the database (SQL):

* no 5xx at all;
* every write acknowledged with a 2xx is in the database (loan, pledge, repayment), with its
  audit entry;
* each loan's repayments in the database equal the acknowledged repayments (after the crash:
  every acknowledged one is there, and nothing that was not sent);
* audit rows of the soak's clients = authenticated calls (before the crash);
* ``/health`` answers afterwards.

Bounded to about 60 s. PostgreSQL is mandatory under ``CARBONFIN_REQUIRE_POSTGRES=1`` (as in
``.ci/run``); elsewhere the test skips with the reason.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, bindparam, create_engine, inspect, text
from sqlalchemy.engine import make_url

from carbonfin.store import credentials, repositories
from carbonfin.store.database import make_engine, session_scope, upgrade

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.serial]

ROOT = Path(__file__).resolve().parents[2]
AS_OF = "2026-10-30"
BURST_S = 8.0
THREADS = 12


@dataclass
class Call:
    kind: str
    who: str  # "bank1", "bank2", "regulator", "badkey", "nokey"
    status: int | None  # None: no response (connection refused / reset)
    body: dict[str, Any] | None = None
    sent: dict[str, Any] | None = None
    path: str = ""


@dataclass
class Soak:
    url: str
    engine: Engine
    keys: dict[str, str]
    clients: dict[str, str]  # who -> client_id
    borrowers: dict[str, list[tuple[str, int]]]  # who -> [(uscc, free SHEA t of vintage)]
    vintage: dict[str, int]
    port: int
    proc: subprocess.Popen[bytes] | None = None
    calls: list[Call] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    loans: dict[str, tuple[str, Decimal]] = field(default_factory=dict)  # id -> (who, principal)
    amounts: set[Decimal] = field(default_factory=set)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(soak: Soak) -> None:
    env = dict(os.environ)
    env.update(
        CARBONFIN_DATABASE_URL=soak.url,
        CARBONFIN_MODE="local",
        PYTHONPATH=str(ROOT),
    )
    soak.proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
         "--port", str(soak.port), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        if soak.proc.poll() is not None:
            err = soak.proc.stderr.read().decode() if soak.proc.stderr else ""
            pytest.fail(f"uvicorn exited with {soak.proc.returncode}: {err[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{soak.port}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail("uvicorn did not answer /health within 40 s")


def _stop(soak: Soak, sig: int = signal.SIGTERM) -> None:
    if soak.proc is not None and soak.proc.poll() is None:
        soak.proc.send_signal(sig)
        try:
            soak.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            soak.proc.kill()
            soak.proc.wait(timeout=5)
    if soak.proc is not None and soak.proc.stderr is not None:
        soak.proc.stderr.close()


def _borrowers(engine: Engine) -> tuple[list[tuple[str, int]], int]:
    """Firms with a free SHEA holding of one vintage (pledged by the firm itself)."""
    from carbonfin.store.collateral import holdings

    with session_scope(engine) as session:
        import datetime as dt

        h = holdings(session=session, as_of=dt.date.fromisoformat(AS_OF), instrument="SHEA")
    h = h[(h["free_t"] >= 5_000) & h["vintage"].notna()]
    vintage = int(h["vintage"].mode().iloc[0])
    h = h[h["vintage"] == vintage].sort_values("uscc")
    return [(str(r["uscc"]), int(r["free_t"])) for _, r in h.iterrows()], vintage


@pytest.fixture
def soak(postgres_url: str) -> Iterator[Soak]:
    schema = f"soak_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    with admin.begin() as c:
        c.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(postgres_url, schema=schema)
    try:
        upgrade(engine)
        keys: dict[str, str] = {}
        clients: dict[str, str] = {}
        with session_scope(engine) as session:
            repositories.seed(session=session)
            for who, inst, role in (
                ("bank1", "BANK-01", "bank"),
                ("bank2", "BANK-02", "bank"),
                ("regulator", "PBOC-SH", "regulator"),
            ):
                clients[who] = f"soak-{who}"
                _, keys[who] = credentials.create_api_key(
                    session=session, institution_id=inst, role=role, client_id=clients[who]
                )
        firms, vintage = _borrowers(engine)
        assert len(firms) >= 4, "the sample has too few free SHEA holdings"
        half = len(firms) // 2
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
        soak = Soak(
            url=url.render_as_string(hide_password=False),
            engine=engine,
            keys=keys,
            clients=clients,
            borrowers={"bank1": firms[:half], "bank2": firms[half:]},
            vintage={"SHEA": vintage},
            port=_free_port(),
        )
        yield soak
        _stop(soak)
    finally:
        engine.dispose()
        with admin.begin() as c:
            c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


# --- the traffic -----------------------------------------------------------------------------


def _auth(soak: Soak, who: str) -> dict[str, str]:
    if who == "nokey":
        return {}
    if who == "badkey":
        return {"Authorization": f"Bearer cfk.soak-nobody.{uuid.uuid4().hex}"}
    return {"Authorization": f"Bearer {soak.keys[who]}"}


def _record(soak: Soak, call: Call) -> None:
    with soak.lock:
        soak.calls.append(call)


def _request(
    soak: Soak, http: httpx.Client, kind: str, who: str, method: str, path: str, **kw: Any
) -> Call:
    sent = kw.get("json")
    headers = _auth(soak, who) | kw.pop("headers", {})
    try:
        r = http.request(method, path, headers=headers, **kw)
    except httpx.HTTPError:
        call = Call(kind, who, None, None, sent, path)
    else:
        try:
            body = r.json()
        except ValueError:
            body = None
        call = Call(kind, who, r.status_code, body if isinstance(body, dict) else None, sent, path)
    _record(soak, call)
    return call


def _new_loan(soak: Soak, http: httpx.Client, rng: random.Random) -> None:
    who = rng.choice(("bank1", "bank2"))
    uscc, _free = rng.choice(soak.borrowers[who])
    principal = Decimal(rng.randrange(1_000_000, 5_000_000)) + Decimal("0.37")
    body = {"borrower_uscc": uscc, "currency": "CNY", "principal": f"{principal:.2f}",
            "origination_date": AS_OF, "maturity_date": "2028-10-30", "rate": 0.035,
            "purpose": "green"}  # fmt: skip
    call = _request(soak, http, "loan", who, "POST", "/v1/loans", json=body,
                    headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip
    if call.status == 201 and call.body:
        with soak.lock:
            soak.loans[str(call.body["loan_id"])] = (who, principal)


def _pick_loan(soak: Soak, rng: random.Random) -> tuple[str, str] | None:
    with soak.lock:
        if not soak.loans:
            return None
        loan_id = rng.choice(sorted(soak.loans))
        return loan_id, soak.loans[loan_id][0]


def _repay(soak: Soak, http: httpx.Client, rng: random.Random) -> None:
    picked = _pick_loan(soak, rng)
    if picked is None:
        return
    loan_id, who = picked
    with soak.lock:  # a unique amount per repayment identifies it in the database
        amount = Decimal(rng.randrange(100, 9_999)) + Decimal(rng.randrange(1, 99)) / 100
        while amount in soak.amounts:
            amount += Decimal("0.01")
        soak.amounts.add(amount)
    _request(soak, http, "repayment", who, "POST", f"/v1/loans/{loan_id}/repayments",
             json={"amount": f"{amount:.2f}", "on": AS_OF},
             headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip


def _pledge(soak: Soak, http: httpx.Client, rng: random.Random) -> None:
    picked = _pick_loan(soak, rng)
    if picked is None:
        return
    loan_id, who = picked
    read = _request(soak, http, "read-loan", who, "GET", f"/v1/loans/{loan_id}")
    if read.status != 200 or not read.body:
        return
    body = {"loan_id": loan_id, "instrument": "SHEA", "vintage": soak.vintage["SHEA"],
            "quantity_t": rng.randrange(10, 50), "pledgor_uscc": read.body["borrower_uscc"],
            "registration_no": f"SHEA-ZY-S-{uuid.uuid4().hex[:12].upper()}",
            "registration_date": AS_OF}  # fmt: skip
    _request(soak, http, "pledge", who, "POST", "/v1/pledges", json=body,
             headers={"Idempotency-Key": uuid.uuid4().hex})  # fmt: skip


def _read(soak: Soak, http: httpx.Client, rng: random.Random) -> None:
    who = rng.choice(("bank1", "bank2", "regulator"))
    path, params = rng.choice(
        [
            ("/v1/loans", {"limit": 20}),
            ("/v1/pledges", {"limit": 20}),
            ("/v1/prices/SHEA/mark", {"as_of": AS_OF}),
            ("/health", {}),
        ]
    )
    picked = _pick_loan(soak, rng)
    if picked is not None and rng.random() < 0.4:
        path, params, who = f"/v1/loans/{picked[0]}", {}, picked[1]
    _request(soak, http, "read", who, "GET", path, params=params)


def _unauthenticated(soak: Soak, http: httpx.Client, rng: random.Random) -> None:
    who = rng.choice(("badkey", "nokey"))
    method, path, kw = rng.choice(
        [
            ("GET", "/v1/loans", {}),
            ("POST", "/v1/loans", {"json": {"borrower_uscc": "x"}}),
            ("POST", "/v1/pledges", {"json": {}}),
            ("GET", "/v1/regulator/ltv", {"params": {"as_of": AS_OF}}),
        ]
    )
    _request(soak, http, "unauthenticated", who, method, path, **kw)


ACTIONS = ((_new_loan, 2), (_repay, 4), (_pledge, 2), (_read, 6), (_unauthenticated, 3))


def _worker(soak: Soak, seed: int, until: float, stop: threading.Event) -> None:
    rng = random.Random(seed)
    funcs = [f for f, w in ACTIONS for _ in range(w)]
    with httpx.Client(base_url=f"http://127.0.0.1:{soak.port}", timeout=30) as http:
        while time.monotonic() < until and not stop.is_set():
            rng.choice(funcs)(soak, http, rng)


def _burst(soak: Soak, seconds: float, *, kill_after: float | None = None) -> None:
    stop = threading.Event()
    until = time.monotonic() + seconds
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(_worker, soak, 1000 * len(soak.calls) + i, until, stop)
                   for i in range(THREADS)]  # fmt: skip
        if kill_after is not None:
            time.sleep(kill_after)
            assert soak.proc is not None
            soak.proc.send_signal(signal.SIGKILL)  # kill -9 mid-burst
            soak.proc.wait(timeout=10)
            stop.set()
        for f in futures:
            f.result()


# --- the invariants --------------------------------------------------------------------------


def _acked(soak: Soak, kind: str) -> list[Call]:
    return [
        c for c in soak.calls if c.kind == kind and c.status is not None and 200 <= c.status < 300
    ]


def _repayment_entries(conn: Any, loan_ids: list[str]) -> dict[str, list[Decimal]] | None:
    """Repayment amounts recorded in the database per loan: the ledger's repayment entries
    (table ``loan_ledger``); ``None`` where there is no ledger."""
    insp = inspect(conn)
    if "loan_ledger" not in insp.get_table_names():
        return None
    cols = {c["name"] for c in insp.get_columns("loan_ledger")}
    kind = next(c for c in ("kind", "entry_type", "type") if c in cols)
    rows = conn.execute(
        text(f"SELECT loan_id, amount FROM loan_ledger WHERE {kind} = 'repayment'")
    ).all()
    out: dict[str, list[Decimal]] = {i: [] for i in loan_ids}
    for loan_id, amount in rows:
        if loan_id in out:
            out[loan_id].append(abs(Decimal(amount)))
    return out


def _check_repayments(
    soak: Soak, conn: Any, repaid: dict[str, list[Decimal]], unacked: set[Decimal], crashed: bool
) -> list[str]:
    """The ledger holds every acknowledged repayment and nothing never sent; the outstanding
    that the API reports is the principal less the repayments in the ledger."""
    problems: list[str] = []
    entries = _repayment_entries(conn, sorted(soak.loans))
    if entries is None:
        problems.append("no loan_ledger table: repayments are not recorded as ledger entries")
    with httpx.Client(base_url=f"http://127.0.0.1:{soak.port}", timeout=30) as http:
        for loan_id, (who, principal) in sorted(soak.loans.items()):
            want = sorted(repaid.get(loan_id, []))
            got = want if entries is None else sorted(entries.get(loan_id, []))
            lost = [a for a in want if a not in got]
            extra = [a for a in got if a not in want]
            if lost:
                problems.append(f"{loan_id}: acknowledged repayments not in the ledger: {lost}")
            if extra and (not crashed or any(a not in unacked for a in extra)):
                problems.append(f"{loan_id}: ledger repayments never acknowledged: {extra}")
            r = http.get(f"/v1/loans/{loan_id}", headers=_auth(soak, who))
            if r.status_code != 200:
                problems.append(f"{loan_id}: GET answered {r.status_code}")
                continue
            outstanding = Decimal(r.json()["outstanding"])
            repaid_total = principal - outstanding
            if entries is not None and repaid_total != sum(got, Decimal(0)):
                problems.append(f"{loan_id}: outstanding {outstanding} != principal - ledger")
            if not crashed and repaid_total != sum(want, Decimal(0)):
                problems.append(
                    f"{loan_id}: principal - outstanding = {repaid_total} but acknowledged "
                    f"repayments sum to {sum(want, Decimal(0))}"
                )
    return problems


def _check_audit(soak: Soak, conn: Any) -> list[str]:
    """One audit row per authenticated call (the workflow's for a write that succeeded, the
    middleware's for any other): rows of the soak's clients, failed authentications aside."""
    audited = conn.execute(
        text("SELECT count(*) FROM audit_log WHERE actor IN :ids AND action <> 'auth_failed'")
        .bindparams(bindparam("ids", expanding=True)),
        {"ids": list(soak.clients.values())},
    ).scalar_one()  # fmt: skip
    authed = sum(
        1 for c in soak.calls
        if c.who in soak.clients and c.status is not None and c.status not in (401, 429)
        and c.path.startswith("/v1/")  # /health takes no key
    )  # fmt: skip
    if audited == authed:
        return []
    rows = conn.execute(
        text("SELECT action, entity, count(*) FROM audit_log WHERE actor IN :ids "
             "GROUP BY action, entity ORDER BY action")
        .bindparams(bindparam("ids", expanding=True)),
        {"ids": list(soak.clients.values())},
    ).all()  # fmt: skip
    by_action = ", ".join(f"{a} [{e}] {n}" for a, e, n in rows)
    return [f"audit rows of the soak's clients: {audited}; authenticated calls: {authed} "
            f"(rows by action: {by_action})"]  # fmt: skip


def _check(soak: Soak, *, crashed: bool) -> list[str]:
    problems: list[str] = []
    five = [c for c in soak.calls if c.status is not None and c.status >= 500]
    if five:
        problems.append(
            f"{len(five)} x 5xx: " + "; ".join(f"{c.kind} {c.status} {c.body}" for c in five[:5])
        )
    loans = {str(c.body["loan_id"]): c for c in _acked(soak, "loan") if c.body}
    pledges = {str(c.body["pledge_id"]): c for c in _acked(soak, "pledge") if c.body}
    repaid: dict[str, list[Decimal]] = {}
    for c in _acked(soak, "repayment"):
        assert c.body is not None
        assert c.sent is not None
        repaid.setdefault(str(c.body["loan_id"]), []).append(Decimal(c.sent["amount"]))
    unacked = {  # sent, no answer (in flight at the kill): may or may not have been applied
        Decimal(c.sent["amount"])
        for c in soak.calls
        if c.kind == "repayment" and c.sent is not None and c.status is None
    }
    with soak.engine.connect() as conn:
        query = text("SELECT loan_id, principal FROM loans")
        stored = {r[0]: r[1] for r in conn.execute(query).all()}
        missing = sorted(set(loans) - set(stored))
        if missing:
            problems.append(f"{len(missing)} acknowledged loans missing: {missing[:5]}")
        have = {r[0] for r in conn.execute(text("SELECT pledge_id FROM pledges")).all()}
        gone = sorted(set(pledges) - have)
        if gone:
            problems.append(f"{len(gone)} acknowledged pledges missing: {gone[:5]}")
        if not crashed:
            problems += _check_audit(soak, conn)
        problems += _check_repayments(soak, conn, repaid, unacked, crashed)
        # every acknowledged write left its audit entry (in its own transaction)
        written = {r[0] for r in conn.execute(
            text("SELECT entity_id FROM audit_log WHERE entity_id IS NOT NULL")).all()}  # fmt: skip
        unaudited = sorted((set(loans) | set(pledges)) - written)
        if unaudited:
            problems.append(f"{len(unaudited)} acknowledged writes without audit: {unaudited[:5]}")
    health = httpx.get(f"http://127.0.0.1:{soak.port}/health", timeout=10)
    if health.status_code != 200:
        problems.append(f"/health answered {health.status_code}: {health.text[:300]}")
    return problems


def _summary(soak: Soak) -> str:
    counts: dict[str, int] = {}
    for c in soak.calls:
        key = f"{c.kind}:{c.status}"
        counts[key] = counts.get(key, 0) + 1
    return f"{len(soak.calls)} calls " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))


def test_soak_then_kill_and_restart(soak: Soak) -> None:
    started = time.monotonic()
    _start(soak)
    _burst(soak, BURST_S)
    kinds = {k: sum(1 for c in soak.calls if c.kind == k) for k in {c.kind for c in soak.calls}}
    assert len(_acked(soak, "loan")) >= 5, kinds
    assert _acked(soak, "repayment"), kinds
    problems = _check(soak, crashed=False)
    assert not problems, f"{_summary(soak)}\n" + "\n".join(problems)
    # kill -9 mid-burst, restart on the same database, check every acknowledged write again
    _burst(soak, 30.0, kill_after=3.0)
    _start(soak)
    problems = _check(soak, crashed=True)
    assert not problems, f"after kill -9 and restart: {_summary(soak)}\n" + "\n".join(problems)
    print(f"soak: {_summary(soak)} in {time.monotonic() - started:.0f} s")
    assert time.monotonic() - started < 75
