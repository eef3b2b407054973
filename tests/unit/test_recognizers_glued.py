"""Issue 16 point 1: identifiers touching CJK characters, full-width punctuation or labels are found.

Every entity type is written with glued left and right neighbours (no space, no ``\\b``) and must be
found with exactly its own span; the same value inside a longer ASCII token must not be.
"""

from __future__ import annotations

import random

import pytest

from flowwatch.detection.scanner import default_scanner
from flowwatch_tools.samples import checksums as ck

_rng = random.Random(16)

# entity → (context placed before the neighbour, value). Context words are those a real text carries
# for types whose pattern alone is weak (passport, permits, Macau ID, landline …).
VALUES: dict[str, tuple[str, str]] = {
    "CN_RESIDENT_ID": ("", "11010519491231002X"),
    "CN_PASSPORT": ("护照", "E54734173"),
    "HK_ID": ("", "B974925(5)"),
    "MO_ID": ("澳门身份证", "1234567(8)"),
    "TW_ID": ("", ck.tw_id(_rng)),
    "CN_HMT_PERMIT": ("回乡证", "H12345678"),
    "CN_MOBILE_PHONE": ("", "13812345678"),
    "CN_LANDLINE": ("电话", "010-62345678"),
    "CN_BANK_CARD": ("", "6222021234567890128"),
    "CN_USCC": ("", ck.uscc(_rng)),
    "CN_LICENSE_PLATE": ("", "粤B12345"),
    "EMAIL_ADDRESS": ("", "na42@qq.com"),
    "IP_ADDRESS": ("", "203.0.113.7"),
    "GEO_COORDINATE": ("", "39.9087, 116.3975"),
}
CJK_LEFT = ["其", "对方", "为", "是", "客户", "号码"]
PUNCT_LEFT = ["：", "，", "（", "「", "、", "【", "；"]
LABEL_LEFT = ["HKID", "ID", "IDNo", "Tel", "No.", "NO"]  # ASCII labels glued to the value
RIGHT = ["的", "。", "，", "）", "」", "、", "联系", "号", "已核实", "\n", "】"]


def _found(text: str, entity: str) -> list[str]:
    return [m.value for m in default_scanner().scan_text(text) if m.type == entity]


@pytest.mark.parametrize("entity", sorted(VALUES))
@pytest.mark.parametrize("left", CJK_LEFT + PUNCT_LEFT)
def test_glued_to_cjk_and_full_width_punctuation(entity: str, left: str) -> None:
    context, value = VALUES[entity]
    missed = [right for right in RIGHT if _found(f"客户{context}信息{left}{value}{right}请核对", entity) != [value]]
    assert not missed, f"{entity} after {left!r} missed before {missed}"


@pytest.mark.parametrize("entity", sorted(set(VALUES) - {"EMAIL_ADDRESS"}))
@pytest.mark.parametrize("label", LABEL_LEFT)
def test_glued_to_an_ascii_label(entity: str, label: str) -> None:
    """``HKIDB974925(5)``, ``IDNo110105…``, ``Tel138…``: the label is not part of the value. (An e-mail
    local part may itself start with letters, so ``IDna42@qq.com`` is read as one address.)"""
    context, value = VALUES[entity]
    missed = [right for right in RIGHT if _found(f"客户{context}信息{label}{value}{right}请核对", entity) != [value]]
    assert not missed, f"{entity} after {label!r} missed before {missed}"


def test_issue_examples() -> None:
    assert _found("请联系其na42@qq.com确认", "EMAIL_ADDRESS") == ["na42@qq.com"]
    assert _found("对方na42@qq.com已回复", "EMAIL_ADDRESS") == ["na42@qq.com"]
    assert _found("持证人HKIDB974925(5)", "HK_ID") == ["B974925(5)"]
    assert _found("护照信息：对方E54734173", "CN_PASSPORT") == ["E54734173"]


@pytest.mark.parametrize(
    "text",
    [
        "型号ABCD11010519491231002X",  # inside a longer ASCII token: not an ID
        "paid11010519491231002X",  # "id" is a label only when no ASCII letter precedes it
        "SKU-XB974925(5)Z",
        "编号AE54734173",
        "userID6222021234567890128x",
    ],
)
def test_a_value_inside_a_longer_ascii_token_is_not_reported(text: str) -> None:
    assert not [m for m in default_scanner().scan_text(text) if m.type != "PERSON"], text


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("联系人张三的电话", "PERSON", "张三"),
        ("【客户】陈伟【身份证】11010519491231002X", "PERSON", "陈伟"),
        ("「收件人」王小明「电话」13812345678", "PERSON", "王小明"),
        ("其地址广东省深圳市南山区科技路18号，", "ADDRESS", "广东省深圳市南山区科技路18号"),
        ("出生日期：1990年5月3日的", "DATE_OF_BIRTH", "1990年5月3日"),
        ("患者张三，诊断：糖尿病。", "MEDICAL_TERM", "糖尿病"),
        ("客户张三，宗教信仰：佛教，", "RELIGIOUS_BELIEF", "佛教"),
        ("用户张三，已采集指纹。", "BIOMETRIC", "指纹"),
    ],
)
def test_han_entities_glued(text: str, entity: str, value: str) -> None:
    assert _found(text, entity) == [value]


def test_uscc_of_other_registration_authorities() -> None:
    """GB 32100 authority codes ``N`` (agriculture) and ``Y`` (other) start with a letter."""
    from stdnum.cn import uscc

    for body in ("N2350100MA00100Y4", "Y1110000MA00100Y4"):
        value = body + uscc.calc_check_digit(body + "0")
        assert _found(f"合作社{value}成立", "CN_USCC") == [value]
        wrong = body + ("0" if value[-1] != "0" else "1")
        assert _found(f"合作社{wrong}成立", "CN_USCC") == []


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("对方E54734173（护照）已核验", "CN_PASSPORT", "E54734173"),
        ("对方E54734173，护照已核验", "CN_PASSPORT", "E54734173"),
        ("对方H12345678号回乡证", "CN_HMT_PERMIT", "H12345678"),
        ("其1234567(8)澳门身份证", "MO_ID", "1234567(8)"),
    ],
)
def test_identity_document_label_after_the_number(text: str, entity: str, value: str) -> None:
    assert _found(text, entity) == [value]


@pytest.mark.parametrize("text", ["对方E54734173", "订单号E54734173护照", "对方E54734173" + "，" * 8 + "护照"])
def test_label_after_does_not_override_a_word_before_or_stand_alone(text: str) -> None:
    """Bare letter+digits are no passport; a negative word before (订单号) still decides; the word after
    must be within ``after_window`` characters."""
    assert _found(text, "CN_PASSPORT") == []
