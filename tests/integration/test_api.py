"""Integration tests of the query service against a real embedded Elasticsearch (noida-db).

One engine per module; 50 synthetic findings of 3 processors over May–June 2024 (daily indices),
with timestamp ties to exercise the ``finding_id`` tie-break; keys of every role.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers
from fastapi.testclient import TestClient

from flowwatch.apikeys import Role, create_key, generate_key, revoke_key
from flowwatch.es_indices import findings_index
from flowwatch.ids import finding_id
from flowwatch.models import EntitySummary, EventKind, Finding, SubjectCountBasis
from flowwatch.settings import ApiSettings
from flowwatch.stored_form import finding_source
from flowwatch_api.app import create_app
from flowwatch_tools.engines import Engine, free_port
from tests.integration.conftest import NoidaIndex

pytestmark = pytest.mark.integration

PROCESSORS = ["acme-cn", "beta-hk", "gamma-sz"]
BASE = datetime(2024, 5, 1, tzinfo=UTC)
CATEGORY = {
    "CN_RESIDENT_ID": "specific_identity",
    "CN_MOBILE_PHONE": "general",
    "EMAIL_ADDRESS": "general",
    "MEDICAL_TERM": "medical_health",
    "PERSON": "general",
    "CN_BANK_CARD": "financial_account",
}
TYPE_SETS = [
    ["CN_MOBILE_PHONE", "CN_RESIDENT_ID"], ["EMAIL_ADDRESS"], ["MEDICAL_TERM", "PERSON"], ["CN_BANK_CARD"]
]
SHARED_EVENT = "evt-shared"


def make_finding(processor: str, event_id: str, occurred_at: datetime, types: list[str]) -> Finding:
    """A synthetic finding with masked samples only."""
    entities = [
        EntitySummary(type=t, category=CATEGORY[t], sensitive=CATEGORY[t] != "general", count=2,
                      fields=["f"], masked_samples=["1**********2"])
        for t in sorted(types)
    ]
    return Finding(
        finding_id=finding_id(processor, event_id), event_id=event_id, processor_id=processor,
        processor_name=processor.upper(), kind=EventKind.TRANSFER, occurred_at=occurred_at,
        detected_at=occurred_at + timedelta(seconds=3), source_region="CN", destination_region="HK",
        entity_types=sorted(types), categories=sorted({e.category for e in entities}),
        sensitive=any(e.sensitive for e in entities), entity_counts={t: 2 for t in types}, entities=entities,
        distinct_subjects=2, subject_count_basis=SubjectCountBasis.IDENTIFIERS, record_count=2, text_chars=0,
        detector_version="test",
    )


def synthetic_findings() -> list[Finding]:
    """48 findings (pairs share a timestamp) plus one event id used by two processors: 50 in all."""
    docs = [
        make_finding(
            PROCESSORS[i % 3], f"evt-{i:03d}", BASE + timedelta(hours=(i // 2) * 61), TYPE_SETS[i % 4]
        )
        for i in range(48)
    ]
    shared_at = datetime(2024, 6, 10, 12, tzinfo=UTC)
    docs += [make_finding(p, SHARED_EVENT, shared_at, ["EMAIL_ADDRESS"]) for p in PROCESSORS[:2]]
    return docs


@dataclass
class Env:
    """What the tests share: engine, client, prefix, documents and keys by name."""

    engine: Engine
    es_url: str
    es: Elasticsearch
    prefix: str
    docs: list[Finding]
    keys: dict[str, str]
    client: TestClient

    def by_id(self) -> dict[str, Finding]:
        return {d.finding_id: d for d in self.docs}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def expected_order(docs: list[Finding]) -> list[str]:
    """Ids in the API's sort order: occurred_at desc, finding_id asc."""
    return [d.finding_id for d in sorted(docs, key=lambda d: (-d.occurred_at.timestamp(), d.finding_id))]


