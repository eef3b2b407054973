"""Deterministic sample flow events for demos, replays, load and evaluation.

``generate(n, seed)`` yields the raw Kafka message values (UTF-8 JSON bytes) of ``n`` flow events from six
fictional platforms; ``write_jsonl`` writes them one per line and returns a ``GenerationSummary``.
``generate_labelled`` yields the same bytes with what each message was meant to be (platform, kind, true
destination region, which invalid variant, the PI values planted in it), for tests and evaluation.

Everything derives from ``random.Random(seed)`` and ``Faker("zh_CN").seed_instance(seed)``: the same
seed gives byte-identical output (with the pinned Faker and snownlp). No wall clock, no uuid4.

What the stream contains (shares for the default 6,000 events):

* transfers: domestic (CN→CN) provide / share / entrust / store / delete / publish flows and exports to
  US, SG, DE, HK, MO and TW; ≈ 15 % of exports name only ``destination.host`` and/or ``ip`` (no region);
* incidents (≈ 1–2 %): 2–4 events per ``incident_id`` (first report, updates, handling completed);
* ≈ 0.8 % invalid messages, one of ``INVALID_KINDS``, that ``FlowEvent`` rejects;
* ``records`` (1–20 flat rows with PI in named fields, or no PI at all) and/or ``text`` (business
  documents with embedded PI, real prose from ``prose.py`` with or without PI inserted);
* ``subjects`` keyed as ``subject_key(identifier)`` (HMAC-SHA256 under ``DEMO_SUBJECT_KEY``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from faker import Faker

from flowwatch_tools.samples import checksums as ck
from flowwatch_tools.samples.prose import sample_prose

__all__ = [
    "DEFAULT_N_EVENTS",
    "DEFAULT_SEED",
    "DEMO_SUBJECT_KEY",
    "INVALID_KINDS",
    "PLATFORMS",
    "GenerationSummary",
    "SampleEvent",
    "generate",
    "generate_labelled",
    "subject_key",
    "write_jsonl",
]

DEFAULT_N_EVENTS = 6000
DEFAULT_SEED = 20261121
DEMO_SUBJECT_KEY = b"flowwatch-demo-subject-key-v1"
"""Fixed HMAC key of the sample ``subjects.keys`` (demo only: a platform keeps its real key secret)."""

INVALID_SHARE = 0.008
INVALID_KINDS: tuple[str, ...] = (
    "not_json",
    "truncated_json",
    "missing_event_id",
    "bad_occurred_at",
    "unknown_kind",
    "incident_without_incident",
    "bad_region",
)
TZ_CN = dt.timezone(dt.timedelta(hours=8))
STREAM_START = dt.datetime(2025, 12, 1, tzinfo=TZ_CN)
STREAM_SPAN = dt.timedelta(days=354)  # to 2026-11-20
ADULT_POOL = 3000
MINOR_POOL = 600
MAX_SUBJECT_KEYS_SAMPLE = 1000
BULK_EVERY = 2000  # one large prose document (30–300 KB) per this many events
Value = str | int | float | bool | None
Planted = tuple[str, str]  # (canonical entity type, value as it appears)


def subject_key(identifier: str) -> str:
    """HMAC-SHA256 (hex, 64 chars) of a subject's identifier (resident ID, else travel document number)
    under ``DEMO_SUBJECT_KEY`` — the ``subjects.keys`` scheme of the sample events."""
    return hmac.new(DEMO_SUBJECT_KEY, identifier.encode("utf-8"), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------------------------------
# Reference tables
# ---------------------------------------------------------------------------------------------------

ROADS = ("人民路", "中山路", "解放路", "建设路", "和平路", "新华路", "文化路", "胜利路", "长江路",
         "黄河路", "科技园路", "学府路", "滨江大道", "东风路", "朝阳路", "复兴路", "光明街", "青年路",
         "工业大道", "迎宾路")  # fmt: skip
COMMUNITIES = ("阳光花园", "锦绣华庭", "翠湖苑", "金色家园", "幸福里", "碧桂园", "万科城", "和谐家园",
               "书香名邸", "滨江一号")  # fmt: skip
HK_ADDRESSES = ("香港九龙旺角弥敦道{n}号{f}楼{r}室", "香港新界沙田大围道{n}号{f}楼{r}室",
                "香港岛铜锣湾轩尼诗道{n}号{f}楼{r}室")  # fmt: skip
MO_ADDRESSES = ("澳门氹仔布拉干萨街{n}号{f}楼{r}座", "澳门新马路{n}号{f}楼{r}座")
TW_ADDRESSES = ("台北市大安区信义路四段{n}号{f}楼", "高雄市前镇区中山二路{n}号{f}楼")
MAIL_DOMAINS = ("qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "gmail.com", "outlook.com",
                "139.com", "yeah.net")  # fmt: skip
PRODUCTS = ("无线蓝牙耳机", "儿童保温杯", "电动牙刷", "羽绒服", "空气炸锅", "智能手环", "乳胶枕",
            "有机大米5kg", "婴儿纸尿裤", "机械键盘", "防晒霜", "运动鞋")  # fmt: skip
DIAGNOSES = ("高血压", "2型糖尿病", "抑郁症", "慢性乙型病毒性肝炎", "冠心病", "支气管哮喘", "甲状腺功能亢进",
             "肺结核", "乳腺癌", "焦虑障碍", "慢性肾病", "HIV感染", "过敏性鼻炎", "腰椎间盘突出")  # fmt: skip
DEPARTMENTS = ("内科", "外科", "儿科", "妇产科", "精神心理科", "内分泌科", "心内科", "皮肤科")
COMPLAINTS = ("反复头晕一周", "咳嗽伴低热三天", "多饮多尿半年", "失眠、情绪低落两个月", "胸闷气短",
              "皮疹瘙痒")  # fmt: skip
TREATMENTS = ("口服药物治疗，两周后复诊", "建议住院进一步检查", "调整用药剂量，定期监测",
              "心理疏导并转介专科")  # fmt: skip
RELIGIONS = ("无", "无", "无", "佛教", "基督教", "伊斯兰教", "天主教", "道教")
GRADES = ("一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "初一", "初二", "初三", "高一", "高二")
JOB_DEPTS = ("销售部", "技术部", "财务部", "客服中心", "人力资源部", "供应链")
HOTELS = ("海景大酒店", "城市之星酒店", "悦榕度假村", "港湾商务酒店")
PUBLIC_IP_FIRST_OCTETS = (36, 39, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119,
                          120, 121, 122, 123, 124, 125, 180, 182, 183, 202, 210, 211, 218, 219, 220, 221, 222,
                          223)  # fmt: skip
CN_CITIES = (("CN-BJ", "北京"), ("CN-SH", "上海"), ("CN-GD", "深圳"), ("CN-GD", "广州"), ("CN-ZJ", "杭州"),
             ("CN-SC", "成都"), ("CN-HB", "武汉"), ("CN-JS", "南京"))  # fmt: skip
CITY_COORDS = ((39.9042, 116.4074), (31.2304, 121.4737), (22.5431, 114.0579), (23.1291, 113.2644),
               (30.2741, 120.1551), (30.5728, 104.0668))  # fmt: skip

INCIDENT_SCENARIOS: tuple[tuple[str, str, str], ...] = (
    ("leak", "对象存储桶访问权限被误设为公共读，用户数据可被公网访问",
     "已关闭公共访问，轮换访问密钥，排查访问日志并通知受影响用户"),
    ("theft", "攻击者利用撞库攻击批量登录用户账户并导出个人信息",
     "已强制重置受影响账户密码，封禁攻击来源IP，上线登录风控"),
    ("tamper", "内部人员违规修改会员收货地址和手机号用于骗取退款",
     "已冻结相关账号权限，恢复被篡改数据，移交公安机关"),
    ("destroy", "运维误操作删除生产数据库，备份恢复失败",
     "已从异地冷备恢复大部分数据，完善变更审批流程"),
    ("loss", "员工遗失未加密的笔记本电脑，内含客户名单",
     "已远程擦除设备，启用全盘加密策略，开展安全培训"),
    ("illegal_use", "合作方超出约定范围使用用户数据进行营销推送",
     "已终止数据接口，要求合作方删除数据并出具审计报告"),
    ("unauthorized_transfer", "集成的第三方SDK未经授权将手机号和设备信息回传至境外服务器",
     "已下线该SDK，评估出境数据范围，向监管部门报告"),
)  # fmt: skip
AFFECTED_COUNTS = (37, 860, 4_200, 12_000, 56_000, 99_999, 100_000, 143_000, 1_250_000)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A recipient of a flow. ``region`` is the truth; some export events omit it and name only ``host``
    and/or ``ip`` (``SampleEvent.region_shown`` false)."""

    region: str
    recipient: str
    recipient_type: str
    city: str | None = None
    host: str | None = None
    ip: str | None = None
    onward: tuple[str, ...] = ()


def _ep(
    region: str,
    recipient: str,
    kind: str,
    city: str | None = None,
    host: str | None = None,
    ip: str | None = None,
    onward: tuple[str, ...] = (),
) -> Endpoint:
    return Endpoint(region, recipient, kind, city, host, ip, onward)


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """One kind of flow a platform emits; ``weight`` is its relative frequency within the platform."""

    weight: int
    activity: str
    endpoints: tuple[Endpoint, ...]
    purpose: str
    bases: tuple[str | None, ...]
    schema: str | None  # key of RECORD_SCHEMAS; None = text only
    texts: tuple[str, ...] = ()  # keys of TEXT_TEMPLATES
    text_share: float = 0.3
    population: str = "adult"  # adult | minor | hmt | mixed
    exemptions: tuple[str, ...] = ()
    pi_types: tuple[str, ...] = ()
    important_ref: str | None = None
    max_declared: int = 5_000


@dataclass(frozen=True, slots=True)
class Platform:
    """A fictional processor (tenant) and the mix of flows it emits."""

    id: str
    name: str
    region: str
    city: str
    systems: tuple[str, ...]
    weight: int
    subjects_share: float
    utc_timestamps: bool
    flows: tuple[FlowSpec, ...]


