"""Labelled evaluation corpus: synthetic Chinese business documents with every planted PI value's span.

``generate_corpus(seed, n_docs)`` returns ``n_docs`` ``Document`` objects, built from ``TEMPLATES`` (text
templates and record schemas). Everything derives from ``random.Random(seed)``: the same seed always gives
the same corpus (no wall clock, no global random state).

How a document is built: a template is a ``str.format``-style string whose placeholders name value makers
(``{name}``, ``{mobile}``, ``{order_no}`` …; ``{name#2}`` is a second, independent value — for person
fields, a second person). The text is assembled by concatenation while the offsets of every labelled value
are recorded, so a label's ``[start, end)`` is exactly the planted value (checked when the document is
built, never found with ``str.find``). Record templates give one flat dict per row; a field's template may
embed values in free text (``备注``), and ``#`` before a template turns an all-digit value into an ``int``
half of the time.

Span conventions (what a label covers) follow the evaluation brief: identifiers as printed with their
internal separators (``+86 138-1234-5678``, ``A123456(3)``, ``粤B·D12345``, card groups), landlines with
area code/parentheses/``+86`` but without the extension, a coordinate pair as one span, PERSON the full
name only (never 先生/女士 or the context word), ADDRESS from the first division name to the house number or
room, DATE_OF_BIRTH the date only, and the terms of ``flowwatch.detection.terms.terms(entity)`` for
MEDICAL_TERM, RELIGIOUS_BELIEF and BIOMETRIC (only where a PI context is present; the same terms appear
unlabelled in news-like negatives).

Hard negatives (planted but not labelled) are recorded per document in ``Document.negatives`` using the
kinds of ``HARD_NEGATIVE_KINDS``.

Split: each template goes wholly to ``dev`` or ``test``: every third template of ``TEMPLATES`` (index
``% 3 == 2``) is a test template; the list is ordered so that every entity type has test templates.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from faker import Faker

from flowwatch_tools.samples import checksums as ck
from flowwatch_tools.samples.generator import (
    COMMUNITIES,
    HK_ADDRESSES,
    MAIL_DOMAINS,
    MO_ADDRESSES,
    PRODUCTS,
    PUBLIC_IP_FIRST_OCTETS,
    ROADS,
    TW_ADDRESSES,
    _NameBook,
)

__all__ = [
    "CHECKSUM_TYPES",
    "DEFAULT_N_DOCS",
    "DEFAULT_SEED",
    "ENTITY_TYPES",
    "HARD_NEGATIVE_KINDS",
    "TEMPLATES",
    "Document",
    "Label",
    "RecordValue",
    "Template",
    "generate_corpus",
    "template_split",
]

DEFAULT_SEED = 20261121
DEFAULT_N_DOCS = 2400

ENTITY_TYPES: tuple[str, ...] = (
    "CN_RESIDENT_ID", "CN_PASSPORT", "HK_ID", "MO_ID", "TW_ID", "CN_HMT_PERMIT", "CN_MOBILE_PHONE",
    "CN_LANDLINE", "CN_BANK_CARD", "CN_USCC", "CN_LICENSE_PLATE", "EMAIL_ADDRESS", "IP_ADDRESS",
    "GEO_COORDINATE", "PERSON", "ADDRESS", "DATE_OF_BIRTH", "MEDICAL_TERM", "RELIGIOUS_BELIEF", "BIOMETRIC",
)  # fmt: skip
"""The 20 canonical entity names (``detection/categories.yaml``)."""

CHECKSUM_TYPES: tuple[str, ...] = ("CN_RESIDENT_ID", "CN_BANK_CARD", "CN_USCC", "HK_ID", "TW_ID")
"""Entity types validated by a check digit/character (precision bar 0.99)."""

HARD_NEGATIVE_KINDS: tuple[str, ...] = (
    "order_no", "invoice_code", "invoice_no", "serial_no", "tracking_no", "amount", "price", "percentage",
    "timestamp", "version", "near_mobile", "near_resident_id", "near_bank_card", "ordinary_date",
    "model_number", "isbn", "zip_code", "masked_value", "term_without_context",
)  # fmt: skip
"""Kinds of look-alike values planted without a label (``Document.negatives``)."""

RecordValue = str | int | float | None
Seg = tuple[str, str | None, str | None]  # (text, entity type or None, hard-negative kind or None)

REFERENCE_TIME = dt.datetime(2026, 11, 21, 9, 30, 0)
"""Fixed "now" of the corpus: timestamps are drawn before it."""


@dataclass(frozen=True, slots=True)
class Label:
    """One planted PI value: entity ``type`` and ``[start, end)`` character offsets into the document text,
    or (record documents) into ``str(records[record][field])``."""

    type: str
    start: int
    end: int
    field: str | None = None
    record: int | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """A labelled document. ``kind`` is ``"text"`` (``text`` set, ``records`` empty) or ``"records"``
    (flat dicts in ``records``, ``text`` empty). ``split`` is ``"dev"`` or ``"test"`` (by template).
    ``negatives``: the hard-negative kinds planted (sorted, unique)."""

    id: str
    template: str
    split: str
    kind: str
    text: str
    records: list[dict[str, RecordValue]]
    labels: list[Label]
    negatives: tuple[str, ...] = ()

    def value_of(self, label: Label) -> str:
        """The characters ``label`` covers (the planted value)."""
        if label.record is None or label.field is None:
            return self.text[label.start : label.end]
        return str(self.records[label.record][label.field])[label.start : label.end]


@dataclass(frozen=True, slots=True)
class Template:
    """A document template. Text templates have ``variants`` (one drawn per document); record templates
    have ``fields`` (``(field name, value template)``; a leading ``#`` allows an ``int`` value) and make
    ``rows`` (min, max) records. Person indexes in ``minors`` are children aged 3–13."""

    id: str
    variants: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    rows: tuple[int, int] = (1, 1)
    minors: frozenset[int] = field(default_factory=frozenset)

    @property
    def kind(self) -> str:
        """``"records"`` for record templates, else ``"text"``."""
        return "records" if self.fields else "text"


# ---------------------------------------------------------------------------------------------------
# Reference tables (fictional businesses; generic Chinese vocabulary)
# ---------------------------------------------------------------------------------------------------

COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "公孙", "夏侯", "令狐")
EXTRA_ROADS = ("中关村大街", "深南大道", "天府大道", "解放北路", "淮海中路", "珠江路", "五一路", "延安西路")
CITIES = ("深圳", "杭州", "上海", "北京", "成都", "武汉", "南京", "广州", "西安", "苏州")
COMPANY_CITIES = ("深圳市", "杭州市", "上海", "北京", "成都市", "武汉市", "南京市", "广州市")
COMPANY_WORDS = ("恒信达", "华创", "云帆", "瑞丰", "新桥", "星辰", "博远", "启明", "汇通", "嘉禾", "天择", "锦程")
INDUSTRIES = ("科技", "贸易", "物流", "电子商务", "餐饮管理", "医疗器械", "信息技术", "供应链管理")
BANKS = ("中国工商银行深圳南山支行", "中国建设银行杭州西湖支行", "招商银行上海陆家嘴支行", "中国银行北京中关村支行",
         "交通银行成都高新支行", "中国农业银行武汉光谷支行")  # fmt: skip
BANK_SHORT = ("工商银行", "建设银行", "招商银行", "中国银行", "交通银行", "农业银行")
SHOPS = ("快购商城", "优选生活馆", "乐家旗舰店", "鲜果日记", "数码港自营")
COURIERS = ("顺丰", "中通", "圆通", "韵达", "京东物流", "申通")
HOTELS = ("海景大酒店", "城市之星酒店", "悦榕度假村", "港湾商务酒店", "锦江之星")
DEPTS = ("内科", "外科", "儿科", "心内科", "内分泌科", "呼吸科", "神经内科", "消化内科")
COMPLAINTS = ("反复头晕一周", "咳嗽伴低热三天", "多饮多尿半年", "失眠、情绪低落两个月", "胸闷气短", "关节肿痛")
TREATMENTS = ("口服药物治疗，两周后复诊", "建议住院进一步检查", "调整用药剂量，定期监测", "注意休息，清淡饮食")
DRUGS = ("二甲双胍缓释片", "氨氯地平片", "阿托伐他汀钙片", "布地奈德气雾剂", "舍曲林片")
RELATIONS = ("父亲", "母亲", "配偶", "兄弟", "姐妹", "朋友")
ETHNICS = ("汉族", "汉族", "汉族", "回族", "壮族", "满族", "蒙古族")
CAR_MODELS = ("大众朗逸", "丰田卡罗拉", "比亚迪秦PLUS", "特斯拉Model 3", "本田雅阁")
DEVICE_MODELS = ("iPhone15", "iPhone 14 Pro", "Mate60 Pro", "小米14", "RTX4090", "RTX 3060", "ThinkPad X1",
                 "Redmi K70", "OPPO Find X7", "Galaxy S24")  # fmt: skip
MALLS = ("万象城", "大悦城", "印象城", "来福士")
TRAFFIC_PLACES = ("深南大道与科苑路交叉口", "绕城高速K35处", "中山路人民广场段", "机场高速进城方向")
TEMPLES = ("白马寺", "灵隐寺", "少林寺", "大昭寺", "青城山古常道观", "西安大清真寺")
BOOKS = ("平凡的世界", "活着", "围城", "三体", "红楼梦")
BRANDS = ("德施曼", "凯迪仕", "小米", "鹿客", "TCL")
VACCINES = ("麻腮风疫苗", "乙脑减毒活疫苗", "百白破疫苗", "流脑疫苗", "脊灰灭活疫苗")
DIETS = ("清真饮食", "素食", "无特殊要求")
PUBLIC_V6 = ("240e", "2408", "2409", "2400", "2001:da8")


# ---------------------------------------------------------------------------------------------------
# Persons
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Person:
    name: str
    sex: str
    birth: dt.date
    id_card: str
    mobile: str
    email: str
    address: str
    card: str


@cache
def _name_book() -> _NameBook:
    """Faker zh_CN's weighted surname and given-name tables (read once; values are drawn with our rng)."""
    return _NameBook(Faker("zh_CN"))


@cache
def _terms(entity: str) -> tuple[str, ...]:
    """The curated terms of ``entity`` (``flowwatch.detection.terms``), sorted so rng draws are stable."""
    from flowwatch.detection.terms import terms

    found = tuple(sorted(set(terms(entity))))
    if not found:
        raise RuntimeError(f"flowwatch.detection.terms has no terms for {entity}")
    return found


class _Gen:
    """Value makers shared by all documents of one corpus (one ``random.Random``)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names = _name_book()

    def digits(self, n: int) -> str:
        return f"{self.rng.randrange(10**n):0{n}d}"

    def name(self, sex: str) -> str:
        rng = self.rng
        if rng.random() < 0.05:
            return rng.choice(COMPOUND_SURNAMES) + rng.choice(self.names.given[sex])
        return self.names.name(rng, sex)

    def address(self) -> str:
        rng = self.rng
        region = rng.choice(ck.ADMIN_REGIONS)
        head = region.province + region.prefecture + region.county
        if region.prefecture and rng.random() < 0.25:
            head = region.prefecture + region.county  # from the city
        road = rng.choice(ROADS + EXTRA_ROADS)
        place = f"{head}{road}{rng.randint(1, 999)}号"
        floor, room = rng.randint(1, 32), rng.randint(1, 6)
        tail = rng.choice(
            (
                "",
                f"{rng.randint(1, 30)}栋{floor}0{room}室",
                f"{rng.randint(1, 8)}单元{floor}0{room}室",
                f"{rng.choice(COMMUNITIES)}{rng.randint(1, 30)}栋{floor}0{room}室",
                f"{rng.randint(1, 12)}号楼{floor}0{room}室",
            )
        )
        return place + tail

    def email(self) -> str:
        rng = self.rng
        if rng.random() < 0.25:
            return f"{rng.randint(10_000_000, 3_999_999_999)}@qq.com"
        local = self.names.mailbox(rng)
        suffix = rng.choice(("", "", f"{rng.randint(1, 99)}", f"{rng.randint(1970, 2010)}", f"_{rng.randint(1, 9)}"))
        if rng.random() < 0.15:
            return f"{local}.{rng.choice(('hr', 'sales', 'service'))}@{rng.choice(('shopfast.com.cn', 'yunfu.cn'))}"
        return f"{local}{suffix}@{rng.choice(MAIL_DOMAINS)}"

    def person(self, minor: bool) -> _Person:
        rng = self.rng
        sex = rng.choice("MF")
        born = ck.birth_date_for_age(rng, 3, 13) if minor else ck.birth_date_for_age(rng, 18, 75)
        return _Person(
            name=self.name(sex),
            sex=sex,
            birth=born,
            id_card=ck.resident_id(rng, born, ck.region_for_birth_year(rng, born.year), sex),
            mobile=ck.mobile(rng),
            email=self.email(),
            address=self.address(),
            card=ck.bank_card(rng),
        )

    def stamp(self, max_days: int = 30) -> dt.datetime:
        return REFERENCE_TIME - dt.timedelta(seconds=self.rng.randint(0, max_days * 86_400))


class _Fill:
    """Placeholder values of one document (or one record row): each is made on first use and reused."""

    def __init__(self, gen: _Gen, minors: frozenset[int]) -> None:
        self.gen = gen
        self.rng = gen.rng
        self.minors = minors
        self.persons: dict[int, _Person] = {}
        self.cache: dict[str, list[Seg]] = {}
        self.anchor: tuple[float, float] | None = None

    def person(self, k: int) -> _Person:
        if k not in self.persons:
            self.persons[k] = self.gen.person(k in self.minors)
        return self.persons[k]

    def get(self, key: str) -> list[Seg]:
        if key not in self.cache:
            maker, _, index = key.partition("#")
            if maker not in MAKERS:
                raise KeyError(f"unknown placeholder {{{key}}}")
            self.cache[key] = MAKERS[maker](self, int(index or 1))
        return self.cache[key]


# ---------------------------------------------------------------------------------------------------
# Value makers: (fill, index) -> segments
# ---------------------------------------------------------------------------------------------------

Maker = Callable[[_Fill, int], list[Seg]]


def _ent(entity: str, text: str) -> list[Seg]:
    return [(text, entity, None)]


def _neg(kind: str, text: str) -> list[Seg]:
    return [(text, None, kind)]


def _txt(text: str) -> list[Seg]:
    return [(text, None, None)]


def _mobile(f: _Fill, k: int) -> list[Seg]:
    m = f.person(k).mobile
    a, b, c = m[:3], m[3:7], m[7:]
    styles = (m, m, m, m, f"+86 {m}", f"+86{m}", f"{a} {b} {c}", f"{a}-{b}-{c}", f"+86 {a}-{b}-{c}", f"0086 {m}")
    return _ent("CN_MOBILE_PHONE", f.rng.choice(styles))


def _card(f: _Fill, k: int) -> list[Seg]:
    card = f.person(k).card
    style = f.rng.random()
    if style < 0.5:
        return _ent("CN_BANK_CARD", card)
    sep = " " if style < 0.85 else "-"
    return _ent("CN_BANK_CARD", sep.join(card[i : i + 4] for i in range(0, len(card), 4)))


def _dob(f: _Fill, k: int, style: str | None = None) -> list[Seg]:
    b = f.person(k).birth
    styles = {
        "cn": f"{b.year}年{b.month}月{b.day}日",
        "cn0": f"{b.year}年{b.month:02d}月{b.day:02d}日",
        "iso": b.isoformat(),
        "slash": f"{b:%Y/%m/%d}",
        "dot": f"{b:%Y.%m.%d}",
    }
    chosen = style or f.rng.choice(("cn", "cn", "cn0", "iso", "iso", "slash", "dot"))
    return _ent("DATE_OF_BIRTH", styles[chosen])


def _landline(f: _Fill, k: int) -> list[Seg]:
    rng = f.rng
    area, local = ck.landline(rng).split("-")
    styles = (
        f"{area}-{local}", f"{area}-{local}", f"({area}){local}", f"（{area}）{local}", f"({area}) {local}",
        f"{area} {local}", f"+86 {area[1:]} {local}", f"+86-{area[1:]}-{local}",
    )  # fmt: skip
    segs = _ent("CN_LANDLINE", rng.choice(styles))
    if rng.random() < 0.2:
        ext = str(rng.randint(100, 8999))
        segs += _txt(rng.choice((f"转{ext}", f"-{ext}", f" ext. {ext}", f"（分机{ext}）")))
    return segs


def _coord(f: _Fill, k: int) -> list[Seg]:
    rng = f.rng
    if f.anchor is None:
        f.anchor = rng.choice(((39.9042, 116.4074), (31.2304, 121.4737), (22.5431, 114.0579),
                               (23.1291, 113.2644), (30.2741, 120.1551), (30.5728, 104.0668)))  # fmt: skip
    lat = f.anchor[0] + rng.uniform(-0.2, 0.2)
    lng = f.anchor[1] + rng.uniform(-0.2, 0.2)
    d = rng.choice((4, 5, 6, 6))
    styles = (
        f"{lat:.{d}f}, {lng:.{d}f}", f"{lat:.{d}f},{lng:.{d}f}", f"{lng:.{d}f},{lat:.{d}f}",
        f"N{lat:.{d}f} E{lng:.{d}f}", f"{lat:.{d}f}, {lng:.{d}f}",
    )  # fmt: skip
    return _ent("GEO_COORDINATE", rng.choice(styles))


def _ip(f: _Fill, k: int) -> list[Seg]:
    r = f.rng
    return _ent(
        "IP_ADDRESS",
        f"{r.choice(PUBLIC_IP_FIRST_OCTETS)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
    )


def _ip6(f: _Fill, k: int) -> list[Seg]:
    r = f.rng
    prefix = r.choice(PUBLIC_V6)
    n = 8 - prefix.count(":") - 1
    groups = [f"{r.randrange(1, 0x10000):x}" for _ in range(n)]
    if r.random() < 0.5:
        cut = r.randint(1, n - 2)
        value = f"{prefix}:{':'.join(groups[:cut])}::{':'.join(groups[cut + 2 :])}"
    else:
        value = f"{prefix}:{':'.join(groups)}"
    return _ent("IP_ADDRESS", value)


def _hmt_address(choices: tuple[str, ...]) -> Maker:
    def make(f: _Fill, k: int) -> list[Seg]:
        r = f.rng
        return _ent(
            "ADDRESS",
            r.choice(choices).format(n=r.randint(1, 300), f=r.randint(1, 40), r=r.choice("ABCDEFGH")),
        )

    return make


_DEVICE_MODALITIES = ("人脸", "面部", "指纹", "掌", "指静脉", "虹膜", "声纹")


def _religion_name(term: str) -> bool:
    """A religion's name (佛教), not a believer (佛教徒, 穆斯林): what follows 信奉/皈依."""
    return term.endswith("教")


def _device_biometric(term: str) -> bool:
    """A modality an access-control or attendance device captures (not DNA or gait)."""
    return any(m in term for m in _DEVICE_MODALITIES)


def _face_biometric(term: str) -> bool:
    return term.startswith(("人脸", "面部"))


@cache
def _term_choices(entity: str, keep: Callable[[str], bool] | None) -> tuple[str, ...]:
    chosen = tuple(t for t in _terms(entity) if keep is None or keep(t))
    return chosen or _terms(entity)


def _term(entity: str, neg: bool = False, keep: Callable[[str], bool] | None = None) -> Maker:
    """A curated term of ``entity`` (those passing ``keep``), labelled — or planted as a hard negative."""

    def make(f: _Fill, k: int) -> list[Seg]:
        value = f.rng.choice(_term_choices(entity, keep))
        return _neg("term_without_context", value) if neg else _ent(entity, value)

    return make


def _religion_or_none(f: _Fill, k: int) -> list[Seg]:
    return _txt("无") if f.rng.random() < 0.3 else _ent("RELIGIOUS_BELIEF", f.rng.choice(_terms("RELIGIOUS_BELIEF")))


def _order_no(f: _Fill, k: int) -> list[Seg]:
    rng = f.rng
    body = f"{f.gen.stamp():%Y%m%d}" + f.gen.digits(rng.choice((9, 10)))
    if rng.random() < 0.4:  # some order numbers pass Luhn by construction
        from stdnum import luhn

        return _neg("order_no", body + luhn.calc_check_digit(body))
    return _neg("order_no", body + f.gen.digits(1))


def _tracking(f: _Fill, k: int) -> list[Seg]:
    g = f.gen
    styles = ("SF" + g.digits(13), "YT" + g.digits(13), "7730" + g.digits(11), "JDX" + g.digits(12),
              "75" + g.digits(12), "4313" + g.digits(9))  # fmt: skip
    return _neg("tracking_no", f.rng.choice(styles))


def _amount(f: _Fill, k: int) -> list[Seg]:
    r = f.rng
    v = round(10 ** r.uniform(1, 4.7), 2)  # ≈ 10 to 50,000 yuan, log-uniform
    styles = (f"¥{v:,.2f}", f"￥{v:.2f}", f"{v:.2f}元", f"人民币{v:,.2f}元", f"{v:,.2f}元")
    if r.random() < 0.12:  # unit prices with four decimals (3.1415元)
        return _neg("amount", f"{r.uniform(0.5, 10):.4f}元")
    return _neg("amount", r.choice(styles))


def _price(f: _Fill, k: int) -> list[Seg]:
    r = f.rng
    styles = (f"{r.randint(9, 9999)}元", f"¥{r.randint(99, 19999):,}", f"{r.randint(9, 999)}.00元")
    return _neg("price", r.choice(styles))


def _percent(f: _Fill, k: int) -> list[Seg]:
    r = f.rng
    styles = (f"{r.uniform(0, 100):.1f}%", f"{r.uniform(80, 100):.2f}%", f"{r.randint(1, 99)}%")
    return _neg("percentage", r.choice(styles))


def _ts(f: _Fill, k: int) -> list[Seg]:
    return _neg("timestamp", f"{f.gen.stamp():%Y-%m-%d %H:%M:%S}")


def _ts_iso(f: _Fill, k: int) -> list[Seg]:
    return _neg("timestamp", f.gen.stamp().isoformat() + f.rng.choice(("+08:00", "Z", ".123+08:00")))


def _ts_compact(f: _Fill, k: int) -> list[Seg]:
    return _neg("timestamp", f"{f.gen.stamp():%Y%m%d%H%M%S}")


def _ts_clf(f: _Fill, k: int) -> list[Seg]:
    return _neg("timestamp", f"{f.gen.stamp():%d/%b/%Y:%H:%M:%S} +0800")


def _epoch(f: _Fill, k: int) -> list[Seg]:
    r = f.rng
    value = r.randint(1_600_000_000, 1_800_000_000)
    return _neg("timestamp", str(value) if r.random() < 0.6 else f"{value}{r.randint(0, 999):03d}")


def _version(f: _Fill, k: int, plain: bool = False) -> list[Seg]:
    r = f.rng
    four = f"{r.randint(1, 12)}.{r.randint(0, 30)}.{r.randint(0, 20)}.{r.randint(0, 255)}"
    three = f"{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 99)}"
    styles = (four, four, three, f"10.0.{r.randint(10000, 22631)}.{r.randint(1, 4000)}")
    value = r.choice(styles)
    if not plain and r.random() < 0.4:
        value = r.choice("vV") + value
    return _neg("version", value)


def _date(f: _Fill, k: int) -> list[Seg]:
    d = f.gen.stamp(400).date() + dt.timedelta(days=f.rng.randint(0, 200))
    styles = (d.isoformat(), f"{d.year}年{d.month}月{d.day}日", f"{d:%Y/%m/%d}", f"{d:%Y.%m.%d}")
    return _neg("ordinary_date", f.rng.choice(styles))


def _old_date(f: _Fill, k: int) -> list[Seg]:
    r = f.rng
    d = dt.date(r.randint(1950, 2012), r.randint(1, 12), r.randint(1, 28))
    return _neg("ordinary_date", r.choice((d.isoformat(), f"{d.year}年{d.month}月{d.day}日", f"{d:%Y/%m/%d}")))


def _isbn(f: _Fill, k: int) -> list[Seg]:
    r = f.rng
    body = "9787" + f.gen.digits(8)
    check = (10 - sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(body)) % 10) % 10
    full = body + str(check)
    if r.random() < 0.5:
        return _neg("isbn", full)
    return _neg("isbn", f"{full[:3]}-{full[3]}-{full[4:7]}-{full[7:12]}-{full[12]}")