@pytest.fixture(scope="module")
def env(noida_es: NoidaIndex) -> Iterator[Env]:
    engine, es, prefix = noida_es.engine, noida_es.es, noida_es.prefix
    es_url = engine.es_url
    docs = synthetic_findings()
    actions = [
        {"_index": findings_index(prefix, d.occurred_at), "_id": d.finding_id,
         "_source": finding_source(d)}
        for d in docs
    ]
    ok, errors = helpers.bulk(es, actions, refresh="wait_for")
    assert ok == len(docs) and not errors
    es.indices.refresh(index=f"{prefix}-findings-*")
    keys = {
        "admin": create_key(es, prefix, Role.ADMIN, name="admin")[0],
        "soc": create_key(es, prefix, Role.SOC_ANALYST)[0],
        "regulator": create_key(es, prefix, "regulator")[0],
        "acme": create_key(es, prefix, Role.PLATFORM, processor_id="acme-cn")[0],
        "beta": create_key(es, prefix, Role.PLATFORM, processor_id="beta-hk")[0],
    }
    app = create_app(ApiSettings(es_url=es_url, es_index_prefix=prefix))
    with TestClient(app) as client:
        yield Env(engine, es_url, es, prefix, docs, keys, client)


def fetch_all(env: Env, key: str, params: dict[str, Any] | list[tuple[str, Any]], size: int = 7) -> list[str]:
    """Page through every result; check page invariants; return the ids in received order."""
    base = list(params.items()) if isinstance(params, dict) else list(params)
    ids: list[str] = []
    cursor: str | None = None
    first: tuple[int, str] | None = None
    for _ in range(1000):
        query = [*base, ("size", size)] + ([("cursor", cursor)] if cursor else [])
        resp = env.client.get("/v1/findings", params=query, headers=bearer(env.keys[key]))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert len(body["items"]) <= size
        first = first or (body["total"], body["total_relation"])
        assert body["total"] >= len(body["items"])
        ids += [item["finding_id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["items"]) == size
    assert first is not None
    # an exact first-page total is the number of results; a lower bound ("gte") is at most that
    assert first[0] == len(ids) if first[1] == "eq" else first[0] <= len(ids)
    return ids


# ---------------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/findings", "/v1/findings/abc"])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}, bearer("not-a-key"),
     bearer(generate_key()[0])],
    ids=["none", "empty", "basic", "malformed", "unknown"],
)
def test_401_without_valid_key(env: Env, path: str, headers: dict[str, str]) -> None:
    resp = env.client.get(path, headers=headers)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert resp.json()["detail"]


def test_revoked_key_is_refused(env: Env) -> None:
    key, record = create_key(env.es, env.prefix, Role.SOC_ANALYST)
    app = create_app(ApiSettings(es_url=env.es_url, es_index_prefix=env.prefix, key_cache_seconds=0))
    with TestClient(app) as client:
        assert client.get("/v1/findings", headers=bearer(key)).status_code == 200
        assert revoke_key(env.es, env.prefix, record.key_id) is True
        assert revoke_key(env.es, env.prefix, record.key_id) is True  # idempotent
        resp = client.get("/v1/findings", headers=bearer(key))
        assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
    assert revoke_key(env.es, env.prefix, "0000000000000000") is False


def test_all_roles_can_read(env: Env) -> None:
    for name in ("admin", "soc", "regulator"):
        body = env.client.get("/v1/findings", params={"size": 1}, headers=bearer(env.keys[name])).json()
        # the newest-first walk stops once a page is full: the total is then a lower bound
        assert body["total_relation"] == "gte" and 1 <= body["total"] < len(env.docs)
        body = env.client.get("/v1/findings", params={"size": 500}, headers=bearer(env.keys[name])).json()
        assert (body["total"], body["total_relation"]) == (len(env.docs), "eq")


# ---------------------------------------------------------------------------------------------------
# Filters and paging
# ---------------------------------------------------------------------------------------------------


def test_page_shape_and_default_size(env: Env) -> None:
    resp = env.client.get("/v1/findings", headers=bearer(env.keys["admin"]))
    body = resp.json()
    assert set(body) == {"items", "next_cursor", "total", "total_relation"}
    assert body["total"] == 50 and len(body["items"]) == 50 and body["next_cursor"] is None
    first = Finding.model_validate(body["items"][0])
    assert first == env.by_id()[first.finding_id]


