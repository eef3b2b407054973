"""Indexing of incident records and alerts: bulk actions, external versions, in-batch order, stale 409s, and
index mappings that cover every field of the contract (strict mappings reject unknown fields)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from flowwatch.alerts import Alert
from flowwatch.es_indices import (
    ALERT_MAPPINGS,
    INCIDENT_MAPPINGS,
    OBLIGATION_MAPPINGS,
    STORED_TEXT,
    alerts_index,
    incidents_index,
    templates,
)
from flowwatch.incidents.models import IncidentRecord
from flowwatch.rules.obligations import Obligation
from flowwatch.settings import IndexerSettings, topics
from flowwatch.stored_form import INCIDENT, OBLIGATION, PackSpec, unpack
from flowwatch_indexer.documents import Action, BadRecord, alert_action, epoch_micros, incident_action
from flowwatch_indexer.worker import Indexer

T = datetime(2026, 11, 20, 9, 30, 0, 123456, tzinfo=UTC)


def incident(doc_id: str = "i1", updated_at: datetime = T, **kw: Any) -> bytes:
    doc = {"id": doc_id, "incident_id": "inc-1", "processor_id": "p", "updated_at": updated_at.isoformat()}
    return orjson.dumps({**doc, **kw})


# ---------------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------------


def test_epoch_micros() -> None:
    assert epoch_micros("1970-01-01T00:00:00Z") == 0
    assert epoch_micros("1970-01-01T00:00:01.000002+00:00") == 1_000_002
    assert epoch_micros("2026-11-20T17:30:00.123456+08:00") == epoch_micros(T.isoformat())
    assert epoch_micros("2026-11-20T09:30:00.123456") == epoch_micros(T.isoformat())  # naive = UTC
    assert epoch_micros("1960-01-01T00:00:00Z") == 0  # ES versions are non-negative
    assert epoch_micros(T.isoformat()) == int(T.timestamp()) * 1_000_000 + 123456
    with pytest.raises(ValueError):
        epoch_micros("yesterday")


def test_incident_action_is_versioned_by_updated_at() -> None:
    value = incident(report={"cause": "对象存储桶误设为公开"}, obligations=[{"id": "o", "recipients": ["网信部门"]}])
    action = incident_action("fw", value)
    assert (action.index, action.id) == (incidents_index("fw"), "i1")
    stored = orjson.loads(action.source)  # stored_form.INCIDENT: never-searched parts as JSON strings
    assert stored["detail_json"] == '{"report":{"cause":"对象存储桶误设为公开"}}' and "report" not in stored
    assert stored["obligations"] == [{"id": "o", "detail_json": '{"recipients":["网信部门"]}'}]
    assert unpack(stored, INCIDENT) == orjson.loads(value)
    assert action.version == epoch_micros(T.isoformat())
    meta, source, end = action.ndjson().split(b"\n")
    assert orjson.loads(meta) == {"index": {"_index": "fw-incidents", "_id": "i1", "version": action.version,
                                            "version_type": "external_gte"}}
    assert source == action.source and end == b""


def alert_doc(count: int = 1, **kw: Any) -> dict[str, Any]:
    return {"alert_id": "a1", "processor_id": "p", "raised_at": "2026-11-03T01:00:00+08:00", "count": count,
            "title": "t", "message": "m", "severity": "high", **kw}


def test_alert_action_folds_into_the_week_of_the_first_occurrence() -> None:
    doc = alert_doc(3, last_raised_at="2026-12-01T00:00:00Z")
    action = alert_action("fw", orjson.dumps(doc))
    # 2026-11-03 01:00 +08:00 is 2026-11-02 17:00 UTC: the November index
    assert (action.index, action.id, action.version, action.op) == ("fw-alerts-2026.w45", "a1", 3, "fold")
    meta, body, end = action.ndjson().split(b"\n")
    assert orjson.loads(meta) == {"update": {"_index": "fw-alerts-2026.w45", "_id": "a1", "retry_on_conflict": 5}}
    update = orjson.loads(body)
    assert update["upsert"] == doc and end == b""
    assert update["script"]["params"]["count"] == 3
    assert update["script"]["params"]["last_raised_at"] == "2026-12-01T00:00:00Z"
    assert alerts_index("fw", datetime(2026, 11, 2, 17, tzinfo=UTC)) == "fw-alerts-2026.w45"  # ISO week
    assert alerts_index("fw", datetime(2026, 12, 31, 12, tzinfo=UTC)) == "fw-alerts-2026.w53"
    assert alerts_index("fw", datetime(2027, 1, 4, tzinfo=UTC)) == "fw-alerts-2027.w01"
    assert alerts_index("fw", datetime(2024, 12, 30, tzinfo=UTC)) == "fw-alerts-2025.w01"  # ISO year


def test_alert_action_with_a_higher_count_supersedes_in_a_batch() -> None:
    one, three = (alert_action("fw", orjson.dumps(alert_doc(n))) for n in (1, 3))
    assert three.supersedes(one) and not one.supersedes(three)


@pytest.mark.parametrize(
    "value",
    [b"not json", b"[]", orjson.dumps({"id": "x"}), orjson.dumps({"updated_at": T.isoformat()}),
     orjson.dumps({"id": "", "updated_at": T.isoformat()}), orjson.dumps({"id": 3, "updated_at": T.isoformat()}),
     orjson.dumps({"id": "x", "updated_at": "soon"})],
)
def test_unreadable_incidents(value: bytes) -> None:
    with pytest.raises(BadRecord):
        incident_action("fw", value)


@pytest.mark.parametrize("value", [b"{", orjson.dumps({"id": "x"}), orjson.dumps({"alert_id": None})])
def test_unreadable_alerts(value: bytes) -> None:
    with pytest.raises(BadRecord):
        alert_action("fw", value)


def test_supersedes() -> None:
    old, new = Action("i", "1", b"{}", 1), Action("i", "1", b"{}", 2)
    assert new.supersedes(old) and not old.supersedes(new) and old.supersedes(Action("i", "1", b"{}", 1))
    assert Action("i", "1", b"{}").supersedes(Action("i", "1", b"{}"))


# ---------------------------------------------------------------------------------------------------
# The indexer's batch handling
# ---------------------------------------------------------------------------------------------------


class FakeMessage:
    def __init__(self, topic: str, value: bytes, offset: int, partition: int = 0) -> None:
        self._topic, self._value, self._offset, self._partition = topic, value, offset, partition

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
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


def test_indexer_subscribes_to_incidents_and_alerts(indexer: Indexer) -> None:
    t = topics()
    assert indexer.subscribed[:4] == [t.findings, t.dead_letters, t.incidents, t.alerts]


def test_batch_keeps_the_newest_incident_state_whatever_the_order(indexer: Indexer) -> None:
    t = topics()
    newer, older = incident(updated_at=T + timedelta(seconds=5), updates=2), incident(updates=1)
    alert_2, alert_1 = orjson.dumps(alert_doc(2, alert_id="a")), orjson.dumps(alert_doc(1, alert_id="a"))
    messages = [FakeMessage(t.incidents, newer, 0), FakeMessage(t.incidents, older, 1),
                FakeMessage(t.alerts, alert_2, 0), FakeMessage(t.alerts, alert_1, 1),
                FakeMessage(t.incidents, b"garbage", 2), FakeMessage("elsewhere", b"{}", 0)]
    actions = {a.id: a for a in indexer._actions(messages)}  # type: ignore[arg-type]
    assert set(actions) == {"i1", "a"}
    # alerts: the highest occurrence count wins, whatever the order
    assert unpack(orjson.loads(actions["i1"].source), INCIDENT) == orjson.loads(newer)
    assert orjson.loads(actions["a"].source)["upsert"]["count"] == 2


def test_stale_incident_409_is_not_a_failure(indexer: Indexer) -> None:
    conflict = {"index": {"_id": "i1", "status": 409, "error": {
        "type": "version_conflict_engine_exception", "reason": "current version [2] is higher"}}}
    ok = {"index": {"_id": "a", "status": 200}}
    fake = FakeEs([{"items": [conflict, ok]}])
    indexer.es = fake  # type: ignore[assignment]
    alert = alert_action("fw", orjson.dumps(alert_doc(alert_id="a")))
    indexer._bulk_with_retry([incident_action("fw", incident()), alert])
    assert len(fake.bodies) == 1 and indexer.stale == 1


def test_retryable_failures_are_retried_then_stale_counted_once(indexer: Indexer, monkeypatch: Any) -> None:
    monkeypatch.setattr("flowwatch_indexer.worker.time.sleep", lambda _s: None)
    conflict = {"index": {"_id": "i1", "status": 409, "error": {"type": "version_conflict_engine_exception"}}}
    busy = {"index": {"_id": "a", "status": 429, "error": {"type": "es_rejected_execution_exception"}}}
    fake = FakeEs([{"items": [conflict, busy]}, {"items": [conflict, {"index": {"_id": "a", "status": 200}}]}])
    indexer.es = fake  # type: ignore[assignment]
    alert = alert_action("fw", orjson.dumps(alert_doc(alert_id="a")))
    indexer._bulk_with_retry([incident_action("fw", incident()), alert])
    assert len(fake.bodies) == 2 and indexer.stale == 1


# ---------------------------------------------------------------------------------------------------
# Mappings cover the contract
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "mapping"),
    [(IncidentRecord, INCIDENT_MAPPINGS), (Obligation, OBLIGATION_MAPPINGS), (Alert, ALERT_MAPPINGS)],
)
def test_mapping_has_exactly_the_model_fields(model: type[BaseModel], mapping: dict[str, Any]) -> None:
    """The fields of the stored form (``stored_form``: some parts as JSON strings under ``*_json``)."""
    assert mapping["dynamic"] == "strict"
    spec = {IncidentRecord: INCIDENT, Obligation: OBLIGATION}.get(model, PackSpec({}))
    if spec.rest is not None:  # only the kept fields are mapped; the rest is one string
        assert spec.keep <= set(model.model_fields)
        stored = set(spec.keep) | {spec.rest}
    else:
        stored = {spec.fields.get(name, name) for name in model.model_fields}
    assert set(mapping["properties"]) == stored
    for name in [*spec.fields.values(), *([spec.rest] if spec.rest else [])]:
        assert mapping["properties"][name] == STORED_TEXT


def test_filter_fields_are_indexed() -> None:
    props, obligations, alerts = (INCIDENT_MAPPINGS["properties"], OBLIGATION_MAPPINGS["properties"],
                                  ALERT_MAPPINGS["properties"])
    for name in ("processor_id", "incident_id", "type", "status"):
        assert props[name] == {"type": "keyword"}
    assert props["important_data"] == {"type": "boolean"} and props["persons"]["type"] == "long"
    assert props["occurred_at"] == props["updated_at"] == {"type": "date"}
    assert props["obligations"]["type"] == "nested"
    assert obligations["id"] == obligations["status"] == {"type": "keyword"} and obligations["due_at"]["type"] == "date"
    assert props["detail_json"] == {"type": "keyword", "index": False, "doc_values": False}
    for name in ("alert_id", "dedup_key", "type", "severity", "processor_id", "incident_id", "obligation",
                 "rule_pack", "status"):
        assert alerts[name] == {"type": "keyword"}, name
    assert alerts["raised_at"] == alerts["due_at"] == {"type": "date"}


def test_templates_cover_the_new_indices() -> None:
    t = templates("fw")
    assert t["fw-incidents"]["index_patterns"] == ["fw-incidents"]
    assert t["fw-alerts"]["index_patterns"] == ["fw-alerts-*"]
    assert t["fw-incidents"]["template"]["mappings"] is INCIDENT_MAPPINGS


def test_offsets_in_other_zones_give_the_same_version() -> None:
    cst = timezone(timedelta(hours=8))
    assert epoch_micros(T.astimezone(cst).isoformat()) == epoch_micros(T.isoformat().replace("+00:00", "Z"))
