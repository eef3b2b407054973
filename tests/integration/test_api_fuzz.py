"""Property-based fuzzing of every operation of the query service's OpenAPI document (schemathesis, in-process
over ASGI) against the real embedded engines (noida-db: Elasticsearch and Kafka).

Two tenants are seeded from the real models (findings, incidents, alerts, a ledger record, a registry entry
and an audit record each; ``fuzz_support``). Generated strings draw on a dictionary of every stored id, so
the fuzzer asks for real documents of both tenants by id, filter, full-text query and cursor.

Asserted, for whatever operations ``/openapi.json`` has when the test runs:

- admin, platform (tenant A) and regulator keys: no 5xx; status codes, content types and bodies as
  documented (schemathesis built-in checks);
- the platform key of tenant A never receives anything of tenant B (``fuzz_support.leaked``);
- every ``/v1`` operation answers 401 with ``WWW-Authenticate: Bearer`` without a key, with a malformed or
  unknown key and with a revoked key;
- every write with a regulator key is 403;
- the OpenAPI document covers every route (summary, response schemas, bearer security on ``/v1``).

Generation is derandomized (fixed seeds): a failure reproduces on the next run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from elasticsearch import Elasticsearch
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python.asgi import shutdown_lifespans

from flowwatch.apikeys import Role, create_key, generate_key, revoke_key
from flowwatch.engines import Engine, start_noida
from flowwatch.es_indices import ensure_templates
from flowwatch.settings import ApiSettings, topics
from flowwatch.stack import create_topics
from flowwatch_api.app import create_app
from tests.integration.fuzz_support import (
    SECRET_MARK,
    TENANT_A,
    TENANT_B,
    Tenant,
    leaked,
    seed_restrictions,
    seed_tenant,
)

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 25
"""Fuzzing-phase examples per operation and key (plus the examples and coverage phases' cases)."""
SEED = 20240601
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large],
)


@dataclass
class Env:
    engine: Engine
    es: Elasticsearch
    prefix: str
    app: FastAPI
    keys: dict[str, str]
    a: Tenant
    b: Tenant
    secrets: list[str]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    engine = start_noida(tmp_path_factory.mktemp("noida-fuzz") / "data")
    assert engine.es_url is not None
    es = Elasticsearch(engine.es_url, request_timeout=30)
    try:
        prefix = f"fwfuzz{uuid.uuid4().hex[:10]}"
        # Kafka is up with every topic: a write that answers 503 is then a finding, not the environment
        create_topics(engine.kafka_bootstrap, topics().all_with_partitions())
        ensure_templates(es, prefix)
        keys: dict[str, str] = {}
        keys["admin"] = create_key(es, prefix, Role.ADMIN, name="fuzz-admin")[0]
        keys["soc"] = create_key(es, prefix, Role.SOC_ANALYST, name="fuzz-analyst")[0]
        keys["regulator"] = create_key(es, prefix, Role.REGULATOR, name="fuzz-regulator")[0]
        keys["platform_a"], a_record = create_key(es, prefix, Role.PLATFORM, processor_id=TENANT_A,
                                                  name=f"{TENANT_A}-ops")
        keys["platform_b"], b_record = create_key(es, prefix, Role.PLATFORM, processor_id=TENANT_B,
                                                  name=f"{TENANT_B}-ops")
        keys["revoked"], revoked = create_key(es, prefix, Role.ADMIN, name="fuzz-revoked")
        assert revoke_key(es, prefix, revoked.key_id)
        a = seed_tenant(es, prefix, TENANT_A, a_record.key_id)
        b = seed_tenant(es, prefix, TENANT_B, b_record.key_id)
        seed_restrictions(es, prefix)
        # anything of B's that A does not share (the shared event / incident ids and the counting window are
        # A's too); B's key id appears in B's audit records
        secrets = sorted({SECRET_MARK, b_record.key_id, *b.ids()} - set(a.ids()))
        app = create_app(ApiSettings(es_url=engine.es_url, es_index_prefix=prefix,
                                     kafka_bootstrap=engine.kafka_bootstrap, key_cache_seconds=0))
        yield Env(engine, es, prefix, app, keys, a, b, secrets)
    finally:
        shutdown_lifespans()  # the app's lifespan (started by schemathesis' ASGI client) closes its clients
        es.close()
        engine.stop()


@pytest.fixture(scope="module")
def api_schema(env: Env) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document; generated strings are stored ids of either tenant half the time."""
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "dictionaries": {"stored_ids": {"values": sorted({*env.a.ids(), *env.b.ids()})}},
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "with-security-parameters": False,
            "dictionaries": {"string": {"dictionary": "stored_ids", "probability": 0.5}},
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    })
    return schemathesis.openapi.from_asgi("/openapi.json", env.app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")
v1 = schema.include(path_regex=r"^/v1/")


def call(case: schemathesis.Case, env: Env, key: str | None, headers: dict[str, str] | None = None) -> Any:
    """Send ``case`` to the app with ``key``'s bearer header (or ``headers``; none at all when both are None)."""
    assert not any(h.lower() == "authorization" for h in case.headers or {}), "generated Authorization header"
    if key is not None:
        headers = bearer(env.keys[key])
    return case.call(headers=headers, app=env.app)


