"""The query service application: ``create_app(settings)`` builds the FastAPI app.

Routes: ``/healthz`` (liveness, no auth), ``/readyz`` (Elasticsearch answers ping, no auth), ``/v1/*``
(bearer API key): findings, incidents (with their report and obligation marks), alerts, the processor
registry and restriction list (writes go to ``processor-registry``) and the export ledger. Elasticsearch
being unreachable or failing answers 503 JSON (``{"detail": ...}``) with ``Retry-After``; any other
unexpected error answers 500 JSON. Neither returns a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse

from flowwatch import __version__
from flowwatch.apikeys import KeyCache
from flowwatch.settings import ApiSettings, topics
from flowwatch_api import alerts, exports, findings, incidents, registry
from flowwatch_api.producer import UpdateProducer

log = logging.getLogger(__name__)

ES_REQUEST_TIMEOUT = 10.0
"""Seconds before an Elasticsearch request is abandoned (then 503)."""
PING_TIMEOUT = 2.0
"""Seconds /readyz waits for Elasticsearch's ping."""
RETRY_AFTER_SECONDS = "5"


def make_es_client(settings: ApiSettings) -> Elasticsearch:
    """A sync Elasticsearch 8.x client for ``settings`` (basic auth when a username is set)."""
    kwargs: dict[str, Any] = {"request_timeout": ES_REQUEST_TIMEOUT}
    if settings.es_username:
        password = settings.es_password.get_secret_value() if settings.es_password else ""
        kwargs["basic_auth"] = (settings.es_username, password)
    return Elasticsearch(settings.es_url, **kwargs)


def _unavailable(detail: str) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE, content={"detail": detail},
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _on_transport_error(request: Request, exc: Exception) -> JSONResponse:
    log.warning("elasticsearch unreachable on %s %s: %s", request.method, request.url.path, exc)
    return _unavailable("search backend unavailable")


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    code = int(getattr(getattr(exc, "meta", None), "status", 0) or 0)
    log.warning("elasticsearch error %s on %s %s: %s", code, request.method, request.url.path, exc)
    if code == 429 or code >= 500:
        return _unavailable("search backend unavailable")
    return JSONResponse(status_code=status.HTTP_502_BAD_GATEWAY, content={"detail": "search backend error"})


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR, content={"detail": "internal error"}
    )


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the query service for ``settings`` (default: from the environment, ``FLOWWATCH_*``).

    Creates one Elasticsearch client (closed at shutdown), a key-lookup cache and the Kafka producers of
    obligation marks (``incident-updates``) and registry records (``processor-registry``), flushed at
    shutdown; all connect lazily, so the app starts even when Elasticsearch or Kafka is down (``/readyz``
    then answers 503; a write answers 503).
    """
    settings = settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.producer.close()
        app.state.registry_producer.close()
        app.state.es.close()

    app = FastAPI(
        title="Flowwatch query service",
        version=__version__,
        description="Findings of personal-information flows (masked values only), incidents with their legal "
        "obligations and deadline alerts, the processor registry and the cross-border export ledger. "
        "Every /v1 endpoint needs `Authorization: Bearer <API key>`; platform keys see only their processor.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.es = make_es_client(settings)
    app.state.key_cache = KeyCache(settings.key_cache_seconds)
    app.state.producer = UpdateProducer(settings.kafka_bootstrap, topics().incident_updates)
    app.state.registry_producer = UpdateProducer(settings.kafka_bootstrap, topics().registry)

    app.add_exception_handler(TransportError, _on_transport_error)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(Exception, _on_unexpected)

    @app.get("/healthz", tags=["ops"], summary="Liveness")
    def healthz() -> dict[str, str]:
        """Always ``{"status": "ok"}`` while the process serves HTTP."""
        return {"status": "ok"}

    @app.get(
        "/readyz", tags=["ops"], summary="Readiness: Elasticsearch reachable",
        responses={503: {"description": "Elasticsearch does not answer."}},
    )
    def readyz() -> JSONResponse:
        """200 ``{"status": "ready"}`` when Elasticsearch answers ping within 2 s, else 503."""
        es: Elasticsearch = app.state.es
        ok = es.options(request_timeout=PING_TIMEOUT, max_retries=0).ping()
        if ok:
            return JSONResponse({"status": "ready"})
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"status": "unavailable", "detail": "elasticsearch does not answer"},
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    app.include_router(findings.router)
    app.include_router(incidents.router)
    app.include_router(alerts.router)
    app.include_router(registry.router)
    app.include_router(exports.router)
    return app