def test_paging_returns_everything_once_in_order(env: Env) -> None:
    ids = fetch_all(env, "admin", {}, size=7)
    assert ids == expected_order(env.docs)
    assert len(set(ids)) == 50


def test_paging_exact_multiple_ends_with_null_cursor(env: Env) -> None:
    expected = expected_order([d for d in env.docs if d.processor_id == "gamma-sz"])
    assert len(expected) == 16
    assert fetch_all(env, "admin", {"processor": "gamma-sz"}, size=8) == expected


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"processor_id": "beta-hk"}, lambda d: d.processor_id == "beta-hk"),
        ({"processor": "beta-hk"}, lambda d: d.processor_id == "beta-hk"),  # the old name, kept as an alias
        ([("processor_id", "acme-cn"), ("processor", "gamma-sz")],
         lambda d: d.processor_id in {"acme-cn", "gamma-sz"}),
        ({"entity_type": "EMAIL_ADDRESS"}, lambda d: "EMAIL_ADDRESS" in d.entity_types),
        ([("entity_type", "PERSON"), ("entity_type", "CN_BANK_CARD")],
         lambda d: bool({"PERSON", "CN_BANK_CARD"} & set(d.entity_types))),
        ({"category": "medical_health"}, lambda d: "medical_health" in d.categories),
        ({"sensitive": "true"}, lambda d: d.sensitive),
        ({"sensitive": "false"}, lambda d: not d.sensitive),
        ({"event_id": SHARED_EVENT}, lambda d: d.event_id == SHARED_EVENT),
        ({"processor_id": "beta-hk", "entity_type": "EMAIL_ADDRESS"},
         lambda d: d.processor_id == "beta-hk" and "EMAIL_ADDRESS" in d.entity_types),
        ({"processor_id": "nobody"}, lambda d: False),
    ],
    ids=["processor_id", "processor-alias", "processors-both-names", "entity_type", "entity_types", "category",
         "sensitive", "not-sensitive",
         "event_id", "combined", "no-match"],
)
def test_filters(env: Env, params: Any, predicate: Callable[[Finding], bool]) -> None:
    expected = expected_order([d for d in env.docs if predicate(d)])
    assert fetch_all(env, "admin", params, size=500) == expected


def test_time_range_is_inclusive_from_exclusive_to(env: Env) -> None:
    ordered = sorted(env.docs, key=lambda d: d.occurred_at)
    start, end = ordered[10].occurred_at, ordered[30].occurred_at
    cst = timezone(timedelta(hours=8))
    params = {"from": start.astimezone(cst).isoformat(), "to": end.isoformat().replace("+00:00", "Z")}
    expected = expected_order([d for d in env.docs if start <= d.occurred_at < end])
    assert 15 <= len(expected) <= 25
    assert fetch_all(env, "admin", params, size=7) == expected
    june = [d for d in env.docs if d.occurred_at >= datetime(2024, 6, 1, tzinfo=UTC)]
    assert fetch_all(env, "admin", {"from": "2024-06-01T00:00:00Z"}, size=500) == expected_order(june)
    may = [d for d in env.docs if d.occurred_at < datetime(2024, 6, 1, tzinfo=UTC)]
    assert fetch_all(env, "admin", {"to": "2024-06-01T00:00:00Z"}, size=500) == expected_order(may)
    assert june and may


@pytest.mark.parametrize(
    "params",
    [{"size": 0}, {"size": 501}, {"from": "2024-06-01T00:00:00"}, {"to": "yesterday"},
     {"sensitive": "maybe"}],
)
def test_invalid_parameters_422(env: Env, params: dict[str, Any]) -> None:
    resp = env.client.get("/v1/findings", params=params, headers=bearer(env.keys["admin"]))
    assert resp.status_code == 422


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", "WzEsMiwzXQ", "WyJhIiwiYiJd"])
def test_invalid_cursor_400(env: Env, cursor: str) -> None:
    resp = env.client.get("/v1/findings", params={"cursor": cursor}, headers=bearer(env.keys["admin"]))
    assert resp.status_code == 400 and resp.json()["detail"] == "invalid cursor"
    assert resp.headers["content-type"] == "application/problem+json"


