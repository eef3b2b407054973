"""Notification formats, signatures, route matching and the Chinese alert texts (issue 15 points 1 and 3).

Alerts come from the real generators (``flowwatch.incidents.alerts.due_alerts`` for an important-data
incident: due soon, then overdue; ``flowwatch.exports.evaluate`` titles for export alerts). Signatures are
checked the way the receiving side checks them (recomputed from what was sent, per the bots' documented
algorithms), not against stored values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr, ValidationError

from flowwatch.alert_texts import chinese, localized
from flowwatch.alerts import Alert, Severity
from flowwatch.incidents.aggregate import IncidentState, SetPersonStore
from flowwatch.incidents.alerts import due_alerts
from flowwatch.incidents.models import IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.notifications.models import Channel, RouteMatch, mask_url, notification_id
from flowwatch.rules.incident_pack import Citation, load_packs
from flowwatch_notifier.channels import accepted, email_message, http_request, lines_of
from flowwatch_notifier.delivery import RetryPolicy

CN = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 6, 10, 9, 0, tzinfo=CN)
PACKS = load_packs()
NOW = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)


def obligation_alerts(processor_id: str = "p-shop", incident_id: str = "inc-1") -> tuple[Alert, Alert]:
    """The real due-soon (6 h) and overdue (8 h) alerts of an important-data incident's regulator report."""
    upd = IncidentUpdate.model_validate({
        "processor_id": processor_id, "incident_id": incident_id, "update_id": "e1", "source": "event",
        "received_at": T0 + timedelta(minutes=30), "occurred_at": T0, "detected_at": T0 + timedelta(minutes=20),
        "type": "leak", "status": "occurred", "harm_to_individuals": False, "important_data": True,
        "person_keys": [hashlib.sha256(f"p{i}".encode()).hexdigest() for i in range(10)]})
    state = IncidentState.new(upd)
    state.apply(upd, SetPersonStore())
    out = []
    for at in (T0 + timedelta(hours=6), T0 + timedelta(hours=8)):
        record = build_record(state, PACKS, at)
        pack = next(p for p in PACKS if p.id == record.pack_id)
        found = due_alerts(state, record.obligations, pack, at)
        state.alerts_raised.extend(a.dedup_key for a in found)
        out.append(found[0])
    return out[0], out[1]


def export_alert(type_: str, title: str, severity: Severity = Severity.HIGH) -> Alert:
    return Alert(alert_id=f"a-{type_}", dedup_key=f"p|export|{type_}", type=type_, severity=severity,
                 processor_id="shopfast", rule_pack="cn-export-2024", title=title, message="details in English",
                 legal_basis=Citation(document="中华人民共和国个人信息保护法", article="Art. 38"), raised_at=NOW)


# ---------------------------------------------------------------------------------------------------
# Chinese texts (message catalogue)
# ---------------------------------------------------------------------------------------------------


def test_obligation_alerts_get_chinese_titles_and_messages() -> None:
    soon, overdue = obligation_alerts()
    assert (soon.type, overdue.type) == ("obligation_due_soon", "obligation_overdue")
    zh_soon, zh_over = chinese(soon), chinese(overdue)
    assert zh_soon.title == "【内部政策】即将到期：向主管部门报告"
    assert zh_over.title == "【内部政策】已逾期：向主管部门报告"
    assert "2025-06-10 17:00（北京时间）" in zh_over.message  # due 8 h after 09:00 CST
    assert "inc-1" in zh_over.message and "p-shop" in zh_over.message
    assert overdue.legal_basis.article in zh_over.message
    texts = localized(overdue)
    assert texts["en"].title == overdue.title and texts["zh"] == zh_over


@pytest.mark.parametrize(("type_", "title", "expected"), [
    ("export_threshold_crossed", "Export threshold crossed: 100,000 persons", "跨境提供达到门槛：100,000 人"),
    ("export_threshold_crossed", "Export threshold crossed: 10,000 sensitive persons",
     "跨境提供达到门槛：10,000 人（敏感个人信息）"),
    ("export_restricted_recipient", "Export to a restricted recipient: Acme Ltd", "向限制清单上的接收方提供：Acme Ltd"),
    ("export_assessment_expired", "Mechanism sa-7 expired", "出境机制 sa-7 已过期"),
    ("export_important_data_without_assessment", "Important data exported without a security assessment",
     "重要数据未经安全评估出境"),
    ("export_mechanism_missing", "An unexpected wording", "出境缺少所需机制"),  # the type's generic text
    ("brand_new_type", "Something new", "高级告警：brand_new_type"),  # catalogue fallback, never an error
])
def test_export_alert_titles_in_chinese(type_: str, title: str, expected: str) -> None:
    assert chinese(export_alert(type_, title)).title == expected


