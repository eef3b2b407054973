"""The notifier end to end (issue 15 point 1) on real engines (noida-db Kafka + Elasticsearch), a local HTTP
receiver standing in for the webhook and the DingTalk / WeCom / Feishu bots, and a local SMTP server (aiosmtpd).

Routes are created through the API (audited, secrets never served back). Real alerts (an important-data
incident's regulator report: due soon, then overdue = the escalation) are produced to an alerts topic.
Checked: each route gets exactly one notification per alert it matches, signed as the receiver expects;
replaying the whole topic — in the same run and by a fresh notifier in a new consumer group — sends nothing
more; a receiver failing twice is retried with back-off and delivered; one that always fails ends
``dead_lettered`` with every try recorded; an unreadable alert message is kept as a dead letter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from flowwatch.alerts import Alert
from flowwatch.apikeys import Role, create_key
from flowwatch.cluster import ensure_topics
from flowwatch.settings import ApiSettings
from flowwatch_api.app import create_app
from flowwatch_notifier.worker import Notifier, NotifierSettings
from flowwatch_tools.engines import Engine, free_port
from tests.integration.conftest import NoidaIndex, produce_keyed, wait_for
from tests.unit.test_notify_channels import obligation_alerts

pytestmark = pytest.mark.integration

WEBHOOK_SECRET = "whsec-test"
DING_SECRET = "SECding"


@dataclass
class Receiver:
    """Records every POST; ``/flaky`` fails twice then succeeds; ``/down`` always answers 503."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    flaky_failures: int = 2

    def count(self, path: str) -> int:
        return sum(c["path"] == path for c in self.calls)