def _masked_mobile(f: _Fill, k: int) -> list[Seg]:
    m = f.person(k).mobile
    return _neg("masked_value", f"{m[:3]}****{m[7:]}")


def _masked_id(f: _Fill, k: int) -> list[Seg]:
    i = f.person(k).id_card
    return _neg("masked_value", f"{i[:6]}********{i[14:]}")


def _company(f: _Fill, k: int) -> list[Seg]:
    r = f.rng
    return _txt(f"{r.choice(COMPANY_CITIES)}{r.choice(COMPANY_WORDS)}{r.choice(INDUSTRIES)}有限公司")


def _pick(options: tuple[str, ...]) -> Maker:
    return lambda f, k: _txt(f.rng.choice(options))


def _num(lo: int, hi: int, fmt: str = "{}") -> Maker:
    return lambda f, k: _txt(fmt.format(f.rng.randint(lo, hi)))


def _digits(n: int, prefix: str = "") -> Maker:
    return lambda f, k: _txt(prefix + f.gen.digits(n))


MAKERS: dict[str, Maker] = {
    # persons (index = which person of the document / row)
    "name": lambda f, k: _ent("PERSON", f.person(k).name),
    "sex": lambda f, k: _txt("男" if f.person(k).sex == "M" else "女"),
    "dob": _dob,
    "dob_iso": lambda f, k: _dob(f, k, "iso"),
    "id": lambda f, k: _ent("CN_RESIDENT_ID", f.person(k).id_card),
    "mobile": _mobile,
    "mobile_plain": lambda f, k: _ent("CN_MOBILE_PHONE", f.person(k).mobile),
    "email": lambda f, k: _ent("EMAIL_ADDRESS", f.person(k).email),
    "address": lambda f, k: _ent("ADDRESS", f.person(k).address),
    "card": _card,
    "card_plain": lambda f, k: _ent("CN_BANK_CARD", f.person(k).card),
    "card_tail": lambda f, k: _txt(f.person(k).card[-4:]),
    "masked_mobile": _masked_mobile,
    "masked_id": _masked_id,
    # identifiers
    "passport": lambda f, k: _ent("CN_PASSPORT", ck.passport(f.rng)),
    "hkid": lambda f, k: _ent("HK_ID", ck.hk_id(f.rng)),
    "moid": lambda f, k: _ent("MO_ID", ck.macau_id(f.rng)),
    "twid": lambda f, k: _ent("TW_ID", ck.tw_id(f.rng)),
    "permit_hm": lambda f, k: _ent("CN_HMT_PERMIT", ck.hmt_permit_hk_macau(f.rng)),
    "permit_tw": lambda f, k: _ent("CN_HMT_PERMIT", ck.hmt_permit_taiwan(f.rng)),
    "address_hk": _hmt_address(HK_ADDRESSES),
    "address_mo": _hmt_address(MO_ADDRESSES),
    "address_tw": _hmt_address(TW_ADDRESSES),
    "plate": lambda f, k: _ent("CN_LICENSE_PLATE", ck.licence_plate(f.rng)),
    "uscc": lambda f, k: _ent("CN_USCC", ck.uscc(f.rng)),
    "landline": _landline,
    "ip": _ip,
    "ip6": _ip6,
    "coord": _coord,
    "medical": _term("MEDICAL_TERM"),
    "religion": _term("RELIGIOUS_BELIEF"),
    "religion_name": _term("RELIGIOUS_BELIEF", keep=_religion_name),
    "religion_or_none": _religion_or_none,
    "biometric": _term("BIOMETRIC"),
    "biometric_device": _term("BIOMETRIC", keep=_device_biometric),
    "biometric_face": _term("BIOMETRIC", keep=_face_biometric),
    "medical_free": _term("MEDICAL_TERM", neg=True),
    "religion_free": _term("RELIGIOUS_BELIEF", neg=True, keep=_religion_name),
    "biometric_free": _term("BIOMETRIC", neg=True, keep=_device_biometric),
    # hard negatives
    "order_no": _order_no,
    "invoice_code": lambda f, k: _neg("invoice_code", f.rng.choice(("0", "1")) + f.gen.digits(11)),
    "invoice_no": lambda f, k: _neg("invoice_no", f.gen.digits(8)),
    "serial_no": lambda f, k: _neg("serial_no", f"{f.gen.stamp():%Y%m%d%H%M%S}" + f.gen.digits(f.rng.choice((6, 8)))),
    "device_sn": lambda f, k: _neg("serial_no", f"SN{f.gen.digits(12)}"),
    "tracking_no": _tracking,
    "amount": _amount,
    "amount_num": lambda f, k: _neg("amount", f"{f.rng.uniform(1, 9999):.2f}"),
    "price": _price,
    "percent": _percent,
    "ts": _ts,
    "ts_iso": _ts_iso,
    "ts_compact": _ts_compact,
    "ts_clf": _ts_clf,
    "epoch": _epoch,
    "version": _version,
    "version_plain": lambda f, k: _version(f, k, plain=True),
    "near_mobile": lambda f, k: _neg("near_mobile", ck.near_miss_mobile(f.rng)),
    "near_id": lambda f, k: _neg("near_resident_id", ck.near_miss_resident_id(f.rng)),
    "near_card": lambda f, k: _neg("near_bank_card", ck.near_miss_bank_card(f.rng)),
    "date": _date,
    "old_date": _old_date,
    "model": lambda f, k: _neg("model_number", f.rng.choice(DEVICE_MODELS)),
    "isbn": _isbn,
    "zip": lambda f, k: _neg("zip_code", f.rng.choice(("518000", "100080", "310012", "200120", "610041", "430074"))),
    # plain business values (not PI)
    "c": _pick(("：", "：", "：", ":", ": ")),
    "shop": _pick(SHOPS),
    "courier": _pick(COURIERS),
    "city": _pick(CITIES),
    "company": _company,
    "bank": _pick(BANKS),
    "bank_short": _pick(BANK_SHORT),
    "hotel": _pick(HOTELS),
    "product": _pick(PRODUCTS),
    "dept": _pick(DEPTS),
    "complaint": _pick(COMPLAINTS),
    "treatment": _pick(TREATMENTS),
    "drug": _pick(DRUGS),
    "relation": _pick(RELATIONS),
    "ethnic": _pick(ETHNICS),
    "car_model": _pick(CAR_MODELS),
    "mall": _pick(MALLS),
    "road": _pick(TRAFFIC_PLACES),
    "temple": _pick(TEMPLES),
    "book": _pick(BOOKS),
    "brand": _pick(BRANDS),
    "vaccine": _pick(VACCINES),
    "diet": _pick(DIETS),
    "qty": _num(1, 5),
    "nights": _num(1, 7),
    "hours": _num(1, 12),
    "km": _num(3, 45),
    "speed": _num(0, 90),
    "minutes": _num(2, 30),
    "count": _num(2, 480),
    "year": _num(1995, 2024),
    "room": _num(201, 1888),
    "train": _num(1, 999, "G{}"),
    "flight": _num(100, 9999, "CA{}"),
    "time": lambda f, k: _txt(f"{f.rng.randint(6, 22):02d}:{f.rng.randint(0, 59):02d}"),
    "mrn": _digits(8, "ZY"),
    "emp_no": _digits(5, "E"),
    "uid": _digits(9, "u"),
    "tmpl_no": _digits(6, "T-"),
    "stock": _digits(6),
    "order_en": _digits(7, "SO-2611-"),
    "booking_ref": lambda f, k: _txt("".join(f.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6))),
}