_EXPORT_BASES = ("consent", "consent", "contract_necessity", None)
_DOMESTIC_BASES = ("contract_necessity", "consent", "contract_necessity", None)

PLATFORMS: tuple[Platform, ...] = (
    Platform("shopfast", "快购商城", "CN-ZJ", "杭州", ("order-service", "crm", "wms"), 24, 0.25, False, (
        FlowSpec(30, "provide", (_ep("CN-ZJ", "迅达物流有限公司", "logistics", "杭州", "api.xunda-wl.cn"),
                                 _ep("CN-GD", "顺风达快递", "logistics", "深圳")),
                 "订单配送", _DOMESTIC_BASES, "order", ("ticket",), 0.2),
        FlowSpec(12, "entrust", (_ep("CN-SC", "云客服外包服务有限公司", "processor", "成都"),),
                 "售后客服", ("contract_necessity",), "order", ("ticket", "refund"), 0.5),
        FlowSpec(8, "share", (_ep("CN-BJ", "精准广告联盟", "third_party", "北京"),),
                 "个性化推荐", ("consent",), "member", ("data_quality",), 0.1),
        FlowSpec(8, "export", (_ep("US", "ShopFast Analytics Inc.", "affiliate", "San Jose",
                                   "ingest.shopfast-analytics.us", "52.8.19.58"),),
                 "用户行为分析", _EXPORT_BASES, "member", (), 0.0, exemptions=("art5_4_below_100k",),
                 max_declared=400_000),
        FlowSpec(7, "export", (_ep("SG", "ShopFast Global Pte. Ltd.", "affiliate", "Singapore",
                                   "api.shopfast.com.sg", "54.169.32.11", ("MY",)),),
                 "跨境电商订单履约", ("contract_necessity",), "order_en", (), 0.0,
                 exemptions=("art5_1_contract",), max_declared=50_000),
        FlowSpec(5, "export", (_ep("HK", "港通仓储物流有限公司", "logistics", "香港", "wms.gangtong.com.hk",
                                   "203.198.23.77"),),
                 "跨境物流清关", ("contract_necessity",), "customs", (), 0.0,
                 exemptions=("art5_1_contract",)),
        FlowSpec(5, "store", (_ep("CN-ZJ", "快购商城自建机房", "self", "杭州"),),
                 "订单数据归档", (None,), "order", ()),
        FlowSpec(3, "delete", (_ep("CN-ZJ", "快购商城自建机房", "self", "杭州"),),
                 "超期订单删除", ("legal_duty",), None, ("deletion",), 1.0),
        FlowSpec(6, "provide", (_ep("CN-ZJ", "入驻商家", "merchant", "杭州"),),
                 "经营数据看板", (None,), "sales_stats", ()),
        FlowSpec(4, "publish", (_ep("CN", "商城评价区", "public"),),
                 "商品评价展示", ("consent",), None, ("reviews",), 1.0),
        FlowSpec(3, "export", (_ep("SG", "ShopFast Global Pte. Ltd.", "affiliate", "Singapore",
                                   "hr.shopfast.com.sg"),),
                 "跨国人力资源管理", ("hr_management",), "employee", (), 0.0, exemptions=("art5_2_hr",)),
        FlowSpec(2, "export", (_ep("SG", "ShopFast Global Pte. Ltd.", "affiliate", "Singapore",
                                   "bi.shopfast.com.sg"),),
                 "经营数据汇总（不含个人信息）", (None,), "sales_stats", (), 0.0,
                 exemptions=("art3_trade_no_pi",)),
    )),
    Platform("healthbridge", "康桥健康", "CN-SH", "上海", ("his-gateway", "emr", "tele-consult"), 16, 0.5,
             False, (
        FlowSpec(25, "provide", (_ep("CN-SH", "申康联合医院", "hospital", "上海"),
                                 _ep("CN-JS", "金陵协和门诊部", "hospital", "南京")),
                 "转诊与联合诊疗", ("consent", "contract_necessity"), "patient", ("medical_note",), 0.4,
                 pi_types=("medical_health",)),
        FlowSpec(12, "entrust", (_ep("CN-SH", "云药房科技有限公司", "processor", "上海"),),
                 "处方流转与配送", ("contract_necessity",), "prescription", (), 0.0),
        FlowSpec(10, "share", (_ep("CN-BJ", "安泰人寿保险股份有限公司", "insurer", "北京"),),
                 "理赔核验", ("consent",), "claim", ("claim_note",), 0.3),
        FlowSpec(9, "export", (_ep("DE", "Heidelberg Clinical Research GmbH", "research", "Heidelberg",
                                   "upload.hcr-research.de", "88.198.41.20"),),
                 "多中心临床研究", ("consent",), "patient", (), 0.0, pi_types=("medical_health",),
                 important_ref="GB/T 43697-2024 附录G 卫生健康-健康医疗数据", max_declared=60_000),
        FlowSpec(7, "remote_access", (_ep("US", "MedInsight AI Inc.", "processor", "Boston",
                                          "api.medinsight-ai.us", "3.208.77.14"),),
                 "影像AI辅助诊断", ("consent",), "patient", (), 0.0, pi_types=("medical_health",)),
        FlowSpec(6, "export", (_ep("HK", "港岛仁心诊所", "hospital", "香港", "portal.renxin-clinic.com.hk"),),
                 "跨境转诊", ("consent", "emergency"), "patient", ("medical_note",), 0.3, population="mixed",
                 exemptions=("art5_3_emergency",)),
        # Decree 790 Art. 35(6): provided abroad to perform a statutory duty (a pharmacovigilance report)
        FlowSpec(1, "export", (_ep("US", "U.S. Food and Drug Administration", "regulator", "Silver Spring",
                                   "fis.fda.gov"),),
                 "药物警戒报告（履行法定职责）", ("legal_duty",), "patient", (), 0.0,
                 exemptions=("ndsr35_6_statutory_duty",)),
        FlowSpec(6, "provide", (_ep("CN-SH", "申康联合医院", "hospital", "上海"),),
                 "儿科随访", ("consent",), "pediatric", ("pediatric_note",), 0.5, population="minor"),
        FlowSpec(3, "store", (_ep("CN-SH", "康桥健康私有云", "self", "上海"),),
                 "电子病历归档", (None,), "patient", ()),
    )),
    Platform("ridenow", "即行出行", "CN-GD", "深圳", ("dispatch", "trip-log", "driver-ops"), 20, 0.2, False, (
        FlowSpec(25, "provide", (_ep("CN-GD", "平安顺达保险", "insurer", "深圳"),
                                 _ep("CN-GD", "深圳市交通运输数据中心", "government", "深圳")),
                 "行程保险与监管报送", ("legal_duty", "contract_necessity"), "trip",
                 ("trip_complaint",), 0.2),
        FlowSpec(12, "share", (_ep("CN-BJ", "图行地图科技", "third_party", "北京", "lbs.tuxing-map.cn"),),
                 "路径规划", ("contract_necessity",), "trip", ()),
        FlowSpec(10, "entrust", (_ep("CN-GD", "众包司机招募服务公司", "processor", "广州"),),
                 "司机招募与背景审核", ("contract_necessity", "hr_management"), "driver",
                 ("driver_note",), 0.3),
        FlowSpec(9, "export", (_ep("SG", "RideNow Global Pte. Ltd.", "affiliate", "Singapore",
                                   "data.ridenow.com.sg", "52.74.210.9"),),
                 "全球运营分析", _EXPORT_BASES, "trip", (), 0.0, pi_types=("location_tracking",),
                 important_ref="GB/T 43697-2024 附录G 交通运输-车辆轨迹数据", max_declared=900_000),
        FlowSpec(6, "export", (_ep("HK", "粤港跨境出行有限公司", "partner", "香港",
                                   "api.gd-hk-ride.com.hk"),),
                 "粤港跨境用车", ("contract_necessity",), "driver", (), 0.0, population="mixed",
                 exemptions=("art5_1_contract",)),
        FlowSpec(5, "export", (_ep("MO", "澳门通行出行服务", "partner", "澳门", "ride.macau-go.com.mo",
                                   "202.175.84.30"),),
                 "港珠澳大桥跨境用车", ("contract_necessity",), "trip", (), 0.0, population="hmt",
                 exemptions=("art5_1_contract",)),
        FlowSpec(4, "remote_access", (_ep("US", "RideNow Labs LLC", "affiliate", "Seattle",
                                          "vpn.ridenow-labs.us", "54.187.66.102"),),
                 "远程运维排障", (None,), "login_log", (), 0.0),
        FlowSpec(5, "provide", (_ep("CN-GD", "城市规划研究院", "research", "深圳"),),
                 "出行热力统计", (None, "other_legal_ground"), "heat_stats", ()),
    )),
    Platform("paycloud", "云付科技", "CN-BJ", "北京", ("core-ledger", "risk-engine", "kyc"), 20, 0.6, True, (
        FlowSpec(22, "provide", (_ep("CN-BJ", "网联清算有限公司", "clearing", "北京"),),
                 "支付清算", ("contract_necessity", "legal_duty"), "payment", ()),
        FlowSpec(12, "provide", (_ep("CN-SH", "合作收单机构", "acquirer", "上海"),),
                 "商户入网审核", ("contract_necessity",), "merchant", ("risk_report",), 0.3),
        FlowSpec(9, "entrust", (_ep("CN-BJ", "慧眼身份核验服务", "processor", "北京", "kyc.huiyan-id.cn"),),
                 "实名认证与人脸核验", ("consent",), "kyc", (), 0.0, pi_types=("biometric",)),
        FlowSpec(10, "export", (_ep("HK", "PayCloud International (HK) Limited", "affiliate", "香港",
                                    "gw.paycloud.com.hk", "203.198.101.45"),),
                 "跨境支付结算", ("contract_necessity",), "payment", (), 0.0, exemptions=("art5_1_contract",),
                 pi_types=("financial_account",), max_declared=2_000_000),
        FlowSpec(7, "export", (_ep("MO", "澳门通股份有限公司", "partner", "澳门", "api.macaupass.com.mo",
                                   "60.246.18.2"),),
                 "澳门跨境支付", ("contract_necessity",), "payment", (), 0.0, population="mixed",
                 exemptions=("art5_1_contract",)),
        FlowSpec(6, "export", (_ep("SG", "PayCloud Risk Pte. Ltd.", "affiliate", "Singapore",
                                   "risk.paycloud.com.sg"),),
                 "反欺诈模型训练", ("consent",), "payment", ("risk_report",), 0.2, max_declared=300_000,
                 exemptions=("art6_ftz_outside_negative_list",)),
        FlowSpec(5, "export", (_ep("US", "Global Card Network LLC", "card_network", "New York",
                                   "auth.gcn-payments.us", "3.95.14.200", ("GB",)),),
                 "国际卡授权", ("contract_necessity",), "payment", (), 0.0, exemptions=("art5_1_contract",)),
        FlowSpec(4, "provide", (_ep("CN-BJ", "中国反洗钱监测分析中心", "government", "北京"),),
                 "大额与可疑交易报告", ("legal_duty",), None, ("aml_report",), 1.0),
        FlowSpec(3, "store", (_ep("CN-BJ", "云付科技数据仓库", "self", "北京"),),
                 "数据质量巡检", (None,), None, ("data_quality",), 1.0),
    )),
    Platform("edutrack", "学迹教育", "CN-SC", "成都", ("sis", "live-class", "homework"), 12, 0.3, False, (
        FlowSpec(28, "provide", (_ep("CN-SC", "成都市锦城实验学校", "school", "成都"),),
                 "学情反馈", ("consent", "contract_necessity"), "student", ("student_note",), 0.4,
                 population="minor", pi_types=("minor_under_14",)),
        FlowSpec(12, "share", (_ep("CN-HB", "长江教辅出版社", "third_party", "武汉"),),
                 "教辅推荐", ("consent",), "student", (), population="minor"),
        FlowSpec(10, "entrust", (_ep("CN-BJ", "云课堂直播技术", "processor", "北京"),),
                 "在线直播授课", ("contract_necessity",), "login_log", ()),
        FlowSpec(7, "export", (_ep("US", "EduTrack Learning Labs LLC", "affiliate", "Austin",
                                   "api.edutrack-labs.us", "52.14.66.7"),),
                 "自适应学习模型训练", ("consent",), "student", (), 0.0, population="minor",
                 max_declared=150_000),
        FlowSpec(5, "export", (_ep("DE", "Lernwerk Analytics GmbH", "processor", "Berlin",
                                   "eu.lernwerk-analytics.de", "78.46.90.123"),),
                 "学习效果评估", ("consent",), "student", (), 0.0, population="minor"),
        FlowSpec(4, "export", (_ep("SG", "EduTrack Asia Pte. Ltd.", "affiliate", "Singapore"),),
                 "区域教研", ("consent",), "student", (), 0.0, population="minor"),
        FlowSpec(5, "provide", (_ep("CN-SC", "区教育局", "government", "成都"),),
                 "成绩统计报送", ("legal_duty",), "grade_stats", ()),
        FlowSpec(3, "publish", (_ep("CN", "学迹教育公众号", "public"),),
                 "优秀学员光荣榜", ("consent",), None, ("honour_roll",), 1.0, population="minor"),
    )),
    Platform("travelgo", "途行旅游", "CN-GD", "广州", ("booking", "crm", "hr"), 8, 0.3, False, (
        FlowSpec(20, "provide", (_ep("CN-HI", "三亚湾海景酒店", "hotel", "三亚"),
                                 _ep("CN-YN", "丽江古城客栈", "hotel", "丽江")),
                 "酒店预订", ("contract_necessity",), "booking", ("booking_mail",), 0.3, population="mixed"),
        FlowSpec(8, "export", (_ep("HK", "维港酒店集团", "hotel", "香港", "res.harbourhotels.com.hk"),),
                 "香港酒店预订", ("contract_necessity",), "booking", ("booking_mail",), 0.3,
                 population="mixed", exemptions=("art5_1_contract",)),
        FlowSpec(7, "export", (_ep("MO", "澳门金沙度假酒店", "hotel", "澳门",
                                   "booking.sands-resort.com.mo"),),
                 "澳门酒店预订", ("contract_necessity",), "booking", (), 0.0, population="hmt",
                 exemptions=("art5_1_contract",)),
        FlowSpec(6, "export", (_ep("US", "Pacific Air Lines", "airline", "Los Angeles", "pnr.pacair.us"),
                               _ep("DE", "Alpen Reisen GmbH", "travel_agency", "München",
                                   "api.alpenreisen.de", "5.9.112.40")),
                 "国际机票与地接服务", ("contract_necessity",), "booking", (), 0.0,
                 exemptions=("art5_1_contract",)),
        FlowSpec(4, "export", (_ep("TW", "宝岛假期旅行社", "travel_agency", "台北", "tour.formosa-trip.tw"),),
                 "台湾地接服务", ("contract_necessity",), "booking", (), 0.0, population="hmt"),
        FlowSpec(4, "export", (_ep("SG", "TravelGo Holdings Pte. Ltd.", "affiliate", "Singapore",
                                   "hr.travelgo.com.sg"),),
                 "集团人力资源管理", ("hr_management",), "employee", ("hr_note",), 0.3,
                 exemptions=("art5_2_hr",)),
        FlowSpec(3, "export", (_ep("SG", "TravelGo Holdings Pte. Ltd.", "affiliate", "Singapore",
                                   "crm.travelgo.com.sg"),),
                 "境外采集会员数据回传", ("consent",), "member", (), 0.0,
                 exemptions=("art4_foreign_origin_reexport",)),
    )),
)  # fmt: skip

