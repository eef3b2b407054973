"""Poison input (issue 17 point 3): every malformed event is one dead letter with its reason, never an
exception out of the batch, and good events beside it still get their findings.

The corpus (``flowwatch_tools.poison``) names each case and the reason it must get; hypothesis generates more
(arbitrary bytes, any JSON value in any field, duplicate keys anywhere, timestamps anywhere in datetime's range
with any offset). The detector's batch processing is called as the worker calls it (``process_batch``).
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowwatch.models import TIMESTAMP_MAX, TIMESTAMP_MIN, DeadLetter, Finding
from flowwatch.validation import REASONS, Rejected, parse_event
from flowwatch_detector import processing
from flowwatch_detector.processing import Outcome, RawEvent, init_worker, process_batch
from flowwatch_tools.poison import KAFKA_SAFE_BYTES, base_event, corpus
from tests.flows import encode, event

KEY = b"poison-src"
CASES = corpus()


@pytest.fixture(scope="module", autouse=True)
def _worker() -> None:
    init_worker(b"k" * 32)  # as the pool initializer does (no settings topic: no bootstrap)


def run(values: list[bytes], key: bytes | None = KEY) -> list[Outcome]:
    return process_batch([RawEvent("flow-events", 0, i, key, v) for i, v in enumerate(values)], "flow-events-dlq")


def assert_dead(out: Outcome, raw: bytes, reason: str) -> None:
    assert out.finding is None and out.incident_update is None and out.export_update is None
    assert out.reason == reason, (out.reason, out.error)
    assert out.error, "a dead letter says why"
    record = DeadLetter.model_validate_json(out.dead_letter or b"")
    assert record.reason == reason and record.error == out.error and record.size_bytes == len(raw)
    assert record.dead_letter_id == hashlib.sha256(raw).hexdigest()


def verdict(out: Outcome) -> str:
    return "finding" if out.finding is not None else str(out.reason)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_poison_case_is_a_dead_letter_with_its_reason(case: Any) -> None:
    [out] = run([case.raw])
    assert_dead(out, case.raw, case.reason)
    with pytest.raises(Rejected) as err:  # the ingest API's gate gives the same verdict
        parse_event(case.raw)
    assert err.value.reason == case.reason


def test_corpus_covers_the_issue_and_fits_through_kafka() -> None:
    names = " ".join(c.name for c in CASES)
    for kind in ("utf8", "deep", "1mb-string", "huge-array", "type-", "NaN", "Infinity", "duplicate",
                 "timestamp-year", "schema-version"):
        assert kind in names, kind
    assert all(len(c.raw) <= KAFKA_SAFE_BYTES for c in CASES)
    assert {c.reason for c in CASES} <= set(REASONS)


def test_poison_interleaved_with_good_events_in_one_batch() -> None:
    rng = random.Random(3)
    good = [encode(event(i, "poison-src", rng)) for i in range(len(CASES))]
    values = [v for pair in zip(good, [c.raw for c in CASES], strict=True) for v in pair]
    outs = run(values)
    assert len(outs) == len(values)
    for i, case in enumerate(CASES):
        finding = Finding.model_validate_json(outs[2 * i].finding or b"")
        assert finding.event_id == f"poison-src-evt-{i:06d}" and "CN_MOBILE_PHONE" in finding.entity_types
        assert_dead(outs[2 * i + 1], case.raw, case.reason)


def test_an_event_that_breaks_the_scan_is_a_processing_error_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    good = encode(event(1, "poison-src", random.Random(1)))

    def broken(*_a: Any, **_k: Any) -> Any:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(processing, "scan_event", broken)
    out_bad, = run([good])
    assert_dead(out_bad, good, "processing_error")
    assert "OverflowError" in (out_bad.error or "")


def test_key_mismatch_still_detected() -> None:
    [out] = run([encode(base_event("km-1", processor="someone"))], key=b"poison-src")
    assert out.reason == "key_mismatch"


# ------------------------------------------------------------------------------------------- property-based

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
FIELDS = ["schema_version", "event_id", "kind", "occurred_at", "emitted_at", "processor", "processor.id",
          "processor.name", "source", "destination", "destination.region", "activity", "dataset",
          "dataset.record_count", "subjects", "records", "text", "incident", "attributes", "purpose", "extra"]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    head, _, tail = path.partition(".")
    if tail and isinstance(doc.get(head), dict):
        doc[head] = {**doc[head], tail: value}
    else:
        doc[head] = value
    return doc


def _one_outcome(raw: bytes) -> Outcome:
    outs = run([raw])
    assert len(outs) == 1
    out = outs[0]
    assert (out.finding is None) != (out.dead_letter is None)
    if out.dead_letter is not None:
        assert out.reason in REASONS and out.reason != "processing_error", (out.reason, out.error)
        DeadLetter.model_validate_json(out.dead_letter)
    return out


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    _one_outcome(raw)


@SETTINGS
@given(st.sampled_from(FIELDS), json_values)
def test_any_json_value_in_any_field_gives_one_verdict_the_api_shares(path: str, value: Any) -> None:
    # the standard library writes integers of any size (orjson refuses those beyond 64 bits)
    raw = json.dumps(_set(base_event("prop-1"), path, value), ensure_ascii=False).encode()
    out = _one_outcome(raw)
    try:
        parse_event(raw)
        api = "finding"
    except Rejected as exc:
        api = exc.reason
    assert verdict(out) == api or (api == "finding" and out.reason == "key_mismatch")


def _objects(node: Any) -> list[dict[str, Any]]:
    """Every non-empty JSON object inside ``node`` (itself included)."""
    found = [node] if isinstance(node, dict) and node else []
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        found += _objects(child)
    return found


def _dump_with_duplicate(node: Any, target: dict[str, Any], key: str, value: Any) -> str:
    """JSON of ``node`` where object ``target`` (by identity) holds ``key`` a second time, with ``value``."""
    if isinstance(node, dict):
        members = [f"{json.dumps(k, ensure_ascii=False)}: {_dump_with_duplicate(v, target, key, value)}"
                   for k, v in node.items()]
        if node is target:
            members.append(f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(value, ensure_ascii=False)}")
        return "{" + ", ".join(members) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_dump_with_duplicate(v, target, key, value) for v in node) + "]"
    return json.dumps(node, ensure_ascii=False)


@SETTINGS
@given(st.data(), json_values)
def test_a_key_twice_in_any_object_is_a_duplicate_key(data: st.DataObject, value: Any) -> None:
    doc = base_event("prop-dup")
    target = data.draw(st.sampled_from(_objects(doc)))
    key = data.draw(st.sampled_from(sorted(target)))
    raw = _dump_with_duplicate(doc, target, key, value).encode()
    assert_dead(_one_outcome(raw), raw, "duplicate_key")


offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@SETTINGS
@given(st.datetimes(timezones=offsets), st.sampled_from(["occurred_at", "emitted_at"]))
def test_timestamps_anywhere_in_datetimes_range(when: datetime, field: str) -> None:
    raw = orjson.dumps(_set(base_event("prop-ts"), field, when.isoformat()))
    out = _one_outcome(raw)
    inside = TIMESTAMP_MIN <= when < TIMESTAMP_MAX
    assert verdict(out) == ("finding" if inside else "schema_violation"), (when, out.error)
    if not inside:
        assert "out of range" in (out.error or "")


def test_timestamp_bounds_are_exact() -> None:
    first, last = TIMESTAMP_MIN, TIMESTAMP_MAX - timedelta(microseconds=1)
    for when, ok in ((first, True), (first - timedelta(microseconds=1), False), (last, True),
                     (TIMESTAMP_MAX, False), (datetime(2099, 12, 31, 23, 59, tzinfo=UTC), True)):
        out = _one_outcome(orjson.dumps(_set(base_event("bound"), "occurred_at", when.isoformat())))
        assert (out.finding is not None) is ok, when
