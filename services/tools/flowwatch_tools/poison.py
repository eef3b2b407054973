"""A corpus of malformed flow events ("poison"), each with the dead-letter reason it must get.

Used by the unit tests (``tests/unit/test_poison.py``), the integration test that produces it into the real
stack (``tests/integration/test_poison.py``) and the chaos runner (``bench/chaos.py``). Every case is a
distinct byte string (its dead-letter id is the SHA-256 of its bytes) and at most ``KAFKA_SAFE_BYTES`` long,
so the default Kafka message limit (1 MiB) lets it through to the detector, which must refuse it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flowwatch.models import MAX_EVENT_BYTES

KAFKA_SAFE_BYTES = 1_040_000
"""Largest case (bytes): under Kafka's default ``message.max.bytes`` (1,048,576) with room for the
dead-letter headers the detector adds when it writes the original to the DLQ."""
BIG = MAX_EVENT_BYTES + 1_000
"""Length (characters) of the "1 MB" strings: one such string makes any event ``too_large``."""


@dataclass(frozen=True)
class PoisonCase:
    """One malformed event: a name, its raw bytes and the ``fw-reason`` it must be dead-lettered with."""

    name: str
    raw: bytes
    reason: str


def base_event(event_id: str = "poison-0", processor: str = "poison-src") -> dict[str, Any]:
    """A valid v1 transfer event (the cases below break one thing of it at a time)."""
    return {
        "schema_version": "1.0", "event_id": event_id, "kind": "transfer",
        "occurred_at": "2026-11-20T09:30:00+08:00", "processor": {"id": processor, "name": "毒样本"},
        "source": {"region": "CN"}, "destination": {"region": "SG", "recipient": "Acme Pte. Ltd."},
        "activity": "export", "dataset": {"record_count": 1},
        "records": [{"手机号": "13912345678", "备注": "x"}], "text": "客服邮箱 kefu@example.com",
        "attributes": {"source": "poison"},
    }


def _enc(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def _with(path: str, value: Any, event_id: str) -> dict[str, Any]:
    """``base_event`` with the dotted ``path`` set to ``value`` (``records.0.备注`` indexes a list)."""
    doc = base_event(event_id)
    node: Any = doc
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


STRING_FIELDS = ("event_id", "processor.id", "processor.name", "purpose", "text", "source.system",
                 "destination.recipient", "destination.host", "records.0.备注", "attributes.source", "kind",
                 "occurred_at", "schema_version")
"""Fields that get a "1 MB" string each (``too_large``)."""


def corpus() -> list[PoisonCase]:
    """Every poison case; names are unique, bytes are unique, each ≤ ``KAFKA_SAFE_BYTES``."""
    cases: list[PoisonCase] = []

    def add(name: str, raw: bytes, reason: str) -> None:
        cases.append(PoisonCase(name, raw, reason))

    good = _enc(base_event("poison-utf8"))
    # broken UTF-8: a lone continuation byte, a truncated sequence, an overlong encoding, a surrogate in UTF-8
    add("utf8-lone-continuation", good.replace(b'"x"', b'"\x80"'), "invalid_json")
    add("utf8-truncated", good.replace(b'"x"', b'"\xe6\x97"'), "invalid_json")
    add("utf8-overlong", good.replace(b'"x"', b'"\xc0\xaf"'), "invalid_json")
    add("utf8-encoded-surrogate", good.replace(b'"x"', b'"\xed\xa0\x80"'), "invalid_json")
    add("utf8-in-key", good.replace(b'"text"', b'"te\xffxt"'), "invalid_json")
    add("latin1-document", _enc(base_event("poison-latin1")).decode().replace("毒样本", "café").encode("latin-1",
                                                                                                   "replace"),
        "invalid_json")
    # not JSON at all, or not an object
    add("empty", b"", "invalid_json")
    add("truncated", _enc(base_event("poison-trunc"))[:-7], "invalid_json")
    add("trailing-garbage", _enc(base_event("poison-trail")) + b" }{", "invalid_json")
    add("json-null", b"null", "schema_violation")
    add("json-array", b"[1, 2, 3]", "schema_violation")
    add("json-string", b'"an event"', "schema_violation")
    add("binary", bytes(range(256)) * 4, "invalid_json")
    # deep nesting: beyond the parser's depth limit, in an unscanned field and at the root
    add("deep-arrays", b'{"schema_version": "1.0", "attributes": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "invalid_json")
    add("deep-objects", b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, "invalid_json")
    add("deep-in-record", _enc(_with("records", [{"备注": "x"}], "poison-deep")).replace(
        b'"x"', b"[" * 5_000 + b"]" * 5_000), "invalid_json")
    # "1 MB" strings (10^6 characters) in every string field: over the 1 MB contract limit
    for path in STRING_FIELDS:
        add(f"1mb-string-{path}", _enc(_with(path, "毒" if path == "text" else "a", f"poison-1mb-{path}")).replace(
            b'"a"' if path != "text" else "\"毒\"".encode(), b'"' + b"a" * BIG + b'"', 1), "too_large")
    add("1mb-key", _enc(_with("attributes", {"k" * BIG: "v"}, "poison-1mb-key")), "too_large")
    add("long-but-under-1mb-name", _enc(_with("processor.name", "n" * 900_000, "poison-longname")),
        "schema_violation")
    # huge arrays
    add("huge-array-records", _enc(_with("records", [{"a": 1}] * 101_000, "poison-huge-records")), "too_large")
    add("huge-array-subject-keys", _enc(_with("subjects", {"keys": [f"{i:032x}" for i in range(20_000)]},
                                              "poison-huge-keys")), "schema_violation")
    add("huge-array-of-nulls-as-text", _enc(_with("text", [None] * 150_000, "poison-huge-text")), "schema_violation")
    # wrong types
    add("type-event-id-number", _enc(_with("event_id", 12345, "x")), "schema_violation")
    add("type-processor-string", _enc(_with("processor", "acme", "poison-type-proc")), "schema_violation")
    add("type-records-string", _enc(_with("records", "13912345678", "poison-type-records")), "schema_violation")
    add("type-record-nested", _enc(_with("records", [{"a": {"b": "13912345678"}}], "poison-type-nested")),
        "schema_violation")
    add("type-occurred-at-epoch", _enc(_with("occurred_at", 1763600000, "poison-type-epoch")), "schema_violation")
    add("type-kind-bool", _enc(_with("kind", True, "poison-type-kind")), "schema_violation")
    add("type-record-count-string", _enc(_with("dataset.record_count", "twelve", "poison-type-count")),
        "schema_violation")
    add("type-attributes-list", _enc(_with("attributes", ["a", "b"], "poison-type-attrs")), "schema_violation")
    add("unknown-field", _enc({**base_event("poison-unknown-field"), "extra": 1}), "schema_violation")
    add("missing-processor", _enc({k: v for k, v in base_event("poison-missing").items() if k != "processor"}),
        "schema_violation")
    # NaN / Infinity / out-of-range numbers (not JSON, RFC 8259)
    for i, literal in enumerate((b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999")):
        add(f"number-{literal.decode()}-in-record",
            _enc(_with("records.0.备注", "@@", f"poison-num-{i}")).replace(b'"@@"', literal), "invalid_json")
    add("number-NaN-record-count", _enc(_with("dataset.record_count", 7, "poison-num-count")).replace(
        b'"record_count": 7', b'"record_count": NaN'), "invalid_json")
    add("number-huge-integer", _enc(_with("dataset.record_count", 7, "poison-num-bigint")).replace(
        b'"record_count": 7', b'"record_count": 1' + b"0" * 5000), "invalid_json")
    # duplicate keys: top level, nested (processor.id twice: which processor is it?), in a record
    top = _enc(base_event("poison-dup-top"))
    add("duplicate-event-id", top.replace(b'"event_id": "poison-dup-top"',
                                          b'"event_id": "poison-dup-top", "event_id": "other"'), "duplicate_key")
    add("duplicate-processor-id", _enc(base_event("poison-dup-proc")).replace(
        b'"id": "poison-src"', b'"id": "poison-src", "id": "someone-else"'), "duplicate_key")
    add("duplicate-record-field", _enc(base_event("poison-dup-rec")).replace(
        '"备注": "x"'.encode(), '"备注": "x", "备注": "y"'.encode()), "duplicate_key")
    # timestamps out of range or not RFC 3339
    for name, value in (("year-0001-plus14", "0001-01-01T00:00:00+14:00"), ("year-9999-minus12",
                        "9999-12-31T23:59:59-12:00"), ("year-1970", "1970-01-01T00:00:00Z"),
                        ("year-2100", "2100-01-01T00:00:00Z"), ("month-13", "2026-13-01T00:00:00Z"),
                        ("naive", "2026-11-20T09:30:00"), ("offset-25h", "2026-11-20T09:30:00+25:00"),
                        ("date-only", "2026-11-20"), ("leap-second", "2026-06-30T23:59:60Z")):
        add(f"timestamp-{name}", _enc(_with("occurred_at", value, f"poison-ts-{name}")), "schema_violation")
    add("timestamp-emitted-9999", _enc(_with("emitted_at", "9999-12-31T23:59:59-12:00", "poison-ts-emitted")),
        "schema_violation")
    incident = {"incident_id": "inc-1", "type": "leak", "status": "occurred", "harm_to_individuals": True,
                "detected_at": "9999-12-31T23:59:59-12:00"}
    add("timestamp-incident-9999", _enc({**_with("kind", "incident", "poison-ts-incident"), "incident": incident}),
        "schema_violation")
    # unknown schema versions
    for version in ("2.0", "0.9", "1", "1.0.1", "", "v1"):
        add(f"schema-version-{version or 'empty'}", _enc(_with("schema_version", version, f"poison-sv-{version}")),
            "unknown_schema_version")
    add("schema-version-number", _enc(_with("schema_version", 1.0, "poison-sv-number")), "unknown_schema_version")
    add("schema-version-missing", _enc({k: v for k, v in base_event("poison-sv-missing").items()
                                        if k != "schema_version"}), "schema_violation")
    names = [c.name for c in cases]
    assert len(set(names)) == len(names) and len({c.raw for c in cases}) == len(cases)
    assert all(len(c.raw) <= KAFKA_SAFE_BYTES for c in cases), [c.name for c in cases if len(c.raw) > KAFKA_SAFE_BYTES]
    return cases