# ---------------------------------------------------------------------------------------------------
# Persons
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """A synthetic data subject. ``origin`` CN (mainland), HK, MO or TW; ``id_card`` only for CN."""

    name: str
    sex: str  # M / F
    birth: dt.date
    origin: str
    id_card: str | None
    mobile: str
    email: str
    address: str
    bank_card: str
    doc_type: str
    doc_no: str
    doc_entity: str
    home_id: str | None
    home_id_entity: str | None
    guardian: Person | None
    key: str  # subject key (HMAC of id_card or doc_no)


_FOREIGN_DOCS: dict[str, tuple[str, Callable[[random.Random], str], Callable[[random.Random], str], str]] = {
    # origin: (travel document type, travel document maker, home ID maker, home ID entity)
    "HK": ("港澳居民来往内地通行证", ck.hmt_permit_hk_macau, ck.hk_id, "HK_ID"),
    "MO": ("港澳居民来往内地通行证", ck.hmt_permit_hk_macau, ck.macau_id, "MO_ID"),
    "TW": ("台湾居民来往大陆通行证", ck.hmt_permit_taiwan, ck.tw_id, "TW_ID"),
}
_FOREIGN_ADDRESSES = {"HK": HK_ADDRESSES, "MO": MO_ADDRESSES, "TW": TW_ADDRESSES}


class _NameBook:
    """Chinese names and romanised e-mail names drawn with ``rng`` from Faker zh_CN's own tables (weighted
    surnames, given names by sex) — Faker's ``name()`` is ≈ 10× slower per call."""

    def __init__(self, fake: Faker) -> None:
        person = next(
            p for p in fake.providers if hasattr(p, "first_names_male") and hasattr(p, "last_names")
        )
        self.surnames = tuple(person.last_names)
        self.surname_cum = tuple(itertools.accumulate(person.last_names.values()))
        self.given = {"M": tuple(person.first_names_male), "F": tuple(person.first_names_female)}
        self.roman_last = tuple(person.last_romanized_names)
        self.roman_first = tuple(person.first_romanized_names)

    def name(self, rng: random.Random, sex: str) -> str:
        surname = rng.choices(self.surnames, cum_weights=self.surname_cum)[0]
        return surname + rng.choice(self.given[sex])

    def mailbox(self, rng: random.Random) -> str:
        return (rng.choice(self.roman_last) + rng.choice(self.roman_first)).lower()


