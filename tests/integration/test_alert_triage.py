"""Alert folding, triage, audit and alert dashboards against the real Elasticsearch API (noida-db).

Occurrences go through the indexer's real bulk action (``alert_action`` → scripted upsert); triage goes
through the query service (``TestClient`` on ``create_app``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from flowwatch.alerts import Alert, Severity
from flowwatch.apikeys import Role, create_key
from flowwatch.es_indices import alerts_index
from flowwatch.ids import alert_id
from flowwatch.rules.incident_pack import Citation
from flowwatch.settings import ApiSettings
from flowwatch_api.app import create_app
from flowwatch_indexer.documents import alert_action
from flowwatch_tools.engines import Engine
from tests.integration.conftest import NoidaIndex

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
BASIS = Citation(document="中华人民共和国个人信息保护法", article="Art. 38", quote="向境外提供个人信息")


@dataclass
class Env:
    engine: Engine
    es: Elasticsearch
    prefix: str
    keys: dict[str, str]
    client: TestClient


def occurrence(key: str, count: int, first: datetime, last: datetime, processor: str = "acme",
               kind: str = "export_restricted_recipient", severity: Severity = Severity.CRITICAL) -> Alert:
    """An occurrence as the egress agent sends it (count so far, first and latest instants)."""
    return Alert(alert_id=alert_id(key), dedup_key=key, type=kind, severity=severity, processor_id=processor,
                 rule_pack="cn_export_2024", legal_basis=BASIS, title=f"Export to a restricted recipient {key}",
                 message=f"occurrence {count} of {key}", raised_at=first, last_raised_at=last, count=count)


def index_occurrences(es: Elasticsearch, prefix: str, alerts: list[Alert]) -> None:
    """Send occurrences through the indexer's bulk action, one bulk per occurrence (as separate batches)."""
    for a in alerts:
        body = alert_action(prefix, a.model_dump_json().encode()).ndjson()
        resp = es.bulk(operations=body, refresh="wait_for")  # type: ignore[arg-type]
        assert not resp["errors"], resp


@pytest.fixture(scope="module")
def env(noida_es: NoidaIndex) -> Iterator[Env]:
    engine, es, prefix = noida_es.engine, noida_es.es, noida_es.prefix
    keys = {
        "admin": create_key(es, prefix, Role.ADMIN, name="admin")[0],
        "soc": create_key(es, prefix, Role.SOC_ANALYST, name="analyst-li")[0],
        "regulator": create_key(es, prefix, Role.REGULATOR, name="cac")[0],
        "acme": create_key(es, prefix, Role.PLATFORM, processor_id="acme", name="acme-ops")[0],
        "beta": create_key(es, prefix, Role.PLATFORM, processor_id="beta")[0],
    }
    settings = ApiSettings(es_url=engine.es_url, es_index_prefix=prefix, key_cache_seconds=0,
                           kafka_bootstrap=engine.kafka_bootstrap or "127.0.0.1:9")
    with TestClient(create_app(settings)) as client:
        yield Env(engine, es, prefix, keys, client)


def call(env: Env, method: str, path: str, key: str, **kw: Any) -> Any:
    return env.client.request(method, path, headers={"Authorization": f"Bearer {env.keys[key]}"}, **kw)


def test_occurrences_fold_into_one_alert_whatever_the_order(env: Env) -> None:
    first = NOW - timedelta(days=40)
    key = f"acme|export|restricted|fold-{uuid.uuid4().hex[:6]}"
    occ = [occurrence(key, n, first, first + timedelta(hours=n)) for n in (1, 2, 3)]
    index_occurrences(env.es, env.prefix, [occ[0], occ[2], occ[1], occ[2]])  # reordered and replayed
    stored = env.es.get(index=alerts_index(env.prefix, first), id=alert_id(key))["_source"]
    assert stored["count"] == 3 and stored["message"] == f"occurrence 3 of {key}"
    assert datetime.fromisoformat(stored["last_raised_at"]) == first + timedelta(hours=3)
    assert datetime.fromisoformat(stored["raised_at"]) == first
    got = call(env, "GET", f"/v1/alerts/{alert_id(key)}", "soc").json()
    assert got["count"] == 3 and got["status"] == "open"


