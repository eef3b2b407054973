"""Recognizers of flowwatch.detection: exact spans in Chinese text, checksum rejections, boundaries."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType
from stdnum import luhn
from stdnum.cn import ric

from flowwatch.detection.recognizers import (
    BankCardRecognizer,
    EmailRecognizer,
    MobilePhoneRecognizer,
    ResidentIdRecognizer,
)
from flowwatch.detection.recognizers.resident_id import region_known
from flowwatch.detection.scanner import default_scanner
from flowwatch.detection.types import Recognizer
from flowwatch_tools.samples import checksums as ck

RID = ResidentIdRecognizer()
CARD = BankCardRecognizer()
MOBILE = MobilePhoneRecognizer()
EMAIL = EmailRecognizer()

KNOWN_ID = "11010519491231002X"  # the textbook example: 北京市朝阳区, 1949-12-31, check X
CARD_19 = "6222021234567890128"  # UnionPay 19 digits, Luhn-valid
CARD_19_GROUPED = "6222 0212 3456 7890 128"


def rid(first17: str) -> str:
    """Resident ID with the correct MOD 11-2 check character."""
    return first17 + ck.resident_id_check_char(first17)


def wrong_check(number: str) -> str:
    """``number`` with its last character replaced by a wrong check character."""
    good = number[-1]
    return number[:-1] + next(c for c in "0123456789X" if c != good)


def luhn_card(body: str) -> str:
    return body + luhn.calc_check_digit(body)


def spans(recognizer: Recognizer, text: str) -> list[tuple[str, int, int, str]]:
    return [(m.type, m.start, m.end, m.value) for m in recognizer.analyze(text)]


def scan_spans(text: str) -> list[tuple[str, int, int, str]]:
    return [(m.type, m.start, m.end, m.value) for m in default_scanner().scan_text(text)]


def at(text: str, value: str, entity: str) -> tuple[str, int, int, str]:
    start = text.index(value)
    return (entity, start, start + len(value), value)


# ---------------------------------------------------------------------------------------------------
# Test data sanity: the makers agree with the reference validators
# ---------------------------------------------------------------------------------------------------


def test_reference_values_are_valid() -> None:
    assert ric.is_valid(KNOWN_ID)
    assert ck.resident_id_check_char(KNOWN_ID[:17]) == "X"
    assert ric.calc_check_digit(KNOWN_ID[:17] + "0") == "X"  # stdnum wants the check position present
    assert luhn.is_valid(CARD_19)
    assert CARD_19_GROUPED.replace(" ", "") == CARD_19


# ---------------------------------------------------------------------------------------------------
# CN_RESIDENT_ID
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"身份证号{KNOWN_ID}已核验",
        f"{KNOWN_ID}",
        f"张三（{KNOWN_ID}）",
        f"证件：{KNOWN_ID}。",
        f"号码{KNOWN_ID.lower()}无误",
    ],
)
def test_resident_id_exact_span_without_spaces(text: str) -> None:
    value = KNOWN_ID.lower() if KNOWN_ID.lower() in text else KNOWN_ID
    assert spans(RID, text) == [at(text, value, "CN_RESIDENT_ID")]
    assert scan_spans(text) == [at(text, value, "CN_RESIDENT_ID")]


def test_generated_resident_ids_found_at_exact_offsets() -> None:
    rng = random.Random(101)
    for _ in range(200):
        number = ck.resident_id(rng)
        text = f"客户身份证{number}已登记"
        assert spans(RID, text) == [("CN_RESIDENT_ID", 5, 23, number)], number


def test_resident_id_wrong_check_digit_rejected() -> None:
    assert spans(RID, f"身份证号{wrong_check(KNOWN_ID)}已核验") == []
    rng = random.Random(102)
    for _ in range(200):
        number = ck.near_miss_resident_id(rng)
        assert RID.validate(number) == 0.0, number
        assert spans(RID, f"身份证{number}") == [], number


@pytest.mark.parametrize("date", ["19900230", "19900229", "19900431", "20231131", "19000229"])
def test_resident_id_impossible_birth_date_rejected(date: str) -> None:
    number = rid(f"110105{date}123")  # right check character, impossible date
    assert ric.calc_check_digit(number) == number[-1]
    assert RID.validate(number) == 0.0
    assert spans(RID, f"身份证号{number}已核验") == []
    assert scan_spans(f"身份证号{number}已核验") == []


@pytest.mark.parametrize("date", ["20000229", "19960229", "19491231", "20200131"])
def test_resident_id_real_leap_and_month_end_dates_accepted(date: str) -> None:
    number = rid(f"110105{date}123")
    assert RID.validate(number) == 0.95


def test_resident_id_unknown_region_accepted_with_lower_score() -> None:
    known = rid("11010519900101123")
    unknown = rid("99999919900101123")
    assert region_known("110105") is True
    assert region_known("999999") is False
    assert RID.validate(known) == 0.95
    assert RID.validate(unknown) == 0.85
    text = f"证件{unknown}到期"
    assert spans(RID, text) == [("CN_RESIDENT_ID", 2, 20, unknown)]
    assert [(m.type, m.score) for m in default_scanner().scan_text(f"备注：{unknown}")] == [
        ("CN_RESIDENT_ID", 0.85)
    ]


def test_resident_id_unknown_county_in_known_province_scores_as_unknown() -> None:
    assert region_known("119999") is False
    assert RID.validate(rid("11999919900101123")) == 0.85


def test_resident_id_needs_ascii_boundaries() -> None:
    assert spans(RID, f"A{KNOWN_ID}") == []
    assert spans(RID, f"{KNOWN_ID}0") == []
    assert spans(RID, f"7{KNOWN_ID}") == []
    assert spans(RID, f"{KNOWN_ID}b") == []


def test_resident_id_subject_key_is_upper_case() -> None:
    assert RID.subject_key(KNOWN_ID.lower()) == "ric:" + KNOWN_ID


# ---------------------------------------------------------------------------------------------------
# CN_BANK_CARD
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        (f"卡号{CARD_19}已绑定", CARD_19),
        (f"银行卡{CARD_19_GROUPED}，请核对", CARD_19_GROUPED),
        ("卡号6222-0212-3456-7890-128结束", "6222-0212-3456-7890-128"),
        (f"{CARD_19}", CARD_19),
        (f"转账至{CARD_19}。", CARD_19),
    ],
)
def test_bank_card_exact_span(text: str, value: str) -> None:
    assert spans(CARD, text) == [at(text, value, "CN_BANK_CARD")]
    assert scan_spans(text) == [at(text, value, "CN_BANK_CARD")]


def test_bank_card_scores() -> None:
    assert CARD.validate(CARD_19) == 0.9
    assert CARD.validate(CARD_19_GROUPED) == 0.9
    assert CARD.validate(luhn_card("411111111111111")) == 0.45
    assert CARD.validate(luhn_card("811111111111111")) == 0.4
    assert CARD.validate(luhn_card("81111111111111111111")) == 0.0  # 21 digits


def test_unionpay_cards_of_16_to_19_digits() -> None:
    rng = random.Random(201)
    for length in (16, 17, 18, 19):
        for _ in range(50):
            number = luhn_card("62" + "".join(rng.choice("0123456789") for _ in range(length - 3)))
            text = f"储蓄卡{number}余额"
            assert spans(CARD, text) == [("CN_BANK_CARD", 3, 3 + length, number)]
            grouped = " ".join(number[i : i + 4] for i in range(0, length, 4))
            text = f"卡{grouped}余额"
            assert spans(CARD, text) == [("CN_BANK_CARD", 1, 1 + len(grouped), grouped)]


def test_generated_cards_found() -> None:
    rng = random.Random(202)
    for _ in range(200):
        number = ck.bank_card(rng)
        assert spans(CARD, f"卡号{number}。") == [("CN_BANK_CARD", 2, 2 + len(number), number)]


def test_luhn_failing_cards_rejected() -> None:
    bad = CARD_19[:-1] + ("9" if CARD_19[-1] != "9" else "0")
    assert not luhn.is_valid(bad)
    assert spans(CARD, f"卡号{bad}已绑定") == []
    assert scan_spans(f"卡号{bad}已绑定") == []
    grouped_bad = " ".join(bad[i : i + 4] for i in range(0, 19, 4))
    assert spans(CARD, f"卡号{grouped_bad}") == []
    rng = random.Random(203)
    for _ in range(200):
        number = ck.near_miss_bank_card(rng)
        assert CARD.validate(number) == 0.0, number
        assert spans(CARD, f"卡号{number}") == [], number


def test_card_followed_by_space_and_amount_still_found() -> None:
    number = luhn_card("622588123456789")
    text = f"卡号{number} 100元"
    assert spans(CARD, text) == [("CN_BANK_CARD", 2, 18, number)]


# ---------------------------------------------------------------------------------------------------
# CN_MOBILE_PHONE
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13812345678",
        "+8613812345678",
        "+86 13812345678",
        "+86-13812345678",
        "008613812345678",
        "0086 13812345678",
        "0086-138-1234-5678",
        "+86 138 1234 5678",
        "138 1234 5678",
        "138-1234-5678",
        "19912345678",
        "16612345678",
    ],
)
def test_mobile_exact_span_in_chinese_text(value: str) -> None:
    text = f"联系电话{value}谢谢"
    expected = [("CN_MOBILE_PHONE", 4, 4 + len(value), value)]
    assert spans(MOBILE, text) == expected
    assert scan_spans(text) == expected
    assert MOBILE.subject_key(value) == "mob:" + value.replace(" ", "").replace("-", "")[-11:]


def test_generated_mobiles_found() -> None:
    rng = random.Random(301)
    for _ in range(300):
        number = ck.mobile(rng)
        assert spans(MOBILE, f"手机{number}。") == [("CN_MOBILE_PHONE", 2, 13, number)], number


@pytest.mark.parametrize("value", ["12012345678", "10086123456", "11012345678", "14012345678", "17912345678"])
def test_mobile_outside_allocated_ranges_rejected(value: str) -> None:
    assert MOBILE.validate(value) == 0.0
    assert spans(MOBILE, f"手机{value}谢谢") == []
    assert scan_spans(f"手机{value}谢谢") == []


def test_near_miss_mobiles_rejected() -> None:
    rng = random.Random(302)
    for _ in range(200):
        number = ck.near_miss_mobile(rng)
        assert spans(MOBILE, f"手机{number}") == [], number


@pytest.mark.parametrize("value", ["1381234567", "138123456789", "138 1234 567", "+87 13812345678"])
def test_mobile_wrong_lengths_and_country_codes(value: str) -> None:
    found = spans(MOBILE, f"电话{value}。")
    if value.startswith("+87"):  # the national number is still a mobile; the +87 prefix is not part of it
        assert found == [("CN_MOBILE_PHONE", 6, 17, "13812345678")]
    else:
        assert found == []


def test_mobile_recognizer_agrees_with_phonenumbers() -> None:
    rng = random.Random(20261121)
    verdicts = []
    for _ in range(400):
        number = "1" + "".join(rng.choice("0123456789") for _ in range(10))
        parsed = phonenumbers.parse("+86" + number)
        expected = phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in (
            PhoneNumberType.MOBILE,
            PhoneNumberType.FIXED_LINE_OR_MOBILE,
        )
        ours = spans(MOBILE, f"号码{number}。") == [("CN_MOBILE_PHONE", 2, 13, number)]
        assert ours == expected, (number, phonenumbers.number_type(parsed))
        verdicts.append(expected)
    # both verdicts occur often enough for the comparison to mean something
    assert 100 < sum(verdicts) < 300


# ---------------------------------------------------------------------------------------------------
# EMAIL_ADDRESS
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("邮箱zhang.san@example.com请回复", "zhang.san@example.com"),
        ("联系李四li_si+tag@mail.example.com.cn谢谢", "li_si+tag@mail.example.com.cn"),
        ("请发到abc@example.com。", "abc@example.com"),
        ("Mail: A.B-C%1@Sub-Domain.Example.ORG，", "A.B-C%1@Sub-Domain.Example.ORG"),
        ("x@y.io", "x@y.io"),
    ],
)
def test_email_touching_chinese(text: str, value: str) -> None:
    assert spans(EMAIL, text) == [at(text, value, "EMAIL_ADDRESS")]
    assert scan_spans(text) == [at(text, value, "EMAIL_ADDRESS")]


@pytest.mark.parametrize(
    "text",
    ["邮箱a..b@example.com", "邮箱abc.@example.com", "邮箱abc@localhost", "邮箱abc@example.c", "邮箱@example.com"],
)
def test_email_rejections(text: str) -> None:
    assert spans(EMAIL, text) == []


def test_email_subject_key_lower_case() -> None:
    assert EMAIL.subject_key("Zhang.San@Example.COM") == "eml:zhang.san@example.com"


# ---------------------------------------------------------------------------------------------------
# Digit runs: no entity inside a longer number
# ---------------------------------------------------------------------------------------------------


def test_no_match_inside_25_digit_number() -> None:
    id_digits = rid("11010519900101123")
    if id_digits.endswith("X"):  # keep the run purely numeric
        id_digits = rid("11010519900101125")
    assert id_digits[-1] != "X"
    runs = [
        "123" + CARD_19 + "456",
        "1234567" + id_digits,
        id_digits + "1234567",
        "12" + "13812345678" + "123456789012",
        "00" + "8613812345678" + "0123456789",
    ]
    for run in runs:
        assert len(run) == 25 and run.isdigit(), run
        text = f"编号{run}结束"
        for recognizer in (RID, CARD, MOBILE):
            assert spans(recognizer, text) == [], (recognizer.entity, run)
        assert scan_spans(text) == []
    # sanity: each embedded value is found on its own
    assert scan_spans(f"编号{id_digits}结束") == [("CN_RESIDENT_ID", 2, 20, id_digits)]
    assert scan_spans(f"编号{CARD_19}结束") == [("CN_BANK_CARD", 2, 21, CARD_19)]
    assert scan_spans("编号13812345678结束") == [("CN_MOBILE_PHONE", 2, 13, "13812345678")]


def test_could_match_skips_texts_without_enough_digits_or_at_sign() -> None:
    assert MOBILE.could_match("x", 10) is False
    assert MOBILE.could_match("x", 11) is True
    assert RID.could_match("x", 16) is False
    assert EMAIL.could_match("no at sign", 0) is False
    assert EMAIL.could_match("a@b.cn", 0) is True