def test_export_messages_keep_the_generated_details_obligation_messages_need_none() -> None:
    zh = chinese(export_alert("export_restricted_recipient", "Export to a restricted recipient: Acme Ltd"))
    assert zh.message.endswith("原文：details in English")
    _, overdue = obligation_alerts()
    assert "原文" not in chinese(overdue).message


def test_every_export_type_of_the_generator_has_an_entry() -> None:
    import inspect

    import flowwatch.exports.evaluate as evaluate
    from flowwatch.alert_texts import catalogue

    kinds = set(re.findall(r'raise_\("(export_[a-z_]+)"', inspect.getsource(evaluate)))
    assert kinds and kinds <= set(catalogue()["types"]), kinds - set(catalogue()["types"])


# ---------------------------------------------------------------------------------------------------
# Formats and signatures
# ---------------------------------------------------------------------------------------------------


def test_webhook_is_json_signed_over_timestamp_and_body() -> None:
    _, alert = obligation_alerts()
    ch = Channel(kind="webhook", url="https://soc.example/hook", secret=SecretStr("k3y"))
    req = http_request(ch, alert, localized(alert), "zh+en", "nid-1", now=NOW)
    ts = req.headers["X-Flowwatch-Timestamp"]
    assert ts == str(int(NOW.timestamp()))
    expected = hmac.new(b"k3y", ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(req.headers["X-Flowwatch-Signature"], "sha256=" + expected)
    body = json.loads(req.body)
    assert body["notification_id"] == "nid-1" and body["alert"]["alert_id"] == alert.alert_id
    assert body["texts"]["zh"]["title"] == "【内部政策】已逾期：向主管部门报告"
    tampered = req.body.replace(b"p-shop", b"p-shoq")
    assert hmac.new(b"k3y", ts.encode() + b"." + tampered, hashlib.sha256).hexdigest() != expected
    unsigned = http_request(ch.model_copy(update={"secret": None}), alert, localized(alert), "en", "n", now=NOW)
    assert "X-Flowwatch-Signature" not in unsigned.headers


def test_dingtalk_markdown_with_jiaqian_signature() -> None:
    _, alert = obligation_alerts()
    secret = "SECabc123"
    ch = Channel(kind="dingtalk", url="https://oapi.dingtalk.com/robot/send?access_token=tok", secret=SecretStr(secret))
    req = http_request(ch, alert, localized(alert), "zh", "n", now=NOW)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.url).query)
    assert query["access_token"] == ["tok"] and query["timestamp"] == [str(int(NOW.timestamp() * 1000))]
    # DingTalk's check: Base64(HMAC-SHA256(secret, "<ts>\n<secret>")), URL-decoded by parse_qs
    want = base64.b64encode(hmac.new(secret.encode(), f"{query['timestamp'][0]}\n{secret}".encode(),
                                     hashlib.sha256).digest()).decode()
    assert query["sign"] == [want]
    body = json.loads(req.body)
    assert body["msgtype"] == "markdown" and body["markdown"]["text"].startswith("### [严重] 【内部政策】已逾期")


def test_feishu_and_lark_text_with_signature_in_body() -> None:
    _, alert = obligation_alerts()
    for kind, host in (("feishu", "open.feishu.cn"), ("lark", "open.larksuite.com")):
        ch = Channel(kind=kind, url=f"https://{host}/open-apis/bot/v2/hook/abc", secret=SecretStr("s"))
        body = json.loads(http_request(ch, alert, localized(alert), "zh+en", "n", now=NOW).body)
        ts = body["timestamp"]
        assert ts == str(int(NOW.timestamp()))
        assert body["sign"] == base64.b64encode(hmac.new(f"{ts}\ns".encode(), b"", hashlib.sha256).digest()).decode()
        text = body["content"]["text"]
        assert body["msg_type"] == "text" and "已逾期" in text and "Overdue" in text


def test_wecom_markdown_is_cut_to_4096_bytes() -> None:
    _, alert = obligation_alerts()
    long = alert.model_copy(update={"message": "很长" * 3000})
    ch = Channel(kind="wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k")
    body = json.loads(http_request(ch, long, localized(long), "zh+en", "n", now=NOW).body)
    assert body["msgtype"] == "markdown" and len(body["markdown"]["content"].encode()) <= 4096