class _People:
    """Pools of adults, minors (with guardians) and HK/Macau/Taiwan residents, built once per run."""

    def __init__(self, rng: random.Random, fake: Faker) -> None:
        self.rng = rng
        self.fake = fake
        self.names = _NameBook(fake)
        self.adults = [
            self._person(ck.birth_date_for_age(rng, 18, 75), "CN", None) for _ in range(ADULT_POOL)
        ]
        self.hmt = [self._hmt_resident() for _ in range(ADULT_POOL // 10)]
        self.minors = [self._minor() for _ in range(MINOR_POOL)]

    def _hmt_resident(self) -> Person:
        origin = self.rng.choice(("HK", "HK", "MO", "TW"))
        return self._person(ck.birth_date_for_age(self.rng, 18, 70), origin, None)

    def _minor(self) -> Person:
        young = self.rng.random() < 0.6
        born = ck.birth_date_for_age(self.rng, 3, 13) if young else ck.birth_date_for_age(self.rng, 14, 17)
        return self._person(born, "CN", self.rng.choice(self.adults))

    def _person(self, born: dt.date, origin: str, guardian: Person | None) -> Person:
        rng = self.rng
        sex = rng.choice("MF")
        name = self.names.name(rng, sex)
        if origin == "CN":
            id_card: str | None = ck.resident_id(rng, born, ck.region_for_birth_year(rng, born.year), sex)
            address = self._address(ck.region_for_birth_year(rng, born.year))
            doc_type, doc_no, doc_entity = ("居民身份证", id_card, "CN_RESIDENT_ID")
            if rng.random() < 0.15:
                doc_type, doc_no, doc_entity = ("护照", ck.passport(rng), "CN_PASSPORT")
            home_id, home_entity = None, None
        else:
            doc_type, doc_maker, home_maker, home_entity = _FOREIGN_DOCS[origin]
            id_card, doc_no, doc_entity, home_id = None, doc_maker(rng), "CN_HMT_PERMIT", home_maker(rng)
            address = rng.choice(_FOREIGN_ADDRESSES[origin]).format(
                n=rng.randint(1, 300), f=rng.randint(1, 40), r=rng.choice("ABCDEFGH")
            )
        return Person(
            name=name,
            sex=sex,
            birth=born,
            origin=origin,
            id_card=id_card,
            mobile=ck.mobile(rng),
            email=self._email(),
            address=address,
            bank_card=ck.bank_card(rng),
            doc_type=doc_type,
            doc_no=doc_no or "",
            doc_entity=doc_entity,
            home_id=home_id,
            home_id_entity=home_entity,
            guardian=guardian,
            key=subject_key(id_card or doc_no or ""),
        )

    def _address(self, region: ck.AdminRegion) -> str:
        rng = self.rng
        place = (
            f"{region.province}{region.prefecture}{region.county}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
        )
        floor, room = rng.randint(1, 32), rng.randint(1, 6)
        if rng.random() < 0.5:
            return f"{place}{rng.choice(COMMUNITIES)}{rng.randint(1, 30)}栋{floor}0{room}室"
        return f"{place}{rng.randint(1, 8)}单元{floor}0{room}室"

    def _email(self) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            return f"{rng.randint(10_000_000, 3_999_999_999)}@qq.com"
        local = self.names.mailbox(rng)
        suffix = rng.choice(
            ("", "", f"{rng.randint(1, 99)}", f"{rng.randint(1970, 2010)}", f"_{rng.randint(1, 9)}")
        )
        return f"{local}{suffix}@{rng.choice(MAIL_DOMAINS)}"

    def pool(self, population: str) -> list[Person]:
        """The pool of ``population`` (adult | minor | hmt; mixed → adults)."""
        return {"adult": self.adults, "minor": self.minors, "hmt": self.hmt}.get(population, self.adults)

    def pick(self, population: str) -> Person:
        """One person of ``population`` (adult | minor | hmt | mixed = 30 % hmt, else adult)."""
        if population == "mixed":
            population = "hmt" if self.rng.random() < 0.3 else "adult"
        return self.rng.choice(self.pool(population))


# ---------------------------------------------------------------------------------------------------
# Field values: kind -> maker(ctx) -> (value, entity type | "~TYPE" for a decoy | None)
# ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Ctx:
    """What a value maker may use: the generator state, the row's main person and the event time."""

    rng: random.Random
    fake: Faker
    people: _People
    person: Person
    population: str
    when: dt.datetime
    _other: Person | None = None
    _anchor: tuple[float, float] | None = None

    @property
    def other(self) -> Person:
        """A second person, fixed per row (driver, emergency contact): same population, adults for minors."""
        if self._other is None:
            self._other = self.people.pick("adult" if self.population == "minor" else self.population)
        return self._other

    @property
    def anchor(self) -> tuple[float, float]:
        """City centre (lat, lng) shared by the row's coordinates, so pickup and drop-off are close."""
        if self._anchor is None:
            self._anchor = self.rng.choice(CITY_COORDS)
        return self._anchor

    @property
    def guardian(self) -> Person:
        return self.person.guardian or self.other

    def digits(self, n: int) -> str:
        return f"{self.rng.randrange(10**n):0{n}d}"

    def stamp(self, max_minutes: int = 600) -> dt.datetime:
        return self.when - dt.timedelta(
            minutes=self.rng.randint(0, max_minutes), seconds=self.rng.randint(0, 59)
        )


def _age(person: Person, on: dt.date) -> int:
    return on.year - person.birth.year - ((on.month, on.day) < (person.birth.month, person.birth.day))


def _mobile_fmt(c: _Ctx) -> tuple[Value, str | None]:
    m = c.person.mobile
    styles = (m, m, m, m, f"+86 {m}", f"{m[:3]} {m[3:7]} {m[7:]}", f"{m[:3]}-{m[3:7]}-{m[7:]}")
    return c.rng.choice(styles), "CN_MOBILE_PHONE"


def _card_fmt(c: _Ctx) -> tuple[Value, str | None]:
    card = c.person.bank_card
    grouped = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    return (grouped if c.rng.random() < 0.4 else card), "CN_BANK_CARD"


def _coord(c: _Ctx) -> tuple[Value, str | None]:
    lat, lng = c.anchor
    return f"{lat + c.rng.uniform(-0.2, 0.2):.6f},{lng + c.rng.uniform(-0.2, 0.2):.6f}", "GEO_COORDINATE"


def _school(c: _Ctx) -> tuple[Value, str | None]:
    return (
        f"{c.rng.choice(ck.ADMIN_REGIONS).county}{c.rng.choice(('实验小学', '第一中学', '外国语学校'))}",
        None,
    )


def _face(c: _Ctx) -> tuple[Value, str | None]:
    return base64.b64encode(c.rng.randbytes(96)).decode("ascii"), "BIOMETRIC"


def _religion(c: _Ctx) -> tuple[Value, str | None]:
    value = c.rng.choice(RELIGIONS)
    return value, (None if value == "无" else "RELIGIOUS_BELIEF")


VALUES: dict[str, Callable[[_Ctx], tuple[Value, str | None]]] = {
    # the row's person
    "name": lambda c: (c.person.name, "PERSON"),
    "sex": lambda c: ("男" if c.person.sex == "M" else "女", None),
    "birth": lambda c: (c.person.birth.isoformat(), "DATE_OF_BIRTH"),
    "birth_cn": lambda c: (
        f"{c.person.birth.year}年{c.person.birth.month}月{c.person.birth.day}日",
        "DATE_OF_BIRTH",
    ),
    "age": lambda c: (_age(c.person, c.when.date()), None),
    "id_card": lambda c: (c.person.id_card, "CN_RESIDENT_ID" if c.person.id_card else None),
    "mobile": lambda c: (c.person.mobile, "CN_MOBILE_PHONE"),
    "mobile_fmt": _mobile_fmt,
    "masked_mobile": lambda c: (f"{c.person.mobile[:3]}****{c.person.mobile[7:]}", None),
    "masked_name": lambda c: (c.person.name[0] + "*" * (len(c.person.name) - 1), None),
    "email": lambda c: (c.person.email, "EMAIL_ADDRESS"),
    "address": lambda c: (c.person.address, "ADDRESS"),
    "bank_card": lambda c: (c.person.bank_card, "CN_BANK_CARD"),
    "bank_card_fmt": _card_fmt,
    "card_tail": lambda c: (c.person.bank_card[-4:], None),
    "doc_type": lambda c: (c.person.doc_type, None),
    "doc_no": lambda c: (c.person.doc_no, c.person.doc_entity),
    "home_id": lambda c: (c.person.home_id, c.person.home_id_entity),
    "guardian_name": lambda c: (c.guardian.name, "PERSON"),
    "guardian_mobile": lambda c: (c.guardian.mobile, "CN_MOBILE_PHONE"),
    "relationship": lambda c: (c.rng.choice(("父亲", "母亲", "祖父", "祖母")), None),
    "other_name": lambda c: (c.other.name, "PERSON"),
    "other_mobile": lambda c: (c.other.mobile, "CN_MOBILE_PHONE"),
    # other identifiers and PI
    "plate": lambda c: (ck.licence_plate(c.rng), "CN_LICENSE_PLATE"),
    "coord": _coord,
    "ip": lambda c: (
        f"{c.rng.choice(PUBLIC_IP_FIRST_OCTETS)}.{c.rng.randint(0, 255)}.{c.rng.randint(0, 255)}."
        f"{c.rng.randint(1, 254)}",
        "IP_ADDRESS",
    ),
    "diagnosis": lambda c: (c.rng.choice(DIAGNOSES), "MEDICAL_TERM"),
    "religion": _religion,
    "face": _face,
    "landline": lambda c: (ck.landline(c.rng), "CN_LANDLINE"),
    "uscc": lambda c: (ck.uscc(c.rng), "CN_USCC"),
    "doctor": lambda c: (c.fake.name(), "PERSON"),
    "agent": lambda c: (c.fake.name(), "PERSON"),
    "agent2": lambda c: (c.fake.name(), "PERSON"),
    # decoys: look like identifiers, are not valid ones
    "near_id": lambda c: (ck.near_miss_resident_id(c.rng), "~CN_RESIDENT_ID"),
    "near_card": lambda c: (ck.near_miss_bank_card(c.rng), "~CN_BANK_CARD"),
    "near_mobile": lambda c: (ck.near_miss_mobile(c.rng), "~CN_MOBILE_PHONE"),
    # business fields (not PI)
    "company": lambda c: (c.fake.company(), None),
    "order_no": lambda c: (f"{c.when:%Y%m%d}{c.digits(10)}", None),
    "order_en": lambda c: (f"SF-{c.when:%y%m}-{c.digits(7)}", None),
    "txn_id": lambda c: (f"T{c.when:%Y%m%d%H%M%S}{c.digits(6)}", None),
    "trip_no": lambda c: (f"TR{c.digits(14)}", None),
    "ticket_no": lambda c: (f"KF{c.when:%Y%m%d}{c.digits(4)}", None),
    "report_no": lambda c: (f"AML-{c.when:%Y}-{c.digits(6)}", None),
    "user_id": lambda c: (f"u{c.digits(9)}", None),
    "student_no": lambda c: (f"{c.when.year - c.rng.randint(0, 5)}{c.digits(6)}", None),
    "mrn": lambda c: (f"MR{c.digits(8)}", None),
    "emp_no": lambda c: (f"E{c.digits(5)}", None),
    "merchant_id": lambda c: (f"M{c.digits(12)}", None),
    "booking_ref": lambda c: ("".join(c.rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6)), None),
    "waybill": lambda c: (f"XD{c.digits(12)}", None),
    "policy_no": lambda c: (f"P{c.when:%Y}{c.digits(11)}", None),
    "license_file": lambda c: (c.digits(12), None),
    "device_id": lambda c: (c.rng.randbytes(8).hex(), None),
    "sku": lambda c: (f"SKU{c.digits(8)}", None),
    "product": lambda c: (c.rng.choice(PRODUCTS), None),
    "qty": lambda c: (c.rng.randint(1, 5), None),
    "amount": lambda c: (round(c.rng.uniform(5, 5000), 2), None),
    "coupon": lambda c: (c.rng.choice((5, 10, 20, 50)), None),
    "count": lambda c: (c.rng.randint(2, 400), None),
    "count2": lambda c: (c.rng.randint(2, 90), None),
    "ts": lambda c: (f"{c.stamp():%Y-%m-%d %H:%M:%S}", None),
    "ts_iso": lambda c: (c.stamp().isoformat(), None),
    "date": lambda c: (f"{c.stamp(60 * 24 * 20):%Y-%m-%d}", None),
    "date_cn": lambda c: (f"{c.stamp(60 * 24 * 5):%Y年%m月%d日}", None),
    "next_date": lambda c: (f"{c.when + dt.timedelta(days=c.rng.randint(7, 60)):%Y-%m-%d}", None),
    "dept": lambda c: (c.rng.choice(DEPARTMENTS), None),
    "complaint": lambda c: (c.rng.choice(COMPLAINTS), None),
    "treatment": lambda c: (c.rng.choice(TREATMENTS), None),
    "grade": lambda c: (c.rng.choice(GRADES), None),
    "school": _school,
    "score": lambda c: (c.rng.randint(45, 100), None),
    "job_dept": lambda c: (c.rng.choice(JOB_DEPTS), None),
    "salary": lambda c: (c.rng.randrange(6000, 60000, 500), None),
    "hotel": lambda c: (c.rng.choice(HOTELS), None),
    "nights": lambda c: (c.rng.randint(1, 7), None),
    "flight": lambda c: (f"PA{c.rng.randint(100, 9999)}", None),
    "city": lambda c: (c.rng.choice(CN_CITIES)[1], None),
    "gmv": lambda c: (round(c.rng.uniform(1e4, 5e6), 2), None),
    "rate": lambda c: (round(c.rng.uniform(0, 0.2), 4), None),
    "grid": lambda c: (f"G{c.rng.randint(1000, 9999)}", None),
    "status": lambda c: (c.rng.choice(("已完成", "已完成", "已取消", "退款中")), None),
    "verified": lambda c: (c.rng.random() < 0.95, None),
    "score_f": lambda c: (round(c.rng.uniform(0.6, 0.999), 3), None),
}

F = tuple[tuple[str, str], ...]
RECORD_SCHEMAS: dict[str, F] = {
    "order": (
        ("订单号", "order_no"),
        ("收货人", "name"),
        ("手机号", "mobile"),
        ("收货地址", "address"),
        ("商品", "product"),
        ("数量", "qty"),
        ("实付金额", "amount"),
        ("下单时间", "ts"),
        ("状态", "status"),
    ),
    "order_en": (
        ("order_id", "order_en"),
        ("buyer_name", "name"),
        ("phone", "mobile"),
        ("ship_to", "address"),
        ("email", "email"),
        ("sku", "sku"),
        ("total_cny", "amount"),
        ("created_at", "ts_iso"),
    ),
    "customs": (
        ("运单号", "waybill"),
        ("订购人", "name"),
        ("证件号码", "id_card"),
        ("手机号", "mobile"),
        ("收货地址", "address"),
        ("申报金额", "amount"),
    ),
    "member": (
        ("user_id", "user_id"),
        ("姓名", "name"),
        ("身份证号", "id_card"),
        ("出生日期", "birth"),
        ("email", "email"),
        ("手机号", "mobile"),
        ("注册时间", "ts"),
        ("last_login_ip", "ip"),
    ),
    "employee": (
        ("工号", "emp_no"),
        ("姓名", "name"),
        ("身份证号", "id_card"),
        ("手机号", "mobile"),
        ("部门", "job_dept"),
        ("月薪", "salary"),
        ("工资卡号", "bank_card"),
        ("宗教信仰", "religion"),
        ("紧急联系人电话", "other_mobile"),
    ),
    "patient": (
        ("病历号", "mrn"),
        ("患者姓名", "name"),
        ("性别", "sex"),
        ("出生日期", "birth"),
        ("证件类型", "doc_type"),
        ("证件号码", "doc_no"),
        ("联系电话", "mobile"),
        ("诊断", "diagnosis"),
        ("就诊科室", "dept"),
        ("就诊时间", "ts"),
    ),
    "prescription": (
        ("处方号", "mrn"),
        ("patient_name", "name"),
        ("phone", "mobile"),
        ("diagnosis", "diagnosis"),
        ("delivery_address", "address"),
        ("doctor", "doctor"),
        ("amount", "amount"),
    ),
    "claim": (
        ("保单号", "policy_no"),
        ("被保险人", "name"),
        ("身份证号", "id_card"),
        ("诊断", "diagnosis"),
        ("理赔金额", "amount"),
        ("收款卡号", "bank_card"),
        ("申请日期", "date"),
    ),
    "pediatric": (
        ("病历号", "mrn"),
        ("患儿姓名", "name"),
        ("出生日期", "birth"),
        ("身份证号", "id_card"),
        ("诊断", "diagnosis"),
        ("监护人", "guardian_name"),
        ("监护人电话", "guardian_mobile"),
    ),
    "trip": (
        ("trip_id", "trip_no"),
        ("passenger", "name"),
        ("passenger_phone", "mobile"),
        ("pickup", "coord"),
        ("dropoff", "coord"),
        ("driver", "other_name"),
        ("plate", "plate"),
        ("fare", "amount"),
        ("start_time", "ts"),
    ),
    "driver": (
        ("司机姓名", "name"),
        ("证件类型", "doc_type"),
        ("证件号码", "doc_no"),
        ("境外身份证", "home_id"),
        ("车牌号", "plate"),
        ("手机号", "mobile"),
        ("银行卡号", "bank_card"),
        ("入驻时间", "date"),
    ),
    "login_log": (
        ("user_id", "user_id"),
        ("login_ip", "ip"),
        ("device_id", "device_id"),
        ("location", "coord"),
        ("login_time", "ts_iso"),
    ),
    "payment": (
        ("txn_id", "txn_id"),
        ("name", "name"),
        ("id_card", "id_card"),
        ("bank_card", "bank_card"),
        ("mobile", "mobile"),
        ("amount", "amount"),
        ("merchant", "company"),
        ("merchant_uscc", "uscc"),
        ("paid_at", "ts_iso"),
    ),
    "merchant": (
        ("merchant_id", "merchant_id"),
        ("商户名称", "company"),
        ("统一社会信用代码", "uscc"),
        ("法定代表人", "name"),
        ("联系电话", "landline"),
        ("结算卡号", "bank_card"),
        ("入网日期", "date"),
    ),
    "kyc": (
        ("user_id", "user_id"),
        ("name", "name"),
        ("id_card", "id_card"),
        ("face_feature", "face"),
        ("liveness_score", "score_f"),
        ("verified", "verified"),
        ("verified_at", "ts_iso"),
    ),
    "student": (
        ("学号", "student_no"),
        ("学生姓名", "name"),
        ("出生日期", "birth"),
        ("身份证号", "id_card"),
        ("学校", "school"),
        ("年级", "grade"),
        ("成绩", "score"),
        ("家长姓名", "guardian_name"),
        ("家长手机", "guardian_mobile"),
    ),
    "booking": (
        ("预订号", "booking_ref"),
        ("旅客姓名", "name"),
        ("证件类型", "doc_type"),
        ("证件号码", "doc_no"),
        ("港澳台居民身份证号", "home_id"),
        ("手机号", "mobile"),
        ("email", "email"),
        ("酒店", "hotel"),
        ("入住日期", "next_date"),
        ("晚数", "nights"),
        ("金额", "amount"),
    ),
    # no PI at all (hard negatives at the event level)
    "sales_stats": (
        ("日期", "date"),
        ("城市", "city"),
        ("订单量", "count"),
        ("GMV", "gmv"),
        ("退货率", "rate"),
    ),
    "heat_stats": (
        ("日期", "date"),
        ("网格", "grid"),
        ("城市", "city"),
        ("订单量", "count"),
        ("平均里程", "rate"),
    ),
    "grade_stats": (("学校", "school"), ("年级", "grade"), ("平均分", "score"), ("及格率", "rate")),
}

NON_PI_SCHEMAS = frozenset({"sales_stats", "heat_stats", "grade_stats"})

TEXT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "ticket": (
        "【客服工单 {ticket_no}】用户{name}（手机：{mobile_fmt}）于{date_cn}来电，"
        "反映订单{order_no}迟迟未发货。收货地址：{address}。已安排加急处理，并补偿{coupon}元优惠券。处理人：{agent}。",
        "客户{name}反馈快递员未经同意将包裹放在驿站，要求改派至{address}，联系电话{mobile}。"
        "订单号{order_no}，已升级至物流组跟进。",
    ),
    "refund": (
        "退款申请：订单{order_no}，买家{name}，申请退款{amount}元，原路退回至尾号{card_tail}的银行卡。"
        "买家要求改退至新卡{bank_card_fmt}，已提供身份证号{id_card}供核验。",
    ),
    "data_quality": (
        "数据质量巡检（{date_cn}）：会员表发现{count}条证件号校验位错误，例如{near_id}；另有{count2}条银行卡号"
        "未通过校验，例如{near_card}，已退回业务方更正。抽检的脱敏手机号{masked_mobile}格式正常，"
        "号段异常的号码如{near_mobile}已标记。",
    ),
    "deletion": (
        "数据删除记录：依据《个人信息保护法》第四十七条，已于{date_cn}删除超过保存期限的订单数据{count}条，"
        "涉及会员{count2}人。删除方式：逻辑删除后七日内物理删除。执行人：{agent}，复核人：{agent2}。",
    ),
    "medical_note": (
        "门诊病历\n患者：{name}　性别：{sex}　年龄：{age}岁\n证件：{doc_type} {doc_no}\n联系电话：{mobile}\n"
        "主诉：{complaint}\n诊断：{diagnosis}\n处理：{treatment}\n医师：{doctor}　{date_cn}",
        "转诊单：兹有患者{name}（{sex}，出生日期{birth_cn}），因{diagnosis}需转至贵院{dept}进一步诊治。"
        "患者联系电话{mobile_fmt}，家庭住址{address}。转出医师：{doctor}。",
    ),
    "claim_note": (
        "理赔材料：被保险人{name}（{doc_type}{doc_no}）因{diagnosis}住院治疗，申请理赔金额{amount}元，"
        "收款账户{bank_card}，开户名{name}。联系电话{mobile}。",
    ),
    "pediatric_note": (
        "儿科随访记录：患儿{name}，{sex}，出生日期{birth_cn}，诊断{diagnosis}。监护人{guardian_name}"
        "（{relationship}，电话{guardian_mobile}）表示患儿近期症状好转。下次随访：{next_date}。",
    ),
    "trip_complaint": (
        "行程投诉：乘客{name}（{mobile_fmt}）称司机{other_name}驾驶车牌为{plate}的车辆于{date_cn}绕路，"
        "多收车费{amount}元。上车点坐标{coord}。经核实已退款并对司机进行处罚。",
    ),
    "driver_note": (
        "司机入驻审核：{name}，证件{doc_type}{doc_no}，驾驶证档案编号{license_file}，车辆{plate}，"
        "紧急联系人{other_name}（{other_mobile}），结算银行卡{bank_card}。背景审查结果：无违法犯罪记录。",
    ),
    "risk_report": (
        "风控报告：商户{company}（统一社会信用代码{uscc}）近7日出现异常交易{count}笔，涉及持卡人{name}，"
        "卡号{bank_card_fmt}，身份证号{id_card}，预留手机{mobile}。建议暂停结算并人工复核。商户座机：{landline}。",
        "拒付分析：{date_cn}共收到拒付{count}笔，主要集中在商户{company}。其中卡号{near_card}为测试卡号（校验失败），"
        "已从统计中剔除；真实持卡人{name}（{mobile_fmt}）的卡{bank_card}已列入观察名单。",
    ),
    "aml_report": (
        "可疑交易报告（编号{report_no}）：客户{name}，{doc_type}{doc_no}，于{date_cn}通过账户{bank_card}"
        "分{count}笔向{company}转入资金合计{amount}元，交易IP {ip}，与其职业收入明显不符。报告人：{agent}。",
    ),
    "student_note": (
        "学情反馈：{name}同学（{grade}，学号{student_no}）本月数学测验{score}分，课堂表现积极。"
        "家长{guardian_name}，联系电话{guardian_mobile}，家庭住址{address}。班主任：{agent}。",
    ),
    "honour_roll": (
        "【光荣榜】恭喜{name}同学（{school}{grade}）在期中测评中获得{score}分的优异成绩！"
        "感谢家长{guardian_name}的支持。",
    ),
    "booking_mail": (
        "尊敬的{name}：您预订的{hotel}（入住{next_date}，{nights}晚）已确认。"
        "入住人证件：{doc_type} {doc_no}。订单金额{amount}元已从尾号{card_tail}的银行卡扣款。"
        "如有疑问请致电{landline}或回复邮件至{email}。",
    ),
    "hr_note": (
        "员工信息变更：{name}（工号{emp_no}，{job_dept}）申请将工资卡变更为{bank_card}，身份证号{id_card}，"
        "紧急联系人{other_name}（{other_mobile}）。",
    ),
}