def test_triage_lifecycle_with_history_and_audit(env: Env) -> None:
    first = NOW - timedelta(days=2)
    key = f"acme|export|restricted|life-{uuid.uuid4().hex[:6]}"
    aid = alert_id(key)
    index_occurrences(env.es, env.prefix, [occurrence(key, 1, first, first)])

    r = call(env, "POST", f"/v1/alerts/{aid}/acknowledge", "soc", json={"reason": "looking"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    r = call(env, "POST", f"/v1/alerts/{aid}/assign", "soc", json={"assignee": "wang.fang", "reason": "owner"})
    assert r.json()["assignee"] == "wang.fang" and r.json()["status"] == "acknowledged"
    assert call(env, "POST", f"/v1/alerts/{aid}/resolve", "soc", json={}).status_code == 422  # reason required
    r = call(env, "POST", f"/v1/alerts/{aid}/resolve", "soc", json={"reason": "contract signed"})
    assert r.json()["status"] == "resolved" and r.json()["status_reason"] == "contract signed"
    assert call(env, "POST", f"/v1/alerts/{aid}/resolve", "soc", json={"reason": "again"}).status_code == 409

    # a new occurrence reopens a resolved alert and keeps the triage fields
    index_occurrences(env.es, env.prefix, [occurrence(key, 2, first, NOW)])
    got = call(env, "GET", f"/v1/alerts/{aid}", "soc").json()
    assert (got["status"], got["count"], got["assignee"]) == ("open", 2, "wang.fang")
    actions = [h["action"] for h in got["history"]]
    assert actions == ["acknowledge", "assign", "resolve", "reopened_by_occurrence"]
    assert got["history"][0]["actor"] == "analyst-li" and got["history"][0]["role"] == "soc_analyst"

    audit = call(env, "GET", "/v1/audit", "admin", params={"target_id": aid}).json()
    assert [a["action"] for a in audit["items"]] == ["alert.resolve", "alert.assign", "alert.acknowledge"]
    assert audit["items"][0]["actor"]["name"] == "analyst-li" and audit["items"][0]["reason"] == "contract signed"
    assert audit["items"][0]["details"] == {"from": "acknowledged", "to": "resolved"}
    assert audit["items"][0]["processor_id"] == "acme"


def test_suppression_with_expiry_reads_as_open_after_it_ends(env: Env) -> None:
    key = f"acme|export|restricted|supp-{uuid.uuid4().hex[:6]}"
    aid = alert_id(key)
    index_occurrences(env.es, env.prefix, [occurrence(key, 1, NOW - timedelta(hours=1), NOW)])
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    path = f"/v1/alerts/{aid}/suppress"
    assert call(env, "POST", path, "soc", json={"reason": "x", "until": past}).status_code == 422
    until = datetime.now(UTC) + timedelta(seconds=3)
    r = call(env, "POST", path, "soc", json={"reason": "maintenance", "until": until.isoformat()})
    assert r.status_code == 200 and r.json()["status"] == "suppressed"
    ids = lambda status: {a["alert_id"] for a in call(  # noqa: E731
        env, "GET", "/v1/alerts", "soc", params={"status": status, "size": 500}).json()["items"]}
    assert aid in ids("suppressed") and aid not in ids("open")
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.5)
    assert aid in ids("open") and aid not in ids("suppressed")
    assert call(env, "GET", f"/v1/alerts/{aid}", "soc").json()["status"] == "open"
    # suppress until lifted, then reopen by hand
    assert call(env, "POST", f"/v1/alerts/{aid}/suppress", "admin", json={"reason": "known"}).json()["status"] \
        == "suppressed"
    assert call(env, "POST", f"/v1/alerts/{aid}/reopen", "admin").json()["status"] == "open"
    assert call(env, "POST", f"/v1/alerts/{aid}/reopen", "admin").status_code == 409  # already open


def test_only_admin_and_soc_triage_and_tenants_stay_apart(env: Env) -> None:
    key = f"beta|export|restricted|roles-{uuid.uuid4().hex[:6]}"
    aid = alert_id(key)
    index_occurrences(env.es, env.prefix, [occurrence(key, 1, NOW - timedelta(hours=3), NOW, processor="beta")])
    for role in ("regulator", "acme", "beta"):
        assert call(env, "POST", f"/v1/alerts/{aid}/acknowledge", role).status_code == 403
    assert call(env, "GET", f"/v1/alerts/{aid}", "acme").status_code == 404  # another tenant's: not found
    assert call(env, "GET", f"/v1/alerts/{aid}", "beta").status_code == 200
    assert call(env, "POST", "/v1/alerts/nope/acknowledge", "soc").status_code == 404
    listed = call(env, "GET", "/v1/alerts", "acme", params={"processor_id": "beta", "q": "restricted"}).json()
    assert listed["items"] == []
    stats = call(env, "GET", "/v1/alerts/stats", "acme").json()
    assert set(stats["by_processor"]) <= {"acme"}
    audit = call(env, "GET", "/v1/audit", "acme", params={"processor_id": "beta"}).json()
    assert audit["items"] == []


def test_alert_stats_follow_triage_at_once(env: Env) -> None:
    key = f"acme|export|restricted|stats-{uuid.uuid4().hex[:6]}"
    aid = alert_id(key)
    index_occurrences(env.es, env.prefix, [occurrence(key, 5, NOW - timedelta(days=70), NOW - timedelta(days=1))])
    before = call(env, "GET", "/v1/alerts/stats", "soc").json()
    assert call(env, "POST", f"/v1/alerts/{aid}/resolve", "soc", json={"reason": "fp"}).status_code == 200
    after = call(env, "GET", "/v1/alerts/stats", "soc").json()
    assert after["total"] == before["total"]
    assert after["by_status"].get("resolved", 0) == before["by_status"].get("resolved", 0) + 1
    assert after["by_status"].get("open", 0) == before["by_status"].get("open", 0) - 1
    assert after["occurrences"] >= 5 and sum(b["count"] for b in after["over_time"]) == after["total"]


def test_queue_walks_months_newest_first_with_full_text(env: Env) -> None:
    tag = uuid.uuid4().hex[:6]
    made = [occurrence(f"acme|walk|{tag}|{i}", 1 + i % 4, NOW - timedelta(days=25 * i), NOW - timedelta(days=25 * i))
            for i in range(8)]  # about 7 months
    index_occurrences(env.es, env.prefix, made)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": tag, "size": 3, **({"cursor": cursor} if cursor else {})}
        page = call(env, "GET", "/v1/alerts", "soc", params=params).json()
        seen += [a["alert_id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [a.alert_id for a in made]  # newest first across monthly indices, each once
    by_count = call(env, "GET", "/v1/alerts", "soc", params={"q": tag, "sort": "-count", "size": 50}).json()
    counts = [a["count"] for a in by_count["items"]]
    assert counts == sorted(counts, reverse=True) and by_count["total"] == 8


def test_stored_alert_is_valid_json_for_the_model(env: Env) -> None:
    key = f"acme|export|restricted|model-{uuid.uuid4().hex[:6]}"
    index_occurrences(env.es, env.prefix, [occurrence(key, 1, NOW, NOW)])
    stored = env.es.get(index=alerts_index(env.prefix, NOW), id=alert_id(key))["_source"]
    Alert.model_validate(orjson.loads(orjson.dumps(stored)))


def test_who_am_i(env: Env) -> None:
    me = call(env, "GET", "/v1/me", "acme").json()
    assert (me["role"], me["processor_id"], me["name"]) == ("platform", "acme", "acme-ops")
    assert me["may_triage"] is False and me["may_ingest"] is True
    soc = call(env, "GET", "/v1/me", "soc").json()
    assert soc["may_triage"] is True and soc["processor_id"] is None and soc["may_write_registry"] is False
    assert env.client.get("/v1/me").status_code == 401


def test_alerts_carry_chinese_and_english_texts(env: Env) -> None:
    """Issue 15 point 3: the server adds the Chinese title and message (message catalogue) to every alert it
    serves, in lists, by id and after triage; the English ones are the generator's."""
    first = NOW - timedelta(days=1)
    key = f"acme|export|restricted|zh-{uuid.uuid4().hex[:6]}"
    alert = occurrence(key, 1, first, first).model_copy(update={"title": "Export to a restricted recipient: Acme HK"})
    index_occurrences(env.es, env.prefix, [alert])
    got = call(env, "GET", f"/v1/alerts/{alert_id(key)}", "soc").json()
    assert got["texts"]["zh"]["title"] == "向限制清单上的接收方提供：Acme HK"
    assert got["texts"]["en"] == {"title": got["title"], "message": got["message"]}
    listed = call(env, "GET", "/v1/alerts", "soc", params={"q": "Acme"}).json()["items"]
    assert any(i["texts"]["zh"]["title"].startswith("向限制清单") for i in listed)
    acked = call(env, "POST", f"/v1/alerts/{alert_id(key)}/acknowledge", "soc", json={}).json()
    assert acked["texts"]["zh"]["message"].startswith("acme：")
