"""PERSON, ADDRESS, DATE_OF_BIRTH, term-list recognizers and minors under 14 (no spaCy model)."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from datetime import UTC, datetime

import pytest

from flowwatch.detection.minors import birth_date_of, category_at, is_minor
from flowwatch.detection.recognizers.address import division_names
from flowwatch.detection.recognizers.date_of_birth import birth_date
from flowwatch.detection.recognizers.person import surnames
from flowwatch.detection.scanner import default_scanner
from flowwatch.detection.terms import field_is, terms
from flowwatch.detection.types import Match
from flowwatch.findings import build_finding
from flowwatch.models import FlowEvent
from flowwatch_tools.samples import checksums as ck
from flowwatch_tools.samples.generator import COMMUNITIES, ROADS


def found(text: str, hint: str = "") -> list[tuple[str, str]]:
    return [(m.type, m.value) for m in default_scanner().scan_text(text, hint=hint)]


def of_type(entity: str, text: str, hint: str = "") -> list[str]:
    return [v for t, v in found(text, hint) if t == entity]


# ---------------------------------------------------------------------------------------------------
# PERSON
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("姓名：张三，性别：男", "张三"),
        ("联系人张三电话13812345678", "张三"),
        ("收件人:欧阳娜娜", "欧阳娜娜"),
        ("持卡人 李小龙", "李小龙"),
        ("患者王建国，男，56岁", "王建国"),
        ("客户刘洋反映快递未送达", "刘洋"),
        ("患者：陈静", "陈静"),
        ("Contact: John Smith, mobile", "John Smith"),
        ("监护人诸葛亮的手机", "诸葛亮"),
    ],
)
def test_person_after_anchor(text: str, name: str) -> None:
    assert of_type("PERSON", text) == [name]


@pytest.mark.parametrize(
    "text",
    [
        "初三学生卢嘉和她的同学",  # weak anchor, no colon, name not followed by a name boundary
        "司机宋某驾驶东风牌货车",  # redacted name
        "联系人和电话都已登记",  # 和 is not a surname here
        "三点三万名春节探亲的学生车票已全部落实",
        "王先生来电咨询",  # a surname alone is not a full name
        "张三是一个常见的名字",  # no anchor: without a model, never a name
    ],
)
def test_person_not_reported_without_evidence(text: str) -> None:
    assert of_type("PERSON", text) == []


def test_person_in_name_fields_only() -> None:
    assert of_type("PERSON", "张三", hint="customer_name") == ["张三"]
    assert of_type("PERSON", "John Smith", hint="name") == ["John Smith"]
    assert of_type("PERSON", "王老吉", hint="product_name") == []  # not a person field
    assert of_type("PERSON", "王老吉凉茶", hint="name") == []  # not name-shaped
    assert field_is("patient.name", ("name",)) and not field_is("filename", ("name",))


def test_surname_table() -> None:
    names = surnames()
    assert "欧阳" in names and "诸葛" in names and "王" in names
    assert "和" not in names and "是" not in names
    assert names.index("欧阳") < names.index("欧")  # compound first


# ---------------------------------------------------------------------------------------------------
# ADDRESS
# ---------------------------------------------------------------------------------------------------


def test_generated_addresses_found_whole() -> None:
    rng = random.Random(7)
    for _ in range(300):
        region = rng.choice(ck.ADMIN_REGIONS)
        address = f"{region.province}{region.prefecture}{region.county}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
        if rng.random() < 0.5:
            address += f"{rng.choice(COMMUNITIES)}{rng.randint(1, 30)}栋{rng.randint(1, 32)}0{rng.randint(1, 6)}室"
        else:
            address += f"{rng.randint(1, 8)}单元{rng.randint(1, 32)}0{rng.randint(1, 6)}室"
        assert of_type("ADDRESS", f"收货地址{address}，联系电话13812345678") == [address], address


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("家住北京市海淀区中关村大街27号，", "北京市海淀区中关村大街27号"),
        ("寄往香港九龙旺角弥敦道123号5楼2室", "香港九龙旺角弥敦道123号5楼2室"),
        ("台北市大安区信义路四段88号3楼", "台北市大安区信义路四段88号3楼"),
        ("深圳南山区科技园路18号", "深圳南山区科技园路18号"),
    ],
)
def test_address_formats(text: str, address: str) -> None:
    assert of_type("ADDRESS", text) == [address]


@pytest.mark.parametrize(
    "text",
    ["北京市海淀区今年新建学校十所", "中关村大街拓宽工程", "他住在朝阳路附近", "口号是1号方案", "人民路18号"],
)
def test_address_needs_division_and_house_number(text: str) -> None:
    assert of_type("ADDRESS", text) == []


def test_address_field_value_whole() -> None:
    value = "广东省深圳市南山区科技园18栋"
    assert of_type("ADDRESS", value, hint="home_address") == [value]
    assert "深圳市" in division_names() and "深圳" in division_names() and "南山区" in division_names()


# ---------------------------------------------------------------------------------------------------
# DATE_OF_BIRTH
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("出生日期：1990年5月3日", "1990年5月3日"),
        ("生日 1990-05-03，", "1990-05-03"),
        ("dob: 2015/6/1", "2015/6/1"),
        ("他于1988.12.31出生", "1988.12.31"),
    ],
)
def test_birth_date_with_context(text: str, value: str) -> None:
    assert of_type("DATE_OF_BIRTH", text) == [value]


@pytest.mark.parametrize("text", ["签约日期：2024-05-03", "下单时间2026年11月21日", "出生日期：1990-02-30"])
def test_other_dates_are_not_birth_dates(text: str) -> None:
    assert of_type("DATE_OF_BIRTH", text) == []


def test_birth_date_field() -> None:
    assert of_type("DATE_OF_BIRTH", "19900503", hint="birth_date") == ["19900503"]
    assert of_type("DATE_OF_BIRTH", "2015-06-01T00:00:00+08:00", hint="dob") == ["2015-06-01"]
    assert of_type("DATE_OF_BIRTH", "19900503", hint="order_date") == []
    assert birth_date("1990年5月3日") == dt.date(1990, 5, 3) and birth_date("2023-02-29") is None


# ---------------------------------------------------------------------------------------------------
# Term lists: medical, religious, biometric
# ---------------------------------------------------------------------------------------------------


def test_sensitive_terms_next_to_an_identified_person() -> None:
    text = "患者张三，身份证11010519491231002X，诊断：2型糖尿病；宗教信仰：佛教；已采集指纹。"
    got = found(text)
    assert ("MEDICAL_TERM", "2型糖尿病") in got  # longest term, not 糖尿病
    assert ("RELIGIOUS_BELIEF", "佛教") in got
    assert ("BIOMETRIC", "指纹") in got


@pytest.mark.parametrize(
    "text",
    [
        "国内外育龄夫妇中患有不育症的占10%",  # health news, nobody identified
        "中国佛教协会会长在会上讲话",
        "介绍掌纹知识及正确判断掌纹",
        "糖尿病防治指南发布",
    ],
)
def test_sensitive_terms_without_a_person_are_not_pi(text: str) -> None:
    assert found(text) == []


def test_terms_need_context_even_with_a_person() -> None:
    assert of_type("MEDICAL_TERM", "联系人张三，购买了糖尿病试纸") == []


def test_terms_from_field_names() -> None:
    assert of_type("MEDICAL_TERM", "2型糖尿病", hint="diagnosis") == ["2型糖尿病"]
    assert of_type("MEDICAL_TERM", "急性阑尾炎", hint="主要诊断") == ["急性阑尾炎"]  # not in the list: field says
    assert of_type("RELIGIOUS_BELIEF", "天主教", hint="religion") == ["天主教"]
    assert of_type("BIOMETRIC", "Rk1SACAyMAAAAADkAAABPAFi", hint="fingerprint_template") == [
        "Rk1SACAyMAAAAADkAAABPAFi"
    ]
    assert of_type("MEDICAL_TERM", "急性阑尾炎", hint="remark") == []


def test_term_lists_loaded() -> None:
    for entity in ("MEDICAL_TERM", "RELIGIOUS_BELIEF", "BIOMETRIC"):
        listed = terms(entity)
        assert len(listed) >= 20 and len(set(listed)) == len(listed)
        assert all(len(a) >= len(b) for a, b in itertools.pairwise(listed))


# ---------------------------------------------------------------------------------------------------
# Minors under 14 (PIPL Art. 28, 31)
# ---------------------------------------------------------------------------------------------------


def test_fourteenth_birthday_boundary() -> None:
    born = dt.date(2012, 6, 1)
    assert is_minor(born, dt.date(2026, 5, 31))
    assert not is_minor(born, dt.date(2026, 6, 1))  # 14 on the birthday
    leap = dt.date(2012, 2, 29)
    assert is_minor(leap, dt.date(2026, 2, 28)) and not is_minor(leap, dt.date(2026, 3, 1))


def test_category_at_event_time() -> None:
    child_id = ck.resident_id(random.Random(3), birth_date=dt.date(2015, 3, 1))
    child = Match("CN_RESIDENT_ID", 0, 18, 0.95, child_id)
    assert birth_date_of(child) == dt.date(2015, 3, 1)
    assert category_at(child, dt.date(2026, 11, 21)) == "minor_under_14"
    assert category_at(child, dt.date(2029, 3, 1)) == "general"
    dob = Match("DATE_OF_BIRTH", 0, 10, 0.9, "2015-03-01")
    assert category_at(dob, dt.date(2029, 2, 28)) == "minor_under_14"
    assert category_at(Match("CN_MOBILE_PHONE", 0, 11, 0.8, "13812345678"), dt.date(2026, 1, 1)) == "general"


def test_finding_marks_minor_birth_dates_sensitive() -> None:
    event = FlowEvent.model_validate(
        {
            "schema_version": "1.0", "event_id": "e-minor", "kind": "transfer", "activity": "share",
            "occurred_at": "2026-11-21T09:00:00+08:00", "processor": {"id": "p-school", "name": "学校"},
            "records": [{"student_name": "李小明", "birth_date": "2016-09-01"},
                        {"student_name": "王大力", "birth_date": "2008-09-01"}],
        }
    )  # fmt: skip
    finding = build_finding(event, default_scanner(), b"k", datetime(2026, 11, 21, tzinfo=UTC))
    by_type = {e.type: e for e in finding.entities}
    assert by_type["DATE_OF_BIRTH"].category == "minor_under_14" and by_type["DATE_OF_BIRTH"].sensitive
    assert by_type["PERSON"].category == "general"
    assert "minor_under_14" in finding.categories and finding.sensitive