PROSE_SNIPPETS: tuple[str, ...] = (
    "（联系人：{name}，电话：{mobile}）", "读者{name}来信（地址：{address}）称，",
    "如有线索请联系{name}，手机{mobile_fmt}。", "（身份证号{id_card}）", "投稿邮箱：{email}。",
    "汇款请至{bank_card_fmt}，户名{name}。",
)  # fmt: skip
INCIDENT_TEXT = (
    "数据安全事件报告（{incident_id}）：{cause}。初步判断涉及用户约{affected}人，数据类型包括姓名、手机号、"
    "身份证号、收货地址等。发现时间：{detected}。样例记录：{name}，{mobile}，{id_card}。处置措施：{measures}。"
)


class _Fields(dict[str, Value]):
    """Template mapping: each placeholder's value is made on first use and reused (same person)."""

    def __init__(self, ctx: _Ctx, planted: list[Planted], decoys: list[Planted]) -> None:
        super().__init__()
        self.ctx, self.planted, self.decoys = ctx, planted, decoys

    def __missing__(self, kind: str) -> Value:
        value = _make(kind, self.ctx, self.planted, self.decoys)
        self[kind] = "" if value is None else value
        return self[kind]


def _make(kind: str, ctx: _Ctx, planted: list[Planted], decoys: list[Planted]) -> Value:
    value, entity = VALUES[kind](ctx)
    if entity is not None and value is not None:
        (decoys if entity.startswith("~") else planted).append((entity.lstrip("~"), str(value)))
    return value


