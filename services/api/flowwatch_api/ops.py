"""Operational routes of the query service (no authentication, outside ``/v1``) and its request metrics.

- ``/healthz``: liveness, ``{"status": "ok"}`` while the process serves HTTP.
- ``/readyz``: readiness, Elasticsearch answers ping within ``PING_TIMEOUT`` seconds and the Kafka broker a
  metadata request within ``KAFKA_CHECK_TIMEOUT`` (cached ``KAFKA_CHECK_TTL``); else 503 naming what is down.
- ``/metrics``: Prometheus text of this process (counts and timings only).

``install_metrics(app)`` adds the middleware counting every request by route template (``REQUESTS``,
``REQUEST_SECONDS``); ``ES_ERRORS`` is counted by ``flowwatch_api.problems``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from elasticsearch import Elasticsearch
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from flowwatch.observability import KafkaCheck
from flowwatch_api import problems

log = logging.getLogger("flowwatch_api.app")  # the readiness warning's logger before the routes moved here

router = APIRouter()

PING_TIMEOUT = 2.0
"""Seconds /readyz waits for Elasticsearch's ping."""
RETRY_AFTER_SECONDS = problems.RETRY_AFTER_SECONDS
KAFKA_CHECK_TIMEOUT = 1.5
"""Seconds /readyz waits for the broker's metadata answer (cached ``KAFKA_CHECK_TTL`` seconds)."""
KAFKA_CHECK_TTL = 5.0

REQUESTS = Counter("flowwatch_api_requests_total", "HTTP requests answered, by route template and status.",
                   ["method", "route", "status"])
REQUEST_SECONDS = Histogram("flowwatch_api_request_seconds", "HTTP request duration by route template (seconds).",
                            ["method", "route"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
ES_ERRORS = Counter("flowwatch_api_es_errors_total",
                    "Elasticsearch failures answered 503/502: unreachable (transport) or error (API error).",
                    ["kind"])


class Readiness(BaseModel):
    """``/readyz`` answer: ``status`` ready/unavailable, each dependency ok/down, and what is down."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, Literal["ok", "down"]]
    detail: str | None = None


def install_metrics(app: FastAPI) -> None:
    """Add the middleware counting each request and its duration by route template (not the raw path:
    bounded label values; ``<unmatched>`` when no route matched)."""

    async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Request count and duration by route template (not the raw path: bounded label values)."""
        started = time.perf_counter()
        status_code = 500
        try:
            response = await call_next(request)
            status_code = response.status_code
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", None) or "<unmatched>"
            REQUESTS.labels(method=request.method, route=route, status=str(status_code)).inc()
            REQUEST_SECONDS.labels(method=request.method, route=route).observe(time.perf_counter() - started)

    app.middleware("http")(count_requests)


@router.get("/healthz", tags=["ops"], summary="Liveness")
def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process serves HTTP."""
    return {"status": "ok"}


def es_ping(es: Elasticsearch) -> bool:
    """Whether ``es`` answers ping within ``PING_TIMEOUT`` seconds (no retries); False on any error."""
    try:
        return bool(es.options(request_timeout=PING_TIMEOUT, max_retries=0).ping())
    except Exception:
        return False


@router.get(
    "/readyz", tags=["ops"], summary="Readiness: Elasticsearch and the Kafka broker reachable",
    response_model=Readiness,
    responses={503: {"model": Readiness,
                     "description": "Elasticsearch or the Kafka broker does not answer (named in the body)."}},
)
async def readyz(request: Request) -> JSONResponse:
    """200 ``{"status": "ready", "checks": {...}}`` when Elasticsearch answers ping within 2 s and the broker a
    metadata request within 1.5 s (cached 5 s); else 503 with the failing ones in ``detail`` and ``checks``."""
    es: Elasticsearch = request.app.state.es
    kafka_check: KafkaCheck = request.app.state.kafka_check
    es_ok, (kafka_ok, kafka_detail) = await asyncio.gather(
        run_in_threadpool(es_ping, es), run_in_threadpool(kafka_check.check)
    )
    checks = {"elasticsearch": "ok" if es_ok else "down", "kafka": "ok" if kafka_ok else "down"}
    if es_ok and kafka_ok:
        return JSONResponse({"status": "ready", "checks": checks})
    down = [name for name, state in checks.items() if state != "ok"]
    detail = " and ".join("elasticsearch" if n == "elasticsearch" else "kafka broker" for n in down)
    if not kafka_ok:
        log.warning("readiness: kafka broker unreachable: %s", kafka_detail)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"status": "unavailable", "detail": f"{detail} does not answer", "checks": checks},
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


@router.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition format 0.0.4."}})
def prometheus_metrics() -> Response:
    """Prometheus text exposition of this process (no auth, by convention: counts and timings only)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