def test_get_by_id(env: Env) -> None:
    doc = env.docs[5]
    resp = env.client.get(f"/v1/findings/{doc.finding_id}", headers=bearer(env.keys["regulator"]))
    assert resp.status_code == 200
    assert Finding.model_validate(resp.json()) == doc
    resp = env.client.get("/v1/findings/does-not-exist", headers=bearer(env.keys["admin"]))
    assert resp.status_code == 404 and resp.json()["detail"]


def test_missing_index_reads_as_empty(env: Env) -> None:
    prefix = f"fwempty{uuid.uuid4().hex[:10]}"
    key, _ = create_key(env.es, prefix, Role.ADMIN)
    app = create_app(ApiSettings(es_url=env.es_url, es_index_prefix=prefix))
    with TestClient(app) as client:
        resp = client.get("/v1/findings", headers=bearer(key))
        assert resp.status_code == 200
        assert resp.json() == {"items": [], "next_cursor": None, "total": 0, "total_relation": "eq"}
        assert client.get(f"/v1/findings/{env.docs[0].finding_id}", headers=bearer(key)).status_code == 404


# ---------------------------------------------------------------------------------------------------
# Tenant isolation
# ---------------------------------------------------------------------------------------------------


def test_platform_sees_only_its_processor(env: Env) -> None:
    acme = [d for d in env.docs if d.processor_id == "acme-cn"]
    assert fetch_all(env, "acme", {}, size=7) == expected_order(acme)
    assert fetch_all(env, "acme", {"processor": "acme-cn"}, size=500) == expected_order(acme)
    assert fetch_all(env, "acme", {"processor": "beta-hk"}) == []
    assert fetch_all(env, "acme", [("processor", "beta-hk"), ("processor", "gamma-sz")]) == []
    both = fetch_all(env, "acme", [("processor", "beta-hk"), ("processor", "acme-cn")], size=500)
    assert both == expected_order(acme)
    assert fetch_all(env, "acme", {"entity_type": "EMAIL_ADDRESS"}, size=500) == expected_order(
        [d for d in acme if "EMAIL_ADDRESS" in d.entity_types]
    )


