"""Property-based fuzzing of every operation of the query service's OpenAPI document (schemathesis, in-process
over ASGI) against the real embedded engines (noida-db: Elasticsearch and Kafka).

Two tenants are seeded from the real models (findings, incidents, alerts, a ledger record, a registry entry
and an audit record each; ``fuzz_support``). Generated strings are, half the time, ids stored for either
tenant (processor, event, finding, incident, alert, ledger, audit ids…) and cursors mostly real ones
harvested from admin pages, so the fuzzer asks for both tenants' documents by path id, filter, full-text
query and cursor, and the writes hit real alerts and incidents.

Asserted, for whatever operations ``/openapi.json`` has when the test runs (stateless phases: examples,
coverage, fuzzing; positive and negative data):

- admin and platform (tenant A) keys on every operation: no 5xx; status codes, content types and bodies as
  documented (schemathesis ``not_a_server_error``, ``status_code_conformance``, ``content_type_conformance``,
  ``response_schema_conformance``);
- the platform key of tenant A never receives anything of tenant B (``fuzz_support.leaked``);
- every ``/v1`` write with a regulator key is 403 (and conforms);
- every ``/v1`` operation answers 401 with ``WWW-Authenticate: Bearer`` without an Authorization header,
  and with a revoked, malformed, unknown, empty or non-bearer credential (in turn);
- the OpenAPI document covers every route (summary, 2xx response schemas, bearer security on ``/v1``).

Generation is derandomized (fixed seeds): a failure reproduces on the next run. A failure message carries
the request (role, method, path, query, body) to replay.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from elasticsearch import Elasticsearch
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from flowwatch.apikeys import Role, create_key, generate_key, revoke_key
from flowwatch.cluster import ensure_topics
from flowwatch.settings import ApiSettings, topics
from flowwatch_api.app import create_app
from flowwatch_tools.engines import Engine
from tests.integration.conftest import NoidaIndex
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

MAX_EXAMPLES = 20
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
    settings: ApiSettings
    keys: dict[str, str]
    a: Tenant
    b: Tenant
    stored_ids: list[str]
    secrets: list[str]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def env(noida_es: NoidaIndex) -> Iterator[Env]:
    engine, es, prefix = noida_es.engine, noida_es.es, noida_es.prefix
    # Kafka is up with every topic: a write that answers 503 is then a finding, not the environment
    ensure_topics(engine.kafka_bootstrap, topics().all_with_partitions())
    keys: dict[str, str] = {}
    keys["admin"] = create_key(es, prefix, Role.ADMIN, name="fuzz-admin")[0]
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
    # triage writes wait for a refresh (refresh=wait_for): refresh often so the fuzzing is not paced by it
    es.indices.put_settings(index=f"{prefix}-*", settings={"index": {"refresh_interval": "100ms"}})
    # anything of B's that A does not share (the shared event / incident ids and the counting window are
    # A's too); B's key id appears in B's audit records
    secrets = sorted({SECRET_MARK, b_record.key_id, *b.ids()} - set(a.ids()))
    stored_ids = sorted({a_record.key_id, b_record.key_id, *a.ids(), *b.ids()})
    # the fuzzer sends thousands of requests per key and many failed authentications: the rate limits
    # (tests/unit/test_api_abuse.py, tests/integration/test_api_abuse.py) are opened wide here
    wide = 1e9
    api_settings = ApiSettings(es_url=engine.es_url, es_index_prefix=prefix,
                               kafka_bootstrap=engine.kafka_bootstrap, key_cache_seconds=0,
                               api_rate_ingest_events=wide, api_rate_ingest_burst=10**9, api_rate_write=wide,
                               api_rate_write_burst=10**9, api_rate_read=wide, api_rate_read_burst=10**9,
                               api_rate_auth_failures=wide, api_rate_auth_failures_burst=10**9)
    yield Env(engine, es, prefix, api_settings, keys, a, b, stored_ids, secrets)


@pytest.fixture
def app(env: Env) -> FastAPI:
    """A fresh app per test: schemathesis ends the ASGI lifespan after each test, and the app's shutdown closes
    its Elasticsearch client and producers for good."""
    return create_app(env.settings)


def harvest_cursors(app: FastAPI, key: str) -> list[str]:
    """Every ``next_cursor`` the admin key gets paging (one item a page) through each list without path
    parameters: real cursors pointing between documents of both tenants, to hand the fuzzer."""
    cursors: list[str] = []
    with TestClient(app) as client:
        for path, ops in app.openapi()["paths"].items():
            params = {p["name"] for p in ops.get("get", {}).get("parameters", [])}
            if not path.startswith("/v1/") or "{" in path or not {"cursor", "size"} <= params:
                continue
            cursor = None
            for _ in range(50):
                query = {"size": 1, **({"cursor": cursor} if cursor else {})}
                resp = client.get(path, params=query, headers=bearer(key))
                if resp.status_code != 200:  # the fuzz tests report it
                    break
                cursor = resp.json().get("next_cursor")
                if not cursor:
                    break
                cursors.append(cursor)
    assert cursors, "no list answered a next_cursor"
    return cursors


def free_text_query_params(doc: dict[str, Any]) -> dict[str, dict[str, bool]]:
    """``{"GET /v1/findings": {name: is_array}}``: the query parameters of each operation that take any
    string (ids, names, full text; not enums, dates or the cursor), from the OpenAPI document."""
    out: dict[str, dict[str, bool]] = {}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            found: dict[str, bool] = {}
            for param in op.get("parameters", []):
                if param.get("in") != "query" or param["name"] == "cursor":
                    continue
                schema = param.get("schema", {})
                variants = [v for v in schema.get("anyOf", [schema]) if v.get("type") != "null"]
                for v in variants:
                    item = v.get("items", {}) if v.get("type") == "array" else v
                    if item.get("type") == "string" and not {"enum", "format", "$ref"} & item.keys():
                        found[param["name"]] = v.get("type") == "array"
            if found:
                out[f"{method.upper()} {path}"] = found
    return out


def ids_in_query(ids: list[str], params_by_op: dict[str, dict[str, bool]]) -> Any:
    """A schemathesis ``flatmap_query`` hook: up to three of the operation's free-text query parameters set
    to stored ids (the type-wide dictionary does not reach ``anyOf``/array parameters such as ``processor``)."""

    def flatmap_query(context: schemathesis.HookContext, query: Any) -> st.SearchStrategy[Any]:
        params = params_by_op.get(context.operation.label) if context.operation is not None else None
        if not params or not isinstance(query, dict | None):
            return st.just(query)

        def apply(picks: list[tuple[str, str]]) -> Any:
            if not picks:
                return query
            out = dict(query or {})
            for name, value in picks:
                out[name] = [value] if params[name] else value
            return out

        return st.lists(st.tuples(st.sampled_from(sorted(params)), st.sampled_from(ids)), max_size=3).map(apply)

    return flatmap_query


@pytest.fixture(scope="module")
def api_schema(env: Env) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document. Generated strings are stored ids of either tenant half the time, and
    cursors real ones (of admin pages over both tenants) most of the time."""
    cursors = harvest_cursors(create_app(env.settings), env.keys["admin"])
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "dictionaries": {
            "stored_ids": {"values": env.stored_ids},
            "cursors": {"values": cursors},
        },
        "parameters": {"query.cursor": {"dictionary": "cursors", "probability": 0.7}},
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
    loaded = schemathesis.openapi.from_asgi("/openapi.json", create_app(env.settings), config=config)
    loaded.hook(ids_in_query(env.stored_ids, free_text_query_params(loaded.raw_schema)))
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")
v1 = schema.include(path_regex=r"^/v1/")
v1_writes = schema.include(path_regex=r"^/v1/", method=sorted(WRITE_METHODS))