def describe(case: schemathesis.Case, response: Any, role: str) -> str:
    """A reproduction for the failure message: role, request and answer."""
    return (f"role={role} {case.method} {case.formatted_path} query={case.query} body={case.body!r}\n"
            f"-> {response.status_code} {response.text[:800]}")


# ---------------------------------------------------------------------------------------------------
# Conformance and tenant isolation
# ---------------------------------------------------------------------------------------------------


@FUZZ_SETTINGS
@schema.parametrize()
def test_fuzz_admin(case: schemathesis.Case, env: Env) -> None:
    response = call(case, env, "admin")
    case.validate_response(response, checks=CHECKS)


@FUZZ_SETTINGS
@schema.parametrize()
def test_fuzz_platform_key_sees_only_its_processor(case: schemathesis.Case, env: Env) -> None:
    response = call(case, env, "platform_a")
    request = response.request
    body = request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else str(request.body or "")
    found = leaked(env.secrets, response.status_code, response.text, str(request.url), body)
    assert not found, f"tenant B data {found} in an answer to tenant A's key:\n{describe(case, response, 'platform A')}"
    case.validate_response(response, checks=CHECKS)


@FUZZ_SETTINGS
@schema.parametrize()
def test_fuzz_regulator_reads_and_never_writes(case: schemathesis.Case, env: Env) -> None:
    response = call(case, env, "regulator")
    if case.method.upper() in WRITE_METHODS and case.path.startswith("/v1/"):
        assert response.status_code == 403, describe(case, response, "regulator")
    case.validate_response(response, checks=CHECKS)


# ---------------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------------

UNKNOWN_KEY = generate_key()[0]
BAD_CREDENTIALS: dict[str, dict[str, str] | None] = {
    "no header": None,
    "empty bearer": {"Authorization": "Bearer "},
    "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
    "malformed": {"Authorization": "Bearer not-a-key"},
    "unknown well-formed key": bearer(UNKNOWN_KEY),
}


@FUZZ_SETTINGS
@v1.parametrize()
def test_fuzz_v1_refuses_missing_bad_and_revoked_keys(case: schemathesis.Case, env: Env) -> None:
    attempts = [*BAD_CREDENTIALS.items(), ("revoked key", bearer(env.keys["revoked"]))]
    for name, headers in attempts:
        response = call(case, env, None, headers)
        assert response.status_code == 401, describe(case, response, name)
        assert response.headers.get("www-authenticate") == "Bearer", describe(case, response, name)


# ---------------------------------------------------------------------------------------------------
# The OpenAPI document
# ---------------------------------------------------------------------------------------------------

UNDOCUMENTED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
"""Routes FastAPI serves about the document itself."""


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    """``(METHOD, path)`` of every route the app serves (included routers expanded), HEAD/OPTIONS aside,
    except the web UI's static files under ``/ui`` and the documentation pages."""
    out: set[tuple[str, str]] = set()

    def add(path: str, methods: set[str] | None) -> None:
        if path in UNDOCUMENTED or path == "/ui" or path.startswith("/ui/"):
            return
        for method in methods or {"GET"}:
            if method not in {"HEAD", "OPTIONS"}:
                out.add((method, path))

    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):  # an included router (FastAPI ≥ 0.16x)
            for ctx in route.effective_route_contexts():
                add(ctx.path, getattr(ctx.original_route, "methods", None))
        else:
            add(getattr(route, "path", ""), getattr(route, "methods", None))
    return out


def test_openapi_documents_every_route() -> None:
    app = create_app(ApiSettings(es_url="http://127.0.0.1:9", kafka_bootstrap="127.0.0.1:9"))  # never contacted
    doc = app.openapi()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    routes = served_routes(app)
    assert routes, "no route found"
    missing = sorted(routes - documented)
    assert not missing, f"served but not in /openapi.json: {missing}"
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    problems: list[str] = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            label = f"{method.upper()} {path}"
            if not (op.get("summary") or "").strip():
                problems.append(f"{label}: no summary")
            success = {code: r for code, r in op.get("responses", {}).items() if code.startswith("2")}
            if not success:
                problems.append(f"{label}: no 2xx response")
            for code, resp in success.items():
                content = resp.get("content") or {}
                if not content:
                    problems.append(f"{label}: {code} response without a media type and schema")
                problems += [f"{label}: {code} {media} response with an empty schema"
                             for media, spec in content.items() if not spec.get("schema")]
            if path.startswith("/v1/"):
                if op.get("security") != [{"bearerAuth": []}]:
                    problems.append(f"{label}: security is {op.get('security')}, not bearerAuth")
    assert not problems, "\n".join(problems)
