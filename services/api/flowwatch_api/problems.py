"""Errors of the query service as RFC 9457 problem details (``application/problem+json``).

Every error the service answers — HTTP errors raised by routes (401, 403, 404, 409, …), FastAPI's request
validation (422), an unknown query parameter (400), Elasticsearch being down (503) or failing (502), any
unexpected error (500) — is one JSON object::

    {"type": "about:blank" | "https://flowwatch.dev/problems/<name>", "title": str, "status": int,
     "detail": str, ...extension members}

``type`` is ``about:blank`` (RFC 9457 §4.2.1: the title is then the HTTP status phrase) unless the problem
has its own type URI below. Extension members: ``errors`` (422: ``[{"loc", "msg", "type"}]``, never the
input values, which may hold PI), ``parameter`` (400 for an unknown query parameter) and ``budget`` (429 of the
rate limits, ``flowwatch_api.abuse``). Headers of the original error (``WWW-Authenticate``, ``Retry-After``)
are kept. The optional ``instance`` member is left out:
the answer about another tenant's object must stay byte-identical to the one about a missing object.

``document_problems(openapi)`` rewrites the OpenAPI document so every 4xx/5xx answer that has no model of its
own is declared as ``application/problem+json`` with the ``Problem`` schema; every ``/v1`` operation also
declares the 429 of the rate limits and every ``/v1`` write the 413 of the body-size limit.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowwatch.es_client import explain_es_error

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://flowwatch.dev/problems/"
UNKNOWN_PARAMETER = TYPE_BASE + "unknown-query-parameter"
VALIDATION = TYPE_BASE + "validation-error"
BACKEND_UNAVAILABLE = TYPE_BASE + "search-backend-unavailable"
RETRY_AFTER_SECONDS = "5"
RATE_LIMITED = ("Rate limit of the API key (or of failed authentications from this address) exceeded; retry "
                "after `Retry-After` seconds. `budget` names it: ingest, write, read or auth.")


class ValidationIssue(BaseModel):
    """One invalid part of a request: where (``loc``, e.g. ``["query", "size"]``), what and its kind."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details of an error answer (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI of the problem type; `about:blank`: see `title`.")
    title: str = Field(description="Short summary of the problem type (HTTP status phrase for about:blank).")
    status: int = Field(ge=400, le=599, description="HTTP status code of this answer.")
    detail: str = Field(description="What went wrong in this occurrence, for a human.")
    errors: list[ValidationIssue] | None = Field(default=None, description="422: every invalid part.")
    parameter: str | None = Field(default=None, description="400 unknown query parameter: its name.")
    budget: str | None = Field(default=None, description="429: the rate budget spent (ingest, write, read, auth).")


def problem_response(
    request: Request | None, code: int, detail: str, *, type_: str = "about:blank", title: str | None = None,
    headers: dict[str, str] | None = None, **extensions: Any,
) -> JSONResponse:
    """A ``JSONResponse`` with media type ``application/problem+json`` for status ``code``."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(code).phrase,
        "status": code,
        "detail": detail,
    }
    body.update({k: v for k, v in extensions.items() if v is not None})
    return JSONResponse(status_code=code, content=body, media_type=MEDIA_TYPE, headers=headers)


def _loc(loc: Any) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in (loc or ())]


def validation_issues(exc: RequestValidationError) -> list[dict[str, Any]]:
    """``[{"loc", "msg", "type"}]`` of a validation error (inputs left out: they may hold PI)."""
    return [{"loc": _loc(e.get("loc")), "msg": str(e.get("msg", "")), "type": str(e.get("type", "value_error"))}
            for e in exc.errors()]


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    """Any ``HTTPException`` (routes, auth, 404/405 of the router) as a problem; its headers kept."""
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    extensions = getattr(exc, "problem", None) or {}
    return problem_response(request, exc.status_code, detail, headers=dict(exc.headers or {}) or None, **extensions)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 problem listing every invalid part in ``errors`` and, in ``detail``, the first few."""
    assert isinstance(exc, RequestValidationError)
    issues = validation_issues(exc)
    detail = "; ".join(f"{'.'.join(str(p) for p in i['loc'])}: {i['msg']}" for i in issues[:5]) or "invalid request"
    return problem_response(request, status.HTTP_422_UNPROCESSABLE_CONTENT, detail, type_=VALIDATION,
                            title="Invalid request", errors=issues)


def _unavailable(request: Request) -> JSONResponse:
    return problem_response(request, status.HTTP_503_SERVICE_UNAVAILABLE, "search backend unavailable",
                            type_=BACKEND_UNAVAILABLE, title="Search backend unavailable",
                            headers={"Retry-After": RETRY_AFTER_SECONDS})


def install(app: FastAPI, es_errors: Any) -> None:
    """Register the problem handlers on ``app``. ``es_errors`` is the Prometheus counter of Elasticsearch
    failures (label ``kind``: unreachable | error)."""

    async def on_transport_error(request: Request, exc: Exception) -> JSONResponse:
        es_errors.labels(kind="unreachable").inc()
        log.warning("elasticsearch unreachable on %s %s: %s", request.method, request.url.path, exc)
        return _unavailable(request)

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        code = int(getattr(getattr(exc, "meta", None), "status", 0) or 0)
        es_errors.labels(kind="error").inc()
        log.warning("elasticsearch error %s on %s %s: %s", code, request.method, request.url.path,
                    explain_es_error(exc, request.app.state.settings) if code in (401, 403) else exc)
        if code == 429 or code >= 500:
            return _unavailable(request)
        return problem_response(request, status.HTTP_502_BAD_GATEWAY, "search backend error")

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(request, status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error")

    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(TransportError, on_transport_error)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(Exception, on_unexpected)


_DEFAULT_ERROR_REFS = {"#/components/schemas/HTTPValidationError"}


def document_problems(doc: dict[str, Any]) -> dict[str, Any]:
    """Declare every 4xx/5xx answer of ``doc`` (an OpenAPI 3.1 document) that has no model of its own, and
    FastAPI's default 422, as ``application/problem+json`` ``Problem``; add the 400 of an unknown query
    parameter to every ``/v1`` operation. Returns ``doc`` (changed in place)."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schemas["Problem"].pop("$defs", {})
    schemas.update(defs)
    problem = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            if path.startswith("/v1"):
                responses.setdefault("429", {"description": RATE_LIMITED})
                if method.upper() not in ("GET", "HEAD", "OPTIONS"):
                    responses.setdefault("413", {"description": "Request body over the size limit."})
                responses.setdefault("400", {"description": "Bad request"})
                first = responses["400"].get("description", "")
                if "unknown query parameter" not in first:
                    responses["400"]["description"] = (first + " " if first else "") + \
                        "An unknown query parameter (named in `parameter`)."
            for code, resp in responses.items():
                if code[:1] not in ("4", "5"):
                    continue
                content = resp.get("content") or {}
                refs = {(spec.get("schema") or {}).get("$ref") for spec in content.values()}
                if not content or refs <= _DEFAULT_ERROR_REFS:
                    resp["content"] = dict(problem)
    return doc
