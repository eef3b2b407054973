"""build_finding: entity summaries, masking, distinct subjects, deterministic ids, sensitivity."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from flowwatch.detection.categories import load_table
from flowwatch.detection.scanner import default_scanner
from flowwatch.findings import DETECTOR_VERSION, MAX_SAMPLES, build_finding, keyed_hash
from flowwatch.ids import finding_id
from flowwatch.models import FlowEvent, SubjectCountBasis
from flowwatch_tools.samples import checksums as ck

KEY = b"test-hash-key"
DETECTED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

ID_1 = "11010519491231002X"
ID_2 = ck.resident_id(random.Random(1))
ID_3 = ck.resident_id(random.Random(2))
CARD = "6222021234567890128"
MOBILE_1 = "13812345678"
MOBILE_2 = "15987654321"


def event(processor: str = "p-shop", event_id: str = "evt-1", **fields: Any) -> FlowEvent:
    doc: dict[str, Any] = {
        "schema_version": "1.0",
        "event_id": event_id,
        "kind": "transfer",
        "occurred_at": "2026-11-20T09:30:00+08:00",
        "processor": {"id": processor, "name": "示例商城"},
        "source": {"region": "CN"},
        "destination": {"region": "US", "recipient": "Acme Inc."},
        "activity": "export",
    }
    doc.update(fields)
    return FlowEvent.model_validate(doc)


def finding_of(ev: FlowEvent, **kw: Any):
    return build_finding(ev, default_scanner(), KEY, DETECTED, **kw)


def subject_keys(*names: str) -> dict[str, Any]:
    return {"keys": [keyed_hash(KEY, n) for n in names], "scheme": "hmac-sha256"}


# ---------------------------------------------------------------------------------------------------
# Entities
# ---------------------------------------------------------------------------------------------------

MIXED_TEXT = "客服邮箱 kefu@example.com，投诉请发 ts@example.cn。"


@pytest.fixture
def mixed():
    ev = event(
        records=[
            {"身份证号": ID_1, "手机号": MOBILE_1, "银行卡号": CARD, "订单号": "DD000000000001", "vip": True},
            {"身份证号": ID_2, "手机号": int(MOBILE_2), "备注": None},
        ],
        text=MIXED_TEXT,
    )
    return ev, finding_of(ev)


def test_entity_counts_fields_and_samples(mixed) -> None:
    _, f = mixed
    assert f.entity_types == ["CN_BANK_CARD", "CN_MOBILE_PHONE", "CN_RESIDENT_ID", "EMAIL_ADDRESS"]
    assert f.entity_counts == {"CN_BANK_CARD": 1, "CN_MOBILE_PHONE": 2, "CN_RESIDENT_ID": 2, "EMAIL_ADDRESS": 2}
    by_type = {e.type: e for e in f.entities}
    assert by_type["CN_RESIDENT_ID"].fields == ["身份证号"]
    assert by_type["CN_RESIDENT_ID"].masked_samples == ["110105********002X", f"{ID_2[:6]}********{ID_2[-4:]}"]
    assert by_type["CN_MOBILE_PHONE"].fields == ["手机号"]
    assert by_type["CN_MOBILE_PHONE"].masked_samples == ["138****5678", "159****4321"]
    assert by_type["CN_BANK_CARD"].fields == ["银行卡号"]
    assert by_type["CN_BANK_CARD"].masked_samples == ["622202*********0128"]
    assert (by_type["CN_BANK_CARD"].category, by_type["CN_BANK_CARD"].sensitive) == ("financial_account", True)
    assert (by_type["CN_RESIDENT_ID"].category, by_type["CN_RESIDENT_ID"].sensitive) == ("general", False)
    assert by_type["EMAIL_ADDRESS"].fields == ["text"]
    assert by_type["EMAIL_ADDRESS"].masked_samples == ["k***@example.com", "t***@example.cn"]
    assert f.categories == ["financial_account", "general"]
    assert f.sensitive is True


def test_finding_header(mixed) -> None:
    ev, f = mixed
    assert f.event_id == "evt-1"
    assert f.processor_id == "p-shop"
    assert f.processor_name == "示例商城"
    assert f.kind == "transfer"
    assert f.activity == "export"
    assert f.source_region == "CN"
    assert f.destination_region == "US"
    assert f.occurred_at == ev.occurred_at
    assert f.detected_at == DETECTED
    assert f.record_count == 2  # no dataset: the number of records
    assert f.text_chars == len(MIXED_TEXT)
    assert f.detector_version == DETECTOR_VERSION
    assert f.finding_id == finding_id("p-shop", "evt-1")


def test_no_raw_value_in_serialised_finding(mixed) -> None:
    _, f = mixed
    dumped = f.model_dump_json()
    for raw in (ID_1, ID_2, CARD, MOBILE_1, MOBILE_2, "kefu@example.com", "ts@example.cn"):
        assert raw not in dumped, raw
        assert raw.lower() not in dumped.lower(), raw
    # nor the hidden middle parts
    for raw in (ID_1, ID_2):
        assert raw[6:14] not in dumped
    assert CARD[6:15] not in dumped
    assert MOBILE_1[3:7] not in dumped
    # nor the keyed hashes used to count persons
    assert keyed_hash(KEY, "ric:" + ID_1) not in dumped
    assert not re.search(r"[0-9a-f]{64}", dumped)


def test_samples_capped_and_deduplicated() -> None:
    rng = random.Random(7)
    ids = [ck.resident_id(rng) for _ in range(5)]
    f = finding_of(event(records=[{"sfz": i} for i in ids] + [{"sfz": ids[0]}]))
    (summary,) = f.entities
    assert summary.count == 6
    assert len(summary.masked_samples) == MAX_SAMPLES == 3
    assert summary.masked_samples == [f"{i[:6]}********{i[-4:]}" for i in ids[:3]]
    f = finding_of(event(records=[{"sfz": ID_1}] * 4))
    assert f.entities[0].count == 4
    assert f.entities[0].masked_samples == ["110105********002X"]


def test_no_pi_gives_empty_finding() -> None:
    f = finding_of(event(records=[{"订单号": "DD000000000001", "amount": 12}], text="你好，世界"))
    assert f.entities == []
    assert f.entity_types == [] and f.categories == [] and f.entity_counts == {}
    assert f.sensitive is False
    assert (f.distinct_subjects, f.subject_count_basis) == (0, SubjectCountBasis.NONE)


# ---------------------------------------------------------------------------------------------------
# Distinct subjects
# ---------------------------------------------------------------------------------------------------


def test_subject_keys_take_precedence_and_duplicates_count_once() -> None:
    ev = event(
        subjects=subject_keys("alice", "bob", "alice"),
        records=[{"sfz": ID_1}, {"sfz": ID_2}, {"sfz": ID_3}],
        dataset={"record_count": 500},
    )
    f = finding_of(ev)
    assert (f.distinct_subjects, f.subject_count_basis) == (2, SubjectCountBasis.SUBJECT_KEYS)
    assert f.record_count == 500


def test_identifiers_same_id_in_two_records_is_one_person() -> None:
    f = finding_of(event(records=[{"sfz": ID_1, "tel": MOBILE_1}, {"sfz": ID_1.lower(), "tel": MOBILE_2}]))
    assert (f.distinct_subjects, f.subject_count_basis) == (1, SubjectCountBasis.IDENTIFIERS)


def test_identifiers_record_with_id_and_mobile_is_one_person() -> None:
    f = finding_of(event(records=[{"sfz": ID_1, "tel": MOBILE_1, "mail": "a@example.com"}]))
    assert f.entity_counts == {"CN_MOBILE_PHONE": 1, "CN_RESIDENT_ID": 1, "EMAIL_ADDRESS": 1}
    assert (f.distinct_subjects, f.subject_count_basis) == (1, SubjectCountBasis.IDENTIFIERS)


def test_identifiers_distinct_records() -> None:
    records = [{"sfz": ID_1}, {"sfz": ID_2}, {"tel": MOBILE_1}, {"tel": f"+86 {MOBILE_1[:3]} {MOBILE_1[3:7]} "
                                                                         f"{MOBILE_1[7:]}"}, {"card": CARD}]
    f = finding_of(event(records=records, dataset={"record_count": 5}))
    # ID_1, ID_2, MOBILE_1 (twice, differently formatted); a card identifies nobody
    assert (f.distinct_subjects, f.subject_count_basis) == (3, SubjectCountBasis.IDENTIFIERS)


def test_identifiers_in_text() -> None:
    text = f"张三身份证{ID_1}，手机{MOBILE_1}；李四身份证{ID_2}；张三又登记了{ID_1.lower()}。"
    f = finding_of(event(text=text))
    assert f.entity_counts == {"CN_MOBILE_PHONE": 1, "CN_RESIDENT_ID": 3}
    assert (f.distinct_subjects, f.subject_count_basis) == (2, SubjectCountBasis.IDENTIFIERS)
    f = finding_of(event(text="邮件 a@example.com 与 A@Example.com 以及 b@example.com"))
    assert (f.distinct_subjects, f.subject_count_basis) == (2, SubjectCountBasis.IDENTIFIERS)


def test_declared_fallback() -> None:
    f = finding_of(event(records=[{"card": CARD}], dataset={"record_count": 250}))
    assert f.entity_types == ["CN_BANK_CARD"]
    assert (f.distinct_subjects, f.subject_count_basis) == (250, SubjectCountBasis.DECLARED)
    assert f.record_count == 250


def test_none_when_nothing_to_count() -> None:
    f = finding_of(event(records=[{"card": CARD}]))
    assert (f.distinct_subjects, f.subject_count_basis) == (0, SubjectCountBasis.NONE)
    assert f.record_count == 1
    f = finding_of(event(dataset={"record_count": 0}, text="无"))
    assert (f.distinct_subjects, f.subject_count_basis) == (0, SubjectCountBasis.NONE)


def test_empty_subject_keys_fall_back_to_identifiers() -> None:
    f = finding_of(event(subjects={"keys": [], "scheme": "hmac-sha256"}, records=[{"sfz": ID_1}]))
    assert (f.distinct_subjects, f.subject_count_basis) == (1, SubjectCountBasis.IDENTIFIERS)


# ---------------------------------------------------------------------------------------------------
# Ids and sensitivity
# ---------------------------------------------------------------------------------------------------


def test_finding_id_deterministic() -> None:
    records = [{"sfz": ID_1}]
    a = build_finding(event(records=records), default_scanner(), KEY, DETECTED)
    b = build_finding(event(records=records), default_scanner(), b"other-key", datetime(2027, 1, 1, tzinfo=UTC))
    c = build_finding(event(processor="p-other", records=records), default_scanner(), KEY, DETECTED)
    d = build_finding(event(event_id="evt-2", records=records), default_scanner(), KEY, DETECTED)
    assert a.finding_id == b.finding_id == finding_id("p-shop", "evt-1")
    assert re.fullmatch(r"[0-9a-f]{32}", a.finding_id)
    assert c.finding_id != a.finding_id
    assert c.finding_id == finding_id("p-other", "evt-1")
    assert d.finding_id != a.finding_id


def test_sensitive_iff_sensitive_category_present() -> None:
    general = finding_of(event(records=[{"sfz": ID_1, "tel": MOBILE_1}], text="邮箱 a@example.com"))
    assert general.categories == ["general"]
    assert general.sensitive is False
    assert [e.sensitive for e in general.entities] == [False, False, False]
    with_card = finding_of(event(records=[{"sfz": ID_1, "card": CARD}]))
    assert with_card.categories == ["financial_account", "general"]
    assert with_card.sensitive is True
    assert {e.type: e.sensitive for e in with_card.entities} == {"CN_BANK_CARD": True, "CN_RESIDENT_ID": False}


def test_sensitive_follows_the_table(tmp_path: Path) -> None:
    path = tmp_path / "categories.yaml"
    path.write_text(
        "sensitive_categories:\n  location_tracking: x\nentities:\n"
        "  CN_MOBILE_PHONE: {category: location_tracking}\n  CN_BANK_CARD: {category: general}\n",
        "utf-8",
    )
    table = load_table(path)
    f = finding_of(event(records=[{"tel": MOBILE_1}]), table=table)
    assert (f.categories, f.sensitive) == (["location_tracking"], True)
    f = finding_of(event(records=[{"card": CARD}]), table=table)
    assert (f.categories, f.sensitive) == (["general"], False)


# ---------------------------------------------------------------------------------------------------
# Stored form in the findings index (flowwatch.stored_form)
# ---------------------------------------------------------------------------------------------------


def test_stored_form_round_trips_and_matches_the_mapping(mixed) -> None:
    from flowwatch.es_indices import FINDING_MAPPINGS
    from flowwatch.stored_form import FINDING, finding_from_source, finding_source, unpack
    from flowwatch_indexer.documents import finding_action

    _, f = mixed
    src = finding_source(f)
    assert isinstance(src["entities_json"], str) and isinstance(src["entity_counts_json"], str)
    assert "entities" not in src and "entity_counts" not in src
    assert set(src) == set(FINDING_MAPPINGS["properties"])  # strict mapping: every stored field is mapped
    assert finding_from_source(src) == f
    # the indexer stores the detector's message in the same form
    action = finding_action("fw", f.model_dump_json().encode())
    assert action.index == "fw-findings-2026.11.20.01" and action.id == f.finding_id  # 09:30 Beijing = 01:30 UTC
    assert finding_action("fw", f.model_dump_json().encode(), "day").index == "fw-findings-2026.11.20"
    assert orjson.loads(action.source) == src
    # documents written before the change (objects) still read back
    assert finding_from_source(f.model_dump(mode="json")) == f
    assert unpack(src, FINDING)["entity_counts"] == f.entity_counts