# ---------------------------------------------------------------------------------------------------
# Templates. Every third one (index % 3 == 2) is a test template.
# ---------------------------------------------------------------------------------------------------

T = Template
TEMPLATES: tuple[Template, ...] = (
    T("chat_delivery", (
        "客服：您好，请问有什么可以帮您？\n用户：我的快递三天了还没到，订单号{order_no}\n客服："
        "麻烦提供一下收件人姓名和手机号\n"
        "用户：收件人{name}，手机{mobile}\n客服：查到了，快递单号{tracking_no}，包裹已到{city}转运中心，预计明天送达。",
        "[{ts}] 用户：你好，帮我改一下收货地址\n[{ts#2}] 客服：好的亲，请提供新的地址和收货人信息\n"
        "[{ts#3}] 用户：收货人{c}{name}，地址{c}{address}，电话{c}{mobile}\n[{ts#4}] 客服：已为您修改成功，"
        "订单{order_no}将于24小时内发出。",
    )),
    T("order_sms", (
        "【{shop}】亲爱的顾客，您的订单{order_no}已发货，{courier}快递单号{tracking_no}。收货人{c}{name}，"
        "联系电话{c}{mobile}，"
        "收货地址{c}{address}。实付{amount}，下单时间{ts}。",
        "订单详情\n订单编号：{order_no}\n商品：{product} ×{qty}\n单价：{price}\n收货人：{name}  {mobile}\n"
        "收货地址：{address}\n下单时间：{ts}",
    )),
    T("bank_open_account", (
        "个人银行结算账户开户申请书\n户名：{name}\n证件类型：居民身份证  证件号码：{id}\n出生日期：{dob}\n"
        "手机号码：{mobile}\n"
        "通讯地址：{address}\n开户网点：{bank}\n借记卡卡号：{card}\n申请日期：{date}",
        "开户信息确认：户名{name}，身份证{id}，生日{dob}，预留手机{mobile}，新开借记卡{card}已激活，开户行{bank}。",
    )),
    T("chat_refund", (
        "用户：退款什么时候能到账？\n客服：请提供收款银行卡号和户名\n用户：卡号{card}，户名{name}\n"
        "客服：已提交退款{amount}，退款流水号{serial_no}，预计1-3个工作日到账。",
        "买家留言：麻烦退到我另一张卡{card}，持卡人{name}，之前那张尾号{card_tail}的卡已注销。退款金额{amount}。",
    )),
    T("waybill", (
        "寄件人：{name} {mobile}\n寄件地址：{address}\n收件人：{name#2} {mobile#2}\n收件地址：{address#2}\n"
        "托寄物：{product}  保价金额：{amount}\n运单号：{tracking_no}",
        "寄件人{name}，电话{mobile}；收件人{name#2}，电话{mobile#2}，收件地址{address#2}。快递单号{tracking_no}，"
        "运费{price}。",
    )),
    T("hosp_outpatient", (
        "门诊病历\n患者：{name}  性别：{sex}  出生日期：{dob}\n联系电话：{mobile}\n主诉：{complaint}\n"
        "既往史：{medical}\n"
        "诊断：{medical#2}\n处理：{treatment}\n就诊日期：{date}",
        "患者{name}，{sex}，生于{dob}，主诉{complaint}。既往史：{medical}。诊断：{medical#2}。联系电话{mobile}。",
    )),
    T("chat_account", (
        "用户：我的账号被盗了，绑定邮箱{email}收不到验证码。\n客服：请提供实名认证的身份证号码。\n用户：{id}\n"
        "客服：核验通过，已将登录手机从{masked_mobile}更换为{mobile}，请重新登录。",
        "账号申诉：用户{name}称绑定邮箱{email}被篡改，实名身份证号{id}，联系手机{mobile}。申诉单号{serial_no}。",
    )),
    T("invoice", (
        "增值税电子普通发票\n发票代码：{invoice_code}\n发票号码：{invoice_no}\n开票日期：{date}\n"
        "购买方名称：{company}\n"
        "纳税人识别号：{uscc}\n价税合计：{amount}\n销售方：{company#2}（统一社会信用代码{uscc#2}）",
    )),
    T("hotel_hk", (
        "港澳旅客入住登记：客户{name}，香港居民身份证号码{hkid}，港澳居民来往内地通行证{permit_hm}，联系电话{mobile}，"
        "境外住址：{address_hk}。入住{hotel}，{nights}晚，押金{amount}。",
        "入住人姓名：{name}\n证件：港澳居民来往内地通行证 {permit_hm}\n香港身份证：{hkid}\n手机：{mobile}\n"
        "地址：{address_hk}",
    )),
    T("contract_lease", (
        "房屋租赁合同\n出租方（甲方）姓名：{name}，身份证号：{id}，联系电话：{mobile}\n承租方（乙方）姓名：{name#2}，"
        "身份证号：{id#2}\n"
        "一、房屋地址：{address}\n二、月租金{amount}，乙方应于每月5日前转入甲方账户{card}（开户行：{bank}）。\n"
        "签约日期：{date}",
    )),
    T("contract_purchase", (
        "采购合同\n甲方：{company}\n统一社会信用代码：{uscc}\n乙方：{company#2}\n统一社会信用代码：{uscc#2}\n"
        "乙方联系人：{name}，办公电话：{landline}\n合同总价：{amount}，签订日期：{date}\n交货地址：{address}",
        "甲方{company}（信用代码{uscc}）与乙方{company#2}（信用代码{uscc#2}）签订本合同，合同金额{amount}。"
        "乙方联系人{name}，座机{landline}。",
    )),
    T("hr_biometric", (
        "考勤系统通知：员工姓名{name}（工号{emp_no}）的{biometric_device}已录入考勤机，录入时间{ts}，"
        "设备序列号{device_sn}。",
        "门禁授权申请：为新员工采集{biometric_device}用于门禁通行，员工姓名：{name}，部门：{dept}，申请时间：{ts}。",
    )),
    T("hr_onboard", (
        "新员工入职登记表\n姓名{c}{name}\n性别{c}{sex}\n出生日期{c}{dob}\n民族{c}{ethnic}\n宗教信仰{c}{religion}\n"
        "身份证号{c}{id}\n"
        "手机{c}{mobile}\n邮箱{c}{email}\n现住址{c}{address}\n紧急联系人{c}{name#2}（{relation}），{mobile#2}\n"
        "工资卡号{c}{card}\n"
        "入职日期{c}{date}",
    )),
    T("hr_labor_contract", (
        "劳动合同书\n甲方（用人单位）：{company}\n乙方姓名：{name}\n出生年月日：{dob}\n居民身份证号码：{id}\n"
        "户籍地址：{address}\n"
        "合同期限：自{date}起，为期三年。甲方每月15日前将工资足额支付至乙方本人银行卡{card}。",
    )),
    T("hosp_discharge", (
        "出院小结：患者{name}，住院号{mrn}，因{complaint}入院，入院后确诊{medical}，经治疗好转，于{date}出院。"
        "家属联系电话{mobile}，嘱定期复查。",
        "出院记录\n患者姓名：{name}\n出生日期：{dob}\n入院诊断：{medical}\n出院日期：{date}\n随访电话：{mobile}",
    )),
    T("bank_sms", (
        "【{bank_short}】您尾号{card_tail}的储蓄卡于{date}向户名{name#2}的账户{card#2}转账{amount}，手续费0.00元。",
        "交易提醒：持卡人{name}，卡号{card}，于{ts}在{shop}消费{amount}，交易流水号{serial_no}。",
    )),
    T("credit_card_app", (
        "信用卡申请表\n申请人姓名：{name}\n证件号码：{id}\n移动电话：{mobile}\n电子邮箱：{email}\n单位名称：{company}\n"
        "单位电话：{landline}\n单位地址：{address}\n年收入：{amount}",
    )),
    T("school_enroll", (
        "新生入学登记表\n学生姓名：{name}\n性别：{sex}\n出生日期：{dob}\n身份证号：{id}\n监护人：{name#2}\n"
        "监护人手机：{mobile#2}\n"
        "家庭住址：{address}",
        "{year}级新生信息：学生{name}，出生于{dob}，身份证号{id}，家长姓名{name#2}，联系电话{mobile#2}，"
        "家住{address}。",
    ), minors=frozenset({1})),
    T("hr_checkup", (
        "入职体检报告\n姓名：{name}\n出生日期：{dob}\n体检结论：既往史{medical}，目前控制良好，可胜任岗位工作。\n"
        "体检日期：{date}",
        "体检异常通知：客户{name}（生日{dob}），本次体检确诊{medical}，请尽快到专科就诊。报告编号{serial_no}。",
    )),
    T("bank_face_kyc", (
        "远程开户身份核验：客户{name}，身份证号{id}，系统已采集{biometric_face}并与公安部人口库比对，相似度{percent}，"
        "核验通过。"
        "业务流水号{serial_no}。",
        "人脸核验日志 {ts_iso} user={uid} 客户姓名：{name} 已采集{biometric_face}，活体检测通过，流水号{serial_no}",
    )),
    T("insurance_claim", (
        "理赔申请书\n被保险人姓名：{name}\n证件号码：{id}\n出险经过：被保险人患有{medical}，于{date}住院治疗。\n"
        "申请理赔金额：{amount}\n收款账户：{card}（户名：{name}）",
    )),
    T("macau_customer", (
        "澳门客户开户资料：姓名：{name}；澳门居民身份证：{moid}；回乡证号码：{permit_hm}；手机：{mobile}；"
        "地址：{address_mo}。",
        "澳门客户{name}，澳门居民身份证号码{moid}，申请办理内地手机号卡，联系电话{mobile}。",
    )),
    T("car_rental", (
        "租车订单{order_no}\n承租人姓名：{name}\n驾驶证号：{id}\n手机：{mobile}\n车型：{car_model}\n车牌号：{plate}\n"
        "取车时间：{ts}\n押金：{amount}",
        "租车确认：客户{name}（{mobile}）预订{car_model}，车牌{plate}，还车时间{ts}，订单号{order_no}。",
    )),
    T("pediatric_visit", (
        "儿科就诊登记\n患儿姓名：{name}\n出生日期：{dob}\n监护人：{name#2}\n监护人电话：{mobile#2}\n病史：{medical}\n"
        "就诊科室：儿科",
        "儿科随访：患者{name}，生日{dob}，确诊{medical}，监护人{name#2}（{relation}）电话{mobile#2}，下次复诊{date}。",
    ), minors=frozenset({1})),
    T("hotel_passport", (
        "酒店入住登记单\n客户姓名：{name}\n证件类型：护照\n护照号码：{passport}\n手机：{mobile}\n房号：{room}  "
        "入住日期：{date}  "
        "离店日期：{date#2}\n押金：{amount}",
        "客户{name}持护照{passport}办理入住，房号{room}，联系电话{mobile}。",
    )),
    T("login_log", (
        "{ts_iso} INFO auth-service login success uid={uid} ip={ip} app_version={version_plain} device=Android",
        "{ts} [WARN] 账号{uid}异地登录，登录IP：{ip}，上次登录IP：{ip#2}，客户端版本{version}。",
        '{ip} - - [{ts_clf}] "GET /api/v2/orders?page=2 HTTP/1.1" 200 5123 "-" "okhttp/4.9.3"',
    )),
    T("parking", (
        "停车记录：车牌{plate}，入场时间{ts}，出场时间{ts#2}，停车时长{hours}小时，应收{price}。",
        "【{city}停车】您的车辆{plate}已驶入{mall}停车场，入场时间{ts}。",
    )),
    T("taiwan_customer", (
        "台胞客户资料：客户姓名：{name}，台湾居民来往大陆通行证（台胞证）号码：{permit_tw}，台湾身分证字号：{twid}，"
        "大陆联系手机：{mobile}，台湾住址：{address_tw}。",
        "客户{name}，台胞证{permit_tw}，台湾身分证{twid}，预订{hotel}{nights}晚。",
    )),
    T("ride_trip", (
        "行程单\n乘客：{name}（{mobile}）\n上车点坐标：{coord}\n下车点坐标：{coord#2}\n司机车牌：{plate}\n"
        "里程：{km}公里  车费：{amount}",
        "乘客{name}于{ts}从位置{coord}上车，车牌{plate}，终点坐标{coord#2}，车费{price}。",
    )),
    T("traffic_violation", (
        "交通违法告知：号牌号码{plate}的小型汽车于{date}在{road}违反禁令标志指示，罚款200元，记3分。"
        "机动车所有人姓名：{name}，联系电话：{mobile}。",
    )),
    T("login_v6", (
        "{ts} 登录成功，用户{uid}，客户端地址{ip6}，设备型号{model}，系统版本{version}。",
        "X-Forwarded-For: {ip6}, {ip}\nUser-Agent: Mozilla/5.0\nX-Request-Time: {epoch}",
    )),
    T("ride_gps", (
        '{{"event":"gps_report","driver_id":"{uid}","location":"{coord}","speed_kmh":{speed},"ts":{epoch}}}',
        "轨迹点上报：司机{uid}，定位{coord}，时间{ts}，速度{speed}km/h。",
    )),
    T("security_alert", (
        "安全告警：来源地址{ip}在{minutes}分钟内对登录接口尝试{count}次，目标账号{email}，已自动封禁该IP 24小时。",
        "WAF拦截记录 {ts} src_ip={ip} target={email} rule=CC攻击 count={count}",
    )),
    T("ride_sos", (
        "紧急求助：用户{name}在定位{coord}处触发一键报警，系统已通知紧急联系人{name#2}（电话{mobile#2}）。",
    )),
    T("en_contact", (
        "Contact: {email}, {mobile}",
        "Customer name: {name}\nDOB: {dob_iso}\nPassport No.: {passport}\nTel: {mobile}\nEmail: {email}",
        "Hi team, please ship order {order_en} (total {amount}) to consignee name: {name}, phone {mobile}. "
        "Address: {address}.",
    )),
    T("company_profile", (
        "企业信息公示：{company}，统一社会信用代码{uscc}，法定代表人姓名{name}，注册地址{address}，联系电话{landline}，"
        "成立日期{old_date}。",
    )),
    T("school_kindergarten", (
        "幼儿园报名：幼儿姓名{name}，生日{dob}，家长姓名{name#2}，联系方式{mobile#2}。",
        "预防接种证：儿童姓名：{name}，出生日期：{dob}，监护人：{name#2}，接种疫苗：{vaccine}，接种日期：{date}。",
    ), minors=frozenset({1})),
    T("delivery_rider", (
        "骑手端：客户{name}的订单已到店，送达地址{address}，客户位置{coord}，联系电话{mobile}。",
        "外卖配送异常：客户{name}定位{coord}与地址{address}不符，骑手已致电{mobile}确认。",
    )),
    T("religion_hr", (
        "员工关怀登记：员工姓名：{name}，宗教信仰：{religion}，饮食要求：{diet}，食堂将据此提供相应餐食。",
        "客户{name}信奉{religion_name}，要求在婚宴菜单中避开相应禁忌食材，联系电话{mobile}。",
    )),
    T("supplier_onboard", (
        "供应商准入申请\n单位名称：{company}\n社会信用代码：{uscc}\n联系人：{name}\n座机：{landline}\n邮箱：{email}\n"
        "邮编：{zip}",
    )),
    T("hk_remit", (
        "跨境汇款申请：汇款人姓名{name}，香港身份证{hkid}，收款卡号{card}，汇款金额HKD {amount_num}。",
        "Applicant name: {name}\nHKID: {hkid}\nMobile (Mainland): {mobile}\nMailing address: {address_hk}",
    )),
    T("hotel_notice", (
        "如有疑问请致电我司服务电话{landline}，传真{landline#2}，工作时间9:00-18:00。",
        "预约挂号成功：患者{name}，预约{dept}专家门诊，就诊时间{date}上午。如需取消请拨打{landline}。",
    )),
    T("religion_volunteer", (
        "志愿者报名表：姓名：{name}；手机：{mobile}；宗教信仰：{religion}；特长：书法。",
        "访谈记录：受访客户{name}自述于{year}年皈依{religion_name}，此后每周参加宗教活动。",
    )),
    T("biometric_lock", (
        "智能门锁管理后台：住户姓名{name}的{biometric_device}已录入，模板编号{tmpl_no}，录入时间{ts}。",
        "生物识别信息采集记录：客户{name}，采集类型：{biometric}，采集设备{device_sn}，采集时间{ts}。",
    )),
    T("medical_pharmacy", (
        "处方配送：患者{name}，诊断：{medical}，药品：{drug}，配送地址：{address}，手机{mobile}。",
        "心理咨询预约：客户{name}自述患有{medical}两年，目前服药中，希望预约周末时段。联系邮箱{email}。",
    )),
    T("hmt_ticket", (
        "高铁购票信息：乘客{name}，证件类型：港澳居民来往内地通行证，证件号码：{permit_hm}，"
        "车次{train}，{date} {time}开。",
        "乘客{name}，台湾居民来往大陆通行证{permit_tw}，航班{flight}，{date}。",
    )),
    T("tw_insurance", (
        "台湾地区同胞投保：投保人{name}，台湾身分证{twid}，台胞证{permit_tw}，手机{mobile}，保费{amount}。",
        "Taiwan ID: {twid}\nName: {name}\nMTP No.: {permit_tw}",
    )),
    T("religion_visa", (
        "签证申请表：申请人姓名{name}，护照号{passport}，宗教信仰：{religion}，出生日期{dob}。",
        "Applicant name: {name}; passport number: {passport}; religion: {religion}; date of birth: {dob_iso}",
    )),
    T("en_log", (
        "{ts_iso} user {email} logged in from {ip} (client {version})",
        "Booking confirmed for guest name: {name}. Passport: {passport}. Check-in {date}. Contact {email} / {mobile}. "
        "Ref {booking_ref}.",
    )),
    T("biometric_consent", (
        "《人脸识别服务授权书》授权人姓名：{name}，身份证号：{id}。本人同意贵司采集本人{biometric_face}用于身份核验，"
        "授权日期{date}。",
    )),
    T("macau_en", (
        "Macau ID: {moid}\nCustomer name: {name}\nHome Return Permit: {permit_hm}\nTel: {mobile}",
    )),
    # ---- hard negatives and texts without PI -------------------------------------------------------
    T("neg_health_news", (
        "【健康科普】{medical_free}的早期症状往往不明显，专家建议中老年人定期筛查，保持均衡饮食和规律运动。",
        "本周三下午，社区卫生服务中心将举办{medical_free}防治知识讲座，欢迎居民参加，讲座免费。",
    )),
    T("neg_temple", (
        "{temple}始建于唐代，是{religion_free}的重要场所，现为全国重点文物保护单位，门票{price}。",
        "据史料记载，{religion_free}于东汉时期传入中原，{temple}保存有大量珍贵文物，年接待游客{count}万人次。",
    )),
    T("neg_biometric_product", (
        "新品发布：{brand}智能门锁支持{biometric_free}解锁，首发价{price}，{percent}的用户给出好评。",
        "科技资讯：{biometric_free}识别技术市场规模预计同比增长{percent}，{brand}发布新款{model}。",
    )),
    T("neg_system_notice", (
        "系统升级公告：App将于{date} 02:00-04:00升级至版本{version}，届时服务暂停。本次更新修复了{count}个问题。",
        "发布说明 版本 {version_plain}（构建时间{ts_compact}）：优化了{model}机型的兼容性。",
    )),
    T("neg_finance", (
        "{company}{year}年第三季度营业收入{amount}，同比增长{percent}，净利润{amount#2}，股票代码{stock}。",
        "本月销售额{amount}，环比下降{percent}，客单价{price}，订单号{order_no}为最大单。",
    )),
    T("neg_orders", (
        "订单统计：订单号{order_no}、{order_no#2}等{count}笔订单发票已开具，发票代码{invoice_code}，"
        "发票号码{invoice_no}至{invoice_no#2}。"
        "快递单号{tracking_no}。",
        "对账单：流水号{serial_no}，订单编号{order_no}，金额{amount}，交易时间{ts}（{epoch}）。",
    )),
    T("neg_data_quality", (
        "数据质量巡检：会员表中发现身份证号校验位错误{count}条，例如{near_id}；银行卡号未通过校验的如{near_card}；"
        "号段异常的手机号如{near_mobile}；已脱敏的手机号{masked_mobile}格式正常。",
        "脱敏样例：身份证{masked_id}，手机{masked_mobile}，均已按规范处理。",
    )),
    T("neg_products", (
        "图书：《{book}》，ISBN {isbn}，定价{price}，出版日期{old_date}。",
        "电子产品：{model}，售价{price}，现货，邮编{zip}地区包邮，好评率{percent}。",
    )),
    T("neg_batch_import", (
        "批量导入失败记录：第{count}行号码{near_mobile}不是有效手机号；第{count#2}行证件号{near_id}校验失败；"
        "第{count#3}行卡号{near_card}未通过Luhn校验。",
        "任务调度日志：job_id={serial_no} start={epoch} end={epoch#2} 版本 {version} 结果 success；"
        "下一次执行时间{ts}（{ts_compact}）。",
    )),
    T("neg_logistics", (
        "{date}物流日报：{city}仓出库{count}单，平均时效{hours}小时，准时率{percent}。"
        "快递单号{tracking_no}等{count#2}件异常件待处理。",
        "公司成立于{old_date}，注册资本{amount}，{year}年营收增长{percent}。",
    )),
    # ---- record documents -----------------------------------------------------------------------
    T("rec_orders", fields=(
        ("订单号", "#{order_no}"), ("收货人", "{name}"), ("手机号", "#{mobile_plain}"), ("收货地址", "{address}"),
        ("实付金额", "#{amount_num}"), ("下单时间", "{ts}"),
    ), rows=(1, 5)),
    T("rec_members", fields=(
        ("user_id", "{uid}"), ("name", "{name}"), ("id_card", "{id}"), ("birth_date", "{dob_iso}"),
        ("email", "{email}"), ("mobile", "#{mobile_plain}"), ("last_login_ip", "{ip}"), ("register_time", "{ts_iso}"),
    ), rows=(1, 5)),
    T("rec_patients", fields=(
        ("病历号", "{mrn}"), ("患者姓名", "{name}"), ("出生日期", "{dob}"), ("诊断", "{medical}"),
        ("联系电话", "{mobile}"), ("就诊时间", "{ts}"),
    ), rows=(1, 4)),
    T("rec_employees", fields=(
        ("emp_no", "{emp_no}"), ("姓名", "{name}"), ("身份证号", "{id}"), ("宗教信仰", "{religion_or_none}"),
        ("工资卡号", "#{card_plain}"), ("紧急联系人", "{name#2}"), ("紧急联系人电话", "#{mobile_plain#2}"),
    ), rows=(1, 5)),
    T("rec_trips", fields=(
        ("trip_id", "{serial_no}"), ("passenger_name", "{name}"), ("passenger_phone", "{mobile}"),
        ("pickup", "{coord}"), ("dropoff", "{coord#2}"), ("plate", "{plate}"), ("fare", "#{amount_num}"),
    ), rows=(1, 4)),
    T("rec_kyc", fields=(
        ("user_id", "{uid}"), ("name", "{name}"), ("id_card", "{id}"), ("biometric_type", "{biometric}"),
        ("liveness_score", "0.98"), ("verified_at", "{ts_iso}"),
    ), rows=(1, 4)),
    T("rec_hk_guests", fields=(
        ("guest_name", "{name}"), ("证件类型", "港澳居民来往内地通行证"), ("证件号码", "{permit_hm}"),
        ("香港身份证号", "{hkid}"), ("手机号", "{mobile}"), ("入住日期", "{date}"),
    ), rows=(1, 4)),
    T("rec_tw_customers", fields=(
        ("customer_name", "{name}"), ("tw_id", "{twid}"), ("mtp_no", "{permit_tw}"), ("mobile", "{mobile}"),
        ("created_at", "{ts}"),
    ), rows=(1, 4)),
    T("rec_mo_customers", fields=(
        ("联系人", "{name}"), ("澳门身份证", "{moid}"), ("回乡证", "{permit_hm}"), ("电话", "#{mobile_plain}"),
        ("地址", "{address_mo}"),
    ), rows=(1, 4)),
    T("rec_merchants", fields=(
        ("商户名称", "{company}"), ("统一社会信用代码", "{uscc}"), ("法定代表人", "{name}"), ("联系电话", "{landline}"),
        ("结算卡号", "{card}"), ("邮箱", "{email}"),
    ), rows=(1, 4)),
    T("rec_students", fields=(
        ("学生姓名", "{name}"), ("出生日期", "{dob}"), ("身份证号", "{id}"), ("监护人", "{name#2}"),
        ("监护人电话", "{mobile#2}"), ("家庭住址", "{address}"),
    ), rows=(1, 5), minors=frozenset({1})),
    T("rec_login", fields=(
        ("user_id", "{uid}"), ("client_ip", "{ip}"), ("ipv6", "{ip6}"), ("location", "{coord}"),
        ("app_version", "{version_plain}"), ("ts", "#{epoch}"),
    ), rows=(1, 5)),
    T("rec_passports", fields=(
        ("name", "{name}"), ("passport_no", "{passport}"), ("nationality", "CHN"), ("dob", "{dob_iso}"),
        ("email", "{email}"),
    ), rows=(1, 4)),
    T("rec_remarks", fields=(
        ("order_id", "{order_no}"), ("备注", "客户要求送货前致电{mobile}，收货人{name}，地址：{address}"),
        ("车牌号", "{plate}"), ("status", "已完成"),
    ), rows=(1, 3)),
    T("rec_stats", fields=(
        ("日期", "{date}"), ("城市", "{city}"), ("订单量", "#{count}"), ("GMV", "#{amount_num}"),
        ("版本", "{version_plain}"), ("发票代码", "{invoice_code}"), ("同比", "{percent}"),
    ), rows=(2, 6)),
)  # fmt: skip