def call(case: schemathesis.Case, app: FastAPI, headers: dict[str, str] | None) -> Any:
    """Send ``case`` to ``app`` with ``headers`` (``None``: no Authorization header at all)."""
    assert not any(h.lower() == "authorization" for h in case.headers or {}), "generated Authorization header"
    return case.call(headers=headers, app=app)


def describe(case: schemathesis.Case, response: Any, role: str) -> str:
    """A reproduction for the failure message: role, request and answer."""
    return (f"role={role} {case.method} {case.formatted_path} query={case.query} body={case.body!r}\n"
            f"-> {response.status_code} {response.text[:800]}")


# ---------------------------------------------------------------------------------------------------
# Conformance and tenant isolation
# ---------------------------------------------------------------------------------------------------


@FUZZ_SETTINGS
@schema.parametrize()
def test_fuzz_admin(case: schemathesis.Case, env: Env, app: FastAPI) -> None:
    response = call(case, app, bearer(env.keys["admin"]))
    case.validate_response(response, checks=CHECKS)


@FUZZ_SETTINGS
@schema.parametrize()
def test_fuzz_platform_key_sees_only_its_processor(case: schemathesis.Case, env: Env, app: FastAPI) -> None:
    response = call(case, app, bearer(env.keys["platform_a"]))
    request = response.request
    body = request.body.decode("utf-8", "replace") if isinstance(request.body, bytes) else str(request.body or "")
    found = leaked(env.secrets, response.status_code, response.text, str(request.url), body)
    assert not found, f"tenant B data {found} in an answer to tenant A's key:\n{describe(case, response, 'platform A')}"
    case.validate_response(response, checks=CHECKS)