def test_email_message_subject_and_body() -> None:
    _, alert = obligation_alerts()
    ch = Channel(kind="email", url="smtp://127.0.0.1:25", sender="fw@example.cn", recipients=["soc@example.cn"])
    msg = email_message(ch, alert, localized(alert), "zh+en", "nid-9")
    assert msg["Subject"].startswith("[严重 critical] 【内部政策】已逾期：向主管部门报告 / [policy] Overdue")
    assert msg["Message-ID"] == "<nid-9@flowwatch>" and "p-shop" in msg.get_content()


@pytest.mark.parametrize(("kind", "status", "body", "ok"), [
    ("webhook", 204, b"", True), ("webhook", 500, b"boom", False),
    ("dingtalk", 200, b'{"errcode":0,"errmsg":"ok"}', True),
    ("dingtalk", 200, b'{"errcode":310000,"errmsg":"sign not match"}', False),
    ("wecom", 200, b'{"errcode":45009,"errmsg":"api freq out of limit"}', False),
    ("feishu", 200, b'{"code":0,"msg":"success"}', True), ("feishu", 200, b'{"code":19021,"msg":"sign"}', False),
    ("lark", 200, b'{"StatusCode":0}', True),
])
def test_accepted_reads_each_bots_success_code(kind: str, status: int, body: bytes, ok: bool) -> None:
    assert accepted(kind, status, body)[0] is ok


# ---------------------------------------------------------------------------------------------------
# Routes, ids, back-off
# ---------------------------------------------------------------------------------------------------


def test_route_matching_by_severity_type_and_processor() -> None:
    soon, overdue = obligation_alerts()
    assert RouteMatch().matches(soon)
    assert RouteMatch(severities=[Severity.CRITICAL]).matches(overdue)
    assert not RouteMatch(severities=[Severity.CRITICAL]).matches(soon)
    assert RouteMatch(types=["obligation_*"]).matches(soon) and not RouteMatch(types=["export_*"]).matches(soon)
    assert not RouteMatch(processor_ids=["other"]).matches(soon)
    assert RouteMatch(processor_ids=["p-shop"], types=["obligation_overdue"]).matches(overdue)


def test_notification_id_is_one_per_alert_severity_and_route() -> None:
    soon, overdue = obligation_alerts()
    assert notification_id("r", soon.alert_id, "high") == notification_id("r", soon.alert_id, "high")
    ids = {notification_id(r, a.alert_id, str(a.severity)) for r in ("r1", "r2") for a in (soon, overdue)}
    assert len(ids) == 4  # the escalation (overdue) is a new alert: a new notification per route
    assert notification_id("r", soon.alert_id, "critical") != notification_id("r", soon.alert_id, "high")


def test_channel_validation_and_url_masking() -> None:
    with pytest.raises(ValidationError):
        Channel(kind="email", url="https://x", sender="a@b", recipients=["c@d"])
    with pytest.raises(ValidationError):
        Channel(kind="email", url="smtp://h:25")
    with pytest.raises(ValidationError):
        Channel(kind="dingtalk", url="ftp://x")
    assert mask_url("https://oapi.dingtalk.com/robot/send?access_token=secret") == \
        "https://oapi.dingtalk.com/robot/send?***"
    assert mask_url("https://open.feishu.cn/open-apis/bot/v2/hook/tok") == "https://open.feishu.cn/open-apis/bot/v2/hook/***"


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base=1.0, factor=2.0, max_delay=5.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    jittered = RetryPolicy(base=1.0, jitter=0.1)
    assert all(0.9 <= jittered.delay(1) <= 1.1 for _ in range(50))


def test_lines_name_processor_incident_and_basis() -> None:
    _, alert = obligation_alerts()
    lines = lines_of(alert, localized(alert), "en")
    assert lines[0].startswith("[critical] [policy] Overdue") and "incident: inc-1" in lines[-1]
    assert f"basis: {alert.legal_basis.document}" in lines[-1]


def test_a_refused_commit_does_not_end_the_notifier() -> None:
    """After a broker restart the group moved on: the commit is refused (ILLEGAL_GENERATION) and the notifier
    keeps running; the batch comes again and its notifications are deduplicated by id."""
    from confluent_kafka import KafkaError, KafkaException

    from flowwatch_notifier.worker import Notifier

    class Refusing:
        def commit(self, asynchronous: bool = True) -> None:
            raise KafkaException(KafkaError(KafkaError.ILLEGAL_GENERATION))

    class Accepting:
        committed = 0

        def commit(self, asynchronous: bool = True) -> None:
            self.committed += 1

    assert Notifier._commit(Refusing()) is False  # type: ignore[arg-type]
    ok = Accepting()
    assert Notifier._commit(ok) is True and ok.committed == 1  # type: ignore[arg-type]