def template_split(index: int) -> str:
    """Split of the template at ``index`` of ``TEMPLATES``: every third one is ``"test"``."""
    return "test" if index % 3 == 2 else "dev"


# ---------------------------------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------------------------------

_FORMATTER = string.Formatter()


def _render(template: str, fill: _Fill) -> tuple[str, list[tuple[str, int, int]], set[str]]:
    """Concatenate the literal text and placeholder values of ``template``; return the text, the labels
    ``(type, start, end)`` recorded while concatenating and the hard-negative kinds used."""
    parts: list[str] = []
    labels: list[tuple[str, int, int]] = []
    planted: list[str] = []
    negatives: set[str] = set()
    pos = 0
    for literal, key, _spec, _conv in _FORMATTER.parse(template):
        parts.append(literal)
        pos += len(literal)
        if key is None:
            continue
        for value, entity, negative in fill.get(key):
            if entity is not None:
                labels.append((entity, pos, pos + len(value)))
                planted.append(value)
            if negative is not None:
                negatives.add(negative)
            parts.append(value)
            pos += len(value)
    text = "".join(parts)
    for (entity, start, end), value in zip(labels, planted, strict=True):  # recorded offsets: check anyway
        if not value or text[start:end] != value or value != value.strip():
            raise AssertionError(f"label {entity} [{start}, {end}) does not cover the planted {value!r}")
    return text, labels, negatives