def test_platform_cannot_reach_another_processor_by_search_or_aggregation(env: Env) -> None:
    acme = [d for d in env.docs if d.processor_id == "acme-cn"]
    assert fetch_all(env, "acme", {"q": "beta-hk"}) == []  # full text naming the other tenant
    assert fetch_all(env, "acme", {"q": "acme-cn | beta-hk"}, size=500) == expected_order(acme)
    assert fetch_all(env, "acme", {"event_id": SHARED_EVENT}, size=500) == expected_order(
        [d for d in acme if d.event_id == SHARED_EVENT])  # the event id both processors used
    window = {"from": "2024-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}
    stats = env.client.get("/v1/findings/stats", params={**window, "processor": "beta-hk"},
                           headers=bearer(env.keys["acme"])).json()
    assert stats["total"] == 0 and stats["by_processor"] == {} and stats["over_time"] == []
    own = env.client.get("/v1/findings/stats", params=window, headers=bearer(env.keys["acme"])).json()
    assert own["by_processor"] == {"acme-cn": len(acme)} and own["total"] == len(acme)


def test_findings_stats_count_by_type_category_processor_and_day(env: Env) -> None:
    window = {"from": "2024-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z", "interval": "day"}
    stats = env.client.get("/v1/findings/stats", params=window, headers=bearer(env.keys["regulator"])).json()
    docs = env.docs
    assert stats["total"] == len(docs) and stats["sensitive"] == sum(d.sensitive for d in docs)
    for t in {t for d in docs for t in d.entity_types}:
        assert stats["by_entity_type"][t] == sum(t in d.entity_types for d in docs), t
    assert sum(stats["by_processor"].values()) == len(docs)
    by_day: dict[str, int] = {}
    for d in docs:
        day = d.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT00:00:00Z")
        by_day[day] = by_day.get(day, 0) + 1
    got = {b["t"].replace("+00:00", "Z"): b["count"] for b in stats["over_time"]}
    assert got == by_day
    # a window cutting a day in two counts only what lies inside it
    first = min(d.occurred_at for d in docs)
    part = env.client.get("/v1/findings/stats", params={"from": first.isoformat(), "to": (first + timedelta(
        seconds=1)).isoformat()}, headers=bearer(env.keys["admin"])).json()
    assert part["total"] == sum(d.occurred_at == first for d in docs)
    bad = env.client.get("/v1/findings/stats", params={"from": "2025-01-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"},
                         headers=bearer(env.keys["admin"]))
    assert bad.status_code == 422


def test_platform_cannot_fetch_another_processors_finding(env: Env) -> None:
    other = next(d for d in env.docs if d.processor_id == "beta-hk")
    own = next(d for d in env.docs if d.processor_id == "acme-cn")
    resp = env.client.get(f"/v1/findings/{other.finding_id}", headers=bearer(env.keys["acme"]))
    assert resp.status_code == 404
    missing = env.client.get("/v1/findings/does-not-exist", headers=bearer(env.keys["acme"]))
    assert resp.json() == missing.json()  # same answer: existence does not leak
    own_resp = env.client.get(f"/v1/findings/{own.finding_id}", headers=bearer(env.keys["acme"]))
    assert own_resp.status_code == 200
    by_owner = env.client.get(f"/v1/findings/{other.finding_id}", headers=bearer(env.keys["beta"]))
    assert by_owner.status_code == 200


def test_platform_event_id_of_another_processor(env: Env) -> None:
    gamma_event = next(d for d in env.docs if d.processor_id == "gamma-sz").event_id
    assert fetch_all(env, "acme", {"event_id": gamma_event}) == []
    shared = fetch_all(env, "acme", {"event_id": SHARED_EVENT})
    assert shared == [finding_id("acme-cn", SHARED_EVENT)]
    assert fetch_all(env, "beta", {"event_id": SHARED_EVENT}) == [finding_id("beta-hk", SHARED_EVENT)]


def test_platform_cursor_from_another_key_stays_scoped(env: Env) -> None:
    first = env.client.get("/v1/findings", params={"size": 3}, headers=bearer(env.keys["admin"])).json()
    body = env.client.get(
        "/v1/findings", params={"size": 500, "cursor": first["next_cursor"]}, headers=bearer(env.keys["acme"])
    ).json()
    assert body["items"] and {i["processor_id"] for i in body["items"]} == {"acme-cn"}


# ---------------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------------


def test_healthz_and_readyz(env: Env) -> None:
    assert env.client.get("/healthz").json() == {"status": "ok"}
    app: Any = env.client.app
    real_check = app.state.kafka_check
    try:  # this module runs Elasticsearch only: /readyz needs the Kafka broker too
        resp = env.client.get("/readyz")
        assert resp.status_code == 503 and resp.json()["checks"] == {"elasticsearch": "ok", "kafka": "down"}
        app.state.kafka_check = SimpleNamespace(check=lambda: (True, "ok"))
        resp = env.client.get("/readyz")
        assert resp.status_code == 200 and resp.json()["status"] == "ready"
    finally:
        app.state.kafka_check = real_check


def test_es_down_gives_503_json() -> None:
    app = create_app(ApiSettings(es_url=f"http://127.0.0.1:{free_port()}", es_index_prefix="fwdown"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        resp = client.get("/v1/findings", headers=bearer(generate_key()[0]))
        assert resp.status_code == 503
        assert resp.headers["content-type"] == "application/problem+json"
        body = resp.json()
        assert (body["status"], body["detail"]) == (503, "search backend unavailable")
        assert resp.headers["retry-after"]
        assert "Traceback" not in resp.text
        assert client.get("/v1/findings/x", headers=bearer(generate_key()[0])).status_code == 503


def test_openapi_declares_bearer(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert {"bearerAuth": []} in spec["paths"]["/v1/findings"]["get"]["security"]
    assert {"bearerAuth": []} in spec["paths"]["/v1/findings/{finding_id}"]["get"]["security"]
    assert "security" not in spec["paths"]["/healthz"]["get"]
    names = {p["name"] for p in spec["paths"]["/v1/findings"]["get"]["parameters"]}
    wanted = {"processor_id", "processor", "entity_type", "category", "sensitive", "from", "to", "event_id", "size",
              "cursor"}
    assert wanted <= names


# ---------------------------------------------------------------------------------------------------
# API consistency (issue 15 point 4): unknown parameters, RFC 9457 problems, local documentation assets
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [("/v1/findings", "processr_id"), ("/v1/findings/stats", "entity"), ("/v1/alerts", "processor"),
     ("/v1/audit", "limit"), ("/v1/incidents", "page"), ("/v1/me", "x")],
)
def test_unknown_query_parameter_is_400_naming_it(env: Env, path: str, name: str) -> None:
    resp = env.client.get(path, params={name: "acme-cn"}, headers=bearer(env.keys["admin"]))
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    body = resp.json()
    assert body["parameter"] == name and repr(name) in body["detail"]
    assert body["type"] == "https://flowwatch.dev/problems/unknown-query-parameter"
    assert (body["status"], body["title"]) == (400, "Unknown query parameter")


def test_unknown_parameter_needs_a_key_first(env: Env) -> None:
    assert env.client.get("/v1/findings", params={"nope": "1"}).status_code == 401


def test_processor_id_filters_findings_stats(env: Env) -> None:
    """The issue's symptom: ``processor_id`` used to be ignored on findings and counted every processor."""
    body = env.client.get("/v1/findings/stats", params={"processor_id": "beta-hk", "from": "2024-01-01T00:00:00Z"},
                          headers=bearer(env.keys["admin"])).json()
    assert body["by_processor"] == {"beta-hk": sum(d.processor_id == "beta-hk" for d in env.docs)}


def test_errors_are_problem_details(env: Env) -> None:
    cases = [
        (env.client.get("/v1/findings"), 401, "about:blank"),
        (env.client.get("/v1/findings/does-not-exist", headers=bearer(env.keys["admin"])), 404, "about:blank"),
        (env.client.get("/v1/findings", params={"size": 0}, headers=bearer(env.keys["admin"])), 422,
         "https://flowwatch.dev/problems/validation-error"),
        (env.client.delete("/v1/findings", headers=bearer(env.keys["admin"])), 405, "about:blank"),
        (env.client.get("/v1/nothing-here", headers=bearer(env.keys["admin"])), 404, "about:blank"),
    ]
    for resp, code, type_ in cases:
        assert resp.status_code == code, resp.text
        assert resp.headers["content-type"] == "application/problem+json", resp.headers
        body = resp.json()
        assert body["status"] == code and body["type"] == type_ and body["title"] and isinstance(body["detail"], str)
    unauthorized, _, invalid, _, _ = (c[0] for c in cases)
    assert unauthorized.headers["www-authenticate"] == "Bearer"
    assert invalid.json()["errors"][0]["loc"] == ["query", "size"]
    assert "input" not in invalid.json()["errors"][0]


def test_openapi_declares_problem_responses(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    op = spec["paths"]["/v1/findings"]["get"]
    for code in ("400", "422"):
        assert op["responses"][code]["content"] == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert {"type", "title", "status", "detail"} <= set(spec["components"]["schemas"]["Problem"]["properties"])
    old = next(p for p in op["parameters"] if p["name"] == "processor")
    assert old.get("deprecated") is True


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_use_only_local_assets(env: Env, path: str) -> None:
    import re

    page = env.client.get(path)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url: ?["']([^"']+)""", page.text)
    assert urls, page.text
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls
    for url in urls:
        if url.startswith("/"):
            assert env.client.get(url).status_code == 200, url
