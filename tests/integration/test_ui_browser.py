"""The web UI at ``/ui`` in a real headless Chromium (Debian ``chromium``) driven by Playwright, against the
query service served by uvicorn on a real port and a real embedded Elasticsearch (noida-db).

Seeded from the real models: findings over the last 10 days, 10 alerts of two processors, two incidents
aggregated by the incident agent's own code (one obligation overdue, others due in the future) and two
export ledger records. Full-page screenshots of every view in both languages go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from elasticsearch import Elasticsearch, helpers
from pydantic import SecretStr

from flowwatch.alerts import Alert, AlertStatus, Severity, TriageAction, TriageEntry
from flowwatch.apikeys import Role, create_key
from flowwatch.audit import Actor, AuditRecord, TargetType, write_audit
from flowwatch.es_indices import (
    alerts_index,
    dead_letters_index,
    findings_index,
    incidents_index,
    ledger_index,
)
from flowwatch.exports.models import LedgerRecord, ThresholdProgress
from flowwatch.ids import alert_id, dead_letter_id, derived_id, finding_id
from flowwatch.incidents.aggregate import IncidentState, SetPersonStore
from flowwatch.incidents.models import IncidentRecord, IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.models import (
    DeadLetter,
    EntitySummary,
    EventKind,
    Finding,
    IncidentStatus,
    IncidentType,
    SubjectCountBasis,
)
from flowwatch.notifications import store as notify_store
from flowwatch.notifications.models import Attempt as NotifyAttempt
from flowwatch.notifications.models import (
    Channel,
    ChannelKind,
    Notification,
    NotificationState,
    Route,
    RouteMatch,
    notification_id,
)
from flowwatch.notifications.models import Language as RouteLanguage
from flowwatch.rules.export_pack import Mechanism, export_pack_for, load_export_packs, window_id, window_start
from flowwatch.rules.incident_pack import Citation, ObligationId, load_packs
from flowwatch.rules.obligations import DONE_FIELD
from flowwatch.rules.obligations import Status as ObligationStatus
from flowwatch.settings import ApiSettings
from flowwatch.stored_form import finding_source, incident_source
from flowwatch_api.app import create_app
from flowwatch_tools.engines import Engine, free_port
from tests.integration.conftest import NoidaIndex

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts/ui"
UI_DIR = Path(__file__).resolve().parents[2] / "services/api/flowwatch_api/ui"
BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime.now(UTC).replace(microsecond=0)
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef]")
BASIS = Citation(document="中华人民共和国个人信息保护法", article="Art. 38", quote="向境外提供个人信息")

# ---------------------------------------------------------------------------------------------------
# Seed data (real models)
# ---------------------------------------------------------------------------------------------------

CATEGORY = {"CN_RESIDENT_ID": "general", "CN_MOBILE_PHONE": "general", "EMAIL_ADDRESS": "general",
            "MEDICAL_TERM": "medical_health", "CN_BANK_CARD": "financial_account"}
FINDING_DAYS = [0, 0, 1, 2, 2, 2, 4, 6, 6, 9, 9, 9]
"""Days before now of the seeded findings (one hour earlier than ``NOW - days``)."""
TYPE_SETS = [["CN_MOBILE_PHONE", "CN_RESIDENT_ID"], ["EMAIL_ADDRESS"], ["MEDICAL_TERM"], ["CN_BANK_CARD"]]


def make_finding(i: int, days: int) -> Finding:
    processor = ["acme-cn", "beta-hk"][i % 2]
    types = TYPE_SETS[i % len(TYPE_SETS)]
    occurred = NOW - timedelta(days=days, hours=1)
    entities = [EntitySummary(type=t, category=CATEGORY[t], sensitive=CATEGORY[t] != "general", count=1,
                              fields=["f"], masked_samples=["1**********2"]) for t in sorted(types)]
    event = f"ui-evt-{i:03d}"
    return Finding(
        finding_id=finding_id(processor, event), event_id=event, processor_id=processor,
        processor_name=processor.upper(), kind=EventKind.TRANSFER, occurred_at=occurred,
        detected_at=occurred + timedelta(seconds=2), source_region="CN", destination_region="HK",
        entity_types=sorted(types), categories=sorted({e.category for e in entities}),
        sensitive=any(e.sensitive for e in entities), entity_counts={t: 1 for t in types}, entities=entities,
        distinct_subjects=1, subject_count_basis=SubjectCountBasis.IDENTIFIERS, record_count=1, text_chars=0,
        detector_version="test",
    )


def person_key(i: int) -> str:
    return hashlib.sha256(f"ui-person-{i}".encode()).hexdigest()


DRAFT = "cn_incident_draft_2021"  # the policy pack: the 2021 draft's clocks


def make_incident(processor: str, incident: str, occurred: datetime, **kw: Any) -> IncidentRecord:
    """An incident record as the incident agent builds it (``IncidentState`` + ``build_record``), as of NOW."""
    update = IncidentUpdate.model_validate({
        "processor_id": processor, "incident_id": incident, "update_id": f"evt-{incident}", "source": "event",
        "received_at": occurred + timedelta(minutes=10), "occurred_at": occurred,
        "detected_at": occurred + timedelta(minutes=5), "status": "occurred", **kw,
    })
    state = IncidentState.new(update)
    state.apply(update, SetPersonStore())
    return build_record(state, load_packs(), NOW)


INCIDENT_A = make_incident(
    "acme-cn", "inc-A1", NOW - timedelta(hours=1), processor_name="ACME 商城", type="leak", important_data=True,
    harm_to_individuals=True, cause="对象存储桶误设为公开", person_keys=[person_key(i) for i in range(5)],
    sensitive_person_keys=[person_key(0)], entity_types=["CN_RESIDENT_ID", "CN_MOBILE_PHONE"],
    categories=["general"],
)
"""Report to the regulator due in 7 h, notice to individuals in 3 working days: both in the future."""
INCIDENT_B = make_incident(
    "beta-hk", "inc-B7", NOW - timedelta(hours=10), processor_name="Beta HK", type="tamper", important_data=True,
    harm_to_individuals=False, person_keys=[person_key(i) for i in range(10, 13)], entity_types=["EMAIL_ADDRESS"],
    categories=["general"],
)
"""Report to the regulator was due 2 h ago: overdue."""


def make_alert(key: str, severity: Severity, kind: str, processor: str, hours_ago: int, title: str,
               **kw: Any) -> Alert:
    return Alert(alert_id=alert_id(key), dedup_key=key, type=kind, severity=severity, processor_id=processor,
                 rule_pack="cn_export_2024", legal_basis=BASIS, title=title, message=f"test alert {key}",
                 raised_at=NOW - timedelta(hours=hours_ago), **kw)


def seeded_alerts() -> dict[str, Alert]:
    """10 alerts of acme-cn (6) and beta-hk (4), by a short name."""
    ob_a = next(o for o in INCIDENT_A.obligations if o.id == "regulator_report")
    ob_b = next(o for o in INCIDENT_B.obligations if o.id == "regulator_report")
    ack = TriageEntry(at=NOW - timedelta(hours=2), actor="analyst-wang", role="soc_analyst", action="acknowledge")
    return {
        "acme1": make_alert("acme-cn|export|restricted|unicorn", Severity.CRITICAL, "export_restricted_recipient",
                            "acme-cn", 30, "Export to a restricted recipient: Unicorn Holdings", count=3,
                            last_raised_at=NOW - timedelta(hours=3)),
        "acme2": make_alert("acme-cn|inc-A1|regulator_report|due_soon", Severity.HIGH, "obligation_due_soon",
                            "acme-cn", 1, "Due soon: report to the regulator", incident_id="inc-A1",
                            obligation="regulator_report", due_at=ob_a.due_at),
        "acme3": make_alert("acme-cn|export|renewal|sa-1", Severity.MEDIUM, "export_assessment_renewal", "acme-cn",
                            50, "Security assessment sa-1 enters its renewal window"),
        "acme4": make_alert("acme-cn|export|mechanism|hk", Severity.HIGH, "export_mechanism_missing", "acme-cn", 70,
                            "No standard contract on file for HK recipients", status="acknowledged",
                            assignee="wang.fang", history=[ack], updated_at=ack.at),
        "acme5": make_alert("acme-cn|export|threshold|sc", Severity.LOW, "export_threshold_crossed", "acme-cn", 90,
                            "Export threshold reached: standard contract", status="resolved",
                            status_reason="contract filed"),
        "acme6": make_alert("acme-cn|export|unknown|x", Severity.MEDIUM, "export_unknown_destination", "acme-cn", 5,
                            "Export destination unknown for recipient X", count=2,
                            last_raised_at=NOW - timedelta(hours=2)),
        "beta1": make_alert("beta-hk|inc-B7|regulator_report|overdue", Severity.CRITICAL, "obligation_overdue",
                            "beta-hk", 2, "Overdue: report to the regulator", incident_id="inc-B7",
                            obligation="regulator_report", due_at=ob_b.due_at),
        "beta2": make_alert("beta-hk|export|gba|sz", Severity.HIGH, "export_gba_outside_scope", "beta-hk", 20,
                            "GBA standard contract used outside its scope"),
        "beta3": make_alert("beta-hk|export|important|evt-9", Severity.CRITICAL,
                            "export_important_data_without_assessment", "beta-hk", 40,
                            "Important data exported without a security assessment", status="suppressed",
                            suppressed_until=NOW + timedelta(days=3), status_reason="assessment filed, awaiting CAC"),
        "beta4": make_alert("beta-hk|export|exemption|hr", Severity.LOW, "export_exemption_doubtful", "beta-hk", 60,
                            "Doubtful HR exemption claim"),
    }


def seeded_ledger() -> list[LedgerRecord]:
    """Ledger records of acme-cn (42,000 persons, 3 sensitive) and beta-hk (250,000 persons) in the current
    window of the export rule pack in force, with the pack's thresholds."""
    pack = export_pack_for(NOW, load_export_packs())
    wid = window_id(pack, NOW)
    out = []
    for pid, name, persons, sensitive, on_file in (("acme-cn", "ACME Mall", 42_000, 3, ["sc-2026-01"]),
                                                   ("beta-hk", "Beta HK", 250_000, 0, [])):
        values = {"persons": persons, "sensitive_persons": sensitive, "all_persons": persons}
        thresholds = [ThresholdProgress(name=t.id, counter=t.metric, threshold=t.at_least,
                                        value=values.get(t.metric, 0), reached=values.get(t.metric, 0) >= t.at_least,
                                        article=t.legal_basis.article) for t in pack.volume_thresholds]
        out.append(LedgerRecord(
            id=derived_id("export-ledger/v1", pid, wid), processor_id=pid, processor_name=name, pack_id=pack.id,
            window_id=wid, window_start=window_start(pack, NOW), persons=persons, sensitive_persons=sensitive,
            flows=17, required_mechanism="standard_contract", required_reasons=["test"], mechanisms_on_file=on_file,
            thresholds=thresholds, updated_at=NOW,
        ))
    return out