def start_receiver() -> tuple[ThreadingHTTPServer, Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            parts = urlsplit(self.path)
            rec.calls.append({"path": parts.path, "query": parse_qs(parts.query), "headers": dict(self.headers),
                              "body": body, "at": time.monotonic()})
            status, answer = 200, b'{"errcode":0,"errmsg":"ok"}'
            if parts.path == "/feishu":
                answer = b'{"code":0,"msg":"success"}'
            if parts.path == "/flaky" and rec.count("/flaky") <= rec.flaky_failures:
                status = 500
            if parts.path == "/down":
                status = 503
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, rec


class Mailbox:
    """aiosmtpd handler keeping every message."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class Env:
    engine: Engine
    es: Elasticsearch
    prefix: str
    topic: str
    client: TestClient
    admin: dict[str, str]
    receiver: Receiver
    mailbox: Mailbox
    base: str
    smtp_port: int


@pytest.fixture(scope="module")
def env(noida_es: NoidaIndex) -> Iterator[Env]:
    engine, es, prefix = noida_es.engine, noida_es.es, noida_es.prefix
    server, receiver = start_receiver()
    mailbox = Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        topic = f"alerts-{prefix}"
        ensure_topics(engine.kafka_bootstrap, {topic: 2})
        admin = {"Authorization": f"Bearer {create_key(es, prefix, Role.ADMIN, name='soc-lead')[0]}"}
        app = create_app(ApiSettings(es_url=engine.es_url, es_index_prefix=prefix,
                                     kafka_bootstrap=engine.kafka_bootstrap))
        with TestClient(app) as client:
            yield Env(engine, es, prefix, topic, client, admin, receiver, mailbox,
                      f"http://127.0.0.1:{server.server_address[1]}", smtp_port)
    finally:
        smtp.stop()
        server.shutdown()


def notifier(env: Env, group: str) -> tuple[Notifier, threading.Thread]:
    settings = NotifierSettings(kafka_bootstrap=env.engine.kafka_bootstrap, es_url=env.engine.es_url or "",
                                es_index_prefix=env.prefix, notify_group_id=group, notify_attempts=3,
                                notify_backoff=0.2, notify_routes_refresh=0, notify_timeout=5)
    n = Notifier(settings)
    thread = threading.Thread(target=n.run, kwargs={"topic": env.topic}, daemon=True)
    thread.start()
    return n, thread


def put_route(env: Env, route_id: str, body: dict[str, Any]) -> Any:
    return env.client.put(f"/v1/notification-routes/{route_id}", json=body, headers=env.admin)


def routes(env: Env) -> dict[str, dict[str, Any]]:
    b = env.base
    return {
        "soc-webhook": {"name": "SOC SIEM", "match": {"severities": ["critical"]},
                        "channel": {"kind": "webhook", "url": f"{b}/hook", "secret": WEBHOOK_SECRET}},
        "ding-obligations": {"name": "钉钉 合规群", "language": "zh", "match": {"types": ["obligation_*"]},
                             "channel": {"kind": "dingtalk", "url": f"{b}/dingtalk?access_token=t0k",
                                         "secret": DING_SECRET}},
        "wecom-shop": {"name": "企业微信", "match": {"processor_ids": ["p-shop"]},
                       "channel": {"kind": "wecom", "url": f"{b}/wecom?key=wk"}},
        "feishu-other": {"name": "飞书 其他平台", "match": {"processor_ids": ["someone-else"]},
                         "channel": {"kind": "feishu", "url": f"{b}/feishu", "secret": "fs"}},
        "mail-soc": {"name": "SOC mail", "language": "zh+en",
                     "channel": {"kind": "email", "url": f"smtp://127.0.0.1:{env.smtp_port}",
                                 "sender": "flowwatch@example.cn", "recipients": ["soc@example.cn"]}},
        "flaky": {"name": "flaky receiver", "match": {"severities": ["critical"]},
                  "channel": {"kind": "webhook", "url": f"{b}/flaky"}},
        "down": {"name": "receiver down", "match": {"severities": ["critical"]},
                 "channel": {"kind": "webhook", "url": f"{b}/down"}},
    }


def test_routes_are_managed_through_the_api_with_audit(env: Env) -> None:
    for route_id, body in routes(env).items():
        resp = put_route(env, route_id, body)
        assert resp.status_code == 201, resp.text
    listed = env.client.get("/v1/notification-routes", headers=env.admin).json()["items"]
    assert {r["route_id"] for r in listed} == set(routes(env))
    ding = next(r for r in listed if r["route_id"] == "ding-obligations")
    assert ding["channel"]["has_secret"] is True and ding["channel"]["url"].endswith("/dingtalk?***")
    assert DING_SECRET not in json.dumps(listed) and "t0k" not in json.dumps(listed)
    # an edit without the secret keeps it
    again = put_route(env, "ding-obligations", {**routes(env)["ding-obligations"], "channel": {
        "kind": "dingtalk", "url": f"{env.base}/dingtalk?access_token=t0k"}})
    assert again.status_code == 200 and again.json()["channel"]["has_secret"] is True
    audit = env.client.get("/v1/audit", params={"target_type": "notification_route"}, headers=env.admin).json()
    assert audit["total"] == len(routes(env)) + 1
    assert {a["action"] for a in audit["items"]} == {"notification_route.put"}
    assert all(a["actor"]["name"] == "soc-lead" for a in audit["items"])
    assert DING_SECRET not in json.dumps(audit)
    # platform keys may not manage routes; bad bodies are 422 problems
    platform = {"Authorization": f"Bearer {create_key(env.es, env.prefix, Role.PLATFORM, processor_id='p-shop')[0]}"}
    assert env.client.get("/v1/notification-routes", headers=platform).status_code == 403
    bad = put_route(env, "bad", {"name": "x", "channel": {"kind": "email", "url": "smtp://h:25"}})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def _delivered(env: Env, route_id: str) -> int:
    body = env.client.get("/v1/notifications", params={"route_id": route_id, "state": "delivered"},
                          headers=env.admin).json()
    return int(body["total"])


def test_one_notification_per_alert_and_escalation_never_per_replay(env: Env) -> None:
    soon, overdue = obligation_alerts()  # high, then critical (the escalation)
    messages = [(b"p-shop", soon.model_dump_json().encode()), (b"p-shop", b'{"not": "an alert"}'),
                (b"p-shop", overdue.model_dump_json().encode())]
    produce_keyed(env.engine.kafka_bootstrap, env.topic, messages)
    n, thread = notifier(env, f"g1-{uuid.uuid4().hex[:6]}")
    try:
        rec = env.receiver
        wait_for(lambda: rec.count("/dingtalk") >= 2 and rec.count("/wecom") >= 2 and rec.count("/hook") >= 1
                 and len(env.mailbox.messages) >= 2 and rec.count("/flaky") >= 3 and rec.count("/down") >= 3,
                 timeout=60, what="first deliveries")
        wait_for(lambda: env.client.get("/v1/notifications", params={"state": "dead_lettered"},
                                        headers=env.admin).json()["total"] == 1, timeout=30, what="dead letter")
        # replay everything in this run (same partition as before: same key), then a marker alert after it
        produce_keyed(env.engine.kafka_bootstrap, env.topic, messages)
        marker = soon.model_copy(update={"alert_id": "marker", "dedup_key": "marker"})
        produce_keyed(env.engine.kafka_bootstrap, env.topic, [(b"p-shop", marker.model_dump_json().encode())])
        wait_for(lambda: rec.count("/dingtalk") >= 3, timeout=30, what="the marker")
    finally:
        n.stop()
        thread.join(30)
    # a fresh notifier in a new group replays the whole topic from the start: nothing more is sent
    before = len(rec.calls), len(env.mailbox.messages)
    n2, thread2 = notifier(env, f"g2-{uuid.uuid4().hex[:6]}")
    try:
        late = overdue.model_copy(update={"alert_id": "marker-2", "dedup_key": "marker-2"})
        produce_keyed(env.engine.kafka_bootstrap, env.topic, [(b"p-shop", late.model_dump_json().encode())])
        wait_for(lambda: rec.count("/hook") >= 2, timeout=60, what="the second marker")
    finally:
        n2.stop()
        thread2.join(30)
    assert len(env.mailbox.messages) == before[1] + 1  # only the marker, by mail

    # per route: one per matching alert (soon, overdue, marker, marker-2), whatever the replays
    assert rec.count("/hook") == 2  # critical only: overdue, marker-2
    assert rec.count("/dingtalk") == 4 and rec.count("/wecom") == 4 and rec.count("/feishu") == 0
    assert _delivered(env, "soc-webhook") == 2 and _delivered(env, "ding-obligations") == 4
    assert rec.count("/flaky") == 2 + 2  # overdue: 2 failures + 1 success; marker-2: 1 success
    assert rec.count("/down") == 3 * 2  # three tries for each of the two critical alerts
    from prometheus_client import REGISTRY

    def metric(channel: str, outcome: str) -> float:
        return REGISTRY.get_sample_value("flowwatch_notifications_total", {"channel": channel, "outcome": outcome}) or 0
    assert metric("dingtalk", "delivered") >= 4 and metric("webhook", "dead_lettered") >= 2
    assert metric("dingtalk", "duplicate") >= 3  # the replays


def test_signatures_and_formats_as_received(env: Env) -> None:
    rec = env.receiver
    hook = next(c for c in rec.calls if c["path"] == "/hook")
    ts, sig = hook["headers"]["X-Flowwatch-Timestamp"], hook["headers"]["X-Flowwatch-Signature"]
    want = hmac.new(WEBHOOK_SECRET.encode(), ts.encode() + b"." + hook["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sig, f"sha256={want}")
    payload = json.loads(hook["body"])
    assert Alert.model_validate(payload["alert"]).type == "obligation_overdue"
    assert payload["notification_id"] == hook["headers"]["X-Flowwatch-Notification"]

    ding = next(c for c in rec.calls if c["path"] == "/dingtalk")
    import base64

    stamp = ding["query"]["timestamp"][0]
    expect = base64.b64encode(hmac.new(DING_SECRET.encode(), f"{stamp}\n{DING_SECRET}".encode(),
                                       hashlib.sha256).digest()).decode()
    assert ding["query"]["sign"] == [expect] and ding["query"]["access_token"] == ["t0k"]
    text = json.loads(ding["body"])["markdown"]["text"]
    assert "即将到期：向主管部门报告" in text and "Due soon" not in text  # route language zh

    wecom = json.loads(next(c for c in rec.calls if c["path"] == "/wecom")["body"])
    assert wecom["msgtype"] == "markdown" and "即将到期" in wecom["markdown"]["content"]

    mail = env.mailbox.messages[0]
    subject = str(make_header(decode_header(mail["Subject"])))
    assert subject.startswith("[高 high] 【内部政策】即将到期：向主管部门报告 / [policy] Due soon")
    assert mail["To"] == "soc@example.cn"

    flaky = [c["at"] for c in rec.calls if c["path"] == "/flaky"][:3]
    assert flaky[1] - flaky[0] >= 0.15 and flaky[2] - flaky[1] >= flaky[1] - flaky[0] - 0.05  # back-off grows


def test_dead_letter_paths(env: Env) -> None:
    dead = env.client.get("/v1/notifications", params={"state": "dead_lettered"}, headers=env.admin).json()
    assert dead["total"] == 2 and {i["route_id"] for i in dead["items"]} == {"down"}
    item = dead["items"][0]
    assert item["title_zh"] == "已逾期：向主管部门报告" or item["alert_id"] == "marker-2"
    assert len(item["attempts"]) == 3 and all(a["status"] == 503 for a in item["attempts"])
    assert item["last_error"].startswith("HTTP 503") and item["alert"]["alert_id"] == item["alert_id"]
    flaky = env.client.get("/v1/notifications", params={"route_id": "flaky"}, headers=env.admin).json()["items"]
    assert sorted(len(i["attempts"]) for i in flaky) == [1, 3] and {i["state"] for i in flaky} == {"delivered"}
    letters = env.client.get("/v1/dead-letters", params={"reason": "invalid_alert"}, headers=env.admin).json()
    assert letters["total"] == 1 and letters["items"][0]["original"]["topic"] == env.topic
    assert "alert_id" in letters["items"][0]["error"]


def test_the_local_stack_notifies_a_real_incident_deadline_once(make_stack) -> None:  # type: ignore[no-untyped-def]
    """The whole pipeline (``flowwatch up`` components, notifier included): an incident event detected after
    its 8-hour deadline → the detector's incident agent raises the critical overdue alert → the notifier posts
    it, signed, to the route created through the stack's API — once, also when the event is sent again."""
    import httpx

    from flowwatch_tools.replay import produce
    from tests.integration.test_incident_agent import incident_event

    server, rec = start_receiver()
    try:
        stack = make_stack(broker="noida", workers=1, api=True,
                           extra_env={"FLOWWATCH_INCIDENT_TICK": "1", "FLOWWATCH_NOTIFY_ROUTES_REFRESH": "0"})
        assert "notifier" in stack.state.components
        es = Elasticsearch(stack.state.es_url, request_timeout=30)
        admin = {"Authorization": f"Bearer {create_key(es, stack.state.index_prefix, Role.ADMIN)[0]}"}
        api = httpx.Client(base_url=stack.state.api_url, timeout=30)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        resp = api.put("/v1/notification-routes/soc", headers=admin, json={
            "name": "SOC", "match": {"severities": ["critical"], "types": ["obligation_*"]},
            "channel": {"kind": "webhook", "url": f"{base}/hook", "secret": WEBHOOK_SECRET}})
        assert resp.status_code == 201, resp.text
        now = datetime.now(UTC)
        late = incident_event("n-1", "inc-n", now - timedelta(hours=9), now, range(0, 3), important=True)
        produce(stack.state.kafka_bootstrap, stack.topics().flow_events, [late])
        wait_for(lambda: rec.count("/hook") >= 1, timeout=120, what="the webhook of the overdue alert")
        produce(stack.state.kafka_bootstrap, stack.topics().flow_events, [late])  # the same event again
        time.sleep(8)  # several incident ticks and notifier polls
        hooks = [c for c in rec.calls if c["path"] == "/hook"]
        assert len(hooks) == 1
        payload = json.loads(hooks[0]["body"])
        assert (payload["alert"]["type"], payload["alert"]["incident_id"]) == ("obligation_overdue", "inc-n")
        # detected after the deadline; the draft's clock is Flowwatch policy
        assert payload["texts"]["zh"]["title"] == "【内部政策】发现时已超过期限：向主管部门报告"
        ts = hooks[0]["headers"]["X-Flowwatch-Timestamp"]
        want = hmac.new(WEBHOOK_SECRET.encode(), ts.encode() + b"." + hooks[0]["body"], hashlib.sha256).hexdigest()
        assert hooks[0]["headers"]["X-Flowwatch-Signature"] == f"sha256={want}"
        listed = api.get("/v1/notifications", headers=admin, params={"state": "delivered"}).json()
        assert listed["total"] == 1 and listed["items"][0]["incident_id"] == "inc-n"
        es.close()
    finally:
        server.shutdown()