# ---------------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SampleEvent:
    """One generated message and what it was meant to be (ground truth for tests and evaluation).

    ``kind`` is ``transfer``, ``incident`` or ``invalid`` (then ``invalid`` names the variant).
    ``destination`` is the true destination country (``CN``, ``US``, …) even when the event hides it
    (``region_shown`` false: only ``destination.host`` / ``ip``). ``planted`` lists the PI values put in
    ``records`` / ``text`` as ``(entity type, value)``; ``decoys`` the near-miss look-alikes. Prose from
    snownlp may contain further names and places that are in neither list.
    """

    index: int
    payload: bytes
    platform: str
    kind: str
    invalid: str | None = None
    event_id: str | None = None
    destination: str | None = None
    region_shown: bool = True
    incident_id: str | None = None
    has_subjects: bool = False
    has_text: bool = False
    has_prose: bool = False
    planted: tuple[Planted, ...] = ()
    decoys: tuple[Planted, ...] = ()


@dataclass(slots=True)
class _Incident:
    incident_id: str
    platform: Platform
    type: str
    cause: str
    measures: str
    occurred: dt.datetime
    detected: dt.datetime
    harm: bool
    affected: int
    important: bool
    updates_left: int


@dataclass(slots=True)
class _Draft:
    """An event under construction plus its labels."""

    body: dict[str, Any]
    platform: str
    destination: str | None = None
    region_shown: bool = True
    has_prose: bool = False
    planted: list[Planted] = field(default_factory=list)
    decoys: list[Planted] = field(default_factory=list)


def _iso(when: dt.datetime, utc: bool) -> str:
    if utc:
        return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return when.isoformat()