def seeded_dead_letters() -> list[DeadLetter]:
    """Three dead letters: two of acme-cn (one redrive-less schema violation, one key mismatch), one unreadable."""
    out = []
    for i, (reason, error, pid, event) in enumerate([
        ("schema_violation", "records.0: Input should be a valid dictionary", "acme-cn", "ui-bad-1"),
        ("key_mismatch", "key 'acme-cn' is not processor.id 'acme'", "acme-cn", "ui-bad-2"),
        ("invalid_json", "unexpected character: line 1 column 2", None, None),
    ]):
        raw = f"dead-{i}".encode()
        out.append(DeadLetter(dead_letter_id=dead_letter_id(raw), reason=reason, error=error, event_id=event,
                              processor_id=pid, size_bytes=len(raw), source_topic="flow-events", source_partition=0,
                              source_offset=100 + i, dlq_topic="flow-events-dlq", dlq_partition=1, dlq_offset=7 + i,
                              received_at=NOW - timedelta(hours=i + 1)))
    return out


def seed_notifications(es: Elasticsearch, prefix: str, alerts: dict[str, Alert]) -> None:
    """Two routes (DingTalk for critical alerts, a webhook) and their delivery records: one delivered, one
    dead-lettered after three tries."""
    notify_store.ensure_indices(es, prefix)
    routes = [
        Route(route_id="ding-critical", name="钉钉 SOC 值班群", match=RouteMatch(severities=[Severity.CRITICAL]),
              channel=Channel(kind="dingtalk", url="https://oapi.dingtalk.com/robot/send?access_token=x",
                              secret=SecretStr("SECx")), language="zh", updated_at=NOW, updated_by="admin"),
        Route(route_id="siem", name="SIEM webhook", channel=Channel(kind="webhook", url="https://siem.example/hook"),
              updated_at=NOW, updated_by="admin"),
    ]
    for r in routes:
        notify_store.put_route(es, prefix, r)
    beta1 = alerts["beta1"]
    attempts = [NotifyAttempt(at=NOW - timedelta(minutes=m), status=503, error="HTTP 503: unavailable")
                for m in (3, 2, 1)]
    for route, state, tries in ((routes[0], "delivered", [NotifyAttempt(at=NOW, status=200)]),
                                (routes[1], "dead_lettered", attempts)):
        notify_store.finish(es, prefix, Notification(
            notification_id=notification_id(route.route_id, beta1.alert_id, "critical"), route_id=route.route_id,
            channel_kind=route.channel.kind, alert_id=beta1.alert_id, alert_type=beta1.type, severity=beta1.severity,
            processor_id=beta1.processor_id, incident_id=beta1.incident_id, title=beta1.title,
            title_zh="已逾期：向主管部门报告", state=state,
            created_at=NOW - timedelta(minutes=5), updated_at=NOW, attempts=tries,
            last_error=tries[-1].error, alert=beta1.model_dump(mode="json")))


def seeded_audit() -> list[AuditRecord]:
    """Audit records of two kinds (a route change, a redrive)."""
    actor = Actor(key_id="k-admin", name="lead-zhao", role="admin")
    return [
        AuditRecord(at=NOW - timedelta(hours=3), actor=actor, action="notification_route.put",
                    target_type="notification_route", target_id="ding-critical", details={"kind": "dingtalk"}),
        AuditRecord(at=NOW - timedelta(hours=2), actor=Actor(key_id="cli", name="ops", role="admin"),
                    action="dead_letter.redrive", target_type="dead_letter", target_id="2 dead letters",
                    processor_id="acme-cn", details={"counts": {"redriven": 2}}),
    ]


# ---------------------------------------------------------------------------------------------------
# Fixtures: engine + seeded indices, the app on a real port, Chromium
# ---------------------------------------------------------------------------------------------------


@dataclass
class Env:
    engine: Engine
    es: Elasticsearch
    prefix: str
    base: str
    keys: dict[str, str]
    findings: list[Finding]
    alerts: dict[str, Alert]
    ledger: list[LedgerRecord]

    def api(self, method: str, path: str, key: str = "admin", **kw: Any) -> httpx.Response:
        return httpx.request(method, self.base + path, headers={"Authorization": f"Bearer {self.keys[key]}"},
                             timeout=15, **kw)


