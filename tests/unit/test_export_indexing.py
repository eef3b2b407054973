"""Indexing of the export ledger and the processor registry: bulk actions (versioned ledger records, registry
documents by their JSON-string key, tombstones as deletes), the indexer's batch handling, and mappings that
cover every field of the contract (strict mappings reject unknown fields)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from flowwatch.es_indices import (
    FILED_MECHANISM_MAPPINGS,
    LEDGER_MAPPINGS,
    PROFILE_MAPPINGS,
    REGISTRY_MAPPINGS,
    THRESHOLD_MAPPINGS,
    ledger_index,
    registry_index,
    templates,
)
from flowwatch.exports.models import LedgerRecord, ThresholdProgress
from flowwatch.exports.rules import FiledMechanism, Mechanism, ProcessorProfile
from flowwatch.registry.models import RESTRICTIONS_KEY, RegistryEntry, RestrictedRecipient, RestrictionList
from flowwatch.settings import IndexerSettings, topics
from flowwatch_indexer.documents import BadRecord, epoch_micros, ledger_action, registry_action, registry_key
from flowwatch_indexer.worker import Indexer

T = datetime(2026, 11, 20, 9, 30, 0, 123456, tzinfo=UTC)


def ledger(doc_id: str = "l1", updated_at: datetime = T, persons: int = 5) -> LedgerRecord:
    return LedgerRecord(
        id=doc_id, processor_id="p-bank", pack_id="cn_export_2024", window_id="cn_export_2024:2026",
        window_start=datetime(2025, 12, 31, 16, tzinfo=UTC), persons=persons, sensitive_persons=1, flows=2,
        required_mechanism="standard_contract", required_reasons=["1 sensitive person"],
        mechanisms_on_file=["sc-1"],
        thresholds=[ThresholdProgress(name="standard_contract_persons", counter="persons", threshold=100_000,
                                      value=persons, reached=False, article="2024 Provisions Art. 8")],
        updated_at=updated_at,
    )


def entry(processor_id: str = "p-bank") -> RegistryEntry:
    return RegistryEntry(
        processor_id=processor_id,
        profile=ProcessorProfile(processor_id=processor_id, gba_city="深圳市", important_data_catalogue_refs=["c-1"]),
        mechanisms=[FiledMechanism(id="sc-1", type=Mechanism.STANDARD_CONTRACT, scope_regions=["HK"],
                                   issued_on=date(2026, 1, 5), expires_on=date(2028, 1, 4))],
        updated_at=T, updated_by="admin-1",
    )


def restrictions() -> RestrictionList:
    return RestrictionList(recipients=[RestrictedRecipient(name="Blocked Corp", source="CAC list")], updated_at=T)


# ---------------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------------


def test_ledger_action_is_versioned_by_updated_at() -> None:
    value = ledger().model_dump_json().encode()
    action = ledger_action("fw", value)
    assert (action.index, action.id, action.source, action.op) == (ledger_index("fw"), "l1", value, "index")
    assert action.version == epoch_micros(T.isoformat())
    meta = orjson.loads(action.ndjson().split(b"\n")[0])
    assert meta == {"index": {"_index": "fw-ledger", "_id": "l1", "version": action.version,
                              "version_type": "external_gte"}}


@pytest.mark.parametrize("value", [b"{", b"[]", orjson.dumps({"id": "x"}), orjson.dumps({"updated_at": "x"}),
                                   orjson.dumps({"id": "", "updated_at": T.isoformat()})])
def test_unreadable_ledger_records(value: bytes) -> None:
    with pytest.raises(BadRecord, match="ledger record"):
        ledger_action("fw", value)


def test_registry_key_is_a_json_string() -> None:
    assert registry_key(json.dumps("p-bank").encode()) == "p-bank"
    assert registry_key(json.dumps("平台-1").encode()) == "平台-1"  # \\u escapes (json.dumps default)
    assert registry_key("\"平台-1\"".encode()) == "平台-1"
    for bad in (None, b"", b"p-bank", b'""', b"3", b'{"a": 1}'):
        with pytest.raises(BadRecord):
            registry_key(bad)


def test_registry_entry_is_indexed_by_its_key() -> None:
    value = entry().model_dump_json().encode()
    action = registry_action("fw", json.dumps("p-bank").encode(), value)
    assert (action.index, action.id, action.source, action.version) == (registry_index("fw"), "p-bank", value, None)
    assert orjson.loads(action.ndjson().split(b"\n")[0]) == {"index": {"_index": "fw-registry", "_id": "p-bank"}}


def test_restriction_list_is_indexed_under_its_key() -> None:
    value = restrictions().model_dump_json().encode()
    action = registry_action("fw", json.dumps(RESTRICTIONS_KEY).encode(), value)
    assert (action.id, action.source) == (RESTRICTIONS_KEY, value)


def test_tombstone_deletes() -> None:
    action = registry_action("fw", b'"p-bank"', None)
    assert action.op == "delete" and action.id == "p-bank"
    assert action.ndjson() == b'{"delete":{"_index":"fw-registry","_id":"p-bank"}}\n'


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ('"p-bank"', entry("p-other").model_dump_json()),  # the entry of another processor under this key
        ('"p-bank"', restrictions().model_dump_json()),  # no processor_id
        (json.dumps(RESTRICTIONS_KEY), entry().model_dump_json()),
        ('"p-bank"', "[1, 2]"),
        ('"p-bank"', "{"),
        ("p-bank", entry().model_dump_json()),  # key not JSON
    ],
    ids=["other-processor", "list-under-processor", "entry-under-list-key", "array", "broken", "raw-key"],
)
def test_unreadable_registry_records(key: str, value: str) -> None:
    with pytest.raises(BadRecord):
        registry_action("fw", key.encode(), value.encode())


# ---------------------------------------------------------------------------------------------------
# The indexer's batch handling
# ---------------------------------------------------------------------------------------------------


class FakeMessage:
    def __init__(self, topic: str, key: bytes | None, value: bytes | None, offset: int) -> None:
        self._topic, self._key, self._value, self._offset = topic, key, value, offset

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return []


class FakeEs:
    def __init__(self, responses: list[dict[str, Any]]) -> None:
        self.responses = responses
        self.bodies: list[bytes] = []

    def bulk(self, operations: bytes, refresh: bool) -> dict[str, Any]:
        self.bodies.append(operations)
        return self.responses.pop(0)


@pytest.fixture
def indexer() -> Any:
    idx = Indexer(IndexerSettings(kafka_bootstrap="127.0.0.1:9", es_url="http://127.0.0.1:9", es_index_prefix="fw"))
    idx.consumer.close()
    return idx


def test_indexer_subscribes_to_the_ledger_and_the_registry(indexer: Indexer) -> None:
    t = topics()
    assert t.export_ledger in indexer.subscribed and t.registry in indexer.subscribed


def test_batch_keeps_newest_ledger_and_last_registry_record(indexer: Indexer) -> None:
    t = topics()
    newer = ledger(updated_at=T + timedelta(seconds=5), persons=7).model_dump_json().encode()
    older = ledger(persons=5).model_dump_json().encode()
    first, second = entry().model_dump_json().encode(), entry().model_copy(update={"updated_by": "b"})
    messages = [
        FakeMessage(t.export_ledger, b"p-bank", newer, 0), FakeMessage(t.export_ledger, b"p-bank", older, 1),
        FakeMessage(t.registry, b'"p-bank"', first, 0),
        FakeMessage(t.registry, b'"p-bank"', second.model_dump_json().encode(), 1),
        FakeMessage(t.registry, b'"p-gone"', entry("p-gone").model_dump_json().encode(), 2),
        FakeMessage(t.registry, b'"p-gone"', None, 3),
        FakeMessage(t.registry, b"garbage", first, 4),
    ]
    actions = {(a.index, a.id): a for a in indexer._actions(messages)}  # type: ignore[arg-type]
    assert set(actions) == {("fw-ledger", "l1"), ("fw-registry", "p-bank"), ("fw-registry", "p-gone")}
    assert actions[("fw-ledger", "l1")].source == newer  # versioned: the newest whatever the order
    assert orjson.loads(actions[("fw-registry", "p-bank")].source)["updated_by"] == "b"  # last write wins
    assert actions[("fw-registry", "p-gone")].op == "delete"


def test_delete_of_a_missing_document_is_not_a_failure(indexer: Indexer, caplog: Any) -> None:
    missing = {"delete": {"_id": "p-gone", "status": 404, "result": "not_found"}}
    stale = {"index": {"_id": "l1", "status": 409, "error": {"type": "version_conflict_engine_exception"}}}
    fake = FakeEs([{"items": [missing, stale, {"index": {"_id": "p-bank", "status": 201}}]}])
    indexer.es = fake  # type: ignore[assignment]
    indexer._bulk_with_retry([
        registry_action("fw", b'"p-gone"', None), ledger_action("fw", ledger().model_dump_json().encode()),
        registry_action("fw", b'"p-bank"', entry().model_dump_json().encode()),
    ])
    assert len(fake.bodies) == 1 and indexer.stale == 1
    assert "document rejected" not in caplog.text
    lines = fake.bodies[0].split(b"\n")
    assert orjson.loads(lines[0]) == {"delete": {"_index": "fw-registry", "_id": "p-gone"}}
    assert len(lines) == 1 + 2 + 2 + 1  # delete: one line; index: two; trailing newline


def test_rejected_registry_document_is_logged(indexer: Indexer, caplog: Any) -> None:
    rejected = {"index": {"_id": "p-bank", "status": 400, "error": {"type": "strict_dynamic_mapping_exception"}}}
    indexer.es = FakeEs([{"items": [rejected]}])  # type: ignore[assignment]
    indexer._bulk_with_retry([registry_action("fw", b'"p-bank"', entry().model_dump_json().encode())])
    assert "strict_dynamic_mapping_exception" in caplog.text and indexer.stale == 0


# ---------------------------------------------------------------------------------------------------
# Mappings cover the contract
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "mapping"),
    [
        (set(LedgerRecord.model_fields), LEDGER_MAPPINGS),
        (set(ThresholdProgress.model_fields), THRESHOLD_MAPPINGS),
        (set(RegistryEntry.model_fields) | set(RestrictionList.model_fields), REGISTRY_MAPPINGS),
        (set(ProcessorProfile.model_fields), PROFILE_MAPPINGS),
        (set(FiledMechanism.model_fields), FILED_MECHANISM_MAPPINGS),
    ],
    ids=["ledger", "thresholds", "registry", "profile", "mechanisms"],
)
def test_mapping_has_exactly_the_model_fields(fields: set[str], mapping: dict[str, Any]) -> None:
    assert mapping["dynamic"] == "strict"
    assert set(mapping["properties"]) == fields


def test_filter_fields_are_indexed() -> None:
    ledger_props, registry_props = LEDGER_MAPPINGS["properties"], REGISTRY_MAPPINGS["properties"]
    for name in ("id", "processor_id", "pack_id", "window_id", "required_mechanism", "mechanisms_on_file"):
        assert ledger_props[name] == {"type": "keyword"}, name
    assert ledger_props["updated_at"] == ledger_props["window_start"] == {"type": "date"}
    assert ledger_props["thresholds"]["type"] == "nested"
    assert registry_props["processor_id"] == registry_props["updated_by"] == {"type": "keyword"}
    assert registry_props["mechanisms"]["type"] == "nested"
    assert registry_props["mechanisms"]["properties"]["type"] == {"type": "keyword"}
    assert registry_props["mechanisms"]["properties"]["expires_on"] == {"type": "date"}
    assert registry_props["profile"]["properties"]["gba_city"] == {"type": "keyword"}
    assert registry_props["recipients"] == {"type": "object", "enabled": False}


def test_templates_cover_the_export_indices() -> None:
    t = templates("fw")
    assert t["fw-ledger"]["index_patterns"] == ["fw-ledger"]
    assert t["fw-registry"]["index_patterns"] == ["fw-registry"]
    assert t["fw-ledger"]["template"]["mappings"] is LEDGER_MAPPINGS
    assert t["fw-registry"]["template"]["mappings"] is REGISTRY_MAPPINGS
