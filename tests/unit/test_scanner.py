"""Scanner: context words, overlap resolution, records, PIPL categories, masking."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from stdnum import luhn

from flowwatch.detection.categories import GENERAL, NOT_PI, default_table, load_table
from flowwatch.detection.context import default_rules
from flowwatch.detection.masking import mask
from flowwatch.detection.recognizers import BankCardRecognizer, ResidentIdRecognizer
from flowwatch.detection.scanner import DEFAULT_THRESHOLD, FieldMatch, Scanner, default_scanner
from flowwatch.detection.types import Match, Recognizer
from flowwatch_tools.samples import checksums as ck

KNOWN_ID = "11010519491231002X"
CARD_19 = "6222021234567890128"
MOBILE = "13812345678"

CANONICAL_ENTITIES = [
    "CN_RESIDENT_ID", "CN_PASSPORT", "HK_ID", "MO_ID", "TW_ID", "CN_HMT_PERMIT", "CN_MOBILE_PHONE",
    "CN_LANDLINE", "CN_BANK_CARD", "CN_USCC", "CN_LICENSE_PLATE", "EMAIL_ADDRESS", "IP_ADDRESS",
    "GEO_COORDINATE", "PERSON", "ADDRESS", "DATE_OF_BIRTH", "MEDICAL_TERM", "RELIGIOUS_BELIEF", "BIOMETRIC",
]  # fmt: skip
SENSITIVE_CATEGORIES = {
    "biometric", "religious_belief", "specific_identity", "medical_health", "financial_account",
    "location_tracking", "minor_under_14",
}  # fmt: skip


def luhn_card(body: str) -> str:
    return body + luhn.calc_check_digit(body)


OTHER_CARD = luhn_card("811111111111111")  # Luhn-valid, not UnionPay, not 3/4/5/6: base score 0.4
VISA_CARD = luhn_card("411111111111111")  # Luhn-valid Visa-like: base score 0.45 (needs context)


def found(text: str, hint: str = "") -> list[tuple[str, int, int, float]]:
    return [(m.type, m.start, m.end, m.score) for m in default_scanner().scan_text(text, hint=hint)]


# ---------------------------------------------------------------------------------------------------
# Context words
# ---------------------------------------------------------------------------------------------------


def test_context_rules_loaded() -> None:
    rules = default_rules()
    assert (rules.window, rules.boost, rules.penalty) == (24, 0.15, 0.5)
    assert "卡号" in rules.positive["CN_BANK_CARD"]
    assert "invoice" in rules.negative
    assert DEFAULT_THRESHOLD == 0.5


def test_non_unionpay_card_needs_context() -> None:
    assert luhn.is_valid(OTHER_CARD)
    assert BankCardRecognizer().validate(OTHER_CARD) == 0.4
    assert found(OTHER_CARD) == []
    assert found(f"附言{OTHER_CARD}谢谢") == []
    assert found(f"卡号{OTHER_CARD}谢谢") == [("CN_BANK_CARD", 2, 18, 0.55)]
    assert found(f"银行卡：{OTHER_CARD}") == [("CN_BANK_CARD", 4, 20, 0.55)]
    assert found(f"Card no. {OTHER_CARD}") == [("CN_BANK_CARD", 9, 25, 0.55)]


def test_non_unionpay_card_reported_in_bank_card_field() -> None:
    scanner = default_scanner()
    assert scanner.scan_records([{"remark": OTHER_CARD}]) == []
    assert scanner.scan_records([{"bank_card": OTHER_CARD}]) == [
        FieldMatch(0, "bank_card", Match("CN_BANK_CARD", 0, 16, 0.55, OTHER_CARD))
    ]


def test_visa_like_card_needs_context() -> None:
    assert found(f"附言{VISA_CARD}谢谢") == []
    assert found(f"卡号{VISA_CARD}谢谢") == [("CN_BANK_CARD", 2, 18, 0.6)]


def test_positive_word_beyond_window_does_not_boost() -> None:
    window = default_rules().window
    # the last character of "卡号" is 24 characters before the card: inside the window
    inside = "卡号" + "的" * (window - 2) + OTHER_CARD
    assert found(inside) == [("CN_BANK_CARD", window, window + 16, 0.55)]
    outside = "卡号" + "的" * (window - 1) + OTHER_CARD  # "卡" falls out of the window
    assert found(outside) == []


@pytest.mark.parametrize("word", ["订单号", "流水号", "invoice", "Invoice No.", "发票号码", "快递单号", "txn"])
def test_negative_word_removes_valid_numbers(word: str) -> None:
    for value in (CARD_19, KNOWN_ID, MOBILE, "6222 0212 3456 7890 128"):
        assert found(value) != [], value  # found without the negative word
        assert found(f"{word}{value}") == [], (word, value)
        assert found(f"{word}：{value}。") == [], (word, value)


def test_nearest_context_word_decides() -> None:
    assert found(f"卡号（订单号）{CARD_19}") == []
    assert [t for t, *_ in found(f"订单号 卡号{CARD_19}")] == ["CN_BANK_CARD"]
    assert [t for t, *_ in found("订单号20261121001，收货人：张三")] == ["PERSON"]


def test_negative_field_name_removes_match() -> None:
    scanner = default_scanner()
    assert scanner.scan_records([{"order_no": CARD_19}]) == []
    assert scanner.scan_records([{"invoice": MOBILE}]) == []
    assert [fm.field for fm in scanner.scan_records([{"card": CARD_19}])] == ["card"]


def test_negative_word_beyond_window_has_no_effect() -> None:
    window = default_rules().window
    near = "订单号" + "的" * (window - 3) + CARD_19
    assert found(near) == []
    far = "订单号" + "的" * (window - 2) + CARD_19  # "订" falls out of the window
    assert found(far) == [("CN_BANK_CARD", window + 1, window + 20, 0.9)]


def test_context_scores_clip_at_one() -> None:
    assert found(f"身份证号{KNOWN_ID}") == [("CN_RESIDENT_ID", 4, 22, 1.0)]
    assert found(f"手机{MOBILE}") == [("CN_MOBILE_PHONE", 2, 13, 0.95)]
    assert found(f"备注{MOBILE}") == [("CN_MOBILE_PHONE", 2, 13, 0.8)]


# ---------------------------------------------------------------------------------------------------
# Overlaps
# ---------------------------------------------------------------------------------------------------


def _luhn_valid_gansu_id() -> str:
    """A resident ID of 兰州 (region 620102) that is also a Luhn-valid 18-digit "UnionPay" number."""
    for seq in range(1000):
        body = f"62010219880315{seq:03d}"
        number = body + ck.resident_id_check_char(body)
        if number[-1] != "X" and luhn.is_valid(number):
            return number
    raise AssertionError("no Luhn-valid Gansu ID found")


def test_resident_id_that_is_also_a_card_reported_once_as_id() -> None:
    number = _luhn_valid_gansu_id()
    assert BankCardRecognizer().validate(number) == 0.9  # a real overlap: the card recognizer accepts it
    assert ResidentIdRecognizer().validate(number) == 0.95
    for text in (number, f"备注{number}。", f"身份证{number}"):
        matches = default_scanner().scan_text(text)
        assert [(m.type, m.value) for m in matches] == [("CN_RESIDENT_ID", number)], text


def test_overlap_resolution_prefers_score_then_length_then_start() -> None:
    class Fixed(Recognizer):
        def __init__(self, entity: str, spans: list[tuple[int, int, float]]) -> None:
            self.entity = entity
            self.spans = spans
            self.pattern = re.compile("")

        def analyze(self, text: str):  # type: ignore[override]
            for s, e, score in self.spans:
                yield Match(self.entity, s, e, score, text[s:e])

        def validate(self, value: str) -> float:
            return 1.0

    text = "x" * 40
    scanner = Scanner(
        [
            Fixed("A", [(0, 10, 0.7), (20, 25, 0.9)]),
            Fixed("B", [(5, 12, 0.8), (22, 30, 0.9), (35, 38, 0.6)]),
            Fixed("C", [(11, 13, 0.6), (36, 39, 0.6)]),
        ]
    )
    assert [(m.type, m.start, m.end) for m in scanner.scan_text(text)] == [
        ("B", 5, 12),  # beats A(0,10) on score
        ("B", 22, 30),  # ties A(20,25) on score, longer
        ("B", 35, 38),  # ties C(36,39) on score and length, earlier start
    ]


# ---------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------


def test_scan_records_reports_field_and_record_index() -> None:
    records = [
        {"姓名": "张三", "身份证号": KNOWN_ID, "手机号": int(MOBILE), "会员": True, "备注": None},
        {"contact": f"电话{MOBILE}，邮箱zs@example.com", "flag": False, "amount": 12.5},
        {},
        {"银行卡": CARD_19},
    ]
    got = [(fm.record, fm.field, fm.match.type, fm.match.start, fm.match.end, fm.match.value)
           for fm in default_scanner().scan_records(records)]
    assert got == [
        (0, "姓名", "PERSON", 0, 2, "张三"),
        (0, "身份证号", "CN_RESIDENT_ID", 0, 18, KNOWN_ID),
        (0, "手机号", "CN_MOBILE_PHONE", 0, 11, MOBILE),
        (1, "contact", "CN_MOBILE_PHONE", 2, 13, MOBILE),
        (1, "contact", "EMAIL_ADDRESS", 16, 30, "zs@example.com"),
        (3, "银行卡", "CN_BANK_CARD", 0, 19, CARD_19),
    ]


def test_scan_records_accepts_a_generator() -> None:
    gen = ({"m": f"1381234567{i}"} for i in range(3))
    assert [(fm.record, fm.match.value) for fm in default_scanner().scan_records(gen)] == [
        (0, "13812345670"), (1, "13812345671"), (2, "13812345672"),
    ]  # fmt: skip


def test_scan_records_skips_none_and_bool_scans_numbers() -> None:
    class Everything(Recognizer):
        entity = "PROBE"
        pattern = re.compile(r".+", re.S)

        def validate(self, value: str) -> float:
            return 1.0

    scanner = Scanner([Everything()], threshold=0.5)
    record = {"none": None, "t": True, "f": False, "zero": 0, "int": 13812345678, "float": 1.5, "s": "abc"}
    got = [(fm.field, fm.match.value) for fm in scanner.scan_records([record])]
    assert got == [("zero", "0"), ("int", "13812345678"), ("float", "1.5"), ("s", "abc")]


def test_threshold_is_applied_after_context() -> None:
    strict = Scanner(default_scanner().recognizers, threshold=0.95)
    assert [m.type for m in strict.scan_text(f"备注{MOBILE}")] == []
    assert [m.type for m in strict.scan_text(f"手机{MOBILE}")] == ["CN_MOBILE_PHONE"]
    assert [m.type for m in strict.scan_text(f"备注{KNOWN_ID}")] == ["CN_RESIDENT_ID"]


def test_subject_key_by_entity() -> None:
    scanner = default_scanner()
    assert scanner.subject_key(Match("CN_RESIDENT_ID", 0, 18, 1.0, KNOWN_ID.lower())) == "ric:" + KNOWN_ID
    assert scanner.subject_key(Match("CN_MOBILE_PHONE", 0, 17, 1.0, "+86 138 1234 5678")) == "mob:" + MOBILE
    assert scanner.subject_key(Match("CN_BANK_CARD", 0, 19, 1.0, CARD_19)) is None
    assert scanner.subject_key(Match("PERSON", 0, 2, 1.0, "张三")) is None


# ---------------------------------------------------------------------------------------------------
# PIPL categories
# ---------------------------------------------------------------------------------------------------


def test_category_of_detected_entities() -> None:
    table = load_table()
    assert table.category("CN_BANK_CARD") == "financial_account"
    assert table.is_sensitive("financial_account") is True
    assert table.category("CN_RESIDENT_ID") == GENERAL
    assert table.is_sensitive(GENERAL) is False
    assert table.category("CN_MOBILE_PHONE") == GENERAL
    assert table.category("EMAIL_ADDRESS") == GENERAL
    assert table.category("CN_USCC") == NOT_PI
    assert table.is_sensitive(NOT_PI) is False
    assert table.category("SOMETHING_NEW") == GENERAL
    assert table.sensitive == frozenset(SENSITIVE_CATEGORIES)
    assert "28" in table.source


def test_every_canonical_entity_has_a_row() -> None:
    table = load_table()
    assert set(CANONICAL_ENTITIES) == set(table.by_entity)
    expected_sensitive = {"CN_BANK_CARD", "GEO_COORDINATE", "MEDICAL_TERM", "RELIGIOUS_BELIEF", "BIOMETRIC"}
    assert {e for e in CANONICAL_ENTITIES if table.is_sensitive(table.category(e))} == expected_sensitive


def test_load_table_rejects_unknown_category(tmp_path: Path) -> None:
    path = tmp_path / "categories.yaml"
    path.write_text(
        "sensitive_categories:\n  biometric: x\nentities:\n"
        "  PERSON: {category: general}\n  CN_BANK_CARD: {category: money}\n",
        "utf-8",
    )
    with pytest.raises(ValueError, match="CN_BANK_CARD"):
        load_table(path)


def test_load_table_from_file(tmp_path: Path) -> None:
    path = tmp_path / "categories.yaml"
    path.write_text(
        "source: test\nsensitive_categories:\n  financial_account: x\n  location_tracking: y\nentities:\n"
        "  CN_MOBILE_PHONE: {category: location_tracking}\n  CN_USCC: {category: not_pi}\n",
        "utf-8",
    )
    table = load_table(path)
    assert table.by_entity == {"CN_MOBILE_PHONE": "location_tracking", "CN_USCC": "not_pi"}
    assert table.is_sensitive(table.category("CN_MOBILE_PHONE")) is True
    assert table.source == "test"


def test_default_table_honours_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "categories.yaml"
    path.write_text("sensitive_categories:\n  biometric: x\nentities:\n  PERSON: {category: biometric}\n", "utf-8")
    monkeypatch.setenv("FLOWWATCH_CATEGORIES_FILE", str(path))
    default_table.cache_clear()
    try:
        assert default_table().category("PERSON") == "biometric"
    finally:
        monkeypatch.delenv("FLOWWATCH_CATEGORIES_FILE")
        default_table.cache_clear()
    assert default_table().category("PERSON") == GENERAL


# ---------------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entity, value, masked",
    [
        ("CN_RESIDENT_ID", KNOWN_ID, "110105********002X"),
        ("CN_RESIDENT_ID", KNOWN_ID.lower(), "110105********002x"),
        ("CN_BANK_CARD", CARD_19, "622202*********0128"),
        ("CN_BANK_CARD", "6222 0212 3456 7890 128", "622202*********0128"),
        ("CN_BANK_CARD", "6222-0212-3456-7890-128", "622202*********0128"),
        ("CN_BANK_CARD", "6225881234567898", "622588******7898"),
        ("CN_MOBILE_PHONE", MOBILE, "138****5678"),
        ("CN_MOBILE_PHONE", "+86 138 1234 5678", "138****5678"),
        ("CN_MOBILE_PHONE", "+8613812345678", "138****5678"),
        ("CN_MOBILE_PHONE", "0086-138-1234-5678", "138****5678"),
        ("CN_MOBILE_PHONE", "138 1234 5678", "138****5678"),
        ("EMAIL_ADDRESS", "zhang.san@example.com", "z***@example.com"),
        ("EMAIL_ADDRESS", "a@b.cn", "a***@b.cn"),
        ("PERSON", "张三丰", "张**"),
        ("CN_MOBILE_PHONE", "1234567", "*******"),
    ],
)
def test_mask_formats(entity: str, value: str, masked: str) -> None:
    assert mask(entity, value) == masked


def test_masked_never_contains_raw_value() -> None:
    rng = random.Random(404)
    makers = {
        "CN_RESIDENT_ID": ck.resident_id,
        "CN_BANK_CARD": ck.bank_card,
        "CN_MOBILE_PHONE": ck.mobile,
    }
    for entity, maker in makers.items():
        for _ in range(300):
            value = maker(rng)
            masked = mask(entity, value)
            assert masked != value and value not in masked, (entity, value, masked)
            assert len(masked) == len(value)
            hidden = len(value) - {"CN_RESIDENT_ID": 10, "CN_BANK_CARD": 10, "CN_MOBILE_PHONE": 7}[entity]
            assert masked.count("*") == hidden
    for value in ("a@b.cn", "zhang.san@example.com", "X.Y@Example.ORG"):
        masked = mask("EMAIL_ADDRESS", value)
        assert value not in masked and masked != value


def test_scanned_values_mask_without_the_raw_value() -> None:
    text = f"身份证号{KNOWN_ID}，手机+86 138 1234 5678，卡号6222 0212 3456 7890 128，邮箱zs@example.com。"
    matches = default_scanner().scan_text(text)
    assert [m.type for m in matches] == ["CN_RESIDENT_ID", "CN_MOBILE_PHONE", "CN_BANK_CARD", "EMAIL_ADDRESS"]
    for m in matches:
        masked = mask(m.type, m.value)
        compact = re.sub(r"[\s+-]", "", m.value)
        assert m.value not in masked and compact not in masked, (m, masked)
    assert [mask(m.type, m.value) for m in matches] == [
        "110105********002X", "138****5678", "622202*********0128", "z***@example.com",
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Sampling large structured batches
# ---------------------------------------------------------------------------------------------------


def _batch(n: int, seed: int = 5) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [
        {
            "id_card": ck.resident_id(rng),
            "mobile": ck.mobile(rng),
            "amount": f"{rng.randint(1, 99999)}.{rng.randint(0, 99):02d}",
            "sku": f"SKU{rng.randint(10**9, 10**10)}",
            "note": "客户来电咨询物流进度，" + ("已告知单号" if i % 2 else f"回拨号码{ck.mobile(rng)}") + "。" * 60,
        }
        for i in range(n)
    ]


def test_large_batch_sampled_per_field_finds_the_same_entities() -> None:
    rows = _batch(3000)
    scanner = default_scanner()
    full = scanner.scan_records(rows, sample_above=10**9)
    sampled = scanner.scan_records(rows)  # 3,000 > SAMPLE_ABOVE: sampled per field
    key = [(fm.record, fm.field, fm.match) for fm in full]
    assert [(fm.record, fm.field, fm.match) for fm in sampled] == key
    assert sum(1 for fm in sampled if fm.match.type == "CN_RESIDENT_ID") == 3000  # every identifier, exact


def test_sampling_skips_fields_without_pi_but_not_free_text() -> None:
    rows = _batch(2500)
    rows[-1]["amount"] = ck.mobile(random.Random(1))  # a structured field whose sample held no PI
    rows[-1]["remark"] = "联系电话" + ck.mobile(random.Random(2))  # a field the sample never saw
    got = {(fm.record, fm.field) for fm in default_scanner().scan_records(rows)}
    assert (2499, "amount") not in got or 2499 in _sampled_rows(2500)  # the documented miss
    assert (2499, "remark") in got
    assert sum(1 for r, f in got if f == "note") == sum(1 for i in range(2500) if i % 2 == 0)


def _sampled_rows(n: int) -> set[int]:
    from flowwatch.detection.scanner import SAMPLE_SIZE

    return set(random.Random(n).sample(range(n), SAMPLE_SIZE))
