"""Liveness with a database check, and Prometheus metrics.

Both are ``async`` routes: they never wait for a thread of the pool that serves the other
routes. ``/health`` runs its database check on a limiter of its own (two threads) over a
connection pool of its own (one connection, at most two), so it answers within its timeout even
when every worker thread and pooled connection of the service is busy.
"""

from __future__ import annotations

import functools

import anyio
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import Engine, text

from api.problems import ApiProblemError, problem_responses
from carbonfin.store.database import current_revision, head_revision

router = APIRouter(tags=["service"])
HEALTH_TIMEOUT_S = 2.0


class Health(BaseModel):
    status: str
    database: str
    migration: str | None
    newest_migration: str


@functools.cache
def _newest() -> str:
    return head_revision()  # the shipped migrations do not change while the process runs


def _check(engine: Engine) -> tuple[str | None, str]:
    with engine.connect() as connection:
        connection.execute(text("select 1"))
    return current_revision(engine), _newest()


@router.get("/health", response_model=Health, responses=problem_responses(503))
async def health(request: Request) -> Health:
    """The service is up and its database answers at the newest migration."""
    state = request.app.state
    if getattr(state, "health_limiter", None) is None:
        state.health_limiter = anyio.CapacityLimiter(2)
    try:
        with anyio.fail_after(HEALTH_TIMEOUT_S):
            revision, head = await anyio.to_thread.run_sync(
                _check, state.health_engine, limiter=state.health_limiter, abandon_on_cancel=True
            )
    except TimeoutError as exc:
        raise ApiProblemError(
            503,
            f"database did not answer within {HEALTH_TIMEOUT_S:g} s",
            headers={"Retry-After": "1"},
        ) from exc
    except Exception as exc:
        raise ApiProblemError(503, f"database unreachable: {type(exc).__name__}") from exc
    if revision != head:
        raise ApiProblemError(
            503, f"database at migration {revision}, newest {head}: run db upgrade"
        )
    return Health(
        status="ok",
        database=state.data.source,
        migration=revision,
        newest_migration=head,
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus exposition: request counts and latencies by method and route template (a
    bounded label set: unknown methods are ``OTHER``, unmatched paths ``<unmatched>``), audit
    write failures (``carbonfin_audit_failures_total``) and rate-limited authentications."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