@FUZZ_SETTINGS
@v1_writes.parametrize()
def test_fuzz_regulator_never_writes(case: schemathesis.Case, env: Env, app: FastAPI) -> None:
    response = call(case, app, bearer(env.keys["regulator"]))
    if case.method.upper() == case.operation.method.upper():
        assert response.status_code == 403, describe(case, response, "regulator")
    case.validate_response(response, checks=CHECKS)


# ---------------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------------

UNKNOWN_KEY = generate_key()[0]
_sent: dict[str, int] = {}


@FUZZ_SETTINGS
@v1.parametrize()
def test_fuzz_v1_refuses_missing_bad_and_revoked_keys(case: schemathesis.Case, env: Env, app: FastAPI) -> None:
    # every case without a header, and with one of the bad keys in turn (generation is deterministic)
    bad = [
        ("revoked key", bearer(env.keys["revoked"])),
        ("malformed key", {"Authorization": "Bearer not-a-key"}),
        ("unknown well-formed key", bearer(UNKNOWN_KEY)),
        ("empty bearer", {"Authorization": "Bearer "}),
        ("basic scheme", {"Authorization": "Basic dXNlcjpwYXNz"}),
    ]
    turn = _sent[case.operation.label] = _sent.get(case.operation.label, -1) + 1
    # the coverage phase also sends methods the path does not serve: those are 405 before any auth
    expected = 401 if case.method.upper() == case.operation.method.upper() else 405
    for name, headers in [("no Authorization header", None), bad[turn % len(bad)]]:
        response = call(case, app, headers)
        assert response.status_code == expected, describe(case, response, name)
        if expected == 401:
            assert response.headers.get("www-authenticate") == ["Bearer"], describe(case, response, name)


# ---------------------------------------------------------------------------------------------------
# The OpenAPI document
# ---------------------------------------------------------------------------------------------------

UNDOCUMENTED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/docs/assets/{name}"}
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
    assert any(path.startswith("/v1/") for _, path in routes), f"no /v1 route found in app.routes: {routes}"
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
            if path.startswith("/v1/") and op.get("security") != [{"bearerAuth": []}]:
                problems.append(f"{label}: security is {op.get('security')}, not bearerAuth")
    assert not problems, "\n".join(problems)
