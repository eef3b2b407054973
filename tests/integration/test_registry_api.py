"""The processor registry, the restriction list and the export ledger end to end on the real embedded engines
(noida-db): the API produces registry records to ``processor-registry`` (JSON-string keys, as the detector's
global table reads them) → the indexer (real ``Indexer`` in a thread) → Elasticsearch → the API; ledger
records produced to ``export-ledger`` (as the detector's egress agent does) are indexed and served.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from flowwatch.apikeys import Role, create_key
from flowwatch.cluster import ensure_topics
from flowwatch.es_indices import ledger_index, registry_index
from flowwatch.exports.models import LedgerRecord, ThresholdProgress
from flowwatch.registry.models import RESTRICTIONS_KEY, RegistryEntry, RestrictionList
from flowwatch.rules.export_pack import export_pack_for, load_export_packs, window_id, window_start
from flowwatch.settings import ApiSettings, IndexerSettings, topics
from flowwatch_api.app import create_app
from flowwatch_api.producer import UpdateProducer
from flowwatch_indexer.documents import epoch_micros
from flowwatch_indexer.worker import Indexer
from flowwatch_tools.engines import Engine, free_port
from tests.integration.conftest import NoidaIndex, produce_keyed, wait_for

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
LAST_YEAR = NOW - timedelta(days=366)
BANK_PROFILE = {"processor_id": "p-bank", "ciio": False, "gba_city": "深圳", "important_data_catalogue_refs": []}
BANK_MECHANISMS = [
    {"id": "sc-hk", "type": "standard_contract", "scope_regions": ["HK"], "issued_on": "2025-01-06",
     "expires_on": "2030-01-05"},
    {"id": "sa-1", "type": "security_assessment", "scope_recipients": ["Acme Ltd"], "issued_on": "2025-02-01",
     "status": "withdrawn"},
]


def ledger(processor: str, at: datetime, persons: int, updated_at: datetime, required: str = "standard_contract",
           name: str | None = None) -> LedgerRecord:
    """The record the egress agent produces for ``processor`` in the window of an export at ``at``."""
    pack = export_pack_for(at, load_export_packs())
    window = window_id(pack, at)
    return LedgerRecord(
        id=f"{processor}|{window}", processor_id=processor, processor_name=name, pack_id=pack.id, window_id=window,
        window_start=window_start(pack, at), persons=persons, sensitive_persons=persons // 10, flows=persons // 2,
        required_mechanism=required, required_reasons=[f"{persons} persons"], mechanisms_on_file=["sc-hk"],
        thresholds=[ThresholdProgress(name=t.id, counter=t.metric, threshold=t.at_least, value=persons,
                                      reached=persons >= t.at_least, article=t.legal_basis.article)
                    for t in pack.volume_thresholds],
        updated_at=updated_at,
    )


@dataclass
class Env:
    engine: Engine
    es: Elasticsearch
    prefix: str
    keys: dict[str, str]
    client: TestClient
    indexer: Indexer
    ledger: dict[str, LedgerRecord]
    stale: LedgerRecord


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def stored(es: Elasticsearch, index: str, doc_id: str) -> dict[str, Any] | None:
    try:
        return dict(es.get(index=index, id=doc_id))
    except Exception:
        return None


@pytest.fixture(scope="module")
def env(noida_es: NoidaIndex) -> Iterator[Env]:
    engine, es, prefix = noida_es.engine, noida_es.es, noida_es.prefix
    t = topics()
    indexer: Indexer | None = None
    thread: threading.Thread | None = None
    try:
        ensure_topics(engine.kafka_bootstrap, t.all_with_partitions())
        records = {
            "bank-now": ledger("p-bank", NOW, 120_000, NOW - timedelta(minutes=1), name="Bank"),
            "bank-last-year": ledger("p-bank", LAST_YEAR, 900, LAST_YEAR, required="none"),
            "shop-now": ledger("p-shop", NOW, 3, NOW - timedelta(minutes=5)),
        }
        current = records["bank-now"]
        stale = current.model_copy(update={"persons": 99_000, "updated_at": current.updated_at - timedelta(hours=1)})
        produce_keyed(engine.kafka_bootstrap, t.export_ledger,
                [(r.processor_id.encode(), r.model_dump_json().encode()) for r in records.values()])
        indexer = Indexer(IndexerSettings(
            kafka_bootstrap=engine.kafka_bootstrap, es_url=engine.es_url, es_index_prefix=prefix,
            group_id=f"idx-{prefix}", bulk_max_wait=0.2,
        ))
        thread = threading.Thread(target=indexer.run, name="indexer", daemon=True)
        thread.start()
        index = ledger_index(prefix)
        wait_for(lambda: all(stored(es, index, r.id) for r in records.values()), what="ledger indexed")
        # an older state of the current window again (replay / reordering), in a later bulk
        produce_keyed(engine.kafka_bootstrap, t.export_ledger, [(b"p-bank", stale.model_dump_json().encode())])
        wait_for(lambda: indexer is not None and indexer.stale >= 1, what="stale ledger record refused")
        es.indices.refresh(index=index)
        keys = {
            "admin": create_key(es, prefix, Role.ADMIN, name="admin-1")[0],
            "soc": create_key(es, prefix, Role.SOC_ANALYST, name="analyst-li")[0],
            "regulator": create_key(es, prefix, Role.REGULATOR)[0],
            "bank": create_key(es, prefix, Role.PLATFORM, processor_id="p-bank", name="bank-ops")[0],
            "shop": create_key(es, prefix, Role.PLATFORM, processor_id="p-shop")[0],
        }
        app = create_app(ApiSettings(es_url=engine.es_url, es_index_prefix=prefix,
                                     kafka_bootstrap=engine.kafka_bootstrap))
        with TestClient(app) as client:
            yield Env(engine, es, prefix, keys, client, indexer, records, stale)
    finally:
        if indexer is not None:
            indexer.stop()
        if thread is not None:
            thread.join(timeout=30)


def call(env: Env, method: str, path: str, key: str, body: Any = None, params: Any = None) -> Any:
    return env.client.request(method, path, json=body, params=params, headers=bearer(env.keys[key]))


def get(env: Env, path: str, key: str, params: Any = None) -> Any:
    resp = call(env, "GET", path, key, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def read_registry(env: Env, keys: set[bytes], timeout: float = 60.0) -> dict[bytes, list[bytes]]:
    """Every value per wanted key of ``processor-registry``, in topic order, once each wanted key is seen."""
    consumer = Consumer({"bootstrap.servers": env.engine.kafka_bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topics().registry])
    seen: dict[bytes, list[bytes]] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not keys <= set(seen):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error() and msg.key() in keys:
                seen.setdefault(msg.key() or b"", []).append(msg.value() or b"")
    finally:
        consumer.close()
    return seen


def indexed(env: Env, doc_id: str, check: Callable[[dict[str, Any]], bool] = lambda _d: True) -> None:
    def ok() -> bool:
        doc = stored(env.es, registry_index(env.prefix), doc_id)
        return doc is not None and check(doc["_source"])

    wait_for(ok, what=f"registry document {doc_id}")
    env.es.indices.refresh(index=registry_index(env.prefix))


# ---------------------------------------------------------------------------------------------------
# Registry: PUT → processor-registry → indexer → GET
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registered(env: Env) -> dict[str, RegistryEntry]:
    bank = call(env, "PUT", "/v1/processors/p-bank", "admin", {"profile": BANK_PROFILE, "mechanisms": BANK_MECHANISMS})
    assert bank.status_code == 202, bank.text
    shop = call(env, "PUT", "/v1/processors/p-shop", "shop", {"profile": {"processor_id": "p-shop", "ciio": True}})
    assert shop.status_code == 202, shop.text
    entries = {e.processor_id: e for e in (RegistryEntry.model_validate(r.json()) for r in (bank, shop))}
    for processor_id in entries:
        indexed(env, processor_id)
    return entries


def test_put_produces_the_entry_with_a_json_string_key(env: Env, registered: dict[str, RegistryEntry]) -> None:
    seen = read_registry(env, {b'"p-bank"', b'"p-shop"'})
    bank = RegistryEntry.model_validate_json(seen[b'"p-bank"'][-1])
    assert bank == registered["p-bank"]  # the 202 body is what was produced
    assert json.loads(b'"p-bank"') == "p-bank" and json.dumps("p-bank").encode() in seen
    assert bank.profile.gba_city == "Shenzhen" and bank.updated_by == "admin-1"
    assert [m.id for m in bank.mechanisms] == ["sc-hk", "sa-1"] and bank.mechanisms[1].status == "withdrawn"
    assert NOW - timedelta(minutes=1) <= bank.updated_at
    shop = RegistryEntry.model_validate_json(seen[b'"p-shop"'][-1])
    assert shop.profile.ciio and shop.mechanisms == [] and shop.updated_by and shop.updated_by.startswith("key:")


def test_get_serves_the_indexed_entry(env: Env, registered: dict[str, RegistryEntry]) -> None:
    for key in ("admin", "soc", "regulator", "bank"):
        assert RegistryEntry.model_validate(get(env, "/v1/processors/p-bank", key)) == registered["p-bank"]
    body = get(env, "/v1/processors", "regulator")
    assert {i["processor_id"] for i in body["items"]} == {"p-bank", "p-shop"} and body["total"] == 2
    mapping = env.es.indices.get_mapping(index=registry_index(env.prefix))[registry_index(env.prefix)]["mappings"]
    assert mapping["dynamic"] == "strict" and mapping["properties"]["mechanisms"]["type"] == "nested"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"processor_id": "p-shop"}, ["p-shop"]),
        ({"mechanism_type": "standard_contract"}, ["p-bank"]),
        ({"mechanism_type": "security_assessment", "mechanism_active": "true"}, []),  # withdrawn
        ({"mechanism_type": "security_assessment", "mechanism_active": "false"}, ["p-bank"]),
        ({"gba_city": "Shenzhen"}, ["p-bank"]),
        ({"ciio": "true"}, ["p-shop"]),
    ],
)
def test_list_filters(env: Env, registered: dict[str, RegistryEntry], params: dict[str, str],
                      expected: list[str]) -> None:
    assert [i["processor_id"] for i in get(env, "/v1/processors", "soc", params)["items"]] == expected


def test_list_paging(env: Env, registered: dict[str, RegistryEntry]) -> None:
    first = get(env, "/v1/processors", "admin", {"size": 1})
    second = get(env, "/v1/processors", "admin", {"size": 1, "cursor": first["next_cursor"]})
    # most recently updated first: p-shop was registered after p-bank
    assert [first["items"][0]["processor_id"], second["items"][0]["processor_id"]] == ["p-shop", "p-bank"]
    assert second["next_cursor"] is None and first["total"] == 2


def test_platform_scoping(env: Env, registered: dict[str, RegistryEntry]) -> None:
    assert [i["processor_id"] for i in get(env, "/v1/processors", "bank")["items"]] == ["p-bank"]
    assert get(env, "/v1/processors", "bank", {"processor_id": "p-shop"})["items"] == []
    other = call(env, "GET", "/v1/processors/p-shop", "bank")
    missing = call(env, "GET", "/v1/processors/p-nobody", "admin")
    assert other.status_code == missing.status_code == 404 and other.json() == missing.json()
    put = call(env, "PUT", "/v1/processors/p-shop", "bank", {"profile": {"processor_id": "p-shop"}})
    assert put.status_code == 403
    for key in ("soc", "regulator"):
        assert call(env, "PUT", "/v1/processors/p-bank", key, {"profile": BANK_PROFILE}).status_code == 403
    mismatch = call(env, "PUT", "/v1/processors/p-bank", "admin", {"profile": {"processor_id": "p-shop"}})
    assert mismatch.status_code == 422
    assert call(env, "GET", f"/v1/processors/{RESTRICTIONS_KEY}", "admin").status_code == 404


def test_update_replaces_the_entry(env: Env, registered: dict[str, RegistryEntry]) -> None:
    resp = call(env, "PUT", "/v1/processors/p-shop", "shop",
                {"profile": {"processor_id": "p-shop", "ciio": True, "free_trade_zone": "Shanghai FTZ"},
                 "mechanisms": [{"id": "cert-1", "type": "certification", "issued_on": "2026-01-01"}]})
    assert resp.status_code == 202, resp.text
    indexed(env, "p-shop", lambda d: d["profile"].get("free_trade_zone") == "Shanghai FTZ")
    got = RegistryEntry.model_validate(get(env, "/v1/processors/p-shop", "shop"))
    assert got == RegistryEntry.model_validate(resp.json()) and [m.id for m in got.mechanisms] == ["cert-1"]


def test_tombstone_deletes_the_entry(env: Env, registered: dict[str, RegistryEntry]) -> None:
    gone = registered["p-bank"].model_copy(update={"processor_id": "p-gone", "profile": registered[
        "p-bank"].profile.model_copy(update={"processor_id": "p-gone"})})
    produce_keyed(env.engine.kafka_bootstrap, topics().registry, [(b'"p-gone"', gone.model_dump_json().encode())])
    indexed(env, "p-gone")
    assert get(env, "/v1/processors/p-gone", "admin")["processor_id"] == "p-gone"
    produce_keyed(env.engine.kafka_bootstrap, topics().registry, [(b'"p-gone"', None)])
    wait_for(lambda: stored(env.es, registry_index(env.prefix), "p-gone") is None, what="tombstone")
    env.es.indices.refresh(index=registry_index(env.prefix))
    assert call(env, "GET", "/v1/processors/p-gone", "admin").status_code == 404


# ---------------------------------------------------------------------------------------------------
# Restriction list
# ---------------------------------------------------------------------------------------------------


def test_restriction_list_round_trip(env: Env, registered: dict[str, RegistryEntry]) -> None:
    body = {"recipients": [{"name": "Blocked Analytics Ltd", "reason": "PIPL Art. 42", "source": "CAC 2026-1"},
                           {"name": "某某数据经纪公司"}]}
    resp = call(env, "PUT", "/v1/restrictions", "admin", body)
    assert resp.status_code == 202, resp.text
    sent = RestrictionList.model_validate(resp.json())
    key = json.dumps(RESTRICTIONS_KEY).encode()
    assert RestrictionList.model_validate_json(read_registry(env, {key})[key][-1]) == sent
    indexed(env, RESTRICTIONS_KEY, lambda d: d.get("updated_at") is not None
            and RestrictionList.model_validate(d) == sent)
    for reader in ("admin", "soc", "regulator"):
        assert RestrictionList.model_validate(get(env, "/v1/restrictions", reader)) == sent
    for platform in ("bank", "shop"):
        assert call(env, "GET", "/v1/restrictions", platform).status_code == 403
    assert call(env, "PUT", "/v1/restrictions", "soc", body).status_code == 403
    assert call(env, "PUT", "/v1/restrictions", "admin", {"recipients": [{"name": ""}]}).status_code == 422
    # the list is not a processor
    assert {i["processor_id"] for i in get(env, "/v1/processors", "admin")["items"]} == {"p-bank", "p-shop"}


# ---------------------------------------------------------------------------------------------------
# Export ledger
# ---------------------------------------------------------------------------------------------------


def test_stale_ledger_record_does_not_overwrite_a_newer_one(env: Env) -> None:
    current = env.ledger["bank-now"]
    assert env.stale.updated_at < current.updated_at and env.stale.id == current.id
    doc = env.es.get(index=ledger_index(env.prefix), id=current.id)
    assert doc["_version"] == epoch_micros(current.updated_at.isoformat())
    assert LedgerRecord.model_validate(doc["_source"]) == current  # 120,000 persons, not the replayed 99,000
    assert env.es.count(index=ledger_index(env.prefix))["count"] == len(env.ledger)


def ledger_ids(env: Env, key: str, params: Any = None) -> list[str]:
    """Every record id through all pages of size 1 (checks the cursor)."""
    out: list[str] = []
    cursor = None
    base = list(params.items()) if isinstance(params, dict) else list(params or [])
    for _ in range(20):
        body = get(env, "/v1/exports/ledger", key, [*base, ("size", 1)] + ([("cursor", cursor)] if cursor else []))
        out += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            assert body["total"] == len(out)
            return out
    raise AssertionError("paging does not end")


def test_ledger_list_filters_and_scoping(env: Env) -> None:
    r = env.ledger
    assert ledger_ids(env, "regulator") == [r["bank-now"].id, r["shop-now"].id, r["bank-last-year"].id]
    assert ledger_ids(env, "soc", {"processor_id": "p-bank"}) == [r["bank-now"].id, r["bank-last-year"].id]
    assert ledger_ids(env, "soc", {"window_id": r["bank-last-year"].window_id}) == [r["bank-last-year"].id]
    assert ledger_ids(env, "soc", {"pack_id": r["shop-now"].pack_id, "processor_id": "p-shop"}) == [r["shop-now"].id]
    assert ledger_ids(env, "admin", {"required_mechanism": "none"}) == [r["bank-last-year"].id]
    assert ledger_ids(env, "bank") == [r["bank-now"].id, r["bank-last-year"].id]
    assert ledger_ids(env, "bank", {"processor_id": "p-shop"}) == []
    assert ledger_ids(env, "shop") == [r["shop-now"].id]
    served = get(env, "/v1/exports/ledger", "bank", {"window_id": r["bank-now"].window_id})["items"]
    assert [LedgerRecord.model_validate(i) for i in served] == [r["bank-now"]]
    bad = call(env, "GET", "/v1/exports/ledger", "admin", params={"required_mechanism": "handshake"})
    assert bad.status_code == 422
    assert call(env, "GET", "/v1/exports/ledger", "admin", params={"cursor": "!!"}).status_code == 400


def test_current_ledger_of_a_processor(env: Env) -> None:
    r = env.ledger
    body = get(env, "/v1/exports/ledger/p-bank", "bank")
    assert body["processor_id"] == "p-bank" and body["window_ids"] == [r["bank-now"].window_id]
    assert [LedgerRecord.model_validate(i) for i in body["items"]] == [r["bank-now"]]  # not last year's
    assert get(env, "/v1/exports/ledger/p-shop", "regulator")["items"][0]["persons"] == 3
    assert get(env, "/v1/exports/ledger/p-nobody", "admin")["items"] == []
    other = call(env, "GET", "/v1/exports/ledger/p-shop", "bank")
    assert other.status_code == 404


# ---------------------------------------------------------------------------------------------------
# Failures and auth
# ---------------------------------------------------------------------------------------------------


def test_put_answers_503_when_kafka_is_down(env: Env) -> None:
    assert env.engine.es_url is not None
    app = create_app(ApiSettings(es_url=env.engine.es_url, es_index_prefix=env.prefix,
                                 kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    with TestClient(app) as client:
        app.state.registry_producer = UpdateProducer(app.state.settings.kafka_bootstrap, topics().registry, 1.0)
        resp = client.put("/v1/processors/p-bank", json={"profile": BANK_PROFILE}, headers=bearer(env.keys["bank"]))
        assert resp.status_code == 503 and resp.headers["retry-after"]
        assert resp.json()["detail"] == "event bus unavailable; nothing recorded"


def test_reads_answer_503_when_elasticsearch_is_down(env: Env) -> None:
    app = create_app(ApiSettings(es_url=f"http://127.0.0.1:{free_port()}", es_index_prefix=env.prefix,
                                 kafka_bootstrap=env.engine.kafka_bootstrap))
    with TestClient(app) as client:
        for path in ("/v1/processors", "/v1/restrictions", "/v1/exports/ledger", "/v1/exports/ledger/p-bank"):
            resp = client.get(path, headers=bearer(env.keys["admin"]))
            assert resp.status_code == 503, path


def test_unauthenticated(env: Env) -> None:
    for path in ("/v1/processors", "/v1/processors/p-bank", "/v1/restrictions", "/v1/exports/ledger",
                 "/v1/exports/ledger/p-bank"):
        assert env.client.get(path).status_code == 401, path
    assert env.client.put("/v1/processors/p-bank", json={"profile": BANK_PROFILE}).status_code == 401
    assert env.client.put("/v1/restrictions", json={"recipients": []}).status_code == 401
    spec = env.client.get("/openapi.json").json()
    for path, method in [("/v1/processors", "get"), ("/v1/processors/{processor_id}", "put"),
                         ("/v1/restrictions", "put"), ("/v1/exports/ledger/{processor_id}", "get")]:
        assert {"bearerAuth": []} in spec["paths"][path][method]["security"], path
