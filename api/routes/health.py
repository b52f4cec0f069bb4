"""Liveness with a database check, and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from api.problems import ApiProblemError, problem_responses
from carbonfin.store.database import current_revision, head_revision

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str
    database: str
    migration: str | None
    newest_migration: str


@router.get("/health", response_model=Health, responses=problem_responses(503))
def health(request: Request) -> Health:
    """The service is up and its database answers at the newest migration."""
    engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        revision = current_revision(engine)
    except Exception as exc:
        raise ApiProblemError(503, f"database unreachable: {type(exc).__name__}") from exc
    head = head_revision()
    if revision != head:
        raise ApiProblemError(
            503, f"database at migration {revision}, newest {head}: run db upgrade"
        )
    return Health(
        status="ok",
        database=request.app.state.data.source,
        migration=revision,
        newest_migration=head,
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Prometheus exposition: request counts and latencies by route template and status."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