def _maybe_number(rendered: str, rng: random.Random) -> RecordValue:
    """An ``int`` (half the time) or ``float`` for a ``#`` field whose text round-trips exactly."""
    if rendered.isdigit() and not rendered.startswith("0"):
        return int(rendered) if rng.random() < 0.5 else rendered
    try:
        number = float(rendered)
    except ValueError:
        return rendered
    return number if str(number) == rendered else rendered


def _text_document(gen: _Gen, template: Template, doc_id: str, split: str) -> Document:
    fill = _Fill(gen, template.minors)
    text, labels, negatives = _render(gen.rng.choice(template.variants), fill)
    return Document(
        id=doc_id,
        template=template.id,
        split=split,
        kind="text",
        text=text,
        records=[],
        labels=[Label(t, s, e) for t, s, e in labels],
        negatives=tuple(sorted(negatives)),
    )


def _record_document(gen: _Gen, template: Template, doc_id: str, split: str) -> Document:
    rng = gen.rng
    records: list[dict[str, RecordValue]] = []
    labels: list[Label] = []
    negatives: set[str] = set()
    for row in range(rng.randint(*template.rows)):
        fill = _Fill(gen, template.minors)
        record: dict[str, RecordValue] = {}
        for name, spec in template.fields:
            numeric = spec.startswith("#")
            text, found, kinds = _render(spec.removeprefix("#"), fill)
            value: RecordValue = _maybe_number(text, rng) if numeric else text
            if str(value) != text:
                raise AssertionError(f"record value {value!r} does not print as {text!r}")
            record[name] = value
            labels.extend(Label(t, s, e, name, row) for t, s, e in found)
            negatives |= kinds
        records.append(record)
    return Document(
        id=doc_id,
        template=template.id,
        split=split,
        kind="records",
        text="",
        records=records,
        labels=labels,
        negatives=tuple(sorted(negatives)),
    )


def generate_corpus(seed: int = DEFAULT_SEED, n_docs: int = DEFAULT_N_DOCS) -> list[Document]:
    """Return ``n_docs`` labelled documents made with ``random.Random(seed)`` only (deterministic).

    Templates are used round-robin in an order reshuffled every cycle, so each template gets
    ``n_docs / len(TEMPLATES)`` documents (± 1). Document ids are ``doc-00000``…. Raises ``ValueError`` for
    ``n_docs < 0``.
    """
    if n_docs < 0:
        raise ValueError("n_docs must be >= 0")
    rng = random.Random(seed)
    gen = _Gen(rng)
    order: list[int] = []
    docs: list[Document] = []
    for i in range(n_docs):
        if not order:
            order = list(range(len(TEMPLATES)))
            rng.shuffle(order)
        index = order.pop()
        template = TEMPLATES[index]
        make = _record_document if template.fields else _text_document
        docs.append(make(gen, template, f"doc-{i:05d}", template_split(index)))
    return docs