class ServerThread:
    """uvicorn serving ``app`` on a free local port in a background thread."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="ui-test-uvicorn", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@pytest.fixture(scope="module")
def env(noida_es: NoidaIndex) -> Iterator[Env]:
    engine, es, prefix = noida_es.engine, noida_es.es, noida_es.prefix
    findings = [make_finding(i, d) for i, d in enumerate(FINDING_DAYS)]
    alerts = seeded_alerts()
    ledger = seeded_ledger()
    actions: list[dict[str, Any]] = [
        {"_index": findings_index(prefix, f.occurred_at), "_id": f.finding_id, "_source": finding_source(f)}
        for f in findings
    ]
    actions += [
        {"_index": alerts_index(prefix, a.raised_at), "_id": a.alert_id, "_source": a.model_dump(mode="json")}
        for a in alerts.values()
    ]
    actions += [{"_index": incidents_index(prefix), "_id": r.id, "_source": incident_source(r)}
                for r in (INCIDENT_A, INCIDENT_B)]
    actions += [{"_index": ledger_index(prefix), "_id": r.id, "_source": r.model_dump(mode="json")} for r in ledger]
    actions += [{"_index": dead_letters_index(prefix), "_id": d.dead_letter_id,
                 "_source": d.model_dump(mode="json")} for d in seeded_dead_letters()]
    ok, errors = helpers.bulk(es, actions, refresh="wait_for")
    assert ok == len(actions) and not errors
    seed_notifications(es, prefix, alerts)
    for record in seeded_audit():
        write_audit(es, prefix, record)
    keys = {
        "admin": create_key(es, prefix, Role.ADMIN, name="admin")[0],
        "soc": create_key(es, prefix, Role.SOC_ANALYST, name="analyst-li")[0],
        "regulator": create_key(es, prefix, Role.REGULATOR, name="cac")[0],
        "acme": create_key(es, prefix, Role.PLATFORM, processor_id="acme-cn", name="acme-ops")[0],
    }
    app = create_app(ApiSettings(es_url=engine.es_url, es_index_prefix=prefix,
                                 kafka_bootstrap=engine.kafka_bootstrap or "127.0.0.1:9"))
    with ServerThread(app) as base:
        yield Env(engine, es, prefix, base, keys, findings, alerts, ledger)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y --no-install-recommends chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def open_page(env: Env, browser: Any) -> Iterator[Callable[..., Any]]:
    """``open_page(key_name | None, lang="zh", hash_="#/alerts")`` → a Page of a fresh browser context on the UI:
    with a key it starts signed in (sessionStorage) on ``hash_``; without, on the key prompt."""
    contexts: list[Any] = []

    def factory(key: str | None = None, lang: str = "zh", hash_: str = "#/alerts") -> Any:
        ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", accept_downloads=True)
        contexts.append(ctx)
        init = [f"localStorage.setItem('flowwatch.lang', {json.dumps(lang)});"] if lang == "en" else []
        if key is not None:
            init.append("if (!sessionStorage.getItem('flowwatch.apiKey')) "
                        f"sessionStorage.setItem('flowwatch.apiKey', {json.dumps(env.keys[key])});")
        if init:
            # only once per tab: later reloads keep what the page itself stored
            ctx.add_init_script("if (!sessionStorage.getItem('fw-test-init')) {"
                                + "".join(init) + "sessionStorage.setItem('fw-test-init', '1'); }")
        page = ctx.new_page()
        page.set_default_timeout(10_000)
        page.goto(f"{env.base}/ui/{hash_ if key else ''}")
        if key is not None:
            page.wait_for_function("() => !!document.body.dataset.ready")
        else:
            page.wait_for_selector("#login-form")
        return page

    yield factory
    for ctx in contexts:
        ctx.close()


def navigate(page: Any, action: Callable[[], Any]) -> None:
    """Run ``action`` (which changes the route) and wait until the new view has rendered."""
    before = page.evaluate("() => document.body.dataset.ready || ''")
    action()
    page.wait_for_function("b => (document.body.dataset.ready || '') !== b", arg=before)


def go(page: Any, hash_: str) -> None:
    navigate(page, lambda: page.evaluate("h => { location.hash = h; }", hash_))


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def row(page: Any, alert: Alert) -> Any:
    return page.locator(f"tr[data-testid=alert-row][data-alert-id='{alert.alert_id}']")


def row_ids(page: Any) -> list[str]:
    return page.locator("tr[data-testid=alert-row]").evaluate_all("rows => rows.map(r => r.dataset.alertId)")


def whoami(page: Any) -> dict[str, Any]:
    """The header's "signed in as": shown or not, name, role label and value, processor (or None), all its text."""
    return page.evaluate("""() => {
        const el = document.querySelector('#whoami');
        const text = (sel) => { const x = el.querySelector(sel); return x ? x.textContent : null; };
        return {shown: !el.hidden && el.getBoundingClientRect().width > 0, name: text('[data-testid=whoami-name]'),
                role: text('[data-testid=whoami-role]'), roleValue: el.dataset.role || null,
                keyId: el.dataset.keyId || null, processor: el.dataset.processor || null,
                processorText: text('[data-testid=whoami-processor]'), text: el.textContent};
    }""")


TRIAGE_BUTTONS = ", ".join(f"button[data-action={a}]"
                           for a in ("acknowledge", "assign", "resolve", "suppress", "reopen"))
"""The triage buttons of the alert queue (CSS selector)."""


def counts(page: Any, table: str) -> dict[str, int]:
    """``{key: count}`` of a count table of the findings view."""
    rows = page.locator(f"{table} tbody tr").evaluate_all("rs => rs.map(r => [r.dataset.key, r.dataset.count])")
    return {k: int(n) for k, n in rows}