class _Generator:
    """Holds the run's random state; ``events()`` yields ``SampleEvent`` in stream order."""

    def __init__(self, n_events: int, seed: int) -> None:
        self.n = n_events
        self.rng = random.Random(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.people = _People(self.rng, self.fake)
        self.platform_weights = [p.weight for p in PLATFORMS]
        n_invalid = round(n_events * INVALID_SHARE)
        self.invalid_at = dict(
            zip(
                sorted(self.rng.sample(range(n_events), n_invalid)),
                (INVALID_KINDS * n_invalid)[:n_invalid],
                strict=True,
            )
        )
        self.bulk_at = set(self.rng.sample(range(n_events), n_events // BULK_EVERY))
        self.bulk_now = False
        self.pending: list[tuple[int, _Incident]] = []
        self.incident_seq = 0

    # -- stream ---------------------------------------------------------------------------------

    def events(self) -> Iterator[SampleEvent]:
        for i in range(self.n):
            when = self._clock(i)
            if i in self.invalid_at:
                yield self._invalid(i, when, self.invalid_at[i])
            elif self.pending and self.pending[0][0] <= i:
                yield self._finish(i, self._incident_update(i, when, self.pending.pop(0)[1]))
            elif self.rng.random() < 1 / 240:
                yield self._finish(i, self._incident_new(i, when))
            else:
                self.bulk_now = i in self.bulk_at
                yield self._finish(i, self._transfer(i, when))
                self.bulk_now = False

    def _clock(self, i: int) -> dt.datetime:
        offset = STREAM_SPAN * (i / max(self.n, 1)) + dt.timedelta(seconds=self.rng.randint(0, 1800))
        return (STREAM_START + offset).replace(microsecond=0)

    def _finish(self, i: int, draft: _Draft) -> SampleEvent:
        body = draft.body
        incident = body.get("incident")
        return SampleEvent(
            index=i,
            payload=_dump(body),
            platform=draft.platform,
            kind=body["kind"],
            event_id=body["event_id"],
            destination=draft.destination,
            region_shown=draft.region_shown,
            incident_id=incident["incident_id"] if incident else None,
            has_subjects="subjects" in body,
            has_text="text" in body,
            has_prose=draft.has_prose,
            planted=tuple(draft.planted),
            decoys=tuple(draft.decoys),
        )

    # -- envelope -------------------------------------------------------------------------------

    def _envelope(
        self, i: int, platform: Platform, kind: str, occurred: dt.datetime, emitted: dt.datetime
    ) -> dict[str, Any]:
        rng = self.rng
        body: dict[str, Any] = {
            "schema_version": "1.0",
            "event_id": f"{platform.id}-{i:06d}-{rng.getrandbits(32):08x}",
            "kind": kind,
            "occurred_at": _iso(occurred, platform.utc_timestamps),
        }
        if rng.random() < 0.9:
            body["emitted_at"] = _iso(emitted, platform.utc_timestamps)
        body["processor"] = (
            {"id": platform.id, "name": platform.name} if rng.random() < 0.8 else {"id": platform.id}
        )
        source: dict[str, Any] = {"system": rng.choice(platform.systems), "region": platform.region}
        if rng.random() < 0.5:
            source["city"] = platform.city
        body["source"] = source
        return body

    def _pick_platform(self) -> Platform:
        return self.rng.choices(PLATFORMS, weights=self.platform_weights)[0]

    # -- transfers ------------------------------------------------------------------------------

    def _transfer(self, i: int, when: dt.datetime) -> _Draft:
        rng = self.rng
        platform = self._pick_platform()
        flow = rng.choices(platform.flows, weights=[f.weight for f in platform.flows])[0]
        emitted = when + dt.timedelta(seconds=rng.randint(1, 900))
        draft = _Draft(self._envelope(i, platform, "transfer", when, emitted), platform.id)
        endpoint = rng.choice(flow.endpoints)
        draft.body["destination"] = self._destination(endpoint, draft)
        draft.body["activity"] = flow.activity
        if rng.random() < 0.85:
            draft.body["purpose"] = flow.purpose
        basis = rng.choice(flow.bases)
        if basis is not None:
            draft.body["legal_basis"] = basis
        if flow.exemptions and rng.random() < 0.6:
            draft.body["exemption_claim"] = rng.choice(flow.exemptions)
        persons = self._content(draft, flow, when)
        self._dataset_and_subjects(draft, flow, platform, persons)
        if rng.random() < 0.3:
            draft.body["attributes"] = {
                "trace_id": rng.randbytes(8).hex(),
                "producer": f"{platform.id}-sdk/2.3",
            }
        return draft

    def _destination(self, endpoint: Endpoint, draft: _Draft) -> dict[str, Any]:
        """The ``destination`` object; 15 % of exports to an addressable endpoint omit ``region``."""
        rng = self.rng
        country = endpoint.region.split("-")[0]
        draft.destination = country
        dest: dict[str, Any] = {"recipient": endpoint.recipient, "recipient_type": endpoint.recipient_type}
        addressable = endpoint.host is not None or endpoint.ip is not None
        hide = country != "CN" and addressable and rng.random() < 0.15
        draft.region_shown = not hide
        if not hide:
            dest["region"] = endpoint.region
            if endpoint.city and rng.random() < 0.6:
                dest["city"] = endpoint.city
        if hide:  # at least one of host / ip
            show_host = endpoint.host is not None and (endpoint.ip is None or rng.random() < 0.5)
            show_ip = not show_host or rng.random() < 0.2
        else:
            show_host = endpoint.host is not None and rng.random() < 0.3
            show_ip = rng.random() < 0.3
        if show_host:
            dest["host"] = endpoint.host
        if show_ip and endpoint.ip is not None:
            dest["ip"] = endpoint.ip
        if endpoint.onward and rng.random() < 0.5:
            dest["onward_regions"] = list(endpoint.onward)
        return dest

    def _content(self, draft: _Draft, flow: FlowSpec, when: dt.datetime) -> list[Person]:
        """Fill ``records`` and/or ``text``; return the persons whose rows were written."""
        persons: list[Person] = []
        if flow.schema is not None:
            persons = [self.people.pick(flow.population) for _ in range(self._n_records())]
            draft.body["records"] = [self._row(flow.schema, p, flow.population, when, draft) for p in persons]
            if flow.schema in NON_PI_SCHEMAS:
                persons = []
        text = self._text(draft, flow, when)
        if text:
            draft.body["text"] = text
        elif flow.schema is None:  # a text-only flow must carry something
            draft.body["text"] = self._template_text(flow.texts or ("ticket",), flow.population, when, draft)
        return persons

    def _n_records(self) -> int:
        """Rows per event: mostly 1–4, 2 % batches of 8–20."""
        if self.rng.random() < 0.02:
            return self.rng.randint(8, 20)
        return min(20, 1 + int(self.rng.expovariate(1 / 1.2)))

    def _ctx(self, person: Person, population: str, when: dt.datetime) -> _Ctx:
        return _Ctx(self.rng, self.fake, self.people, person, population, when)

    def _row(
        self, schema: str, person: Person, population: str, when: dt.datetime, draft: _Draft
    ) -> dict[str, Value]:
        ctx = self._ctx(person, population, when)
        return {name: _make(kind, ctx, draft.planted, draft.decoys) for name, kind in RECORD_SCHEMAS[schema]}

    def _text(self, draft: _Draft, flow: FlowSpec, when: dt.datetime) -> str | None:
        rng = self.rng
        roll = rng.random()
        if self.bulk_now:
            return self._bulk_prose(draft)
        if "reviews" in flow.texts:
            return self._reviews(flow.population, when, draft)
        if roll < 0.05:
            return self._prose(flow.population, when, draft)
        if flow.texts and rng.random() < flow.text_share:
            return self._template_text(flow.texts, flow.population, when, draft)
        return None

    def _template_text(self, keys: tuple[str, ...], population: str, when: dt.datetime, draft: _Draft) -> str:
        template = self.rng.choice(TEXT_TEMPLATES[self.rng.choice(keys)])
        ctx = self._ctx(self.people.pick(population), population, when)
        return template.format_map(_Fields(ctx, draft.planted, draft.decoys))

    def _prose(self, population: str, when: dt.datetime, draft: _Draft) -> str:
        """1–4 real paragraphs; half the time with 1–3 PI snippets inserted after sentence ends."""
        rng = self.rng
        draft.has_prose = True
        parts = sample_prose(rng, rng.randint(1, 4))
        if rng.random() < 0.5:
            fields = _Fields(
                self._ctx(self.people.pick(population), population, when), draft.planted, draft.decoys
            )
            for _ in range(rng.randint(1, 3)):
                k = rng.randrange(len(parts))
                snippet = rng.choice(PROSE_SNIPPETS).format_map(fields)
                cut = parts[k].find("。") + 1 or len(parts[k])
                parts[k] = parts[k][:cut] + snippet + parts[k][cut:]
        return "\n".join(parts)

    def _bulk_prose(self, draft: _Draft) -> str:
        """A large document (30–300 KB of UTF-8) of People's Daily paragraphs and reviews."""
        draft.has_prose = True
        target = self.rng.randint(30_000, 300_000)
        parts: list[str] = []
        size = 0
        while size < target:
            chunk = sample_prose(self.rng, 50)
            parts.extend(chunk)
            size += sum(len(p.encode("utf-8")) + 1 for p in chunk)
        return "\n".join(parts)

    def _reviews(self, population: str, when: dt.datetime, draft: _Draft) -> str:
        """Published reviews: real review text under masked user names (masked values are not PI)."""
        draft.has_prose = True
        lines = []
        for review in sample_prose(self.rng, self.rng.randint(1, 5), news_share=0.0):
            fields = _Fields(
                self._ctx(self.people.pick(population), population, when), draft.planted, draft.decoys
            )
            lines.append("用户{masked_name}（{masked_mobile}）：".format_map(fields) + review)
        return "\n".join(lines)

    def _dataset_and_subjects(
        self, draft: _Draft, flow: FlowSpec, platform: Platform, persons: list[Person]
    ) -> None:
        """Add ``dataset`` (60 % of events with rows) and ``subjects`` (per-platform share)."""
        count = len(persons)
        if self.rng.random() < (0.6 if persons else 0.2):
            count = self._dataset(draft, flow, platform, count)
        if persons and self.rng.random() < platform.subjects_share:
            keys = self._subject_keys(persons, count, self.people.pool(flow.population))
            draft.body["subjects"] = {"keys": keys, "scheme": "hmac-sha256"}

    def _dataset(self, draft: _Draft, flow: FlowSpec, platform: Platform, rows: int) -> int:
        """Add ``dataset``; half the time the batch is declared larger than the rows sent (log-uniform up
        to ``flow.max_declared``). Returns ``record_count``."""
        rng = self.rng
        count = rows
        if rows == 0 or rng.random() < 0.5:
            count = max(rows, int(10 ** rng.uniform(0, math.log10(flow.max_declared))))
        dataset: dict[str, Any] = {
            "id": f"{platform.id}-{flow.activity}-{rng.randint(1, 9999):04d}",
            "record_count": count,
        }
        if flow.pi_types and rng.random() < 0.6:
            dataset["declared_pi_types"] = ["general", *flow.pi_types]
        if flow.important_ref and rng.random() < 0.25:
            dataset["important_data"] = {"catalogue_ref": flow.important_ref}
        draft.body["dataset"] = dataset
        return count

    def _subject_keys(self, persons: list[Person], count: int, pool: list[Person]) -> list[str]:
        """Keys of the rows' persons; in 1.5 % of larger batches also of the unsent rows (≤ 1,000 more,
        drawn from ``pool``)."""
        keys = [p.key for p in persons]
        if count > len(persons) and self.rng.random() < 0.015:
            extra = min(count - len(persons), MAX_SUBJECT_KEYS_SAMPLE, len(pool))
            keys += [p.key for p in self.rng.sample(pool, extra)]
        return list(dict.fromkeys(keys))

    # -- incidents ------------------------------------------------------------------------------

    def _incident_new(self, i: int, when: dt.datetime) -> _Draft:
        rng = self.rng
        platform = self._pick_platform()
        kind, cause, measures = rng.choice(INCIDENT_SCENARIOS)
        lag = dt.timedelta(minutes=rng.randint(20, 60 * 36))
        occurred = when - lag
        detected = (occurred + lag * rng.uniform(0.1, 0.9)).replace(microsecond=0)
        self.incident_seq += 1
        incident = _Incident(
            incident_id=f"INC-{platform.id}-{occurred:%Y%m%d}-{self.incident_seq:03d}",
            platform=platform,
            type=kind,
            cause=cause,
            measures=measures,
            occurred=occurred,
            detected=detected,
            harm=rng.random() < 0.7,
            affected=rng.choice(AFFECTED_COUNTS),
            important=rng.random() < 0.2,
            updates_left=rng.randint(1, 3),
        )
        self._schedule(i, incident)
        return self._incident_event(i, when, incident, first=True)

    def _schedule(self, i: int, incident: _Incident) -> None:
        self.pending.append((i + self.rng.randint(3, 400), incident))
        self.pending.sort(key=lambda item: item[0])

    def _incident_update(self, i: int, when: dt.datetime, incident: _Incident) -> _Draft:
        incident.updates_left -= 1
        if incident.updates_left > 0:
            self._schedule(i, incident)
        return self._incident_event(i, when, incident, first=False)

    def _incident_event(self, i: int, when: dt.datetime, incident: _Incident, first: bool) -> _Draft:
        rng = self.rng
        platform = incident.platform
        body = self._envelope(i, platform, "incident", incident.occurred, when)
        draft = _Draft(body, platform.id)
        info: dict[str, Any] = {
            "incident_id": incident.incident_id,
            "type": incident.type,
            "status": "possible" if first and rng.random() < 0.4 else "occurred",
            "detected_at": _iso(incident.detected, platform.utc_timestamps),
            "harm_to_individuals": incident.harm,
        }
        if not first or rng.random() < 0.6:
            info["affected_subject_count"] = incident.affected if not first else incident.affected // 2 + 1
        if incident.updates_left == 0 and not first:
            done = max(
                incident.detected + dt.timedelta(hours=1), when - dt.timedelta(hours=rng.randint(1, 24))
            )
            info["handling_completed_at"] = _iso(done, platform.utc_timestamps)
        info["cause"] = incident.cause
        if not first or rng.random() < 0.5:
            info["measures_taken"] = incident.measures
        if incident.type == "unauthorized_transfer":
            body["destination"] = {"recipient": "境外SDK服务商", "host": "collect.adsdk-metrics.us"}
            draft.destination, draft.region_shown = "US", False
        if incident.important or rng.random() < 0.5:
            dataset: dict[str, Any] = {"record_count": incident.affected}
            if incident.important:
                dataset["important_data"] = {"catalogue_ref": "GB/T 43697-2024 附录G 用户数据-大规模个人信息"}
            body["dataset"] = dataset
        flow = next(f for f in platform.flows if f.schema is not None)
        if first and rng.random() < 0.7:
            persons = [self.people.pick(flow.population) for _ in range(rng.randint(1, 5))]
            body["records"] = [
                self._row(flow.schema or "", p, flow.population, incident.occurred, draft) for p in persons
            ]
        ctx = self._ctx(self.people.pick("adult"), "adult", when)
        body["text"] = INCIDENT_TEXT.format_map(_IncidentFields(ctx, draft, incident))
        body["incident"] = info
        return draft

    # -- invalid messages -----------------------------------------------------------------------

    def _invalid(self, i: int, when: dt.datetime, kind: str) -> SampleEvent:
        draft = self._transfer(i, when)
        payload = INVALID_MAKERS[kind](self.rng, dict(draft.body))
        return SampleEvent(
            index=i,
            payload=payload,
            platform=draft.platform,
            kind="invalid",
            invalid=kind,
            event_id=draft.body.get("event_id"),
            destination=draft.destination,
        )


class _IncidentFields(_Fields):
    def __init__(self, ctx: _Ctx, draft: _Draft, incident: _Incident) -> None:
        super().__init__(ctx, draft.planted, draft.decoys)
        self.update(
            incident_id=incident.incident_id,
            cause=incident.cause,
            measures=incident.measures,
            affected=incident.affected,
            detected=f"{incident.detected:%Y-%m-%d %H:%M}",
        )


def _dump(body: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON (non-ASCII kept as is; control characters escaped, so no raw newline)."""
    return orjson.dumps(body)


# ---------------------------------------------------------------------------------------------------
# Invalid variants: each returns bytes that FlowEvent.model_validate_json rejects
# ---------------------------------------------------------------------------------------------------

_NOT_JSON = (
    "2026-03-01 12:00:00 ERROR order-service - connection reset by peer (retry={n})",
    "event_id={n},kind=transfer,processor=shopfast",
    "<event><id>{n}</id><kind>transfer</kind></event>",
    "订单导出完成，共{n}条",
    "{{'event_id': '{n}', 'kind': 'transfer'}}",
)


def _not_json(rng: random.Random, body: dict[str, Any]) -> bytes:
    return rng.choice(_NOT_JSON).format(n=rng.randint(1, 99999)).encode("utf-8")


def _truncated(rng: random.Random, body: dict[str, Any]) -> bytes:
    text = _dump(body).decode("utf-8")
    return text[: rng.randint(len(text) // 4, len(text) - 2)].encode("utf-8")


def _without(key: str) -> Callable[[random.Random, dict[str, Any]], bytes]:
    def make(rng: random.Random, body: dict[str, Any]) -> bytes:
        body.pop(key, None)
        return _dump(body)

    return make


def _bad_occurred_at(rng: random.Random, body: dict[str, Any]) -> bytes:
    day = str(body["occurred_at"])[:10]
    body["occurred_at"] = rng.choice(
        ({"date": day, "tz": "+08:00"}, [day, "10:00"], f"{day} 10:00:00", "昨天下午")
    )
    return _dump(body)


def _unknown_kind(rng: random.Random, body: dict[str, Any]) -> bytes:
    body["kind"] = rng.choice(("export", "transfer_v2", "audit", "INCIDENT"))
    return _dump(body)


def _incident_without_incident(rng: random.Random, body: dict[str, Any]) -> bytes:
    body["kind"] = "incident"
    body.pop("incident", None)
    return _dump(body)


def _bad_region(rng: random.Random, body: dict[str, Any]) -> bytes:
    bad = rng.choice(("USA", "China", "cn", "CN-GUANGDONG", "Hong Kong", "86"))
    target = "destination" if "destination" in body else "source"
    body[target] = {**body[target], "region": bad}
    return _dump(body)


INVALID_MAKERS: dict[str, Callable[[random.Random, dict[str, Any]], bytes]] = {
    "not_json": _not_json,
    "truncated_json": _truncated,
    "missing_event_id": _without("event_id"),
    "bad_occurred_at": _bad_occurred_at,
    "unknown_kind": _unknown_kind,
    "incident_without_incident": _incident_without_incident,
    "bad_region": _bad_region,
}

# ---------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------


def generate_labelled(n_events: int = DEFAULT_N_EVENTS, seed: int = DEFAULT_SEED) -> Iterator[SampleEvent]:
    """Yield ``n_events`` ``SampleEvent`` (message bytes + ground truth) in stream order.

    Deterministic in ``(n_events, seed)``. Raises ``ValueError`` for ``n_events < 0`` and
    ``ProseUnavailableError`` when snownlp is not installed.
    """
    if n_events < 0:
        raise ValueError("n_events must be >= 0")
    yield from _Generator(n_events, seed).events()


def generate(n_events: int = DEFAULT_N_EVENTS, seed: int = DEFAULT_SEED) -> Iterator[bytes]:
    """Yield the raw message values (UTF-8 JSON, one flow event each, ≈ 1 KB on average, < 900 KB) of
    ``n_events`` sample events; ≈ 0.8 % of them are deliberately invalid (see ``INVALID_KINDS``).

    Same ``(n_events, seed)`` → byte-identical output. Kafka key of each: ``processor.id``
    (``SampleEvent.platform`` from ``generate_labelled`` also for the invalid ones).
    """
    for event in generate_labelled(n_events, seed):
        yield event.payload


@dataclass(slots=True)
class GenerationSummary:
    """Counts of a written sample file. ``by_destination`` counts valid events by true destination
    country; ``region_hidden`` how many of those named only host/ip; sizes in bytes (without newlines)."""

    path: str
    seed: int
    events: int = 0
    total_bytes: int = 0
    max_event_bytes: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    by_platform: dict[str, int] = field(default_factory=dict)
    by_destination: dict[str, int] = field(default_factory=dict)
    by_invalid: dict[str, int] = field(default_factory=dict)
    region_hidden: int = 0
    incidents: int = 0
    with_subjects: int = 0
    with_text: int = 0
    with_prose: int = 0

    @property
    def mean_event_bytes(self) -> float:
        """Average message size in bytes (0 for an empty file)."""
        return self.total_bytes / self.events if self.events else 0.0


def _summarise(
    path: str, seed: int, events: Iterator[SampleEvent], sink: Callable[[bytes], Any]
) -> GenerationSummary:
    counters: dict[str, Counter[str]] = {k: Counter() for k in ("kind", "platform", "destination", "invalid")}
    summary = GenerationSummary(path=path, seed=seed)
    incident_ids: set[str] = set()
    for event in events:
        sink(event.payload)
        summary.events += 1
        summary.total_bytes += len(event.payload)
        summary.max_event_bytes = max(summary.max_event_bytes, len(event.payload))
        counters["kind"][event.kind] += 1
        counters["platform"][event.platform] += 1
        if event.invalid:
            counters["invalid"][event.invalid] += 1
            continue
        if event.destination:
            counters["destination"][event.destination] += 1
            summary.region_hidden += not event.region_shown
        if event.incident_id:
            incident_ids.add(event.incident_id)
        summary.with_subjects += event.has_subjects
        summary.with_text += event.has_text
        summary.with_prose += event.has_prose
    summary.by_kind = dict(sorted(counters["kind"].items()))
    summary.by_platform = dict(sorted(counters["platform"].items()))
    summary.by_destination = dict(sorted(counters["destination"].items()))
    summary.by_invalid = dict(sorted(counters["invalid"].items()))
    summary.incidents = len(incident_ids)
    return summary


def write_jsonl(
    path: str | Path, n_events: int = DEFAULT_N_EVENTS, seed: int = DEFAULT_SEED
) -> GenerationSummary:
    """Write ``generate(n_events, seed)`` to ``path``, one message per line (``\\n``-terminated; no message
    contains a raw newline), creating parent directories. Returns the counts of what was written.

    Raises ``ValueError`` for ``n_events < 0``, ``ProseUnavailableError`` without snownlp, ``OSError``
    when ``path`` cannot be written. ≈ 1 s and ≈ 7 MB for the default 6,000 events."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as handle:
        return _summarise(
            str(target),
            seed,
            generate_labelled(n_events, seed),
            lambda payload: handle.write(payload + b"\n"),
        )