def api_ids(env: Env, key: str = "soc", **params: Any) -> tuple[list[str], dict[str, Any]]:
    """Every alert id the API lists for ``params`` (all pages), and its first page."""
    ids: list[str] = []
    first: dict[str, Any] | None = None
    cursor = None
    while True:
        paging = {"size": 500, **({"cursor": cursor} if cursor else {})}
        resp = env.api("GET", "/v1/alerts", key, params={**params, **paging})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        first = first or body
        ids += [a["alert_id"] for a in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            return ids, first


# ---------------------------------------------------------------------------------------------------
# Static files and the dictionary
# ---------------------------------------------------------------------------------------------------


def test_static_files_need_no_key_and_stay_out_of_the_schema(env: Env) -> None:
    with httpx.Client(base_url=env.base, timeout=10) as client:
        resp = client.get("/ui")
        assert resp.status_code == 307 and resp.headers["location"] == "/ui/"
        index = client.get("/ui/")
        assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
        assert '<script src="app.js">' in index.text and "http" not in re.sub(r"<!--.*?-->", "", index.text)
        for name, kind in (("app.js", "text/javascript"), ("i18n.js", "text/javascript"), ("app.css", "text/css"),
                           ("favicon.svg", "image/svg+xml"), ("index.html", "text/html")):
            resp = client.get(f"/ui/{name}")
            assert resp.status_code == 200 and resp.headers["content-type"].startswith(kind), name
            assert resp.headers["x-content-type-options"] == "nosniff"
        for bad in ("/ui/nope.js", "/ui/..%2Fui_routes.py", "/ui/%2E%2E/app.py", "/ui/ui_routes.py"):
            assert client.get(bad).status_code == 404, bad
        paths = client.get("/openapi.json").json()["paths"]
        assert not [p for p in paths if p.startswith("/ui")]
    # no CDN, no external resource: the app works offline
    for path in UI_DIR.iterdir():
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", path.read_text("utf-8")), path.name


def test_dictionary_covers_every_string_and_enum(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page(None)
    i18n: dict[str, dict[str, str]] = page.evaluate("() => window.FW_I18N")
    zh, en = i18n["zh"], i18n["en"]
    assert set(zh) == set(en), sorted(set(zh) ^ set(en))
    assert all(v.strip() for v in [*zh.values(), *en.values()])
    # every key the code asks for exists (t('…') literals, label groups, data-i18n attributes)
    source = (UI_DIR / "app.js").read_text("utf-8")
    used = set(re.findall(r"\bt\('([\w.\-]+)'", source))
    html = (UI_DIR / "index.html").read_text("utf-8")
    used |= set(re.findall(r'data-i18n="([\w.\-]+)"', html)) | set(re.findall(r":([\w.\-]+)\"", html))
    missing = sorted(k for k in used if k not in zh and not k.endswith("."))
    assert not missing, missing
    prefixes = {k[:-1] for k in used if k.endswith(".")}  # t('action.' + action): checked as groups below
    # every value of the API's enums has a label in both languages
    groups: dict[str, list[str]] = {
        "severity": [s.value for s in Severity], "alertStatus": list(get_args(AlertStatus)),
        "action": list(get_args(TriageAction)), "obligation": list(get_args(ObligationId)),
        "obStatus": list(get_args(ObligationStatus)), "incidentType": [t.value for t in IncidentType],
        "incidentStatus": [s.value for s in IncidentStatus], "mechanism": [m.value for m in Mechanism],
        "role": [r.value for r in Role], "triage.title": ["acknowledge", "assign", "resolve", "suppress", "reopen"],
        "sort": ["default", "-last_raised_at", "-count", "due_at"], "range": ["7", "30", "90"],
        "incident.personsBasis": ["counted", "declared"], "sensitive": ["true", "false"],
        "clock": ["occurred_at", "detected_at", "handling_completed_at", "reported_at"],
        "packKind": ["law", "policy"], "operatorClass": ["cii_operator", "central_state_organ", "other"],
        "target": list(get_args(TargetType)), "dlReason": ["invalid_json", "schema_violation", "too_large",
                                                           "key_mismatch", "invalid_alert"],
        "channel": list(get_args(ChannelKind)), "notifyState": list(get_args(NotificationState)),
        "routeLang": list(get_args(RouteLanguage)), "redriveState": ["producing", "done"],
        "timeline.set": sorted(DONE_FIELD.values()),
        "recipient": sorted({r for p in load_packs() for o in p.obligations
                             for r in [*o.recipients, *(x for v in o.variants for x in v.recipients)]}),
        "reportField": sorted({*(INCIDENT_A.report.missing if INCIDENT_A.report else []),
                               *(INCIDENT_A.notice.missing if INCIDENT_A.notice else []), "cause", "measures_taken"}),
        "threshold": [t.id for p in load_export_packs() for t in p.volume_thresholds],
        "counter": [t.metric for p in load_export_packs() for t in p.volume_thresholds],
        "alertType": ["obligation_due_soon", "obligation_overdue", *re.findall(
            r'raise_\("(\w+)"', (UI_DIR.parents[2] / "lib/flowwatch/exports/evaluate.py").read_text("utf-8"))],
    }
    categories = (UI_DIR.parents[2] / "lib/flowwatch/detection/categories.yaml").read_text("utf-8")
    groups["category"] = ["general", *re.findall(r"^  (\w+): \"PIPL", categories, re.M)]
    assert prefixes <= set(groups), prefixes - set(groups)
    for group, values in groups.items():
        assert values, group
        lacking = [v for v in values if f"{group}.{v}" not in zh]
        assert not lacking, (group, lacking)
    # PIPL terminology
    assert zh["mechanism.security_assessment"] == "安全评估" and zh["mechanism.standard_contract"] == "标准合同"
    assert "工作日" in zh["period.workingDays"] and zh["filter.processor"] == "个人信息处理者"
    assert zh["nav.incidents"] == "安全事件" and "告警" in zh["nav.alerts"] and "出境" in zh["nav.exports"]
    assert "敏感个人信息" in zh["exports.sensitivePersons"]


# ---------------------------------------------------------------------------------------------------
# Sign-in and language
# ---------------------------------------------------------------------------------------------------


def test_chinese_by_default_english_switch_persists(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page(None)
    assert page.evaluate("() => document.documentElement.lang") == "zh-CN"
    assert page.inner_text("#login-title") == "登录"
    assert page.inner_text("#lang-toggle") == "English"
    shot(page, "login_zh")

    page.fill("#api-key", "fw_not-a-real-key")
    page.click("#login-submit")
    page.wait_for_function("() => document.querySelector('#login-error').textContent.includes('无效')")
    assert "API 密钥无效" in page.inner_text("#login-error")
    assert page.evaluate("() => sessionStorage.getItem('flowwatch.apiKey')") is None

    assert not whoami(page)["shown"]  # nobody signed in yet

    page.fill("#api-key", env.keys["soc"])
    navigate(page, lambda: page.click("#login-submit"))
    assert page.inner_text("#view-title") == "告警队列"
    assert page.inner_text("[data-testid=nav-incidents]") == "安全事件"
    assert page.inner_text("#alerts-table thead").count("严重程度") == 1
    # who is signed in (GET /v1/me): name and role in the header; an analyst may triage
    me = env.api("GET", "/v1/me", "soc").json()
    assert me["name"] == "analyst-li" and me["role"] == "soc_analyst" and me["may_triage"] is True
    who = whoami(page)
    assert who == {"shown": True, "name": "analyst-li", "role": "安全分析员", "roleValue": "soc_analyst",
                   "keyId": me["key_id"], "processor": None, "processorText": None,
                   "text": "analyst-li安全分析员"}, who
    assert page.get_attribute("#whoami", "title") == "当前登录：analyst-li（安全分析员）"
    assert page.locator("[data-testid=read-only]").count() == 0
    assert page.locator(f"tr[data-testid=alert-row] :is({TRIAGE_BUTTONS})").count() > 0

    page.click("#lang-toggle")
    assert page.inner_text("#view-title") == "Alert queue"
    assert page.inner_text("#lang-toggle") == "中文"
    assert page.evaluate("() => document.documentElement.lang") == "en"
    assert page.evaluate("() => localStorage.getItem('flowwatch.lang')") == "en"
    page.reload()
    page.wait_for_function("() => !!document.body.dataset.ready")
    assert page.inner_text("#view-title") == "Alert queue"  # language kept, and still signed in (same tab)
    assert page.inner_text("[data-testid=nav-exports]") == "Export ledger"
    # the stored key is asked about again after the reload: identity in the header, role in English
    page.wait_for_function("() => !document.querySelector('#whoami').hidden")
    who = whoami(page)
    assert (who["shown"], who["name"], who["role"]) == (True, "analyst-li", "SOC analyst"), who
    assert page.get_attribute("#whoami", "title") == "Signed in as analyst-li (SOC analyst)"
    shot(page, "header_soc_en")

    page.click("#logout")
    page.wait_for_selector("#login-form")
    assert page.inner_text("#login-title") == "Sign in"
    assert page.evaluate("() => sessionStorage.getItem('flowwatch.apiKey')") is None
    assert not whoami(page)["shown"]
    shot(page, "login_en")


def test_refused_key_returns_to_the_prompt(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc")
    # the view's own request answers late (after GET /v1/me): its 401 must not wipe the key being typed
    page.evaluate("""() => { const f = window.fetch; window.fetch = (url, o) => String(url).includes('/v1/incidents')
        ? new Promise((ok) => setTimeout(ok, 800)).then(() => f(url, o)) : f(url, o); }""")
    page.evaluate("() => sessionStorage.setItem('flowwatch.apiKey', 'fw_revoked-or-unknown')")
    page.evaluate("() => { location.hash = '#/incidents'; }")
    page.wait_for_selector("#login-form")
    assert "401" in page.inner_text("#login-error") and "请重新输入" in page.inner_text("#login-error")
    assert page.evaluate("() => sessionStorage.getItem('flowwatch.apiKey')") is None
    assert not whoami(page)["shown"]
    page.fill("#api-key", env.keys["soc"])
    page.wait_for_timeout(1200)  # the late 401 of GET /v1/incidents has come meanwhile
    assert page.input_value("#api-key") == env.keys["soc"]
    assert "401" in page.inner_text("#login-error")
    navigate(page, lambda: page.click("#login-submit"))
    assert page.inner_text("#view-title") == "安全事件"  # back where the user was going
    assert whoami(page)["name"] == "analyst-li"

    # a 401 of GET /v1/me alone (on reload with the stored key) is like any 401: back to the key prompt
    page.route("**/v1/me", lambda route: route.fulfill(status=401, content_type="application/json",
                                                       body='{"detail": "invalid API key"}'))
    page.reload()
    page.wait_for_selector("#login-form")
    assert "401" in page.inner_text("#login-error") and "请重新输入" in page.inner_text("#login-error")
    assert page.evaluate("() => sessionStorage.getItem('flowwatch.apiKey')") is None
    assert not whoami(page)["shown"]


# ---------------------------------------------------------------------------------------------------
# Alert queue
# ---------------------------------------------------------------------------------------------------


def test_alert_queue_lists_filters_and_pages(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc")
    all_ids, first = api_ids(env)
    assert set(all_ids) == {a.alert_id for a in env.alerts.values()}
    assert sorted(row_ids(page)) == sorted(all_ids)
    relation = "≥ " if first["total_relation"] == "gte" else ""
    assert page.inner_text("#alerts-total").startswith(f"共 {relation}{first['total']} 条")

    acme1 = env.alerts["acme1"]
    r = row(page, acme1)
    assert r.locator("[data-field=severity]").inner_text() == "严重"
    assert r.locator("[data-field=type]").inner_text() == "接收方在限制名单内"
    # the server's Chinese title (message catalogue), not the generator's English one
    assert r.locator("[data-field=title]").inner_text() == "向限制清单上的接收方提供：Unicorn Holdings"
    assert r.locator("[data-field=processor]").inner_text() == "acme-cn"
    assert r.locator("[data-field=count]").inner_text() == "3"
    assert acme1.last_raised_at is not None
    assert r.locator("[data-field=first_raised]").inner_text() == acme1.raised_at.astimezone(BEIJING).strftime(
        "%Y-%m-%d %H:%M:%S")
    assert r.locator("[data-field=last_raised]").inner_text() == acme1.last_raised_at.astimezone(
        BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    assert row(page, env.alerts["acme4"]).locator("[data-field=assignee]").inner_text() == "wang.fang"
    assert row(page, env.alerts["acme4"]).locator("[data-field=status]").inner_text() == "已确认"

    # severity filter (a select: applies on change)
    navigate(page, lambda: page.select_option("#f-severity", "critical"))
    criticals = {a.alert_id for a in env.alerts.values() if a.severity is Severity.CRITICAL}
    assert len(criticals) == 3 and set(row_ids(page)) == criticals
    assert "severity=critical" in page.evaluate("() => location.hash")
    # plus status: as the API answers it
    navigate(page, lambda: page.select_option("#f-status", "open"))
    expected, _ = api_ids(env, severity="critical", status="open")
    assert sorted(row_ids(page)) == sorted(expected) and 0 < len(expected) < 3
    assert all(s == "open" for s in page.locator("tr[data-testid=alert-row]").evaluate_all(
        "rows => rows.map(r => r.dataset.status)"))
    # full text
    navigate(page, lambda: page.click("#f-reset"))
    page.fill("#f-q", "unicorn")
    navigate(page, lambda: page.click("#f-apply"))
    assert row_ids(page) == [acme1.alert_id]
    # processor filter
    navigate(page, lambda: page.click("#f-reset"))
    page.fill("#f-processor_id", "beta-hk")
    navigate(page, lambda: page.press("#f-processor_id", "Enter"))
    assert set(row_ids(page)) == {a.alert_id for a in env.alerts.values() if a.processor_id == "beta-hk"}

    # cursor paging: 4 a page, "load more" until the last page
    go(page, "#/alerts?size=4")
    page1 = env.api("GET", "/v1/alerts", "soc", params={"size": 4}).json()
    assert len(row_ids(page)) == 4
    relation = "≥ " if page1["total_relation"] == "gte" else ""
    assert page.inner_text("#alerts-total").startswith(f"共 {relation}{page1['total']} 条")
    for _ in range(5):
        if page.locator("#alerts-more").is_hidden():
            break
        n = len(row_ids(page))
        page.click("#alerts-more")
        page.wait_for_function("n => document.querySelectorAll('tr[data-testid=alert-row]').length > n", arg=n)
    ids = row_ids(page)
    assert len(ids) == len(set(ids)) == len(env.alerts) and page.locator("#alerts-more").is_hidden()


def test_acknowledge_updates_the_row_the_api_and_the_audit_log(env: Env, open_page: Callable[..., Any]) -> None:
    alert = env.alerts["acme6"]
    page = open_page("soc")
    r = row(page, alert)
    assert r.get_attribute("data-status") == "open"
    r.locator("[data-action=acknowledge]").click()
    page.wait_for_function("id => document.querySelector(`tr[data-alert-id='${id}']`).dataset.status "
                           "=== 'acknowledged'", arg=alert.alert_id)
    assert r.locator("[data-field=status]").inner_text() == "已确认"
    assert "告警已更新" in page.inner_text("#toast")
    assert r.locator("[data-action=acknowledge]").count() == 0 and r.locator("[data-action=reopen]").count() == 1

    got = env.api("GET", f"/v1/alerts/{alert.alert_id}").json()
    assert got["status"] == "acknowledged"
    assert got["history"][-1]["action"] == "acknowledge" and got["history"][-1]["actor"] == "analyst-li"
    audit = env.api("GET", "/v1/audit", params={"target_id": alert.alert_id}).json()
    assert [a["action"] for a in audit["items"]] == ["alert.acknowledge"]
    assert audit["items"][0]["actor"]["name"] == "analyst-li" and audit["items"][0]["processor_id"] == "acme-cn"

    # the expanded row shows the history entry
    r.locator("[data-action=expand]").click()
    detail = page.locator(f"tr[data-testid=alert-detail][data-alert-id='{alert.alert_id}']")
    assert detail.locator("[data-testid=history-entry][data-action=acknowledge]").count() == 1
    assert "analyst-li" in detail.inner_text() and "安全分析员" in detail.inner_text()
    shot(page, "alerts_expanded_zh")


def test_suppress_needs_a_reason_and_keeps_the_end(env: Env, open_page: Callable[..., Any]) -> None:
    alert = env.alerts["acme3"]
    page = open_page("soc")
    row(page, alert).locator("[data-action=suppress]").click()
    page.wait_for_selector("#triage-dialog[open]")
    page.click("#triage-submit")
    assert page.inner_text("#triage-error") == "请填写原因。"
    assert env.api("GET", f"/v1/alerts/{alert.alert_id}").json()["status"] == "open"  # nothing sent

    until = (NOW + timedelta(days=2)).astimezone(BEIJING).replace(second=0, tzinfo=None)
    page.fill("#triage-reason", "renewal application filed with the CAC")
    page.fill("#triage-until", until.strftime("%Y-%m-%dT%H:%M"))
    shot(page, "triage_dialog_zh")
    page.click("#triage-submit")
    page.wait_for_selector("#triage-dialog", state="detached")
    r = row(page, alert)
    assert r.get_attribute("data-status") == "suppressed"
    assert r.locator("[data-field=status]").inner_text().startswith("已屏蔽")

    got = env.api("GET", f"/v1/alerts/{alert.alert_id}").json()
    assert got["status"] == "suppressed" and got["status_reason"] == "renewal application filed with the CAC"
    assert datetime.fromisoformat(got["suppressed_until"]) == until.replace(tzinfo=BEIJING)
    assert got["history"][-1]["action"] == "suppress"

    # assign another alert through its dialog: the assignee cell changes
    other = env.alerts["beta4"]
    row(page, other).locator("[data-action=assign]").click()
    page.fill("#triage-assignee", "zhao.lei")
    page.click("#triage-submit")
    page.wait_for_selector("#triage-dialog", state="detached")
    assert row(page, other).locator("[data-field=assignee]").inner_text() == "zhao.lei"
    assert env.api("GET", f"/v1/alerts/{other.alert_id}").json()["assignee"] == "zhao.lei"


def test_roles_that_may_not_triage_see_no_triage_buttons(env: Env, open_page: Callable[..., Any]) -> None:
    alert = env.alerts["beta2"]
    me = env.api("GET", "/v1/me", "regulator").json()
    assert me["role"] == "regulator" and me["may_triage"] is False
    page = open_page("regulator")
    who = whoami(page)
    assert (who["shown"], who["name"], who["role"], who["roleValue"], who["processor"], who["text"]) == (
        True, "cac", "监管部门", "regulator", None, "cac监管部门"), who
    # every alert is listed, with a read-only note instead of triage buttons
    rows = page.locator("tr[data-testid=alert-row]")
    assert sorted(row_ids(page)) == sorted(a.alert_id for a in env.alerts.values())
    assert page.locator(TRIAGE_BUTTONS).count() == 0
    assert page.locator("[data-field=actions] button").count() == 0
    notes = page.locator("tr[data-testid=alert-row] [data-field=actions] [data-testid=read-only]")
    assert notes.count() == rows.count() == len(env.alerts)
    assert set(notes.all_inner_texts()) == {"只读"}
    assert row(page, alert).get_attribute("data-status") == "open"
    # the alerts can still be read: the detail opens
    row(page, alert).locator("[data-action=expand]").click()
    assert page.locator(f"tr[data-testid=alert-detail][data-alert-id='{alert.alert_id}']").count() == 1
    shot(page, "alerts_regulator_zh")
    page.click("#lang-toggle")
    assert set(notes.all_inner_texts()) == {"read-only"} and whoami(page)["role"] == "Regulator"
    assert page.locator(TRIAGE_BUTTONS).count() == 0
    page.click("#lang-toggle")
    assert env.api("GET", f"/v1/alerts/{alert.alert_id}").json()["status"] == "open"

    # the API still refuses the role, and the UI still says so should a button be offered anyway
    # (here GET /v1/me is made to claim the role may triage)
    def claim_triage(route: Any) -> None:
        resp = route.fetch()
        route.fulfill(response=resp, json={**resp.json(), "may_triage": True})

    page.route("**/v1/me", claim_triage)
    page.reload()
    page.wait_for_function("() => !!document.body.dataset.ready")
    assert page.locator("[data-testid=read-only]").count() == 0
    row(page, alert).locator("[data-action=acknowledge]").click()
    page.wait_for_function("() => document.querySelector('#toast').dataset.kind === 'error'")
    assert page.inner_text("#toast") == "您的角色无权执行此操作（403）。"
    assert row(page, alert).get_attribute("data-status") == "open"
    assert env.api("GET", f"/v1/alerts/{alert.alert_id}").json()["status"] == "open"


def test_platform_key_sees_only_its_processor(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("acme", hash_="#/alerts?processor_id=beta-hk")
    assert row_ids(page) == []  # another processor's alerts do not exist for this key
    # the header names the key, its role and the processor it is bound to
    me = env.api("GET", "/v1/me", "acme").json()
    assert me["processor_id"] == "acme-cn" and me["may_triage"] is False
    who = whoami(page)
    assert who == {"shown": True, "name": "acme-ops", "role": "平台（个人信息处理者）", "roleValue": "platform",
                   "keyId": me["key_id"], "processor": "acme-cn", "processorText": "处理者 acme-cn",
                   "text": "acme-ops平台（个人信息处理者）处理者 acme-cn"}, who
    assert page.get_attribute("#whoami", "title") == "当前登录：acme-ops（平台（个人信息处理者）） · 处理者 acme-cn"
    go(page, "#/alerts")
    assert set(row_ids(page)) == {a.alert_id for a in env.alerts.values() if a.processor_id == "acme-cn"}
    # a platform key may read its alerts, not triage them
    assert page.locator(TRIAGE_BUTTONS).count() == 0
    assert page.locator("[data-testid=read-only]").count() == len(row_ids(page)) > 0
    shot(page, "header_platform_zh")
    page.click("#lang-toggle")
    who = whoami(page)
    assert (who["role"], who["processorText"]) == ("Platform (processor)", "processor acme-cn"), who
    page.click("#lang-toggle")
    go(page, "#/incidents")
    assert page.locator("tr[data-testid=incident-row]").evaluate_all(
        "rows => rows.map(r => r.dataset.processor)") == ["acme-cn"]
    go(page, "#/exports")
    assert page.locator("[data-testid=ledger-record]").evaluate_all(
        "cards => cards.map(c => c.dataset.processor)") == ["acme-cn"]


# ---------------------------------------------------------------------------------------------------
# Incidents
# ---------------------------------------------------------------------------------------------------


def test_incident_page_counts_down_and_shows_overdue(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc", hash_="#/incidents")
    assert sorted(page.locator("tr[data-testid=incident-row]").evaluate_all(
        "rows => rows.map(r => r.dataset.incidentId)")) == ["inc-A1", "inc-B7"]
    navigate(page, lambda: page.click("tr[data-incident-id='inc-A1'] [data-testid=incident-link]"))
    assert "processor_id=acme-cn" in page.evaluate("() => location.hash")
    assert page.inner_text("#view-title") == "安全事件 inc-A1"

    # the policy pack's clocks (8 h, 3 and 5 working days); the law's rows come first, in their own group
    assert page.locator("[data-testid=law-group]").count() == 1
    assert page.locator("[data-testid=policy-group]").count() == 1
    assert page.locator("tr[data-testid=obligation][data-binding=law]").count() >= 1
    report = page.locator(f"tr[data-testid=obligation][data-obligation=regulator_report][data-pack={DRAFT}]")
    assert report.get_attribute("data-status") == "pending"
    due = next(o.due_at for o in INCIDENT_A.obligations if o.id == "regulator_report" and o.pack_id == DRAFT)
    assert due is not None
    assert report.locator("[data-field=due_at]").inner_text() == due.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    countdown = report.locator("[data-testid=countdown]")
    first = countdown.inner_text()
    assert re.fullmatch(r"剩余 0[67]:\d\d:\d\d", first), first
    # ticks once a second; a loaded CI machine may delay a tick, so wait for the change (up to 10 s)
    page.wait_for_function(
        "([el, before]) => el.innerText !== before", arg=[countdown.element_handle(), first], timeout=10_000)
    second = countdown.inner_text()
    assert second != first and re.fullmatch(r"剩余 0[67]:\d\d:\d\d", second)
    assert second < first  # counting down, not up
    # more than 24 h away: days are shown
    notice = page.locator(f"tr[data-testid=obligation][data-obligation=notify_individuals][data-pack={DRAFT}] "
                          "[data-testid=countdown]")
    assert re.fullmatch(r"剩余 \d+ 天 \d\d:\d\d:\d\d", notice.inner_text()), notice.inner_text()
    # the clock of the follow-up report has not started (handling not completed)
    follow = page.locator(f"tr[data-testid=obligation][data-obligation=followup_report][data-pack={DRAFT}]")
    assert follow.locator("[data-field=countdown]").inner_text() == "尚未起算"
    assert "5 个工作日" in follow.inner_text()
    shot(page, "incident_zh")

    # regulator report as a download (fetched with the key)
    with page.expect_download() as dl:
        page.click("#report-json")
    body = json.loads(Path(dl.value.path()).read_text("utf-8"))
    assert body["report"]["incident_id"] == "inc-A1"
    assert dl.value.suggested_filename == "incident-acme-cn-inc-A1-report.json"
    # printable HTML in a new tab (Blob URL)
    with page.expect_popup() as popup_info:
        page.click("#report-html")
    popup = popup_info.value
    popup.wait_for_function("() => location.href.startsWith('blob:') && document.body.innerText.includes('inc-A1')")
    popup.close()
    page.bring_to_front()  # a background tab throttles its timers and frames

    # incident B: the report to the regulator is overdue, in red
    navigate(page, lambda: page.click("[data-testid=back]"))
    navigate(page, lambda: page.click("tr[data-incident-id='inc-B7'] [data-testid=incident-link]"))
    overdue = page.locator(f"tr[data-testid=obligation][data-obligation=regulator_report][data-pack={DRAFT}]")
    assert overdue.get_attribute("data-status") == "overdue"
    assert "已逾期" in overdue.locator("td").nth(0).inner_text()
    cd = overdue.locator("[data-testid=countdown]")
    assert re.fullmatch(r"已逾期 0[12]:\d\d:\d\d", cd.inner_text()), cd.inner_text()
    assert cd.evaluate("el => el.classList.contains('overdue') && getComputedStyle(el).color") == "rgb(248, 113, 113)"
    page.click("#lang-toggle")
    assert re.fullmatch(r"overdue by 0[12]:\d\d:\d\d", cd.inner_text()), cd.inner_text()
    assert page.inner_text("#view-title") == "Incident inc-B7"


# ---------------------------------------------------------------------------------------------------
# Export ledger and findings
# ---------------------------------------------------------------------------------------------------


def test_ledger_progress_bars_match_the_counts(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc", hash_="#/exports")
    cards = page.locator("[data-testid=ledger-record]")
    assert sorted(cards.evaluate_all("cs => cs.map(c => c.dataset.processor)")) == ["acme-cn", "beta-hk"]
    for rec in env.ledger:
        card = page.locator(f"[data-testid=ledger-record][data-processor='{rec.processor_id}']")
        assert card.locator("[data-testid=required-mechanism]").inner_text() == "标准合同"
        assert card.locator("[data-testid=ledger-persons]").inner_text() == f"{rec.persons:,}"
        assert (card.locator("[data-testid=mechanism-missing]").count() == 1) == (not rec.mechanisms_on_file)
        bars = card.locator("[data-testid=threshold]")
        assert bars.count() == len(rec.thresholds)
        for th in rec.thresholds:
            bar = card.locator(f"[data-testid=threshold][data-name='{th.name}']")
            fill, track = bar.locator("[data-testid=threshold-fill]"), bar.locator(".bar")
            ratio = min(1.0, th.value / th.threshold)
            width = fill.evaluate("el => el.getBoundingClientRect().width")
            inner = track.evaluate("el => el.clientWidth")
            assert abs(width - ratio * inner) <= 1.0, (rec.processor_id, th.name, width, ratio, inner)
            assert bar.get_attribute("data-reached") == ("true" if th.reached else "false")
            assert f"{th.value:,} / {th.threshold:,} 人" in bar.inner_text()
    beta = next(r for r in env.ledger if r.processor_id == "beta-hk")
    assert any(t.reached and t.counter == "persons" for t in beta.thresholds)  # 250,000 ≥ 100,000


def test_findings_chart_has_one_bar_per_day_with_data(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc", hash_="#/findings?days=30")
    per_day = Counter(f.occurred_at.astimezone(UTC).date().isoformat() for f in env.findings)
    bars = page.locator("#findings-chart rect[data-testid=bar]")
    got = {t[:10]: int(c) for t, c in bars.evaluate_all("rs => rs.map(r => [r.dataset.t, r.dataset.count])")}
    assert got == dict(per_day)
    # bar heights are proportional to the counts
    heights = bars.evaluate_all("rs => rs.map(r => [r.dataset.count, r.getBBox().height])")
    top = max(int(c) for c, _ in heights)
    tallest = max(h for _, h in heights)
    for c, hgt in heights:
        assert abs(hgt - tallest * int(c) / top) < 1.5
    assert page.inner_text("[data-testid=kpi-findings] .kpi-value") == str(len(env.findings))
    by_type = Counter(t for f in env.findings for t in f.entity_types)
    assert counts(page, "#by-entity-type") == dict(by_type)
    by_cat = Counter(c for f in env.findings for c in f.categories)
    assert counts(page, "#by-category") == dict(by_cat)
    # alert counts (GET /v1/alerts/stats)
    stats = env.api("GET", "/v1/alerts/stats", "soc").json()
    assert counts(page, "#alerts-by-severity") == stats["by_severity"]
    assert sum(stats["by_severity"].values()) == len(env.alerts)


# ---------------------------------------------------------------------------------------------------
# Every view in both languages
# ---------------------------------------------------------------------------------------------------

VIEWS = [
    ("alerts", "#/alerts", "告警队列", "Alert queue"),
    ("incidents", "#/incidents", "安全事件", "Incidents"),
    ("incident", "#/incidents/inc-A1?processor_id=acme-cn", "安全事件 inc-A1", "Incident inc-A1"),
    ("exports", "#/exports", "出境台账", "Export ledger"),
    ("findings", "#/findings", "发现统计", "Findings over time"),
    ("findings_list", "#/findings/list?entity_type=CN_BANK_CARD", "发现列表", "Findings"),
    ("finding", "#/findings/item/{finding}", "发现详情", "Finding"),
    ("dead_letters", "#/dead-letters", "死信", "Dead letters"),
    ("notifications", "#/notifications", "通知", "Notifications"),
    ("audit", "#/audit", "审计日志", "Audit log"),
]
CHROME = ("#nav a, h1, h2:not(.ledger-head h2), h3, th[scope=col], .field-label, dt, .kpi-label, "
          "button:not(#lang-toggle), .legend-item, [data-field=type], [data-field=severity], .badge")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_view_in_both_languages(env: Env, open_page: Callable[..., Any], lang: str) -> None:
    page = open_page("admin", lang=lang)
    for name, hash_, zh_title, en_title in VIEWS:
        hash_ = hash_.replace("{finding}", env.findings[0].finding_id)
        if page.evaluate("() => location.hash") != hash_:
            go(page, hash_)
        assert page.inner_text("#view-title") == (zh_title if lang == "zh" else en_title), name
        assert page.locator("[data-testid=view-error]").count() == 0, page.inner_text("[data-testid=view-error]")
        texts: list[str] = page.locator(CHROME).evaluate_all("els => els.map(e => e.textContent.trim())")
        texts = [t for t in texts if t]
        if lang == "en":
            assert not [t for t in texts if CJK.search(t)], (name, [t for t in texts if CJK.search(t)])
        else:
            assert sum(bool(CJK.search(t)) for t in texts) > len(texts) * 0.6, (name, texts)
        if name == "alerts":
            page.locator(f"tr[data-alert-id='{env.alerts['acme4'].alert_id}'] [data-action=expand]").click()
        shot(page, f"{name}_{lang}")


# ---------------------------------------------------------------------------------------------------
# Issue 15: findings list and drill-down, alert texts, dead letters, notifications, audit log
# ---------------------------------------------------------------------------------------------------


def listed(page: Any, testid: str, attr: str) -> list[str]:
    return page.locator(f"tr[data-testid={testid}]").evaluate_all(f"rs => rs.map(r => r.dataset.{attr})")


def test_findings_list_opened_from_a_day_of_the_chart(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc", hash_="#/findings?days=30")
    day = max(Counter(f.occurred_at.astimezone(UTC).date() for f in env.findings).items(), key=lambda kv: kv[1])[0]
    bar = page.locator(f"#findings-chart g[data-testid=bar-link]:has(rect[data-t^='{day.isoformat()}'])")
    navigate(page, lambda: bar.click())
    assert page.inner_text("#view-title") == "发现列表"
    want = {f.finding_id for f in env.findings if f.occurred_at.astimezone(UTC).date() == day}
    assert set(listed(page, "findings-list-row", "findingId")) == want
    assert page.inner_text("#findings-list-total").startswith(f"共 {len(want)} 条")
    shot(page, "findings_list_day_zh")


def test_findings_list_opened_from_an_entity_type_then_one_finding(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc", hash_="#/findings?days=30")
    link = page.locator("#by-entity-type tr[data-key=MEDICAL_TERM] a")
    navigate(page, lambda: link.click())
    want = [f for f in env.findings if "MEDICAL_TERM" in f.entity_types]
    assert set(listed(page, "findings-list-row", "findingId")) == {f.finding_id for f in want}
    # filters and paging: one per page, then "load more"
    go(page, "#/findings/list?entity_type=MEDICAL_TERM&size=1")
    assert len(listed(page, "findings-list-row", "findingId")) == 1
    page.click("[data-testid=load-more]")
    page.wait_for_function("() => document.querySelectorAll('tr[data-testid=findings-list-row]').length === 2")
    # open one finding: its entities, fields, masked samples, categories and event
    target = want[0]
    link = page.locator(f"tr[data-finding-id='{target.finding_id}'] a[data-testid=finding-link]")
    navigate(page, lambda: link.click())
    assert page.inner_text("#view-title") == "发现详情"
    assert page.inner_text("[data-testid=finding-id]") == target.finding_id
    assert page.inner_text("[data-testid=finding-event]") == target.event_id
    rows = page.locator("tr[data-testid=entity-row]").evaluate_all("rs => rs.map(r => r.dataset.type)")
    assert rows == [e.type for e in target.entities]
    assert page.inner_text("[data-testid=masked-samples]") == target.entities[0].masked_samples[0]
    assert "医疗健康" in page.inner_text("[data-testid=finding-categories]")
    shot(page, "finding_zh")


def test_alert_opens_its_findings_and_titles_follow_the_language(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc")
    beta1 = env.alerts["beta1"]
    assert row(page, beta1).locator("[data-field=title]").inner_text() == "已逾期：向主管部门报告"
    row(page, beta1).locator("[data-action=expand]").click()
    detail = page.locator(f"tr[data-testid=alert-detail][data-alert-id='{beta1.alert_id}']")
    assert "beta-hk 的事件 inc-B7" in detail.inner_text()
    navigate(page, lambda: detail.locator("[data-testid=alert-findings-link]").click())
    assert page.inner_text("#view-title") == "发现列表"
    got = listed(page, "findings-list-row", "processor")
    assert got and set(got) == {"beta-hk"}
    page.click("#lang-toggle")
    go(page, "#/alerts")
    assert row(page, beta1).locator("[data-field=title]").inner_text() == beta1.title  # English as generated


def test_dead_letters_view(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc", hash_="#/dead-letters")
    assert page.inner_text("#view-title") == "死信"
    assert listed(page, "dead-letters-row", "reason") == ["schema_violation", "key_mismatch", "invalid_json"]
    first = page.locator("tr[data-testid=dead-letters-row]").first
    assert first.locator("[data-field=reason]").inner_text() == "不符合结构"
    assert first.locator("[data-testid=dl-original]").inner_text() == "flow-events-dlq/1@7"
    assert "records.0" in first.locator("[data-field=error]").inner_text()
    assert first.locator("[data-field=redrive]").inner_text() == "未重投"
    page.select_option("#x-reason", "invalid_json")
    page.wait_for_function("() => location.hash.includes('reason=invalid_json') && document.querySelectorAll("
                           "'tr[data-testid=dead-letters-row]').length === 1")
    shot(page, "dead_letters_zh")
    platform = open_page("acme", hash_="#/dead-letters")  # a platform sees only its own
    assert set(listed(platform, "dead-letters-row", "reason")) == {"schema_violation", "key_mismatch"}


def test_notifications_view(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("admin", hash_="#/notifications")
    routes = page.locator("tr[data-testid=route-row]").evaluate_all("rs => rs.map(r => r.dataset.route)")
    assert routes == ["ding-critical", "siem"]
    ding = page.locator("tr[data-testid=route-row][data-route=ding-critical]").inner_text()
    assert "钉钉" in ding and "access_token=x" not in ding and "（已签名）" in ding
    assert set(listed(page, "notifications-row", "state")) == {"delivered", "dead_lettered"}
    failed = page.locator("tr[data-testid=notifications-row][data-state=dead_lettered]")
    assert failed.locator("[data-field=tries]").inner_text() == "3"
    assert failed.locator("[data-field=state]").inner_text() == "投递失败（已保留）"
    assert failed.locator("[data-field=title]").inner_text() == "已逾期：向主管部门报告"
    shot(page, "notifications_zh")


def test_audit_log_view(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc", hash_="#/audit")
    actions = listed(page, "audit-row", "action")
    assert {"notification_route.put", "dead_letter.redrive"} <= set(actions)
    navigate(page, lambda: page.select_option("#x-target_type", "dead_letter"))
    assert "target_type=dead_letter" in page.evaluate("() => location.hash")
    assert listed(page, "audit-row", "targetType") == ["dead_letter"]
    assert "死信" in page.inner_text("tr[data-testid=audit-row] [data-field=target]")
    shot(page, "audit_zh")


def read_csv(data: bytes) -> list[dict[str, str]]:
    import csv
    import io

    assert data.startswith("\ufeff".encode()), "CSV without the UTF-8 BOM spreadsheets need"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_exports_of_ledger_alerts_and_audit(env: Env) -> None:
    resp = env.api("GET", "/v1/alerts", "soc", params={"format": "csv"})
    assert resp.status_code == 200 and resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert resp.headers["content-disposition"].startswith('attachment; filename="alerts-')
    rows = read_csv(resp.content)
    assert {r["alert_id"] for r in rows} == {a.alert_id for a in env.alerts.values()}  # every page, not one
    beta1 = next(r for r in rows if r["alert_id"] == env.alerts["beta1"].alert_id)
    assert beta1["title_zh"] == "已逾期：向主管部门报告" and beta1["title_en"] == env.alerts["beta1"].title
    assert beta1["legal_basis"] == "中华人民共和国个人信息保护法 Art. 38"
    critical = read_csv(env.api("GET", "/v1/alerts", "soc", params={"format": "csv", "severity": "critical"}).content)
    assert {r["severity"] for r in critical} == {"critical"} and len(critical) == 3
    mine = read_csv(env.api("GET", "/v1/alerts", "acme", params={"format": "csv"}).content)
    assert mine and {r["processor_id"] for r in mine} == {"acme-cn"}  # a platform exports only its own

    ledger = read_csv(env.api("GET", "/v1/exports/ledger", "regulator", params={"format": "csv"}).content)
    assert {(r["processor_id"], r["persons"]) for r in ledger} == {(r.processor_id, str(r.persons)) for r in env.ledger}
    audit = read_csv(env.api("GET", "/v1/audit", "soc", params={"format": "csv"}).content)
    assert {"notification_route.put", "dead_letter.redrive"} <= {r["action"] for r in audit}
    bad = env.api("GET", "/v1/audit", "soc", params={"format": "xlsx"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_csv_and_pdf_buttons_download_files(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc", hash_="#/alerts?severity=critical")
    with page.expect_download() as info:
        page.click("[data-testid=csv-export]")
    download = info.value
    assert download.suggested_filename.startswith("alerts-") and download.suggested_filename.endswith(".csv")
    rows = read_csv(Path(download.path()).read_bytes())
    assert {r["severity"] for r in rows} == {"critical"} and len(rows) == 3  # the view's filters
    go(page, "#/incidents/inc-A1?processor_id=acme-cn")
    with page.expect_download(timeout=60_000) as info:
        page.click("[data-testid=report-pdf]")
    pdf = Path(info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-") and info.value.suggested_filename.endswith(".pdf")
    shot(page, "incident_with_pdf_button_zh")


def test_routes_are_created_edited_and_deleted_in_the_ui(env: Env, open_page: Callable[..., Any]) -> None:
    page = open_page("soc", hash_="#/notifications")
    page.fill("#r-route_id", "wecom-ui")
    page.fill("#r-name", "企业微信 值班")
    page.select_option("#r-kind", "wecom")
    page.fill("#r-url", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET-KEY")
    page.check("input[name=r-sev][value=critical]")
    page.fill("#r-types", "obligation_*, export_restricted_recipient")
    shot(page, "route_editor_zh")
    navigate(page, lambda: page.click("[data-testid=route-save]"))
    stored = env.api("GET", "/v1/notification-routes/wecom-ui", "soc").json()
    assert stored["channel"] == {**stored["channel"], "kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?***"}
    assert stored["match"] == {"severities": ["critical"], "types": ["obligation_*", "export_restricted_recipient"],
                               "processor_ids": []}
    # edit: disable it; the masked URL sent back keeps the stored one (the key never reached the browser)
    page.click("tr[data-testid=route-row][data-route=wecom-ui] [data-testid=route-edit]")
    assert page.input_value("#r-url").endswith("?***") and page.get_attribute("#r-route_id", "readonly") is not None
    page.uncheck("#r-enabled")
    navigate(page, lambda: page.click("[data-testid=route-save]"))
    assert page.get_attribute("tr[data-testid=route-row][data-route=wecom-ui]", "data-enabled") == "false"
    from flowwatch.notifications import store as routes_store

    kept = routes_store.get_route(env.es, env.prefix, "wecom-ui")
    assert kept is not None and kept.channel.url.endswith("key=SECRET-KEY") and kept.enabled is False
    page.once("dialog", lambda d: d.accept())
    navigate(page, lambda: page.click("tr[data-testid=route-row][data-route=wecom-ui] [data-testid=route-delete]"))
    assert env.api("GET", "/v1/notification-routes/wecom-ui", "soc").status_code == 404
    audit = env.api("GET", "/v1/audit", "soc", params={"target_id": "wecom-ui"}).json()["items"]
    assert sorted(a["action"] for a in audit) == ["notification_route.delete", "notification_route.put",
                                                  "notification_route.put"]
    assert all(a["actor"]["name"] == "analyst-li" for a in audit) and "SECRET-KEY" not in json.dumps(audit)
    # roles that may not manage routes get no editor
    regulator = open_page("regulator", hash_="#/notifications")
    assert regulator.locator("[data-testid=route-form]").count() == 0
